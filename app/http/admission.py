"""Admission control for ``POST /v1/draw``: refuse at once rather than serve late.

A rain bigger than the fleet used to queue: the API's own histogram said
p99 ≤ 50 ms while players waited 20 s, because requests waited before any
handler saw them. Each worker now bounds the draws it has in flight (between
admission and answer). Past ``REDRAIN_DRAW_CONCURRENCY`` a draw is still
admitted while the oldest draw in flight is younger than
``REDRAIN_DRAW_LATENCY_BUDGET`` — a burst the worker clears within the budget
is served — and refused otherwise, or in any case past twice the bound.
A refusal is 503 ``busy`` with ``Retry-After`` (the games back off with jitter
and retry with the same Idempotency-Key). It is decided after the token, the
Idempotency-Key and the body are checked (a few µs: bad input stays a 4xx
under load) and before any store is asked, so it costs little more than a
ping and frees the CPU the admitted draws need.
A draw that already waited past ``REDRAIN_DRAW_QUEUE_DEADLINE`` between its
arrival (its first bytes parsed) and its turn to start is refused too: by
then it cannot be answered in time, and starting it would only make the
draws behind it late as well (no bound, no deadline). While the worker is
full, a draw is refused before it becomes a request at all
(``app.http.shedding``). ``/healthz`` and ``/metrics`` never pass through
here. docs/api.md says what clients see, docs/performance.md how the bound
was chosen.
"""

from __future__ import annotations

import time
from itertools import count

HARD_FACTOR = 2  # past this many times the bound, refuse whatever the ages


class Admission:
    def __init__(
        self, concurrency: int, latency_budget: float, retry_after: int, deadline: float = 0
    ) -> None:
        self.limit = concurrency if concurrency > 0 else 1 << 62
        self.hard = self.limit * HARD_FACTOR
        self.budget = latency_budget
        self.deadline = deadline if concurrency > 0 else 0
        self.retry_after = retry_after
        self._started: dict[int, float] = {}  # ticket -> admitted at; oldest first
        self._tickets = count()

    @property
    def in_flight(self) -> int:
        return len(self._started)

    def full(self, now: float | None = None) -> bool:
        """Whether a draw arriving now would be refused."""
        n = len(self._started)
        if n < self.limit:
            return False
        if n >= self.hard:
            return True
        oldest = self._started[next(iter(self._started))]
        return (time.monotonic() if now is None else now) - oldest >= self.budget

    def admit(self, arrived: float | None = None) -> int | None:
        """A ticket for a draw that may start now (give it back to ``done``),
        or None: refuse it. ``arrived``: when its request arrived
        (``time.monotonic``), for the queue deadline."""
        now = time.monotonic()
        if arrived is not None and now - arrived >= self.deadline > 0:
            return None
        if self.full(now):
            return None
        ticket = next(self._tickets)
        self._started[ticket] = now
        return ticket

    def done(self, ticket: int) -> None:
        del self._started[ticket]
