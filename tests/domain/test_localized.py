"""Names, descriptions and the redeem hint in one language or several (SPEC §1)."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.activity import config_hash, parse_config
from app.domain.errors import ValidationFailed
from app.domain.text import in_language
from tests.helpers import prize, rain

pytestmark = pytest.mark.unit

BOTH = {"en": "Gold coin", "zh-CN": "金币"}


def refused(cfg: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ValidationFailed) as err:
        parse_config(cfg)
    return err.value.details["field"], err.value.message


def test_a_string_or_one_text_per_language_is_accepted() -> None:
    cfg = rain(
        [prize("a", 5, 0.5, name=BOTH, description={"en": "Shiny", "zh-CN": "闪亮"})],
        name={"zh-CN": "红包雨", "en": "Red rain"},
        description={"en": "Hourly", "zh-CN": "每小时"},
        redeem_hint={"en": "Open Wallet › Coupons", "zh-CN": "打开钱包 › 优惠券"},
    )
    parsed = parse_config(cfg)
    assert parsed.name == {"zh-CN": "红包雨", "en": "Red rain"}
    assert parsed.sessions[0].pools[0].prizes[0].name == BOTH
    assert parsed.redeem_hint == {"en": "Open Wallet › Coupons", "zh-CN": "打开钱包 › 优惠券"}
    assert parse_config(rain([prize("a", 5, 0.5)], name="Plain")).name == "Plain"


def test_bad_names_are_refused_at_their_field() -> None:
    field, message = refused(rain([prize("a", 5, 0.5)], name={"en": ""}))
    assert field == "name.en" and "should have at least 1 character" in message
    field, _ = refused(rain([prize("a", 5, 0.5)], name={}))
    assert field == "name"
    field, message = refused(rain([prize("a", 5, 0.5)], name={"english": "x"}))
    assert field == "name" and "language tag" in message
    field, _ = refused(rain([prize("a", 5, 0.5, name={"en": "x" * 101})]))
    assert field == "sessions[0].pools[0].prizes[0].name.en"
    field, _ = refused(rain([prize("a", 5, 0.5)], name=5))
    assert field == "name"
    field, message = refused(rain([prize("a", 5, 0.5)], name={"en": "a\u202eb"}))
    assert field == "name.en" and "bidirectional" in message


def test_an_old_configuration_keeps_its_hash() -> None:
    """The new optional fields are absent, not empty, so versions stored
    before them are still the versions their approvals name."""
    cfg = rain([prize("a", 5, 0.5)])
    before = config_hash(parse_config(cfg))
    assert "redeem_hint" not in parse_config(cfg).model_dump(exclude_none=True)
    assert config_hash(parse_config(cfg)) == before


@pytest.mark.parametrize(
    ("lang", "shown"),
    [("zh-CN", "金币"), ("zh", "金币"), ("zh-TW", "金币"), ("en", "Gold coin"), ("fr", "Gold coin"),
     (None, "Gold coin")],
)  # fmt: skip
def test_a_page_shows_the_players_language_else_the_first_given(
    lang: str | None, shown: str
) -> None:
    assert in_language(BOTH, lang) == shown
    assert in_language("Gold", lang) == "Gold"
    assert in_language(None, lang) == ""
