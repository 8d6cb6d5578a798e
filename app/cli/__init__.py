"""``redrain`` command line. Thin: parse options, call the application, print.

A bad setting or argument stops with one line on stderr and exit status 2.
One module per kind of work: ``server`` (serve, demo, worker), ``campaign``
(reconcile, verify, db, activity), ``operators`` (operator, token, audit).
"""

from app.cli import campaign, operators, server
from app.cli.base import main

__all__ = ["campaign", "main", "operators", "server"]
