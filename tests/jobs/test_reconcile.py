"""reconcile: agreement, each kind of drift named, and --repair."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import delete

from app import metrics
from app.domain.types import DrawRecord
from app.jobs.reconcile import Reconciler
from app.jobs.worker import Worker
from app.services.container import Services
from app.store.redis import keys
from app.store.sql.models import LossBlockRow
from tests.conftest import ServiceFactory
from tests.helpers import BY, DAY, local, offset_to, prize, production_env, rain, subprocess_env

DURING = offset_to(local(DAY, 10, 5))
AFTER = offset_to(local(DAY, 11, 5))


async def setup(
    make: ServiceFactory, n: int = 60, retention: float = 300
) -> tuple[int, Services, Worker]:
    during = make(DURING)
    rec = await during.activities.create(rain([prize("c2", 20, 0.4)]), BY)
    await during.activities.publish(rec.id, BY)
    await asyncio.gather(*[during.draws.draw(f"u{i % 25}", rec.id) for i in range(n)])
    after = make(AFTER)
    settings = after.settings.model_copy(
        update={"stream_retention": retention, "worker_claim_idle": 0.2}
    )
    return rec.id, after, Worker.wired(settings, after.redis, after.db, name="w")


async def check(svc: Services, aid: int, **kw: Any) -> Any:
    rec = Reconciler(svc.redis, svc.db)
    rounds, _ = await rec.ended_rounds([aid], None)
    (c,) = await rec.run(rounds, **kw)
    return c


async def test_agrees_after_the_worker_drains(make_service: ServiceFactory) -> None:
    aid, svc, worker = await setup(make_service)
    await worker.drain(30)
    c = await check(svc, aid)
    assert c.agrees and c.status == "ok" and c.problems() == []
    assert (c.redis_draws, c.db_draws) == (60, 60) and (c.redis_users, c.db_users) == (25, 25)


async def test_deleted_row_is_named_and_repaired_from_the_stream(
    make_service: ServiceFactory,
) -> None:
    aid, svc, worker = await setup(make_service)
    await worker.drain(30)
    gone = f"{aid}:20300601:0:17"
    assert await svc.db.draws.delete([gone]) == 1
    c = await check(svc, aid)
    assert c.status == "drift" and c.missing == [gone]
    assert any(gone in line for line in c.problems())
    fixed = await check(svc, aid, repair=True)
    assert fixed.agrees and fixed.repaired == 1 and fixed.unrepairable == []
    assert await svc.db.draws.count(aid) == 60


async def test_row_gone_after_trim_cannot_be_repaired(make_service: ServiceFactory) -> None:
    aid, svc, worker = await setup(make_service, retention=0)
    await worker.drain(30)
    await worker.maintain()  # trimmed and retired: Redis keeps only the counters
    gone = f"{aid}:20300601:0:3"
    await svc.db.draws.delete([gone])
    c = await check(svc, aid, repair=True)
    assert not c.agrees and c.repaired == 0 and c.unrepairable == [gone]
    assert any("cannot repair" in line and gone in line for line in c.problems())


async def test_a_lost_compact_block_is_named_and_repaired(make_service: ServiceFactory) -> None:
    """Losses are packed in blocks (docs/worker.md): a whole block gone is every
    loss it held missing, each player's count off, and --repair writes them back
    from the stream."""
    aid, svc, worker = await setup(make_service)
    await worker.drain(30)
    rid = f"{aid}:20300601:0"
    wins = (await svc.db.draws.round_ledger(rid)).wins["c2"]
    async with svc.db.session() as s:
        gone = await s.execute(delete(LossBlockRow).where(LossBlockRow.round_id == rid))
        assert getattr(gone, "rowcount", 0) == 1  # 60 draws: one block
    c = await check(svc, aid)
    assert c.status == "drift" and len(c.missing) == 60 - wins and c.db_draws == wins
    assert c.users_off and all(redis > db for _, redis, db in c.users_off)
    fixed = await check(svc, aid, repair=True)
    assert fixed.agrees and fixed.repaired == 60 - wins and fixed.users_off == []
    assert await svc.db.draws.count(aid) == 60


async def test_entry_never_flushed_is_named_and_repaired(make_service: ServiceFactory) -> None:
    aid, svc, _ = await setup(make_service, n=10)
    c = await check(svc, aid)  # no worker ran
    assert c.status == "not drained" and len(c.missing) == 10 and c.undelivered == 10
    fixed = await check(svc, aid, repair=True)
    assert fixed.agrees and fixed.repaired == 10
    # The worker, running later, finds them stored and just acknowledges them.
    worker = Worker.wired(svc.settings, svc.redis, svc.db, name="late")
    await worker.drain(30)
    assert worker.stats()["duplicates"] == 10 and worker.stats()["rows"] == 0
    assert (await check(svc, aid)).agrees


async def test_row_redis_never_made_is_drift(make_service: ServiceFactory) -> None:
    aid, svc, worker = await setup(make_service, n=5)
    await worker.drain(30)
    fake = DrawRecord(
        draw_id=f"{aid}:20300601:0:99",
        activity_id=aid,
        round_id=f"{aid}:20300601:0",
        seq=99,
        user_id="ghost",
        nonce=1,
        client_seed="",
        pick=1,
        won=True,
        prize_key="c2",
        random="0" * 40,
        drawn_at_ms=1,
        stream_id="1-0",
    )
    await svc.db.draws.store([(fake, None)])
    c = await check(svc, aid, repair=True)
    assert not c.agrees and c.extra == [fake.draw_id] and fake.draw_id in c.unrepairable
    assert c.wins["c2"][1] == c.wins["c2"][0] + 1
    assert ("ghost", 0, 1) in c.users_off


async def test_redis_counter_drift_is_named(
    make_service: ServiceFactory, stack: tuple[Any, Any]
) -> None:
    aid, svc, worker = await setup(make_service, n=8)
    await worker.drain(30)
    await stack[0].hincrby(keys.round_(aid, "20300601:0"), "w1", 1)  # a won count no row backs
    c = await check(svc, aid)
    assert not c.agrees and any(line.startswith("wins of c2") for line in c.problems())


async def test_each_run_is_kept_for_the_metrics_and_alerts(make_service: ServiceFactory) -> None:
    aid, svc, worker = await setup(make_service, n=8)
    assert await svc.redis.reconciled.last() is None  # never ran: the gauges stay absent
    assert b"redrain_reconcile" not in metrics.exposition(await svc.monitoring.snapshot())
    await worker.drain(30)
    rec = Reconciler(svc.redis, svc.db)
    rounds, _ = await rec.ended_rounds(None, None)
    clean = await rec.record(await rec.run(rounds))
    assert clean.ok_ms == clean.run_ms and (clean.checked, clean.drift) == (1, 0)
    assert await svc.redis.reconciled.last() == clean

    await svc.db.draws.delete([f"{aid}:20300601:0:5"])
    await asyncio.sleep(0.002)  # a later millisecond than the clean run
    drifted = await rec.record(await rec.run(rounds))
    assert drifted.ok_ms is None and drifted.drift == 1 and drifted.run_ms > clean.run_ms
    kept = await svc.redis.reconciled.last()
    # The last success stays the clean run's: the not-run alert measures from it.
    assert kept is not None and kept.ok_ms == clean.run_ms and kept.run_ms == drifted.run_ms
    text = metrics.exposition(await svc.monitoring.snapshot()).decode()
    scraped = {
        name: float(value)
        for name, value in (line.rsplit(" ", 1) for line in text.splitlines())
        if name.startswith("redrain_reconcile")
    }
    assert scraped['redrain_reconcile_rounds{status="drift"}'] == 1
    assert scraped['redrain_reconcile_rounds{status="ok"}'] == 0
    assert scraped["redrain_reconcile_last_success_timestamp_seconds"] == clean.run_ms / 1000
    assert scraped["redrain_reconcile_last_run_timestamp_seconds"] == drifted.run_ms / 1000
    assert abs(drifted.run_ms / 1000 - time.time()) < 60  # wall clock, whatever the draw clock


def cli(*args: str, offset: float, db_url: str) -> subprocess.CompletedProcess[str]:
    env = subprocess_env(production_env(db_url, clock_offset=str(offset)) | {"COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "app", "reconcile", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_cli_exit_codes_and_output(
    make_mariadb_service: ServiceFactory, mariadb_url: str, tmp_path: Path
) -> None:
    aid, svc, worker = await setup(make_mariadb_service)
    await worker.drain(30)
    ok = cli("--activity", str(aid), "--wait", "0", offset=AFTER, db_url=mariadb_url)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"{aid}:20300601:0" in ok.stdout and "1 agree, 0 drift" in ok.stdout
    gone = f"{aid}:20300601:0:5"
    await svc.db.draws.delete([gone])
    drift = cli("--activity", str(aid), "--wait", "0", offset=AFTER, db_url=mariadb_url)
    assert drift.returncode == 1 and gone in drift.stdout and "drift" in drift.stdout
    fixed = cli("--activity", str(aid), "--wait", "0", "--repair", offset=AFTER, db_url=mariadb_url)
    assert fixed.returncode == 0 and "repaired 1 draws" in fixed.stdout
    # While the round is still open, it is not checked (and is not a failure).
    early = cli("--activity", str(aid), offset=DURING, db_url=mariadb_url)
    assert early.returncode == 0 and "1 open rounds not checked yet" in early.stdout
    # Runs over some activities are not recorded; a run over all of them is.
    assert await svc.redis.reconciled.last() is None
    everything = cli("--wait", "0", offset=AFTER, db_url=mariadb_url)
    assert everything.returncode == 0, everything.stdout + everything.stderr
    kept = await svc.redis.reconciled.last()
    assert kept is not None and kept.ok_ms == kept.run_ms and kept.checked == 1
