"""What may change in an activity once it has started (SPEC §3). Pure.

Players have drawn against the published odds, stock and limits, and
``redrain verify`` recomputes every round from them. Once the activity has
started, a new version may change names, descriptions, the redeem hint,
images, the display, a later ``end_date`` (new rounds with the same
sessions) and what the rounds that have not started hold: each session's
pools (prizes, quantities, odds, release) and the default release. Rounds
that started keep the version they were published with
(:mod:`app.domain.versions`). What spans rounds stays: the sessions' times,
the limits, the kind, the zone, the odds mode. Anything else is 422 naming
the first field that differs; a started round's stock grows with a top-up.
"""

from __future__ import annotations

from typing import Any

from app.domain.activity import ActivityConfig
from app.domain.errors import ValidationFailed

ACTIVITY_FREE = ("name", "description", "redeem_hint", "display", "end_date", "release")
SESSION_FREE = ("pools",)  # only the rounds that have not started take them


def _strip(cfg: ActivityConfig) -> dict[str, Any]:
    data = cfg.model_dump(mode="json", exclude_none=True)
    for k in ACTIVITY_FREE:
        data.pop(k, None)
    for session in data.get("sessions", ()):
        for k in SESSION_FREE:
            session.pop(k, None)
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
            f"{field}: locked once the activity has started (names, texts, display, a later"
            " end_date and the prizes of rounds that have not started may change; add stock"
            " to a started round with a top-up)",
            field=field,
        )
