"""The round streams a flush worker follows, and their upkeep.

:meth:`Following.discover` finds the rounds of published activities that
have started (or start within ``LOOKAHEAD_MS``) and whose streams are not
yet retired; :meth:`Following.maintain`, every few seconds, publishes each
followed stream's lag and pending, trims what every consumer group has
acknowledged (keeping ``REDRAIN_STREAM_RETENTION`` for repairs) and retires
the streams of rounds that ended and were flushed. The flush loop
(``app/jobs/worker.py``) reads, writes and acknowledges the streams named in
:attr:`Following.tracked`.
"""

from __future__ import annotations

from app.domain import ids
from app.domain.types import ActivityId
from app.jobs.flushed import Flushed
from app.metrics import WorkerMetrics
from app.services.runtimes import RuntimeCache
from app.store.redis.store import RedisStore
from app.store.redis.streams import id_key

GRACE_MS = 10_000  # a round is over this long after its end: instances' clocks may differ
LOOKAHEAD_MS = 5_000  # start following a round's stream a little before it opens


class Following:
    def __init__(
        self,
        redis: RedisStore,
        runtimes: RuntimeCache,
        metrics: WorkerMetrics,
        *,
        retention_ms: int,
        offset_ms: int,
    ) -> None:
        self.redis = redis
        self.streams = redis.streams
        self.runtimes = runtimes
        self.metrics = metrics
        self.retention_ms = retention_ms
        self.offset_ms = offset_ms
        self.tracked: dict[tuple[ActivityId, str], int] = {}  # (activity, sfx) -> end ms
        self.flushed = Flushed()
        self.lag = 0  # undelivered entries of every followed stream, at the last upkeep
        self.pending = 0

    async def discover(self) -> None:
        now = await self.redis.now_ms()
        active = await self.redis.catalogue.active_activities()
        self.flushed.keep(active)
        for aid in active:
            # Rows name the prize from the compiled rounds.
            rt = await self.runtimes.current(aid)
            version = rt.version if rt is not None else 0
            mark = self.flushed.mark(aid, version)
            done = self.flushed.lanes(aid)
            if done is None:
                done = self.flushed.load(aid, await self.streams.flushed_rounds(aid))
            lanes = await self.redis.catalogue.started_rounds(aid, now + LOOKAHEAD_MS, mark)
            first_open: int | None = None
            for sfx, start, end in lanes:
                if sfx in done:
                    continue
                if first_open is None:
                    first_open = start
                if (aid, sfx) in self.tracked:
                    continue
                await self.streams.ensure_group(aid, sfx)
                self.tracked[(aid, sfx)] = end
            self.flushed.advance(aid, version, lanes, first_open)

    async def maintain(self) -> None:
        """Trim what every group acknowledged (keeping the retention window for
        repairs), publish lag and pending, and retire streams of finished rounds."""
        now = await self.redis.now_ms()
        keep_from = (now - self.offset_ms - self.retention_ms, 0)
        lag = pending = 0
        for (aid, sfx), end in list(self.tracked.items()):
            st = await self.streams.state(aid, sfx)
            label = ids.round_id(aid, sfx)
            self.metrics.lag.labels(round=label).set(st.undelivered)
            self.metrics.pending.labels(round=label).set(st.pending)
            lag += st.undelivered
            pending += st.pending
            length = st.length
            if st.trim_below is not None and length:
                below = min(id_key(st.trim_below), keep_from)
                length -= await self.streams.trim(aid, sfx, f"{below[0]}-{below[1]}")
            if now >= end + GRACE_MS and st.undelivered == 0 and st.pending == 0 and length == 0:
                await self.streams.retire(aid, sfx)
                self.flushed.add(aid, sfx)
                del self.tracked[(aid, sfx)]
                self.metrics.lag.remove(label)
                self.metrics.pending.remove(label)
        self.lag, self.pending = lag, pending
