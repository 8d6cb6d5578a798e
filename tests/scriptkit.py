"""Drive the Lua scripts directly through :class:`app.engine.Engine` (no database)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app import fairness
from app.activity import ActivityConfig, parse_config
from app.engine import Engine
from app.schedule import activity_window, plan_rounds, round_slices
from app.service import limits_of
from app.types import Limits, RoundPlan
from tests.helpers import DAY, local, offset_to


@dataclass
class Loaded:
    engine: Engine
    activity_id: int
    version: int
    round: RoundPlan
    seed: bytes
    window: tuple[int, int]
    mode: str
    limits: Limits
    config: ActivityConfig

    async def draw(
        self, user: str, client_seed: str = "", idem: str | None = None, grant: str | None = None
    ) -> list[Any]:
        res = await self.engine.draw(
            self.activity_id,
            version=self.version,
            round_=self.round,
            activity_start_ms=self.window[0],
            mode=self.mode,
            limits=self.limits,
            kind=self.config.kind.value,
            repeat_last=self.config.after_last_pool == "repeat_last",
            needs_grant=self.config.needs_grant,
            grant_id=grant,
            user_id=user,
            user_key=fairness.user_key(self.seed, user, client_seed),
            client_seed=client_seed,
            idempotency_key=idem,
        )
        return [v.decode() if isinstance(v, bytes) else v for v in res]


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
    engine = Engine(
        client, offset_ms=round(offset_to(local(DAY, 10, minute)) * 1000), idempotency_ttl=600
    )
    await engine.publish(
        activity_id,
        version=1,
        config_json=config.model_dump_json(),
        mode=config.probability.value,
        window=activity_window(config),
        limits=limits_of(config),
        rounds=rounds,
        slices=lambda r: round_slices(config, r),
        seeds={r.sfx: (seed.hex(), fairness.seed_hash(seed)) for r in rounds},
    )
    return Loaded(
        engine,
        activity_id,
        1,
        rounds[0],
        seed,
        activity_window(config),
        config.probability.value,
        limits_of(config),
        config,
    )
