"""Activity configuration (SPEC §2): the admin JSON, its model and its rules.

Pure: no I/O. :func:`parse_config` turns untrusted JSON into an
:class:`ActivityConfig` or raises :class:`ValidationFailed` whose message names
the offending field (``sessions[1].pools[0].prizes[2].probability: ...``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from app.domain.buckets import MAX_BUCKETS
from app.domain.errors import ValidationFailed
from app.domain.text import ActivityName, Description, Name, PrizeName, RedeemHint, WebUrl
from app.domain.types import PPB, Kind, Odds, PrizeType

MAX_ROUNDS = 20_000  # days × sessions; bounds the cost of one publish
MAX_COUNT = 10  # draws one request may ask for (SPEC §3, "Several draws in one request")
# What planning, previewing and publishing a configuration cost grows with its
# rounds × buckets × (prizes + release slices): bounded here (check_size), so
# no single request can take seconds of CPU or gigabytes (issue 23).
MAX_PRIZES = 1_000  # prizes configured, over every session and pool
MAX_ROUND_COPIES = 40_000  # rounds × buckets: one script call each at publish
MAX_ROUND_SLICES = 10_000  # release slices of one round, all its prizes
MAX_PLAN_ENTRIES = 400_000  # Σ over rounds × buckets of prizes + release slices
MAX_QUANTITY = 100_000_000
MAX_WEIGHT = 10_000  # weight × quantity stays far below 2^53 in the script

_TOD = re.compile(r"^(?:([01]\d|2[0-3]):([0-5]\d):([0-5]\d)|24:00:00)$")
_KEY = r"^[A-Za-z0-9_.\-]{1,32}$"


def tod_seconds(value: str) -> int:
    """``"HH:MM:SS"`` → seconds after midnight; ``"24:00:00"`` is the end of the day."""
    if value == "24:00:00":
        return 86_400
    h, m, s = value.split(":")
    return int(h) * 3600 + int(m) * 60 + int(s)


def _check_tod(value: str) -> str:
    if not _TOD.match(value):
        raise ValueError(f"{value!r} is not a time of day HH:MM:SS")
    return value


TimeOfDay = Annotated[str, AfterValidator(_check_tod)]


def probability_ppb(p: float) -> int:
    """A decimal probability as an exact integer in parts per 10^9.

    Summing integers avoids rejecting 0.1 + 0.2 + 0.7 as "more than 1".
    """
    return round(p * PPB)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class LimitsConfig(_Model):
    per_round: int = Field(default=0, ge=0, le=1_000_000)
    per_day: int = Field(default=0, ge=0, le=1_000_000)
    total: int = Field(default=0, ge=0, le=1_000_000_000)
    wins_total: int = Field(default=0, ge=0, le=1_000_000_000)


class ReleaseConfig(_Model):
    """Even award. ``slices`` equal parts, or an explicit ``at`` schedule of
    ``[time_of_day, share]`` pairs; the round quantity is split in proportion to
    the shares (exactly, when the shares sum to the quantity)."""

    slices: int = Field(default=1, ge=1, le=1000)
    lead_seconds: int = Field(default=0, ge=0, le=86_400)
    at: list[tuple[TimeOfDay, Annotated[int, Field(ge=1, le=MAX_QUANTITY)]]] | None = Field(
        default=None, min_length=1, max_length=1000
    )

    @model_validator(mode="after")
    def _one_form(self) -> ReleaseConfig:
        if self.at is not None:
            if self.slices != 1:
                raise ValueError("give either slices or at, not both")
            times = [tod_seconds(t) for t, _ in self.at]
            if times != sorted(set(times)):
                raise ValueError("at: times must be strictly increasing")
        return self


class PrizeConfig(_Model):
    key: str = Field(pattern=_KEY)
    type: PrizeType
    name: PrizeName
    # None, not "", keeps the hash of configurations stored before the field.
    description: Description | None = None
    value: Name = Field(default="", max_length=200)
    quantity: int | None = Field(default=None, ge=0, le=MAX_QUANTITY)
    probability: float | None = Field(default=None, ge=0, le=1)
    weight: int = Field(default=1, ge=0, le=MAX_WEIGHT)
    image_url: WebUrl | None = Field(default=None, max_length=500)
    release: ReleaseConfig | None = None
    # What one unit costs the campaign (any currency, e.g. yuan): the console's
    # budget only; never shown to players.
    cost: float | None = Field(default=None, ge=0, le=1_000_000_000)

    @model_validator(mode="after")
    def _quantity(self) -> PrizeConfig:
        if self.type is not PrizeType.EMPTY and self.quantity is None:
            raise ValueError("quantity: required for a prize that is not of type empty")
        return self

    @property
    def round_quantity(self) -> int:
        return 0 if self.type is PrizeType.EMPTY else (self.quantity or 0)


class PoolConfig(_Model):
    nth: int | None = Field(default=None, ge=1, le=1_000_000)
    amount_min: int | None = Field(default=None, ge=0)
    amount_max: int | None = Field(default=None, ge=1)
    prizes: list[PrizeConfig] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _pool(self) -> PoolConfig:
        seen: set[str] = set()
        for i, prize in enumerate(self.prizes):
            if prize.key in seen:
                raise ValueError(f"prizes[{i}].key: duplicate key {prize.key!r} in this pool")
            seen.add(prize.key)
        if (
            self.amount_min is not None
            and self.amount_max is not None
            and self.amount_max <= self.amount_min
        ):
            raise ValueError("amount_max: must be greater than amount_min")
        return self


class SessionConfig(_Model):
    start: TimeOfDay
    end: TimeOfDay
    pools: list[PoolConfig] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _window(self) -> SessionConfig:
        if self.start == "24:00:00":
            raise ValueError("start: 24:00:00 is only valid as an end")
        if tod_seconds(self.end) <= tod_seconds(self.start):
            raise ValueError(f"end: {self.end} is not after start {self.start}")
        return self

    @property
    def start_s(self) -> int:
        return tod_seconds(self.start)

    @property
    def end_s(self) -> int:
        return tod_seconds(self.end)


Game = Literal["rain", "wheel", "grid", "scratch", "pass"]
DEFAULT_GAME: dict[Kind, Game] = {Kind.TIME: "rain", Kind.COUNT: "pass", Kind.AMOUNT: "scratch"}


MAX_WARMUP_MS = 10_000
# A time activity's rounds open at a set moment, with a crowd waiting for the
# countdown; count and amount rounds have no such moment.
DEFAULT_WARMUP_MS: dict[Kind, int] = {Kind.TIME: 1_500, Kind.COUNT: 0, Kind.AMOUNT: 0}


def _check_warmup(value: int) -> int:
    if not 0 <= value <= MAX_WARMUP_MS:
        raise ValueError(
            f"{value} ms is outside 0..{MAX_WARMUP_MS} ms (up to {MAX_WARMUP_MS // 1000} s)"
        )
    return value


class DisplayConfig(_Model):
    """How the players' page shows the activity (SPEC §10)."""

    game: Game | None = None  # default by kind: DEFAULT_GAME
    skin: Literal["envelope", "candy"] = "envelope"  # what the rain drops
    # A round's first draws spread over this window: each player's page waits
    # a random part of it after the countdown ends ("get ready"), so a crowd's
    # first taps do not all land in the same instant. None: DEFAULT_WARMUP_MS
    # (None, not the default itself, keeps the hash of configurations stored
    # before this field unchanged: config_hash drops None).
    warmup_ms: Annotated[int, AfterValidator(_check_warmup)] | None = Field(
        default=None, json_schema_extra={"minimum": 0, "maximum": MAX_WARMUP_MS}
    )


class ActivityConfig(_Model):
    name: ActivityName
    description: Description = ""
    # How a winner redeems what they won, shown in the win dialog (SPEC §10).
    redeem_hint: RedeemHint | None = None
    kind: Kind
    timezone: str = "Asia/Shanghai"
    start_date: dt.date
    end_date: dt.date
    probability: Odds = Odds.MANUAL
    limits: LimitsConfig = LimitsConfig()
    release: ReleaseConfig = ReleaseConfig()
    sessions: list[SessionConfig] = Field(min_length=1, max_length=96)
    # count: what a draw past the last level does ("refuse": 409 no_more_levels).
    after_last_pool: Literal["refuse", "repeat_last"] = "refuse"
    # Each draw must consume a grant from a trusted backend: always for amount,
    # optionally for count (e.g. a chance earned by answering a question).
    require_grant: bool | None = None
    # Refuse draws (409 sold_out) once a round's pool has nothing left to win
    # and nothing left to release; default: yes for time, no for count/amount
    # (a level or a grant still gets its "no prize" answer there).
    stop_when_sold_out: bool | None = None
    # The most draws one request may ask for with "count" (SPEC §3); None:
    # MAX_COUNT (None keeps the hash of configurations stored before it).
    max_count: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    # One round's draws spread over this many Redis slots (SPEC §9, app/domain/buckets.py).
    buckets: int = Field(default=1, ge=1, le=MAX_BUCKETS)
    display: DisplayConfig = DisplayConfig()

    @property
    def game(self) -> Game:
        return self.display.game or DEFAULT_GAME[self.kind]

    @property
    def warmup_ms(self) -> int:
        """The players' jittered start, in ms (``display.warmup_ms``, or by kind)."""
        given = self.display.warmup_ms
        return DEFAULT_WARMUP_MS[self.kind] if given is None else given

    @property
    def stops_when_sold_out(self) -> bool:
        if self.stop_when_sold_out is None:
            return self.kind is Kind.TIME
        return self.stop_when_sold_out

    @property
    def needs_grant(self) -> bool:
        """Every draw spends a grant: amount activities, and count activities
        with ``require_grant``."""
        return self.kind is Kind.AMOUNT or bool(self.require_grant)

    @property
    def takes_grants(self) -> bool:
        """A draw may spend a grant (SPEC §3: grants are for ``amount`` or
        ``count`` activities); in a count activity without ``require_grant``
        a draw may also be made without one."""
        return self.kind in (Kind.AMOUNT, Kind.COUNT)

    @property
    def most_per_request(self) -> int:
        """The largest ``count`` a draw request may ask for."""
        return MAX_COUNT if self.max_count is None else self.max_count

    @model_validator(mode="after")
    def _rules(self) -> ActivityConfig:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: unknown time zone {self.timezone!r}") from None
        if self.end_date < self.start_date:
            raise ValueError(f"end_date: {self.end_date} is before start_date {self.start_date}")
        days = (self.end_date - self.start_date).days + 1
        if days * len(self.sessions) > MAX_ROUNDS:
            raise ValueError(
                f"sessions: {days} days × {len(self.sessions)} sessions is more than "
                f"{MAX_ROUNDS} rounds"
            )
        if self.after_last_pool != "refuse" and self.kind is not Kind.COUNT:
            raise ValueError("after_last_pool: applies to kind count only")
        if self.require_grant is False and self.kind is Kind.AMOUNT:
            raise ValueError("require_grant: an amount activity always draws on a grant")
        if self.max_count is not None and self.needs_grant:
            raise ValueError("max_count: grants are drawn one at a time")
        if self.require_grant and self.kind is Kind.TIME:
            raise ValueError("require_grant: applies to kinds count and amount only")
        if self.display.game == "pass" and self.kind is not Kind.COUNT:
            raise ValueError("display.game: pass (a level pass) needs kind count")
        self._check_overlaps()
        for si, session in enumerate(self.sessions):
            self._check_pools(si, session)
            self._check_releases(si, session)
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _check_overlaps(self) -> None:
        order = sorted(range(len(self.sessions)), key=lambda i: self.sessions[i].start_s)
        for a, b in itertools.pairwise(order):
            if self.sessions[b].start_s < self.sessions[a].end_s:
                sa, sb = self.sessions[a], self.sessions[b]
                raise ValueError(
                    f"sessions[{b}]: {sb.start}-{sb.end} overlaps sessions[{a}] {sa.start}-{sa.end}"
                )

    def _check_pools(self, si: int, session: SessionConfig) -> None:
        where = f"sessions[{si}].pools"
        pools = session.pools
        if self.kind is Kind.TIME:
            if len(pools) != 1:
                raise ValueError(f"{where}: a time activity has exactly one pool per session")
            p = pools[0]
            if p.nth is not None or p.amount_min is not None or p.amount_max is not None:
                raise ValueError(f"{where}[0]: nth/amount_min/amount_max do not apply to kind time")
        elif self.kind is Kind.COUNT:
            seen: set[int] = set()
            for pi, p in enumerate(pools):
                if p.nth is None:
                    raise ValueError(f"{where}[{pi}].nth: required for kind count")
                if p.amount_min is not None or p.amount_max is not None:
                    raise ValueError(f"{where}[{pi}]: amount_min/amount_max do not apply to count")
                if p.nth in seen:
                    raise ValueError(f"{where}[{pi}].nth: duplicate nth {p.nth}")
                seen.add(p.nth)
            if seen != set(range(1, len(pools) + 1)):
                raise ValueError(
                    f"{where}: nth must number the levels 1..{len(pools)} without gaps"
                )
        else:
            bands: list[tuple[int, float, int]] = []
            for pi, p in enumerate(pools):
                if p.amount_min is None:
                    raise ValueError(f"{where}[{pi}].amount_min: required for kind amount")
                if p.nth is not None:
                    raise ValueError(f"{where}[{pi}].nth: does not apply to kind amount")
                hi = float("inf") if p.amount_max is None else float(p.amount_max)
                bands.append((p.amount_min, hi, pi))
            bands.sort()
            for (_, hi_a, a), (lo_b, _, b) in itertools.pairwise(bands):
                if lo_b < hi_a:
                    raise ValueError(f"{where}[{b}]: amount band overlaps {where}[{a}]")
        for pi, pool in enumerate(pools):
            total = 0
            for zi, prize in enumerate(pool.prizes):
                if prize.probability is None:
                    if self.probability is Odds.MANUAL and prize.type is not PrizeType.EMPTY:
                        raise ValueError(
                            f"{where}[{pi}].prizes[{zi}].probability: required when "
                            "probability is manual"
                        )
                    continue
                total += probability_ppb(prize.probability)
            if self.probability is Odds.MANUAL and total > PPB:
                raise ValueError(
                    f"{where}[{pi}].prizes: probabilities sum to {total / PPB:g}, more than 1"
                )

    def _check_releases(self, si: int, session: SessionConfig) -> None:
        def check(rel: ReleaseConfig, where: str) -> None:
            for k, (t, _) in enumerate(rel.at or ()):
                if tod_seconds(t) >= session.end_s:
                    raise ValueError(
                        f"{where}.at[{k}]: {t} is not before the end of sessions[{si}] "
                        f"({session.end})"
                    )

        check(self.release, "release")
        for pi, pool in enumerate(session.pools):
            for zi, prize in enumerate(pool.prizes):
                if prize.release is not None:
                    check(prize.release, f"sessions[{si}].pools[{pi}].prizes[{zi}].release")


def _slices(quantity: int, rel: ReleaseConfig) -> int:
    """How many release slices a prize of a round has, at most (as
    :func:`app.domain.schedule.release_slices` makes them)."""
    if quantity <= 0:
        return 0
    if rel.at is not None:
        return len(rel.at)
    return rel.slices if quantity >= rel.slices else 1  # a short quantity is one slice


def check_size(cfg: ActivityConfig) -> None:
    """Refuse (422, naming the field) a configuration whose plan is too big to
    preview or publish in bounded time and memory: more than ``MAX_PRIZES``
    prizes, ``MAX_ROUND_SLICES`` release slices in a round, ``MAX_ROUND_COPIES``
    rounds × buckets, or ``MAX_PLAN_ENTRIES`` prizes and release slices over
    every round and bucket.

    Not a model rule: a configuration stored before these bounds still loads
    (and draws); creating, replacing, previewing and publishing check."""
    days = (cfg.end_date - cfg.start_date).days + 1
    rounds = days * len(cfg.sessions)
    k = cfg.buckets
    prizes = sum(len(pool.prizes) for s in cfg.sessions for pool in s.pools)
    if prizes > MAX_PRIZES:
        raise ValidationFailed(
            f"sessions: {prizes:,} prizes over the sessions and pools, more than {MAX_PRIZES:,}",
            field="sessions",
        )
    if rounds * k > MAX_ROUND_COPIES:
        raise ValidationFailed(
            f"buckets: {rounds:,} rounds × {k} buckets is more than {MAX_ROUND_COPIES:,} "
            "round copies to publish; use fewer buckets, sessions or days",
            field="buckets",
        )
    entries = slices = 0
    most, field = -1, "release"  # the release with the most slices: what to name
    for si, session in enumerate(cfg.sessions):
        in_round, top, top_field = 0, -1, "release"
        for pi, pool in enumerate(session.pools):
            for zi, prize in enumerate(pool.prizes):
                n = _slices(prize.round_quantity, prize.release or cfg.release)
                in_round += n
                if n > top:
                    top = n
                    top_field = (
                        "release"
                        if prize.release is None
                        else f"sessions[{si}].pools[{pi}].prizes[{zi}].release"
                    )
        if in_round > MAX_ROUND_SLICES:
            raise ValidationFailed(
                f"{top_field}: a round of sessions[{si}] releases its prizes in "
                f"{in_round:,} slices, more than {MAX_ROUND_SLICES:,}",
                field=top_field,
            )
        if top > most:
            most, field = top, top_field
        entries += days * (sum(len(pool.prizes) for pool in session.pools) + in_round)
        slices += days * in_round
    if entries * k > MAX_PLAN_ENTRIES:
        if slices * 2 <= entries:  # as many prizes as slices: the prizes, not slices
            field = "sessions"
        raise ValidationFailed(
            f"{field}: {rounds:,} rounds × {k} bucket(s) hold {entries * k:,} prizes and "
            f"release slices, more than {MAX_PLAN_ENTRIES:,}; use fewer slices, prizes, "
            "sessions, days or buckets",
            field=field,
        )


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def describe(exc: ValidationError) -> tuple[str, str]:
    """The first problem of a pydantic error as ``(field, one-line message)``."""
    err = exc.errors(include_url=False)[0]
    where = _loc(tuple(err["loc"]))
    msg = str(err["msg"]).removeprefix("Value error, ")
    # Rules raised from a model validator name their own field, relative to it.
    head, sep, _ = msg.partition(": ")
    if sep and re.fullmatch(r"[A-Za-z_][\w.\[\]]*", head):
        where = f"{where}.{head}" if where else head
        msg = msg[len(head) + 2 :]
    return where, (f"{where}: {msg}" if where else msg)


def parse_config(data: Any) -> ActivityConfig:
    """Validate untrusted admin JSON, strictly (as every request body): a number
    must be a JSON number, ``"10"`` is refused, not coerced; and bounded in
    size (:func:`check_size`). Raises :class:`ValidationFailed` naming the field."""
    if not isinstance(data, dict):
        raise ValidationFailed("activity configuration must be a JSON object", field="")
    try:
        raw = orjson.dumps(data)
    except orjson.JSONEncodeError as exc:  # e.g. an integer beyond 64 bits
        raise ValidationFailed(f"activity configuration: {exc}", field="") from exc
    try:
        # JSON-mode strictness: dates and times of day are strings, pairs are arrays.
        cfg = ActivityConfig.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        field, message = describe(exc)
        raise ValidationFailed(message, field=field) from exc
    check_size(cfg)
    return cfg


def config_hash(cfg: ActivityConfig) -> str:
    """SHA-256 of a configuration's canonical JSON: the exact version an
    approval names (SPEC §8)."""
    canonical = orjson.dumps(
        cfg.model_dump(mode="json", exclude_none=True), option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()
