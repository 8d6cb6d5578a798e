"""The last ``redrain reconcile``'s result, kept in Redis so every API
instance's ``/metrics`` can export it and Prometheus can alert on drift, or on
a reconcile that has stopped running (deploy/prometheus/alerts.rules.yml).

One small hash outside any activity's hash tag: one key, so it is fine on
Redis Cluster. A Redis that loses it (a restart without persistence) reads as
"never ran" until the next run, which the not-run alert then covers.
"""

from __future__ import annotations

from app.domain.records import ReconcileRun
from app.store.redis import keys
from app.store.redis.connection import RedisConnection, text, translated

_COUNTS = ("checked", "drift", "not_drained", "repaired")


class Reconciled:
    def __init__(self, conn: RedisConnection) -> None:
        self.conn = conn

    async def record(self, run: ReconcileRun) -> None:
        mapping: dict[str, int] = {"run_ms": run.run_ms}
        mapping.update({name: getattr(run, name) for name in _COUNTS})
        if run.ok_ms is not None:
            mapping["ok_ms"] = run.ok_ms
        async with translated():
            # ok_ms is left as it was when this run drifted: the time of the
            # last good run is what the not-run alert reads.
            await self.conn.client.hset(keys.RECONCILED, mapping=mapping)

    async def last(self) -> ReconcileRun | None:
        async with translated():
            raw = await self.conn.client.hgetall(keys.RECONCILED)
        got = {text(k): int(text(v)) for k, v in raw.items()}
        if "run_ms" not in got:
            return None
        return ReconcileRun(
            run_ms=got["run_ms"],
            ok_ms=got.get("ok_ms"),
            **{name: got.get(name, 0) for name in _COUNTS},
        )
