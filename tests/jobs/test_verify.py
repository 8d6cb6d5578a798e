"""redrain verify: real rounds check out; tampering with a draw, the seed or the
stock sequence is caught and named."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import gzip
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import delete as sa_delete
from sqlalchemy import select, update

from app.domain.bundle import check as replayed
from app.domain.bundle import dump, load
from app.domain.errors import ValidationFailed
from app.domain.records import StoredDraw
from app.domain.verify import Report
from app.jobs.worker import Worker
from app.services.container import Services
from app.services.verifier import Verifier
from app.store.sql import bulk, losses
from app.store.sql.database import Database
from app.store.sql.models import DrawRow, LossBlockRow, RoundRow
from app.store.sql.rows import INSERT_COLUMNS, draw_row
from tests.conftest import ServiceFactory
from tests.helpers import BY, DAY, local, offset_to, prize, rain, subprocess_env


async def draw_at(
    make: ServiceFactory, aid: int, when: dt.datetime, users: list[str], **kw: Any
) -> None:
    svc = make(offset_to(when))
    await asyncio.gather(*[svc.draws.draw(u, aid, **kw) for u in users], return_exceptions=True)


async def flush(svc: Services) -> None:
    await Worker.wired(svc.settings, svc.redis, svc.db, name="v").drain(60)


async def busy_round(make: ServiceFactory) -> tuple[Services, int, str]:
    """3,000 draws in a round with 3 slices, a top-up half-way, stock that runs out."""
    svc = make()
    cfg = rain(
        [prize("c2", 300, 0.3), prize("c5", 60, 0.1), prize("t", None, 0.2, type="empty")],
        limits={"per_round": 8},
        release={"slices": 3, "lead_seconds": 60},
    )
    rec = await svc.activities.create(cfg, BY)
    await svc.activities.publish(rec.id, BY)
    users = [f"v{i}" for i in range(500)]
    for minute, top_up in ((2, False), (15, True), (25, False), (45, False)):
        if top_up:
            await make(offset_to(local(DAY, 10, minute))).activities.topup(
                rec.id, "20300601:0", "c5", 20, BY
            )
        await draw_at(make, rec.id, local(DAY, 10, minute, 30), users + users[:250])
    after = make(offset_to(local(DAY, 11, 0)))  # the worker follows rounds that have started
    await flush(after)
    return after, rec.id, f"{rec.id}:20300601:0"


async def check(db: Database, round_id: str) -> list[str]:
    report = await Verifier(db).verify(round_id)
    return [f.problem for f in report.findings]


LOSS_FIELDS = (
    "seq",
    "user_id",
    "nonce",
    "client_seed",
    "pick",
    "random",
    "drawn_at_ms",
    "stream_id",
    "pool",
)  # a compact loss's fields (app/domain/losses.py)


async def forge(db: Database, target: StoredDraw, **values: Any) -> dict[str, Any]:
    """Change fields of a stored draw where it is kept, its row or its compact
    record; returns the old values (forge them back to undo)."""
    if target.id:
        async with db.session() as s:
            old = await s.get(DrawRow, target.id)
            saved = {k: getattr(old, k) for k in values}
            await s.execute(update(DrawRow).where(DrawRow.id == target.id).values(**values))
        return saved
    rec = target.record
    async with db.session() as s:
        (h,) = [
            h
            for h in await losses.seq_block(s, rec.round_id, rec.seq, lock=True)
            if rec.seq in h.lost
        ]
        was = dict(zip(LOSS_FIELDS, h.lost[rec.seq], strict=True))
        h.lost[rec.seq] = tuple({**was, **values}[k] for k in LOSS_FIELDS)  # type: ignore[assignment]
        await losses.rewrite(s, [h])
    return {k: was[k] for k in values}


async def as_row(db: Database, target: StoredDraw, **values: Any) -> Any:
    """Replace a compact loss with a forged row of ``draws`` (a loss "turned
    into" a win, given a prize, ...); returns what puts it back."""
    rec = target.record
    assert await db.draws.delete([rec.draw_id]) == 1
    async with db.session() as s:
        await bulk.insert(await s.connection(), "draws", INSERT_COLUMNS, [draw_row(rec, None)])
        await s.execute(update(DrawRow).where(DrawRow.draw_id == rec.draw_id).values(**values))

    async def undo() -> None:
        assert await db.draws.delete([rec.draw_id]) == 1
        await db.draws.store([(rec, None)])

    return undo


async def test_a_real_round_verifies_and_tampering_is_caught(make_service: ServiceFactory) -> None:
    svc, _aid, rid = await busy_round(make_service)
    db = svc.db
    report = await Verifier(db).verify(rid)
    assert report.ok, report.findings[:5]
    assert report.draws == 3000 and report.wins > 0
    draws = (await db.draws.round_draws(rid)).draws
    a_loss = next(d for d in draws if not d.record.won and d.record.pick == 0)
    a_win = next(d for d in draws if d.record.won)

    async def tampered(**values: Any) -> list[str]:
        target = values.pop("_row")
        saved = await forge(db, target, **values)
        problems = await check(db, rid)
        await forge(db, target, **saved)
        return problems

    assert a_loss.id == 0  # a plain loss is a compact record, not a row
    assert any("random value" in p for p in await tampered(_row=a_loss, random="0" * 40))
    assert any("picked prize" in p for p in await tampered(_row=a_loss, pick=1))
    undo = await as_row(db, a_loss, won=True, prize_key="c2")
    assert any("recorded as a win" in p for p in await check(db, rid))
    await undo()
    assert any("nonce" in p for p in await tampered(_row=a_loss, nonce=a_loss.record.nonce + 1))
    assert any(
        "user" in p or "random" in p for p in await tampered(_row=a_win, user_id="someone-else")
    )
    # The stock sequence: a win moved before its slice was released.
    early = local(DAY, 10, 0, 1).timestamp() * 1000
    late_win = [d for d in draws if d.record.won and d.record.drawn_at_ms > early + 40 * 60_000][-1]
    problems = await tampered(_row=late_win, drawn_at_ms=int(early))
    assert any("units released by then" in p for p in problems)
    assert any("recorded as a win but no prize was won" in p for p in problems)
    assert await check(db, rid) == []  # every change above was put back
    # The seed.
    async with db.session() as s:
        await s.execute(update(RoundRow).where(RoundRow.id == rid).values(seed="00" * 32))
    problems = await check(db, rid)
    assert any("seed_hash" in p for p in problems) and any("random value" in p for p in problems)


async def test_a_missing_draw_is_named(make_service: ServiceFactory) -> None:
    svc = make_service(offset_to(local(DAY, 10, 5)))
    rec = await svc.activities.create(rain([prize("c2", 50, 0.5)]), BY)
    await svc.activities.publish(rec.id, BY)
    for i in range(30):
        await svc.draws.draw(f"m{i}", rec.id)
    await flush(svc)
    rid = f"{rec.id}:20300601:0"
    assert await check(svc.db, rid) == []
    assert await svc.db.draws.delete([f"{rid}:7"]) == 1  # a row or a compact loss
    assert any("draw number 8 where 7" in p for p in await check(svc.db, rid))


async def test_auto_count_and_amount_rounds_verify(make_service: ServiceFactory) -> None:
    svc = make_service(offset_to(local(DAY, 10, 5)))
    auto = await svc.activities.create(
        rain([prize("a", 40, None, weight=1), prize("b", 20, None, weight=4)], probability="auto"),
        BY,
    )
    await svc.activities.publish(auto.id, BY)
    await asyncio.gather(*[svc.draws.draw(f"a{i}", auto.id) for i in range(120)])
    cfg = rain(kind="count")
    pool = cfg["sessions"][0]["pools"][0]
    cfg["sessions"][0]["pools"] = [
        {**copy.deepcopy(pool), "nth": k, "prizes": [prize(f"l{k}", 100, 0.5)]} for k in (1, 2, 3)
    ]
    count = await svc.activities.create(cfg, BY)
    await svc.activities.publish(count.id, BY)
    for i in range(20):
        for _ in range(3):
            await svc.draws.draw(f"c{i}", count.id)
    amount_cfg = rain(kind="amount")
    amount_cfg["sessions"][0]["pools"] = [
        {"amount_min": 0, "amount_max": 100, "prizes": [prize("x", 100, 0.5)]},
        {"amount_min": 100, "prizes": [prize("y", 100, 0.5)]},
    ]
    amount = await svc.activities.create(amount_cfg, BY)
    await svc.activities.publish(amount.id, BY)
    for i in range(30):
        grant, _ = await svc.grants.create(amount.id, f"g{i}", i * 7, f"verify-{amount.id}-{i}")
        await svc.draws.draw(f"g{i}", amount.id, grant_id=grant.id)
    await flush(svc)
    for aid in (auto.id, count.id, amount.id):
        report = await Verifier(svc.db).verify(f"{aid}:20300601:0")
        assert report.ok and report.draws > 0, (aid, report.findings[:5])


async def test_cli(make_mariadb_service: ServiceFactory, mariadb_url: str, tmp_path: Path) -> None:
    svc = make_mariadb_service(offset_to(local(DAY, 10, 5)))
    rec = await svc.activities.create(rain([prize("c2", 50, 0.5)]), BY)
    await svc.activities.publish(rec.id, BY)
    for i in range(40):
        await svc.draws.draw(f"cli{i}", rec.id)
    await flush(svc)
    rid = f"{rec.id}:20300601:0"
    env = subprocess_env({"REDRAIN_DATABASE_URL": mariadb_url})

    def run(round_id: str = rid) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", "verify", round_id],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    ok = run()
    assert ok.returncode == 0 and "verified: 40 draws" in ok.stdout, ok.stdout + ok.stderr
    third = next(d for d in (await svc.db.draws.round_draws(rid)).draws if d.record.seq == 3)
    saved = await forge(svc.db, third, random="f" * 40)
    bad = run()
    assert bad.returncode == 1 and f"{rid}:3" in bad.stdout and "MISMATCH" in bad.stdout
    missing = run("999:20300601:0")  # nothing to verify is not a fairness failure
    assert missing.returncode == 2 and "not found" in missing.stderr, missing.stderr
    assert "MISMATCH" not in missing.stdout

    # The audit bundle: exported while the round is open it is refused (the
    # seed is secret), after it ended it verifies offline, with no database.
    def cli(*args: str, offset: float = 0.0, db: bool = True) -> subprocess.CompletedProcess[str]:
        there = env if db else {k: v for k, v in env.items() if k != "REDRAIN_DATABASE_URL"}
        return subprocess.run(
            [sys.executable, "-m", "app", *args],
            env={**there, "REDRAIN_CLOCK_OFFSET": str(offset)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    bundle = tmp_path / "round.jsonl.gz"
    early = cli("export", rid, "--out", str(bundle), offset=offset_to(local(DAY, 10, 30)))
    assert early.returncode == 2 and "has not ended" in early.stderr and not bundle.exists()
    done = cli("export", rid, "--out", str(bundle), offset=offset_to(local(DAY, 12)))
    assert done.returncode == 0 and "40 draws" in done.stderr, done.stderr
    checked = cli("verify", "--file", str(bundle), db=False)
    assert checked.returncode == 1 and f"{rid}:3" in checked.stdout, checked.stdout  # forged above
    assert "seed_hash" in checked.stdout
    await forge(svc.db, third, **saved)  # put the forged draw back as it was drawn
    assert (
        cli("export", rid, "--out", str(bundle), offset=offset_to(local(DAY, 12))).returncode == 0
    )
    good = cli("verify", "--file", str(bundle), db=False)
    assert good.returncode == 0 and "verified: 40 draws" in good.stdout, good.stdout + good.stderr
    lines = gzip.decompress(bundle.read_bytes()).splitlines(keepends=True)
    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(
        b"".join([*lines[:5], lines[5].replace(b'"nonce":1', b'"nonce":2'), *lines[6:]])
    )
    forged = cli("verify", "--file", str(plain))
    assert forged.returncode == 1 and "MISMATCH" in forged.stdout, forged.stdout
    plain.write_bytes(b"".join(lines[:-1]))  # a draw cut off
    short = cli("verify", "--file", str(plain))
    assert short.returncode == 2 and "holds 39" in short.stderr, short.stderr


async def small_round(make: ServiceFactory) -> tuple[Services, str, list[StoredDraw]]:
    """60 draws on 5 units: wins, plain losses, and losses whose pick had no stock."""
    svc = make(offset_to(local(DAY, 10, 5)))
    rec = await svc.activities.create(rain([prize("c2", 5, 0.5), prize("c5", 5, 0.3)]), BY)
    await svc.activities.publish(rec.id, BY)
    for i in range(60):
        await svc.draws.draw(f"f{i % 20}", rec.id)
    await flush(svc)
    rid = f"{rec.id}:20300601:0"
    return svc, rid, (await svc.db.draws.round_draws(rid)).draws


# (column, a forged value, what the finding says) for a losing row, and for a winning one.
LOSS_FORGERIES: list[tuple[str, Any, str]] = [
    ("prize_key", "b", "prize_key is 'b'"),  # issue 23: verified clean before
    ("prize_key", "c2", "prize_key is 'c2'"),
    ("prize_type", "coupon", "prize_type is 'coupon'"),
    ("prize_name", "iPhone", "prize_name is 'iPhone'"),
    ("prize_value", "CPN-2", "prize_value is 'CPN-2'"),
    ("fulfilment", "won", "fulfilment is 'won'"),  # the hook would pay it
    ("grant_id", "g-forged", "grant_id is 'a grant'"),
    ("pool", 2, "drawn in pool 2"),
    ("pick", 3, "picked prize 3"),  # prize 3 does not exist
    ("won", True, "recorded as a win"),
    ("random", "e" * 40, "random value"),
]
WIN_FORGERIES: list[tuple[str, Any, str]] = [
    ("prize_key", "other", "prize_key is "),  # the other prize's key (below)
    ("prize_key", None, "prize_key is None"),
    ("prize_type", "physical", "prize_type is 'physical'"),
    ("prize_type", None, "prize_type is None"),
    ("prize_name", "iPhone", "prize_name is 'iPhone'"),
    ("prize_value", "SKU-PHONE", "prize_value is 'SKU-PHONE'"),
    ("prize_value", None, "prize_value is None"),
    ("fulfilment", None, "fulfilment is None"),
    ("fulfilment", "shipped-twice", "fulfilment is 'shipped-twice'"),
    ("activity_id", 424242, "activity_id is 424242"),
    ("round_id", "1:20300602:0", "round_id is '1:20300602:0'"),
    ("grant_id", "g-forged", "grant_id is 'a grant'"),
    ("pool", 3, "drawn in pool 3"),
    ("won", False, "recorded as a loss"),
]


async def test_every_stored_field_is_checked_on_losses_and_wins(
    make_service: ServiceFactory,
) -> None:
    svc, rid, draws = await small_round(make_service)
    db = svc.db
    assert (await Verifier(db).verify(rid)).ok
    loss = next(d for d in draws if not d.record.won and d.record.pick == 0)
    sold_out = next(d for d in draws if not d.record.won and d.record.pick > 0)
    win = next(d for d in draws if d.record.won)
    cases = [(loss, f) for f in LOSS_FORGERIES] + [(sold_out, f) for f in LOSS_FORGERIES]
    cases += [(win, f) for f in WIN_FORGERIES]
    for target, (column, value, says) in cases:
        if value == "other":
            value = "c5" if target.record.prize_key == "c2" else "c2"
        if target.id or column in LOSS_FIELDS:
            saved = await forge(db, target, **{column: value})
            report = await Verifier(db).verify(rid)
            await forge(db, target, **saved)
        else:  # a column a compact record has not: the loss forged into a row
            undo = await as_row(db, target, **{column: value})
            report = await Verifier(db).verify(rid)
            await undo()
        named = [f.problem for f in report.findings if f.draw_id == target.record.draw_id]
        assert any(says in p for p in named), (target.record.draw_id, column, report.findings)
    assert (await Verifier(db).verify(rid)).ok  # every change above was put back


@pytest.mark.integration  # runs `redrain verify` in a subprocess
async def test_cli_names_a_losing_row_given_a_prize(make_service: ServiceFactory) -> None:
    svc, rid, draws = await small_round(make_service)
    loss = next(d for d in draws if not d.record.won)
    await as_row(svc.db, loss, prize_key="b")
    assert svc.settings.database_url is not None
    env = subprocess_env({"REDRAIN_DATABASE_URL": svc.settings.database_url})
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app", "verify", rid],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert loss.record.draw_id in done.stdout and "prize_key is 'b'" in done.stdout, done.stdout


async def test_the_bundle_round_trips_and_refuses_what_it_is_not(
    make_service: ServiceFactory,
) -> None:
    svc, rid, draws = await small_round(make_service)
    report = Report(rid)
    bundle = await Verifier(svc.db).gather(rid, report, now_ms=None)
    assert bundle is not None and bundle.draws == draws
    lines = list(dump(bundle))
    again = load(lines)
    assert again.draws == draws and again.config == bundle.config and again.seed == bundle.seed
    assert replayed(again).ok and replayed(again).draws == 60
    # Another seed is caught by its hash; a loss turned into a win by its replay.
    head = orjson.loads(lines[0])
    other = load([orjson.dumps({**head, "seed": "00" * 32}), *lines[1:]])
    assert "the seed does not match the published seed_hash" in [
        f.problem for f in replayed(other).findings
    ]
    loss = next(i for i, d in enumerate(draws, start=1) if not d.record.won)
    row = orjson.loads(lines[loss])
    flipped = load([*lines[:loss], orjson.dumps({**row, "won": True}), *lines[loss + 1 :]])
    assert any("recorded as a win" in f.problem for f in replayed(flipped).findings)
    for bad, says in (
        ([b"{}"], "not a redrain-round-bundle"),
        ([orjson.dumps({**head, "bundle_version": 9})], "bundle_version 9"),
        ([lines[0], b"[1, 2]"], "line 2"),
        ([lines[0], b"not json"], "line 2"),
        ([], "empty"),
    ):
        with pytest.raises(ValidationFailed) as err:
            load(bad)
        assert says in err.value.message


async def test_a_changed_byte_of_a_compact_record_is_caught(make_service: ServiceFactory) -> None:
    svc, rid, draws = await small_round(make_service)
    db = svc.db
    assert sum(1 for d in draws if d.id == 0) > 30  # most losses are compact
    async with db.session() as s:
        block_id, data = (
            await s.execute(
                select(LossBlockRow.id, LossBlockRow.data).where(LossBlockRow.round_id == rid)
            )
        ).one()
    for at in (2, len(data) // 2, len(data) - 1):  # the header, the middle, the checksum
        flipped = bytes([*data[:at], data[at] ^ 0x20, *data[at + 1 :]])
        async with db.session() as s:
            await s.execute(
                update(LossBlockRow).where(LossBlockRow.id == block_id).values(data=flipped)
            )
        problems = await check(db, rid)
        assert any(f"compact block {rid}/0/0 is damaged" in p for p in problems), (at, problems)
    async with db.session() as s:
        await s.execute(update(LossBlockRow).where(LossBlockRow.id == block_id).values(data=data))
    assert await check(db, rid) == []


async def test_a_blocks_own_columns_and_the_rounds_last_row_are_checked(
    make_service: ServiceFactory,
) -> None:
    """An audit found these passed: a flipped byte of the row map, the loss
    count or times changed, and the round's last draw (a win row) deleted,
    which no gap before a later draw gives away."""
    svc, rid, draws = await small_round(make_service)
    db = svc.db
    async with db.session() as s:
        block = (
            await s.execute(select(LossBlockRow).where(LossBlockRow.round_id == rid))
        ).scalar_one()
        saved = {c: getattr(block, c) for c in ("row_map", "draws", "first_ms", "last_ms")}
    free = next(
        i for i in range(8 * len(saved["row_map"])) if i + 1 not in {d.record.seq for d in draws}
    )
    flipped = bytearray(saved["row_map"])
    flipped[free // 8] ^= 1 << (free % 8)
    for change, words in (
        ({"row_map": bytes(flipped)}, "no such row is stored"),
        ({"draws": saved["draws"] - 1}, "losses, and holds"),
        ({"first_ms": saved["first_ms"] + 1}, "losses span"),
    ):
        async with db.session() as s:
            await s.execute(
                update(LossBlockRow).where(LossBlockRow.id == block.id).values(**change)
            )
        problems = await check(db, rid)
        assert any(words in p for p in problems), (change, problems)
        async with db.session() as s:
            await s.execute(update(LossBlockRow).where(LossBlockRow.id == block.id).values(**saved))
    assert await check(db, rid) == []
    last = max((d for d in draws if d.id), key=lambda d: d.record.seq)  # the last win row
    async with db.session() as s:  # an insider's DELETE, not the repository's
        await s.execute(sa_delete(DrawRow).where(DrawRow.id == last.id))
    problems = await check(db, rid)
    assert any(f"draw {last.record.seq} is a row" in p for p in problems), problems
