"""Embedded mode: everything in one process for trying redrain out.

With no ``REDRAIN_REDIS_URL``, ``serve`` and ``demo`` run on fakeredis (with
Lua) and SQLite, with dev login on and a sample red-envelope rain whose round
is open whenever you start it. Nothing here is meant for production.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

SAMPLE_ZONE = "Asia/Shanghai"


FOLDER_PREFIX = "redrain-embedded-"


def database_url() -> str:
    """A fresh SQLite file for this process (the fake Redis is fresh too)."""
    folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
    return f"sqlite+aiosqlite:///{folder / 'redrain.db'}"


def discard(url: str) -> None:
    """Remove the folder :func:`database_url` made (and nothing else): the data
    lived as long as the process, as promised."""
    path = Path(url.removeprefix("sqlite+aiosqlite:///")).parent
    if path.parent == Path(tempfile.gettempdir()) and path.name.startswith(FOLDER_PREFIX):
        shutil.rmtree(path, ignore_errors=True)


def sample_activity(now: dt.datetime | None = None) -> dict[str, Any]:
    """A week of hourly red-envelope rains, so one is open at any time of day."""
    today = (now or dt.datetime.now(ZoneInfo(SAMPLE_ZONE))).astimezone(ZoneInfo(SAMPLE_ZONE))
    sessions = [
        {
            "start": f"{h:02d}:00:00",
            "end": f"{h + 1:02d}:00:00" if h < 23 else "24:00:00",
            "pools": [
                {
                    "prizes": [
                        {
                            "key": "c2",
                            "type": "coupon",
                            "name": "2 yuan coupon",
                            "value": "CPN-2",
                            "quantity": 600,
                            "probability": 0.3,
                        },
                        {
                            "key": "c5",
                            "type": "coupon",
                            "name": "5 yuan coupon",
                            "value": "CPN-5",
                            "quantity": 200,
                            "probability": 0.1,
                        },
                        {
                            "key": "p88",
                            "type": "points",
                            "name": "88 points",
                            "value": "88",
                            "quantity": 50,
                            "probability": 0.05,
                        },
                        {"key": "thanks", "type": "empty", "name": "Thanks for playing"},
                    ]
                }
            ],
        }
        for h in range(24)
    ]
    return {
        "name": "Sample red envelope rain",
        "description": "Hourly rain for a week; three taps per rain, prizes released in 4 slices.",
        "kind": "time",
        "timezone": SAMPLE_ZONE,
        "start_date": (today.date() - dt.timedelta(days=1)).isoformat(),
        "end_date": (today.date() + dt.timedelta(days=6)).isoformat(),
        "probability": "manual",
        "limits": {"per_round": 3, "per_day": 0, "total": 0, "wins_total": 0},
        "release": {"slices": 4, "lead_seconds": 0},
        "sessions": sessions,
    }
