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
from app.domain.schedule import plan_rounds, session_prizes
from app.domain.text import in_language
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


def _by_version(
    activity_id: ActivityId, configs: Mapping[int, ActivityConfig]
) -> dict[int, dict[str, RoundPlan]]:
    """Each version's rounds by suffix."""
    return {v: {r.sfx: r for r in plan_rounds(activity_id, c)} for v, c in configs.items()}


def versioned_rounds(
    activity_id: ActivityId, current: ActivityConfig, history: History
) -> list[RoundPlan]:
    """Every round of the activity as drawn: the newest version's plan,
    except the rounds that hold an older version."""
    plans = plan_rounds(activity_id, current)
    if not history:
        return plans
    older = _by_version(activity_id, history.configs)
    out = []
    for r in plans:
        v = history.rounds.get(r.sfx)
        old = older.get(v, {}).get(r.sfx) if v is not None else None
        out.append(r if old is None else _texts(old, r))
    return out


@dataclass(frozen=True, slots=True)
class Publishing:
    """What a publish loads: each round's plan and the version it is of."""

    rounds: list[RoundPlan]
    versions: dict[str, int]  # sfx -> the version its plan is of
    held: Mapping[str, int]  # sfx -> the version it held before this publish
    configs: dict[int, ActivityConfig]  # every version a round is planned with

    @classmethod
    def plan(
        cls,
        activity_id: ActivityId,
        cfg: ActivityConfig,
        version: int,
        held: Mapping[str, int],
        older: Mapping[int, ActivityConfig],
        now_ms: int,
    ) -> Publishing:
        """Version ``version`` (``cfg``) for every round, except a round that
        keeps the older one it holds: it started, or starts within KEEP_MS,
        at unchanged times."""
        plans = _by_version(activity_id, older)
        rounds: list[RoundPlan] = []
        versions: dict[str, int] = {}
        for r in plan_rounds(activity_id, cfg):
            v = held.get(r.sfx, version)
            old = plans[v].get(r.sfx) if v in plans else None
            if (
                old is not None
                and r.start_ms <= now_ms + KEEP_MS
                and (old.start_ms, old.end_ms) == (r.start_ms, r.end_ms)
            ):
                rounds.append(old)
                versions[r.sfx] = v
            else:
                rounds.append(r)
                versions[r.sfx] = version
        return cls(rounds, versions, held, {**older, version: cfg})

    def config_of(self, sfx: str) -> ActivityConfig:
        return self.configs[self.versions[sfx]]

    def history(self, current: int, loaded: frozenset[str]) -> History:
        """Which rounds hold an older version once the publish is written:
        the ones it loaded with one, and the frozen ones it did not load."""
        final = {
            r.sfx: self.versions[r.sfx] if r.sfx in loaded else self.held.get(r.sfx, current)
            for r in self.rounds
        }
        older = {sfx: v for sfx, v in final.items() if v != current and v in self.configs}
        return History({v: self.configs[v] for v in set(older.values())}, older)


def later_names(rnd: RoundPlan, later: list[ActivityConfig]) -> dict[str, frozenset[str]]:
    """Prize key -> the names (as the ledger stores them) the round's prizes
    had in later versions: verify accepts any of them."""
    names: dict[str, set[str]] = {}
    for cfg in later:
        if rnd.session_index < len(cfg.sessions):
            for p in session_prizes(cfg, cfg.sessions[rnd.session_index]):
                names.setdefault(p.key, set()).add(in_language(p.name))
    return {k: frozenset(v) for k, v in names.items()}
