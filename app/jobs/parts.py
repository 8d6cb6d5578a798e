"""What a flush worker works with, made from the settings in one place.

``redrain worker``, the embedded server's in-process worker and the tests
get a :class:`~app.jobs.worker.Worker` by ``Worker.wired(...)``, which calls
:func:`wire`; the Worker itself builds nothing, so a test or a caller can
hand it other parts (a registry of its own, a shared runtime cache).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from app.config import Settings
from app.jobs.failpoints import Failpoints
from app.jobs.fulfilment import Fulfiller
from app.jobs.rebalance import Rebalancer
from app.metrics import WorkerMetrics
from app.services.clock import Clock
from app.services.lotteries import Lotteries
from app.services.runtimes import RuntimeCache
from app.store.redis.store import RedisStore
from app.store.sql.database import Database
from app.upstream.webhook import Webhook


@dataclass(frozen=True)
class WorkerParts:
    runtimes: RuntimeCache
    clock: Clock
    metrics: WorkerMetrics
    failpoints: Failpoints
    # Scheduled lotteries, rebalancing and prize fulfilment run beside the
    # flush, each in its own loop, so a slow webhook never delays the ledger.
    lotteries: Lotteries
    rebalancer: Rebalancer
    fulfiller: Fulfiller | None


def wire(
    settings: Settings,
    redis: RedisStore,
    db: Database,
    *,
    name: str,
    runtimes: RuntimeCache | None = None,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
) -> WorkerParts:
    clock = clock or Clock(settings.clock_offset_ms)
    runtimes = runtimes or RuntimeCache(redis.catalogue)
    failpoints = Failpoints(settings.failpoints)
    fulfiller = None
    if settings.webhook_url:
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
        fulfiller = Fulfiller(
            db.fulfilment,
            Webhook(settings.webhook_url, secret.encode(), timeout=settings.webhook_timeout),
            max_attempts=settings.webhook_max_attempts,
            now_ms=clock.now_ms,
        )
    return WorkerParts(
        runtimes=runtimes,
        clock=clock,
        metrics=WorkerMetrics(registry or CollectorRegistry()),
        failpoints=failpoints,
        lotteries=Lotteries(db, clock),
        rebalancer=Rebalancer(redis, db, runtimes, clock, name=name, failpoints=failpoints),
        fulfiller=fulfiller,
    )
