"""Activity configuration rules (SPEC §2): each invalid config is refused with
a message naming the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.domain.activity import config_hash, parse_config
from app.domain.errors import ValidationFailed
from tests.helpers import prize, rain


def broken(mutate: Any) -> dict[str, Any]:
    cfg = rain([prize("a", 10, 0.5), prize("b", 10, 0.2)])
    mutate(cfg)
    return cfg


def set_(path: str, value: Any) -> Any:
    def mutate(cfg: dict[str, Any]) -> None:
        node: Any = cfg
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = parts[-1]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def delete(path: str) -> Any:
    def mutate(cfg: dict[str, Any]) -> None:
        node: Any = cfg
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[parts[-1]]

    return mutate


def add_session(start: str, end: str) -> Any:
    def mutate(cfg: dict[str, Any]) -> None:
        s = copy.deepcopy(cfg["sessions"][0])
        s["start"], s["end"] = start, end
        cfg["sessions"].append(s)

    return mutate


P0 = "sessions.0.pools.0.prizes.0"

CASES = [
    ("unknown kind", set_("kind", "lottery"), "kind"),
    ("end before start", set_("end_date", "2030-05-31"), "end_date"),
    ("bad date", set_("start_date", "2030-13-01"), "start_date"),
    ("unknown time zone", set_("timezone", "Mars/Olympus"), "timezone"),
    ("unknown probability mode", set_("probability", "magic"), "probability"),
    ("probabilities sum > 1", set_(f"{P0}.probability", 0.9), "sessions[0].pools[0].prizes"),
    (
        "probability > 1",
        set_(f"{P0}.probability", 1.5),
        "sessions[0].pools[0].prizes[0].probability",
    ),
    (
        "negative probability",
        set_(f"{P0}.probability", -0.1),
        "sessions[0].pools[0].prizes[0].probability",
    ),
    ("negative quantity", set_(f"{P0}.quantity", -1), "sessions[0].pools[0].prizes[0].quantity"),
    ("missing quantity", delete(f"{P0}.quantity"), "sessions[0].pools[0].prizes[0].quantity"),
    (
        "missing manual probability",
        delete(f"{P0}.probability"),
        "sessions[0].pools[0].prizes[0].probability",
    ),
    ("unknown prize type", set_(f"{P0}.type", "cash"), "sessions[0].pools[0].prizes[0].type"),
    ("duplicate prize key", set_(f"{P0}.key", "b"), "sessions[0].pools[0].prizes[1].key"),
    ("bad prize key", set_(f"{P0}.key", "has space"), "sessions[0].pools[0].prizes[0].key"),
    ("session end before start", set_("sessions.0.end", "09:00:00"), "sessions[0].end"),
    ("bad time of day", set_("sessions.0.start", "25:00:00"), "sessions[0].start"),
    ("overlapping sessions", add_session("10:30:00", "12:00:00"), "sessions[1]"),
    ("no sessions", set_("sessions", []), "sessions"),
    (
        "time kind with two pools",
        lambda c: c["sessions"][0]["pools"].append(copy.deepcopy(c["sessions"][0]["pools"][0])),
        "sessions[0].pools",
    ),
    ("time kind with nth", set_("sessions.0.pools.0.nth", 1), "sessions[0].pools[0]"),
    ("count pool without nth", set_("kind", "count"), "sessions[0].pools[0].nth"),
    ("amount pool without band", set_("kind", "amount"), "sessions[0].pools[0].amount_min"),
    ("negative limit", set_("limits", {"per_round": -1}), "limits.per_round"),
    ("unknown field", set_("colour", "red"), "colour"),
    ("slices and at", set_("release", {"slices": 2, "at": [["10:00:00", 1]]}), "release"),
    ("release after session end", set_("release", {"at": [["12:00:00", 1]]}), "release.at[0]"),
    ("zero slices", set_("release", {"slices": 0}), "release.slices"),
    ("wrong type", set_("limits", {"per_round": "one"}), "limits.per_round"),
    ("empty name", set_("name", ""), "name"),
    ("warm-up past 10 s", set_("display", {"warmup_ms": 10_001}), "display.warmup_ms"),
    ("negative warm-up", set_("display", {"warmup_ms": -1}), "display.warmup_ms"),
    ("warm-up in seconds", set_("display", {"warmup_ms": 1.5}), "display.warmup_ms"),
]


@pytest.mark.parametrize(("label", "mutate", "field"), CASES, ids=[c[0] for c in CASES])
def test_invalid_config_names_field(label: str, mutate: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        parse_config(broken(mutate))
    assert err.value.details["field"] == field, err.value.message
    assert err.value.message.startswith(field)


def test_overlapping_amount_bands() -> None:
    cfg = rain([prize("a", 10, 0.5)], kind="amount")
    pool = cfg["sessions"][0]["pools"][0]
    pool["amount_min"], pool["amount_max"] = 0, 100
    second = copy.deepcopy(pool)
    second["amount_min"], second["amount_max"] = 50, 200
    cfg["sessions"][0]["pools"].append(second)
    with pytest.raises(ValidationFailed, match="overlaps"):
        parse_config(cfg)


def test_duplicate_nth() -> None:
    cfg = rain([prize("a", 10, 0.5)], kind="count")
    pool = cfg["sessions"][0]["pools"][0]
    pool["nth"] = 1
    cfg["sessions"][0]["pools"].append(copy.deepcopy(pool))
    with pytest.raises(ValidationFailed, match="duplicate nth"):
        parse_config(cfg)


def test_not_an_object() -> None:
    with pytest.raises(ValidationFailed):
        parse_config([1, 2])


def test_valid_configs() -> None:
    cfg = parse_config(rain([prize("a", 10, 0.1), prize("b", 10, 0.2), prize("c", 10, 0.7)]))
    assert cfg.kind.value == "time"
    # An empty prize needs no quantity and may carry a display probability.
    parse_config(rain([prize("a", 10, 0.5), prize("t", None, 0.5, type="empty")]))
    # Auto mode needs no probability; weight defaults to 1.
    auto = parse_config(
        rain([prize("a", 10, None), prize("b", 5, None, weight=3)], probability="auto")
    )
    assert [p.weight for p in auto.sessions[0].pools[0].prizes] == [1, 3]
    # A whole-day session may end at 24:00:00.
    parse_config(rain(sessions=[("00:00:00", "24:00:00")]))
    # Adjacent sessions do not overlap (end is exclusive).
    parse_config(rain(sessions=[("10:00:00", "10:01:00"), ("10:01:00", "10:02:00")]))


def test_count_and_amount_options() -> None:
    count = rain([prize("a", 10, 0.5)], kind="count")
    count["sessions"][0]["pools"][0]["nth"] = 1
    second = copy.deepcopy(count["sessions"][0]["pools"][0])
    second["nth"] = 3  # a gap: levels must be 1..N
    gap = copy.deepcopy(count)
    gap["sessions"][0]["pools"].append(second)
    with pytest.raises(ValidationFailed, match="without gaps"):
        parse_config(gap)
    assert (
        parse_config({**count, "after_last_pool": "repeat_last"}).after_last_pool == "repeat_last"
    )
    assert parse_config({**count, "require_grant": True}).needs_grant
    with pytest.raises(ValidationFailed, match="after_last_pool"):
        parse_config(rain(after_last_pool="repeat_last"))
    with pytest.raises(ValidationFailed, match="require_grant"):
        parse_config(rain(require_grant=True))
    amount = rain([prize("a", 10, 0.5)], kind="amount")
    amount["sessions"][0]["pools"][0]["amount_min"] = 0
    assert parse_config(amount).needs_grant
    with pytest.raises(ValidationFailed, match="require_grant"):
        parse_config({**amount, "require_grant": False})


def test_warmup_by_kind_and_given() -> None:
    time = rain([prize("a", 10, 0.5)])
    assert parse_config(time).warmup_ms == 1_500  # a crowd waits for a rain's countdown
    count = rain([prize("a", 10, 0.5)], kind="count")
    count["sessions"][0]["pools"][0]["nth"] = 1
    assert parse_config(count).warmup_ms == 0
    assert parse_config({**time, "display": {"warmup_ms": 0}}).warmup_ms == 0
    assert parse_config({**count, "display": {"warmup_ms": 10_000}}).warmup_ms == 10_000
    with pytest.raises(
        ValidationFailed, match=r"display\.warmup_ms: 12000 ms is outside 0\.\.10000"
    ):
        parse_config({**time, "display": {"warmup_ms": 12_000}})
    # Not given, it is not stored: configurations saved before it keep their hash.
    cfg = parse_config(time)
    assert "warmup_ms" not in cfg.model_dump(mode="json", exclude_none=True)["display"]
    assert config_hash(cfg) == config_hash(parse_config({**time, "display": {"skin": "envelope"}}))
