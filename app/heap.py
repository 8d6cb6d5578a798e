"""The cyclic garbage collector's settings for the flush worker.

A young collection runs every 700 allocations by default and, every hundred of
those, a full one walks every object the process holds: the modules, the
compiled activities, SQLAlchemy's and Starlette's machinery. Almost none of it
ever becomes garbage. In the flush worker those walks were a fifth of its CPU
(py-spy; docs/performance.md, issue 16). After start-up, :func:`settle` moves
everything alive into the permanent generation, which the collector skips,
and collects the young generation less often (reference counting still frees
almost everything at once; only cycles wait). The API's workers showed no
difference in the same benchmark, so they keep Python's defaults.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000  # allocations between young collections (default 700)


def settle() -> None:
    """Call once, after start-up, in a process that will run for long."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
