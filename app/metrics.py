"""Prometheus metrics of the API processes (``GET /metrics``).

Counters and histograms are per process; with several uvicorn workers
``redrain serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory
before the workers start, and a scrape of any worker sums them all
(prometheus-client's multiprocess mode). Gauges of shared state — stock left
per live round and prize, stream lag — are read from Redis at scrape time, so
every worker reports the same values and a dead flush worker cannot hide its
own lag.

Imports only prometheus-client: the engine and the HTTP edge both record here.
"""

from __future__ import annotations

import asyncio
import os
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

DRAWS = Counter(
    "redrain_draws",
    "POST /v1/draw answers by outcome: won, lost, or the refusal's error code",
    ["outcome"],
)
DRAW_SECONDS = Histogram(
    "redrain_draw_seconds", "Time to answer POST /v1/draw, in the API process", buckets=_LATENCY
)
REDIS_SECONDS = Histogram(
    "redrain_redis_seconds",
    "Latency of Redis script calls by script (draw, publish_round, grant, ...)",
    ["script"],
    buckets=_LATENCY,
)

ACTIVITY_DRAWS = Counter(
    "redrain_activity_draws",
    "POST /v1/draw answers per activity by outcome (the console's live view)",
    ["activity", "outcome"],
)
WAIT_SHORT = Counter(
    "redrain_redis_wait_short",
    "Draws answered 503 because fewer than REDRAIN_REDIS_WAIT_REPLICAS replicas had them in time",
)
HTTP_RESPONSES = Counter(
    "redrain_http_responses",
    "Every answer by route template and status (POST /v1/draw's too, as /v1/draw)",
    ["route", "status"],
)

# The hot path tallies in plain dicts and publishes at most every PUBLISH_EVERY
# seconds: each prometheus-client inc/observe takes a lock and, under several
# workers, writes an mmap file (7 of them per draw were ~5% of its CPU). A
# scrape (or activity_outcomes) in this process publishes first; another
# worker's last tallies reach the files within PUBLISH_EVERY.
PUBLISH_EVERY = 0.5

_outcomes: dict[str, Counter] = {}
_by_activity: dict[tuple[int, str], Counter] = {}
_labeled: dict[int, list[str]] = {}  # activity -> its outcomes with a series, first labeled first
MAX_LABELED_ACTIVITIES = 256
_responses: dict[tuple[str, int], Counter] = {}
_scripts: dict[str, Histogram] = {}
_counts: dict[Counter, int] = {}
_observed: dict[Histogram, list[float]] = {}  # child -> [sum, n per bucket...]
_scheduled = False


def _schedule() -> None:
    global _scheduled
    _scheduled = True
    try:
        asyncio.get_running_loop().call_later(PUBLISH_EVERY, publish)
    except RuntimeError:  # no event loop (a CLI, a test): publish now
        publish()


def publish() -> None:
    """Move this process's tallies into prometheus-client (and its files)."""
    global _scheduled
    _scheduled = False
    counts, observed = list(_counts.items()), list(_observed.items())
    _counts.clear()
    _observed.clear()
    for counter, n in counts:
        counter.inc(n)
    for hist, tally in observed:
        # prometheus-client has no batch observe; its own observe() does
        # exactly this per amount (tests/test_metrics.py pins the equivalence).
        hist._sum.inc(tally[0])
        for bucket, seen in zip(hist._buckets, tally[1:], strict=True):
            if seen:
                bucket.inc(seen)


def _inc(counter: Counter, n: int = 1) -> None:
    _counts[counter] = _counts.get(counter, 0) + n
    if not _scheduled:
        _schedule()


def _observe(hist: Histogram, bounds: tuple[float, ...], seconds: float, n: int = 1) -> None:
    tally = _observed.get(hist)
    if tally is None:
        tally = _observed[hist] = [0.0] * (len(bounds) + 2)
    tally[0] += seconds * n
    tally[bisect_left(bounds, seconds) + 1] += n  # the first bucket with seconds <= bound
    if not _scheduled:
        _schedule()


def count_draw(outcome: str, seconds: float, n: int = 1) -> None:
    """``n`` draws (of one request) with this outcome, each taking ``seconds``."""
    child = _outcomes.get(outcome)
    if child is None:  # a handful of outcomes: the label lookup is paid once each
        child = _outcomes[outcome] = DRAWS.labels(outcome)
    _inc(child, n)
    _observe(DRAW_SECONDS, _LATENCY, seconds, n)


def count_busy() -> None:
    """A draw refused at admission (503 busy): counted, kept out of the latency
    histogram, which stays the latency of draws that were served."""
    child = _outcomes.get("busy")
    if child is None:
        child = _outcomes["busy"] = DRAWS.labels("busy")
    _inc(child)


def count_activity(activity_id: int, outcome: str, n: int = 1) -> None:
    child = _by_activity.get((activity_id, outcome))
    if child is None:
        child = _label_activity(activity_id, outcome)
    _inc(child, n)


def _label_activity(activity_id: int, outcome: str) -> Counter:
    """A new label set of ``redrain_activity_draws``. Past
    ``MAX_LABELED_ACTIVITIES`` activities in this process, the one labeled
    first is dropped (its series leave /metrics; the console's live counts of
    it restart from zero if it is drawn in again): a long-running process
    keeps the live campaigns' series, not every campaign's."""
    outcomes = _labeled.get(activity_id)
    if outcomes is None:
        while len(_labeled) >= MAX_LABELED_ACTIVITIES:
            _forget_activity(next(iter(_labeled)))
        outcomes = _labeled[activity_id] = []
    outcomes.append(outcome)
    child = _by_activity[(activity_id, outcome)] = ACTIVITY_DRAWS.labels(str(activity_id), outcome)
    return child


def _forget_activity(activity_id: int) -> None:
    for outcome in _labeled.pop(activity_id, ()):
        child = _by_activity.pop((activity_id, outcome))
        _counts.pop(child, None)
        ACTIVITY_DRAWS.remove(str(activity_id), outcome)


def labeled_activities() -> int:
    """How many activities ``redrain_activity_draws`` has series for, here."""
    return len(_labeled)


def activity_outcomes(activity_id: int) -> dict[str, int]:
    """Draw answers for one activity so far: this process's, or every worker's
    of this ``serve`` when it runs several."""
    publish()
    registry: CollectorRegistry = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    wanted = str(activity_id)
    out: dict[str, int] = {}
    for family in registry.collect():
        if family.name != "redrain_activity_draws":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("activity") == wanted:
                outcome = sample.labels["outcome"]
                out[outcome] = out.get(outcome, 0) + int(sample.value)
    return out


def count_response(route: str, status: int) -> None:
    child = _responses.get((route, status))
    if child is None:
        child = _responses[(route, status)] = HTTP_RESPONSES.labels(route, str(status))
    _inc(child)


def observe_script(name: str, seconds: float) -> None:
    child = _scripts.get(name)
    if child is None:
        child = _scripts[name] = REDIS_SECONDS.labels(name)
    _observe(child, _LATENCY, seconds)


@dataclass(frozen=True, slots=True)
class LiveStock:
    activity_id: int
    round_id: str
    prize: str
    quantity: int | None
    released: int
    won: int


@dataclass(frozen=True, slots=True)
class StreamLag:
    round_id: str
    undelivered: int
    pending: int


class _Snapshot(Collector):
    """Gauges read from Redis just before this scrape."""

    def __init__(self, stock: Iterable[LiveStock], lag: Iterable[StreamLag]) -> None:
        self.stock = list(stock)
        self.lag = list(lag)

    def collect(self) -> Iterator[Metric]:
        left = GaugeMetricFamily(
            "redrain_stock_remaining",
            "Released stock not yet won, per live round and prize",
            labels=["activity", "round", "prize"],
        )
        released = GaugeMetricFamily(
            "redrain_stock_released",
            "Stock released so far (even award slices, top-ups), per live round and prize",
            labels=["activity", "round", "prize"],
        )
        won = GaugeMetricFamily(
            "redrain_stock_won",
            "Wins so far, per live round and prize",
            labels=["activity", "round", "prize"],
        )
        for s in self.stock:
            labels = [str(s.activity_id), s.round_id, s.prize]
            left.add_metric(labels, max(s.released - s.won, 0))
            released.add_metric(labels, s.released)
            won.add_metric(labels, s.won)
        lag = GaugeMetricFamily(
            "redrain_stream_lag",
            "Draws in a round's stream not yet delivered to a flush worker",
            labels=["round"],
        )
        pending = GaugeMetricFamily(
            "redrain_stream_pending",
            "Draws delivered to a flush worker and not yet written and acknowledged",
            labels=["round"],
        )
        for stream in self.lag:
            lag.add_metric([stream.round_id], stream.undelivered)
            pending.add_metric([stream.round_id], stream.pending)
        yield from (left, released, won, lag, pending)


def exposition(stock: Iterable[LiveStock], lag: Iterable[StreamLag]) -> bytes:
    """The text of one scrape: this process's (or all workers') metrics plus the snapshot."""
    publish()
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        own = generate_latest(registry)
    else:
        own = generate_latest(REGISTRY)
    snap = CollectorRegistry()
    snap.register(_Snapshot(stock, lag))
    return own + generate_latest(snap)


class WorkerMetrics:
    """The flush worker's own metrics (``redrain worker --metrics-port``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.rows = Counter(
            "redrain_worker_rows", "Draw rows written to the database", registry=registry
        )
        self.duplicates = Counter(
            "redrain_worker_duplicates", "Entries found already stored (retries)", registry=registry
        )
        self.dead = Counter(
            "redrain_worker_dead_letters", "Entries dead-lettered", ["reason"], registry=registry
        )
        self.errors = Counter(
            "redrain_worker_errors",
            "Unexpected errors (bugs) the worker survived",
            registry=registry,
        )
        self.deleted = Counter(
            "redrain_worker_deleted_pending",
            "Pending entries deleted from a stream before they were flushed (alarm)",
            registry=registry,
        )
        self.batch = Histogram(
            "redrain_worker_batch_seconds",
            "Time to write and acknowledge one batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        self.lag = Gauge(
            "redrain_worker_stream_lag", "Entries not yet delivered", ["round"], registry=registry
        )
        self.pending = Gauge(
            "redrain_worker_stream_pending",
            "Entries delivered, not acked",
            ["round"],
            registry=registry,
        )
