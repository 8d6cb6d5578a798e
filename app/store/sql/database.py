"""The database: the one place that talks to it (SQLAlchemy 2, async).

One repository per aggregate, each on the same :class:`Connection`::

    db.activities   activities, prizes, rounds and their seeds
    db.draws        the ledger (draw rows) and dead letters
    db.grants       draw chances issued by trusted backends
    db.lotteries    scheduled lotteries and their participants
    db.notices      notifications to players
    db.guard        the blacklist and stock top-ups
    db.accounts     WeChat sessions
    db.fulfilment   leases on won draws for the fulfilment hook
    db.operators    operators, their console sessions, API tokens
    db.audit        the audit trail (appended inside each change's transaction)

Repositories take times from their caller (the services' clock, which
includes ``REDRAIN_CLOCK_OFFSET``), never from the system clock.
"""

from __future__ import annotations

from app.store.sql.accounts import Accounts
from app.store.sql.activities import Activities
from app.store.sql.audit import AuditLog
from app.store.sql.codes import PrizeCodes
from app.store.sql.connection import Connection
from app.store.sql.deliveries import Deliveries
from app.store.sql.draws import Draws
from app.store.sql.fulfilment import Fulfilment
from app.store.sql.grants import Grants
from app.store.sql.guard import Guard
from app.store.sql.lotteries import Lotteries
from app.store.sql.notices import Notices
from app.store.sql.operators import Operators
from app.store.sql.reports import Reports


class Database(Connection):
    def __init__(self, url: str, *, audit_key: bytes, timeout: float = 5.0) -> None:
        super().__init__(url, audit_key=audit_key, timeout=timeout)
        self.activities = Activities(self)
        self.draws = Draws(self)
        self.grants = Grants(self)
        self.lotteries = Lotteries(self)
        self.notices = Notices(self)
        self.guard = Guard(self)
        self.accounts = Accounts(self)
        self.fulfilment = Fulfilment(self)
        self.operators = Operators(self)
        self.audit = AuditLog(self)
        self.codes = PrizeCodes(self)
        self.deliveries = Deliveries(self)
        self.reports = Reports(self)
