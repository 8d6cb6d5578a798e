"""Drive the Lua scripts directly through :class:`RedisStore` (no database)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.domain import fairness
from app.domain.activity import ActivityConfig, parse_config
from app.domain.runtime import Runtime, compile_runtime, limits_of
from app.domain.schedule import activity_window, plan_rounds, round_slices
from app.domain.types import Limits, RoundPlan
from app.store.redis.replies import BatchOutcome
from app.store.redis.store import RedisStore
from tests.helpers import DAY, local, offset_to


@dataclass
class Loaded:
    redis: RedisStore
    activity_id: int
    version: int
    round: RoundPlan
    seed: bytes
    window: tuple[int, int]
    limits: Limits
    config: ActivityConfig
    _runtimes: dict[int, Runtime] = field(default_factory=dict)

    async def draw(
        self,
        user: str,
        client_seed: str = "",
        idem: str | None = None,
        grant: str | None = None,
        *,
        count: int | None = None,
        rate_user: float = 0,
        client_ip: str = "",
        rate_ip: float = 0,
    ) -> BatchOutcome:
        rt = self._runtimes.get(self.version)
        if rt is None:  # a test may change the version to see STALE
            js = self.config.model_dump_json()
            rt = self._runtimes[self.version] = compile_runtime(self.activity_id, self.version, js)
        return await self.redis.draws.draw(
            self.redis.draws.prepared(rt, self.round),
            version=self.version,
            grant_id=grant,
            user_id=user,
            user_key=fairness.user_key(self.seed, user, client_seed),
            client_seed=client_seed,
            idempotency_key=idem,
            count=count,
            rate_user=rate_user,
            client_ip=client_ip,
            rate_ip=rate_ip,
        )


async def load(
    client: Any,
    cfg: dict[str, Any],
    *,
    activity_id: int = 7,
    seed: bytes | None = None,
    minute: int = 5,
) -> Loaded:
    """Publish ``cfg``'s first round with a known seed; the clock is at 10:``minute``."""
    config = parse_config(cfg)
    rounds = plan_rounds(activity_id, config)
    seed = seed or fairness.new_seed()
    redis = RedisStore(
        client, offset_ms=round(offset_to(local(DAY, 10, minute)) * 1000), idempotency_ttl=600
    )
    await redis.catalogue.publish(
        activity_id,
        version=1,
        config_json=config.model_dump_json(),
        rounds=rounds,
        slices=lambda r: round_slices(config, r),
        seeds={r.sfx: (seed.hex(), fairness.seed_hash(seed)) for r in rounds},
    )
    return Loaded(
        redis,
        activity_id,
        1,
        rounds[0],
        seed,
        activity_window(config),
        limits_of(config),
        config,
    )
