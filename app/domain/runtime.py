"""A published activity compiled for drawing. Pure: no I/O.

The configuration a publish stored in Redis is validated once and turned into
its rounds, limits and window; the API, the flush worker and reconcile all
keep these in one cache (``app.services.runtimes``), keyed by version.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from app.domain import ids
from app.domain.activity import ActivityConfig
from app.domain.schedule import Timeline, activity_window
from app.domain.types import ActivityId, DrawRecord, Limits, PrizePlan, RoundPlan
from app.domain.versions import History, versioned_rounds


@dataclass(slots=True)
class Runtime:
    id: ActivityId
    version: int
    config: ActivityConfig
    timeline: Timeline
    window: tuple[int, int]
    limits: Limits
    seeds: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # sfx -> (seed, hash)
    checked_at: float = 0.0  # monotonic time the version was last confirmed
    history: History = field(default_factory=History)  # rounds holding an older version

    def config_of(self, sfx: str) -> ActivityConfig:
        """The version a round was published with (its prizes, odds, release)."""
        v = self.history.rounds.get(sfx)
        return self.config if v is None else self.history.configs[v]

    def version_of(self, sfx: str) -> int:
        return self.history.rounds.get(sfx, self.version)

    def round(self, sfx: str) -> RoundPlan | None:
        return self.timeline.by_sfx.get(sfx)

    def round_of(self, round_id: str) -> RoundPlan | None:
        """The round of ``"<activity>:<YYYYMMDD>:<i>"`` or of its suffix."""
        return self.timeline.by_sfx.get(round_id.removeprefix(f"{self.id}:"))


def limits_of(cfg: ActivityConfig) -> Limits:
    lim = cfg.limits
    return Limits(lim.per_round, lim.per_day, lim.total, lim.wins_total)


def compile_runtime(
    activity_id: ActivityId, version: int, config_json: str, history_json: str | None = None
) -> Runtime:
    cfg = ActivityConfig.model_validate_json(config_json)
    history = History.loads(history_json)
    return Runtime(
        id=activity_id,
        version=version,
        config=cfg,
        timeline=Timeline(versioned_rounds(activity_id, cfg, history)),
        window=activity_window(cfg),
        limits=limits_of(cfg),
        history=history,
    )


def prize_of(rt: Runtime | None, rec: DrawRecord) -> PrizePlan | None:
    """The prize a ledger record won, from the activity's compiled rounds."""
    if not rec.won or rt is None:
        return None
    rnd = rt.timeline.by_sfx.get(ids.sfx_of(rec.round_id))
    if rnd is None or not 0 < rec.pick <= len(rnd.prizes):
        return None
    return rnd.prizes[rec.pick - 1]


def remaining(limit: int, used: int) -> int | None:
    """What a limit leaves; None when the limit is 0 (unlimited)."""
    return None if limit == 0 else max(0, limit - used)


def iso(ms: int, zone: dt.tzinfo) -> str:
    """Unix ms as ISO-8601 in the activity's zone."""
    return dt.datetime.fromtimestamp(ms / 1000, tz=zone).isoformat()


def seconds_until(ms: int, now: int) -> int:
    """Whole seconds (at least 1) from ``now`` to ``ms``: a Retry-After."""
    return max(1, -(-(ms - now) // 1000))
