"""The one clock of redrain's processes.

``REDRAIN_CLOCK_OFFSET`` moves "now" for everything that reasons about the
campaign (rounds, lotteries, stored times), so an operator can rehearse a
future campaign today; token expiry and timers stay on the real clock. Inside
a draw the Redis clock (plus the same offset) is the authority; this clock
only guesses the open round and stamps database rows.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable


class Clock:
    def __init__(self, offset_ms: int = 0, *, wall: Callable[[], float] = time.time) -> None:
        self.offset_ms = offset_ms
        self.wall = wall  # real Unix seconds: token expiry, signatures

    def now_ms(self) -> int:
        """Campaign time: Unix ms with the offset."""
        return int(self.wall() * 1000) + self.offset_ms

    def now_utc(self) -> dt.datetime:
        """Campaign time as naive UTC, as the database keeps times."""
        return dt.datetime.fromtimestamp(self.now_ms() / 1000, tz=dt.UTC).replace(tzinfo=None)

    def stamp(self) -> dt.datetime:
        """:meth:`now_utc` to whole seconds: what a MariaDB DATETIME column keeps."""
        return self.now_utc().replace(microsecond=0)

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()
