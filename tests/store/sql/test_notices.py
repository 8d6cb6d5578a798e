"""A player's notifications (MariaDB and SQLite): lottery results are rows of
``notifications``, a win's notification rides on its draw row (migration
0016); the list merges both newest first, and paging through it with each
page's cursor neither repeats nor skips one."""

from __future__ import annotations

import datetime as dt
import uuid

from app.domain.types import DrawRecord, PrizePlan, PrizeType
from app.store.sql.database import Database
from app.store.sql.notices import insert_notices, lottery_notice

PRIZE = PrizePlan(1, "c2", PrizeType.COUPON, "2 元券", "CPN-2", 10, 10**8, 1)
T0 = dt.datetime(2030, 6, 1, 2, 0, 0)


def ms(at: dt.datetime) -> int:
    return int(at.replace(tzinfo=dt.UTC).timestamp() * 1000)


async def test_wins_and_lottery_results_page_newest_first(database: Database) -> None:
    user = f"n-{uuid.uuid4().hex[:8]}"
    rid = f"8{uuid.uuid4().int % 10**6}:20300601:0"
    aid = int(rid.split(":")[0])
    expected: list[tuple[dt.datetime, str, str]] = []
    wins = []
    for i in range(7):  # a win every 10 s, two of them in the same millisecond
        at = T0 + dt.timedelta(seconds=10 * i if i != 4 else 30)
        rec = DrawRecord(
            f"{rid}:{i + 1}", aid, rid, i + 1, user, i + 1, "", 1, True, "c2",
            f"{i:040x}", ms(at), f"{ms(at)}-{i}",
        )  # fmt: skip
        wins.append((rec, PRIZE))
        expected.append((at, "prize_won", rec.draw_id))
    await database.draws.store(wins)
    async with database.session() as s:
        for j in range(5):  # lottery results at 5 s past each 10 s, one a tie in time
            at = T0 + dt.timedelta(seconds=10 * j + (5 if j != 2 else 10))
            await insert_notices(s, [lottery_notice(user, 900 + j, f"L{j}", None, at)])
            expected.append((at, "lottery_result", str(900 + j)))
        await insert_notices(s, [lottery_notice("someone-else", 1, "L", None, T0)])

    seen: list[tuple[dt.datetime, str, str]] = []
    cursor = None
    for _ in range(20):
        page = await database.notices.of_user(user, limit=3, before=cursor)
        seen += [(n.created_at, n.kind, n.ref) for n in page]
        if len(page) < 3:
            break
        cursor = page[-1].cursor
    assert sorted(seen) == sorted(expected)  # each once: nothing repeated or skipped
    assert [at for at, _, _ in seen] == sorted((at for at, _, _ in seen), reverse=True)
    first = (await database.notices.of_user(user, limit=1, before=None))[0]
    assert first.kind == "prize_won" and first.payload["prize"]["value"] == "CPN-2"
    assert first.payload["draw_id"] == wins[-1][0].draw_id
