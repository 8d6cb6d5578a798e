"""The cyclic garbage collector's settings: one policy for every long-running
process, thresholds measured per kind of process.

A young collection runs every 700 allocations by default and, every hundred of
those, a full one walks every object the process holds: the modules, the
compiled activities, SQLAlchemy's and Starlette's machinery. Almost none of it
ever becomes garbage. :func:`settle`, called once after start-up, moves
everything alive into the permanent generation, which the collector skips,
and collects the young generation less often (reference counting still frees
almost everything at once; only cycles wait).

- ``API`` (each ``serve`` worker): with the defaults a full collection ran
  about once a second under load, pausing draws up to ~100 ms; these
  thresholds took the draw p99 from 88 to 26 ms (docs/performance.md, "GC
  tuning").
- ``WORKER`` (``redrain worker``): the collector was 18% of its CPU; these
  took 22.8 to 16.6 µs a row (docs/performance.md, issue 16).
"""

from __future__ import annotations

import gc

API = (50_000, 20, 100)
WORKER = (10_000, 10, 10)


def settle(thresholds: tuple[int, int, int]) -> None:
    """Call once, after start-up, in a process that will run for long."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
