"""Which version of an activity each round holds. Pure: no I/O.

Once an activity has started, a new version changes only the rounds that
have not started (SPEC §3): a round keeps the version it was last loaded
into Redis with, because players drew against that version's prizes, odds
and release schedule and ``redrain verify`` recomputes the round from it.
Names and images are the exception: a typo fixed in the newest version shows
in every round, since they change no outcome.

A :class:`History` is what a publish stores beside the newest configuration
(in Redis for the API, with the rounds' versions in the database for verify):
the older versions still held by some round, and which rounds hold them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from app.domain.activity import ActivityConfig
from app.domain.schedule import plan_rounds
from app.domain.types import ActivityId, PrizePlan, RoundPlan

# A round starting this soon keeps its version when a newer one is published:
# the API switches versions only once the whole publish is written, so a
# round that opened mid-publish would be drawn against half of each.
KEEP_MS = 120_000


@dataclass(frozen=True, slots=True)
class History:
    configs: Mapping[int, ActivityConfig] = field(default_factory=dict)  # older versions
    rounds: Mapping[str, int] = field(default_factory=dict)  # sfx -> its older version

    def __bool__(self) -> bool:
        return bool(self.rounds)

    def dumps(self) -> str:
        by_version: dict[str, list[str]] = {}
        for sfx, v in sorted(self.rounds.items()):
            by_version.setdefault(str(v), []).append(sfx)
        return orjson.dumps(
            {
                "configs": {
                    str(v): self.configs[v].model_dump(mode="json", exclude_none=True)
                    for v in sorted({*self.rounds.values()})
                },
                "rounds": by_version,
            }
        ).decode()

    @classmethod
    def loads(cls, text: str | None) -> History:
        if not text:
            return cls()
        data = orjson.loads(text)
        return cls(
            {int(v): ActivityConfig.model_validate(c) for v, c in data["configs"].items()},
            {sfx: int(v) for v, sfxs in data["rounds"].items() for sfx in sfxs},
        )


def _texts(old: RoundPlan, new: RoundPlan) -> RoundPlan:
    """``old`` with the names and images ``new`` gives the same prize (the
    same key in the same pool)."""

    def pool(plan: RoundPlan, p: PrizePlan) -> int:
        return next((i for i, pl in enumerate(plan.pools) if pl.first <= p.index <= pl.last), 0)

    newer = {(pool(new, p), p.key): p for p in new.prizes}
    prizes = []
    for p in old.prizes:
        n = newer.get((pool(old, p), p.key))
        prizes.append(
            p if n is None else dataclasses.replace(p, name=n.name, image_url=n.image_url)
        )
    return dataclasses.replace(old, prizes=tuple(prizes))


def versioned_rounds(
    activity_id: ActivityId, current: ActivityConfig, history: History
) -> list[RoundPlan]:
    """Every round of the activity as drawn: the newest version's plan,
    except the rounds that hold an older version."""
    plans = plan_rounds(activity_id, current)
    if not history:
        return plans
    older = {
        v: {r.sfx: r for r in plan_rounds(activity_id, cfg)} for v, cfg in history.configs.items()
    }
    out = []
    for r in plans:
        v = history.rounds.get(r.sfx)
        old = older.get(v, {}).get(r.sfx) if v is not None else None
        out.append(r if old is None else _texts(old, r))
    return out
