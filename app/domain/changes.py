"""What may change in an activity once it has started (SPEC §3). Pure.

Players have drawn against the published odds, stock and limits, and
``redrain verify`` recomputes every round from them, so once the activity
has started a new version may change only what nobody drew against: names,
descriptions, the redeem hint, images, the display, and a later ``end_date`` (new rounds with
the same sessions). Anything else is 422 naming the first field that
differs; stock grows with a top-up instead.
"""

from __future__ import annotations

from typing import Any

from app.domain.activity import ActivityConfig
from app.domain.errors import ValidationFailed

ACTIVITY_FREE = ("name", "description", "redeem_hint", "display", "end_date")
PRIZE_FREE = ("name", "description", "image_url")


def _strip(cfg: ActivityConfig) -> dict[str, Any]:
    data = cfg.model_dump(mode="json", exclude_none=True)
    for k in ACTIVITY_FREE:
        data.pop(k, None)
    for session in data.get("sessions", ()):
        for pool in session.get("pools", ()):
            for prize in pool.get("prizes", ()):
                for k in PRIZE_FREE:
                    prize.pop(k, None)
    return data


def _first_difference(a: Any, b: Any, path: str) -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                return f"{path}.{k}" if path else k
            found = _first_difference(a[k], b[k], f"{path}.{k}" if path else k)
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else path


def check_started_change(live: ActivityConfig, new: ActivityConfig) -> None:
    """422 unless ``new`` differs from ``live`` only where a started
    activity may change."""
    if new.end_date < live.end_date:
        raise ValidationFailed(
            f"end_date: the activity has started; it may end later ({live.end_date} or after),"
            " not earlier",
            field="end_date",
        )
    field = _first_difference(_strip(live), _strip(new), "")
    if field is not None:
        raise ValidationFailed(
            f"{field}: locked once the activity has started (names, descriptions, images,"
            " display and a later end_date may change; add stock with a top-up)",
            field=field,
        )
