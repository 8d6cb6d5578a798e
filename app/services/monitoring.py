"""What ``/metrics`` reads from the shared stores at scrape time: stock of the
live rounds against the even-award plan, the streams a flush worker may still
be behind on, and the last reconcile's result. Every API instance reads the
same, so a scrape of any of them tells the fleet's state."""

from __future__ import annotations

from app import metrics
from app.domain.errors import NotFound
from app.domain.schedule import planned_by
from app.services.clock import Clock
from app.services.runtimes import RuntimeCache
from app.store.redis.store import RedisStore


class Monitoring:
    def __init__(self, redis: RedisStore, runtimes: RuntimeCache, clock: Clock) -> None:
        self.redis = redis
        self.runtimes = runtimes
        self.clock = clock

    async def snapshot(self, horizon_ms: int = 3_600_000) -> metrics.Snapshot:
        """Stock of every open round, the stream state of every round that
        started and ended less than ``horizon_ms`` ago (the ones a flush worker
        may still be behind on), and the last reconcile."""
        now = self.clock.now_ms()
        stock: list[metrics.LiveStock] = []
        lag: list[metrics.StreamLag] = []
        for aid in await self.redis.catalogue.active_activities():
            try:
                rt = await self.runtimes.get(aid)
            except NotFound:
                continue
            for r in rt.timeline.rounds:
                if r.start_ms > now or r.end_ms <= now - horizon_ms:
                    continue
                if r.end_ms > now:
                    st = await self.redis.catalogue.round_stats(r, rt.config.buckets)
                    if st is not None:
                        stock += [
                            metrics.LiveStock(
                                aid,
                                st.round_id,
                                p.key,
                                p.quantity,
                                p.released,
                                p.won,
                                planned_by(p.quantity, r.start_ms, r.end_ms, now),
                            )
                            for p in st.prizes
                            if p.quantity or p.released  # not the empty outcome
                        ]
                state = await self.redis.streams.round_state(aid, r.sfx, rt.config.buckets)
                lag.append(metrics.StreamLag(r.round_id, state.undelivered, state.pending))
        return metrics.Snapshot(stock, lag, await self.redis.reconciled.last())
