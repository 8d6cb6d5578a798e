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
from collections.abc import Iterator
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

from app.domain.records import ReconcileRun

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
    planned: int  # won by now under an even award of quantity over the round


@dataclass(frozen=True, slots=True)
class StreamLag:
    round_id: str
    undelivered: int
    pending: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Shared state read from Redis for one scrape (services.monitoring)."""

    stock: list[LiveStock]
    lag: list[StreamLag]
    reconciled: ReconcileRun | None = None


_ROUND_PRIZE = ["activity", "round", "prize"]


class _Snapshot(Collector):
    """Gauges read from Redis just before this scrape."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        yield from self._stock()
        yield from self._lag()
        yield from self._reconciled()

    def _stock(self) -> Iterator[Metric]:
        gauges = {
            "remaining": "Released stock not yet won, per live round and prize",
            "released": "Stock released so far (slices, top-ups), per live round and prize",
            "won": "Wins so far, per live round and prize",
            "quantity": "A live round's whole quantity of a prize",
            "planned": "Wins an even award of the quantity over the round would have given by now",
        }
        families = {
            name: GaugeMetricFamily(f"redrain_stock_{name}", doc, labels=_ROUND_PRIZE)
            for name, doc in gauges.items()
        }
        for s in self.snapshot.stock:
            labels = [str(s.activity_id), s.round_id, s.prize]
            families["remaining"].add_metric(labels, max(s.released - s.won, 0))
            families["released"].add_metric(labels, s.released)
            families["won"].add_metric(labels, s.won)
            if s.quantity:
                families["quantity"].add_metric(labels, s.quantity)
                families["planned"].add_metric(labels, s.planned)
        yield from families.values()

    def _lag(self) -> Iterator[Metric]:
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
        for stream in self.snapshot.lag:
            lag.add_metric([stream.round_id], stream.undelivered)
            pending.add_metric([stream.round_id], stream.pending)
        yield from (lag, pending)

    def _reconciled(self) -> Iterator[Metric]:
        run = self.snapshot.reconciled
        if run is None:  # never ran (or Redis lost it): absent, as the alert expects
            return
        yield GaugeMetricFamily(
            "redrain_reconcile_last_run_timestamp_seconds",
            "When the last `redrain reconcile` over every activity finished",
            value=run.run_ms / 1000,
        )
        if run.ok_ms is not None:
            yield GaugeMetricFamily(
                "redrain_reconcile_last_success_timestamp_seconds",
                "When a reconcile last found every ended round agreeing",
                value=run.ok_ms / 1000,
            )
        rounds = GaugeMetricFamily(
            "redrain_reconcile_rounds",
            "Rounds the last reconcile checked, by status (ok, drift, not_drained)",
            labels=["status"],
        )
        rounds.add_metric(["ok"], run.checked - run.drift - run.not_drained)
        rounds.add_metric(["drift"], run.drift)
        rounds.add_metric(["not_drained"], run.not_drained)
        yield rounds
        yield GaugeMetricFamily(
            "redrain_reconcile_repaired",
            "Draws the last reconcile re-drove into the database (--repair)",
            value=run.repaired,
        )


def exposition(snapshot: Snapshot) -> bytes:
    """The text of one scrape: this process's (or all workers') metrics plus the snapshot."""
    publish()
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        own = generate_latest(registry)
    else:
        own = generate_latest(REGISTRY)
    snap = CollectorRegistry()
    snap.register(_Snapshot(snapshot))
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
