"""Planning a campaign before it is saved: the calendar of rounds and release
slices, and the budget (``app.domain.budget``) for the console."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from app.domain import budget as plan
from app.domain.activity import ActivityConfig, parse_config
from app.domain.errors import ValidationFailed

ROUNDS_SHOWN = 400  # the calendar lists this many rounds; the budget covers all


@dataclass(frozen=True, slots=True)
class Preview:
    config: ActivityConfig
    rounds: list[plan.RoundPreview]
    rounds_total: int
    budget: plan.Budget | None


def _preview(data: Any, players: int, taps: int, shown: int) -> Preview:
    try:
        cfg = parse_config(data)
    except ValidationFailed as exc:  # the field, as the body names it
        field = exc.details.get("field")
        raise ValidationFailed(exc.message, field=f"config.{field}" if field else "config") from exc
    rounds, total = plan.calendar(cfg, shown)
    outlook = plan.budget(cfg, players, taps, min(shown, 60)) if players else None
    return Preview(cfg, rounds, total, outlook)


async def preview(data: Any, players: int, taps: int, shown: int = ROUNDS_SHOWN) -> Preview:
    """In a thread, so the event loop keeps serving draws meanwhile; and
    bounded, since a thread still holds the GIL: the configuration's size
    (``check_size``), the calendar's listing and the budget's work are capped,
    so the largest accepted preview takes well under a second (docs/console.md)."""
    return await asyncio.to_thread(_preview, data, players, taps, shown)
