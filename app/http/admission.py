"""Admission control for ``POST /v1/draw``: refuse at once rather than serve late.

A rain bigger than the fleet used to queue: the API's own histogram said
p99 ≤ 50 ms while players waited 20 s, because requests waited in the event
loop before any handler saw them. Two gates, checked before a draw does any
work, each answered with 503 ``busy`` and ``Retry-After`` (the games back off
with jitter and retry with the same Idempotency-Key):

- **in flight**: at most ``REDRAIN_DRAW_CONCURRENCY`` draws of this worker
  between admission and answer (Redis slow or far away: the queue would grow
  in the transport);
- **loop lag**: a timer every ``TICK`` seconds measures how late the event
  loop runs it. As in CoDel, the least lateness over each ``WINDOW`` is what
  counts: one late tick (a GC pause, the machine's neighbour) is not a queue,
  a window whose every tick ran late past ``REDRAIN_DRAW_LAG_BUDGET`` is, and
  the next window's new draws are refused.

A refusal costs about as much as a ping (it parses nothing, touches no
store), so refusing frees the CPU the accepted draws need. ``/healthz`` and
``/metrics`` never pass through here.
"""

from __future__ import annotations

import asyncio

TICK = 0.005  # seconds between loop-lag probes: 200 timer callbacks a second
WINDOW = 0.1  # the least lag over this long is the standing queue


class Admission:
    def __init__(self, concurrency: int, lag_budget: float, retry_after: int) -> None:
        self.limit = concurrency if concurrency > 0 else 1 << 62
        self.lag_budget = lag_budget if lag_budget > 0 else float("inf")
        self.retry_after = retry_after
        self.in_flight = 0
        self.lag = 0.0  # the standing lag: least lateness over the last window, seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._least = float("inf")
        self._window_end = 0.0

    def admit(self) -> bool:
        """True (and counted in flight) when a draw may start now."""
        if self.in_flight >= self.limit:
            return False
        if self.lag_budget != float("inf"):
            loop = asyncio.get_running_loop()
            if loop is not self._loop:  # first draw, or a new loop (tests)
                self._loop, self.lag = loop, 0.0
                self._least, self._window_end = float("inf"), loop.time() + WINDOW
                loop.call_later(TICK, self._probe, loop, loop.time() + TICK)
            elif self.lag > self.lag_budget:
                return False
        self.in_flight += 1
        return True

    def done(self) -> None:
        self.in_flight -= 1

    def _probe(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        if loop is not self._loop:
            return
        now = loop.time()
        self._least = min(self._least, now - due)
        if now >= self._window_end:
            self.lag, self._least, self._window_end = self._least, float("inf"), now + WINDOW
        loop.call_later(TICK, self._probe, loop, now + TICK)
