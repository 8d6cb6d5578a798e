"""One clock for the campaign: REDRAIN_CLOCK_OFFSET moves every time redrain
stores, not only the round it guesses."""

from __future__ import annotations

import datetime as dt

from app.services.clock import Clock
from tests.conftest import ServiceFactory
from tests.services.test_lotteries import T0, at, make_lottery, settle_others


def test_campaign_time_has_the_offset_and_stamps_whole_seconds() -> None:
    clock = Clock(90_500, wall=lambda: 1_000.25)
    assert clock.now_ms() == 1_000_250 + 90_500
    assert clock.now_utc() == dt.datetime(1970, 1, 1, 0, 18, 10, 750_000)
    assert clock.stamp() == dt.datetime(1970, 1, 1, 0, 18, 10)
    assert clock.wall() == 1_000.25  # token expiry stays on the real clock


async def test_a_rehearsed_lottery_is_stamped_in_rehearsal_time(
    make_service: ServiceFactory,
) -> None:
    """Run years ahead with an offset: the draw is stored after its draw_at, as
    it happened in the rehearsed campaign (not at today's date)."""
    await settle_others(make_service)
    lid = await make_lottery(at(make_service, T0))
    due = at(make_service, T0 + dt.timedelta(minutes=11))
    assert await due.lotteries.run_due() == (1, 0)
    assert await due.lotteries.run_due() == (0, 1)
    rec = await due.lotteries.get(lid)
    assert rec.drawn_at is not None and rec.drawn_at >= rec.draw_at
    assert rec.drawn_at - rec.draw_at < dt.timedelta(minutes=5)
