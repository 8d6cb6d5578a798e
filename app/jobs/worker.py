"""``redrain worker``: flush every round's draw stream to the database, exactly once.

Per tick: discover round streams of published activities, read new entries
through the ``flush`` consumer group (one call per activity: its streams share
a slot), write the batch in one transaction, and acknowledge only after the
commit. Entries that a crashed or stuck consumer left pending are taken over
with XAUTOCLAIM. A database outage keeps the batch and retries it with
backoff; a Redis outage waits. Several workers may run at once: duplicates are
recognised by ``draw_id`` and compared, never blindly ignored. See
docs/worker.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry

from app.config import Settings
from app.domain.errors import MalformedEntry, Rejected, Unavailable
from app.domain.runtime import prize_of
from app.domain.types import ActivityId, DrawRecord
from app.jobs.following import Following
from app.jobs.parts import WorkerParts, wire
from app.jobs.progress import Progress
from app.jobs.waiters import Waiters
from app.services.clock import Clock
from app.services.runtimes import RuntimeCache
from app.store.redis import ledger
from app.store.redis.keys import parse_lane
from app.store.redis.store import RedisStore
from app.store.redis.streams import Entry, fields_of, stream_key
from app.store.sql.database import Database

log = logging.getLogger("redrain.worker")

REBALANCE_EVERY = 0.5  # seconds between looks at bucketed rounds (SPEC §9: "about a second")
DISCOVER_EVERY = 1.0
MAINTAIN_EVERY = 2.0
REPORT_EVERY = 10.0
IDLE_PAUSE = 0.02
MAX_BACKOFF = 5.0


class Worker:
    def __init__(
        self, settings: Settings, redis: RedisStore, db: Database, parts: WorkerParts, *, name: str
    ) -> None:
        self.redis = redis
        self.streams = redis.streams
        self.db = db
        self.name = name
        self.clock = parts.clock
        self.runtimes = parts.runtimes
        self.lotteries = parts.lotteries
        self.fulfiller = parts.fulfiller
        self.failpoints = parts.failpoints
        self.rebalancer = parts.rebalancer
        self.metrics = parts.metrics
        self.batch = settings.worker_batch
        self.concurrency = settings.worker_concurrency
        self.linger = settings.worker_linger
        self.claim_idle_ms = round(settings.worker_claim_idle * 1000)
        self.max_attempts = settings.worker_max_attempts
        self.following = Following(
            redis,
            parts.runtimes,
            parts.metrics,
            retention_ms=round(settings.stream_retention * 1000),
            offset_ms=settings.clock_offset_ms,
        )
        self.should_exit = False
        self._wake = asyncio.Event()
        self._backlog: list[Entry] = []
        # Batches being written, with their entries: a claim must not take them again.
        self._inflight: dict[asyncio.Task[None], list[Entry]] = {}
        self._failure: Unavailable | None = None
        self._partial = False
        self._failed: set[tuple[ActivityId, str, str]] = set()
        self._rotation = 0
        self._next = {"discover": 0.0, "claim": 0.0, "maintain": 0.0, "report": 0.0}
        self.progress = Progress(time.monotonic())
        self._trouble: str | None = None
        self._waiters = Waiters()  # who waits for every draw so far to be written

    @classmethod
    def wired(
        cls,
        settings: Settings,
        redis: RedisStore,
        db: Database,
        *,
        name: str | None = None,
        runtimes: RuntimeCache | None = None,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
    ) -> Worker:
        """A worker with its parts made from ``settings`` (app/jobs/parts.py)."""
        name = name or f"{socket.gethostname()}-{os.getpid()}"
        parts = wire(
            settings, redis, db, name=name, runtimes=runtimes, clock=clock, registry=registry
        )
        return cls(settings, redis, db, parts, name=name)

    # -- lifecycle ------------------------------------------------------------

    def stop(self) -> None:
        """Finish the batch in hand, then return from :meth:`run` (SIGTERM/SIGINT)."""
        self.should_exit = True
        self._wake.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)

    async def _every(self, seconds: float, what: str, job: Callable[[], Awaitable[Any]]) -> None:
        """Run ``job`` every ``seconds`` until stopped, surviving its failures."""
        while not self.should_exit:
            try:
                await job()
            except Unavailable as exc:
                log.warning("worker %s: %s: %s", self.name, what, exc.message)
            except Exception:
                self.metrics.errors.inc()
                log.exception("worker %s: %s failed; continuing", self.name, what)
            await self._pause(seconds)

    async def run(self) -> None:
        log.info("worker %s started (batch %d)", self.name, self.batch)
        side = [
            asyncio.create_task(self._every(1.0, "scheduled lotteries", self.lotteries.run_due)),
            asyncio.create_task(
                self._every(REBALANCE_EVERY, "rebalance", self.rebalancer.run_once)
            ),
        ]
        if self.fulfiller is not None:
            side.append(
                asyncio.create_task(self._every(0.5, "fulfilment", self.fulfiller.run_once))
            )
        try:
            await self._flush_loop()
        finally:
            self.stop()
            await asyncio.gather(*side, return_exceptions=True)
            if self.fulfiller is not None:
                await self.fulfiller.hook.aclose()

    async def caught_up(self, within: float = 1.0) -> None:
        """Return once every entry appended before this call is written (or
        after ``within`` seconds, whatever is written by then): embedded mode
        runs this worker in the API's process, so a player's history, their
        delivery address and the winners read their own draws at once."""
        if not self.should_exit:
            await self._waiters.wait(within)

    async def _caught_up(self, began: int) -> None:
        """A pass that began after a waiter arrived found nothing new: once the
        batches in flight are written, so is everything the waiter asked for."""
        if not self._waiters:
            return
        await self._settle()
        # A round's first draw opens a stream this worker may not follow yet.
        before = set(self.following.tracked)
        await self.discover()
        if self._backlog or set(self.following.tracked) - before:
            return  # the next pass reads what is new
        self._waiters.release(began)

    async def _flush_loop(self) -> None:
        delay = 0.1
        while not self.should_exit:
            began = self._waiters.begin_pass()
            try:
                busy = await self.step()
                if not busy:
                    await self._caught_up(began)
            except Unavailable as exc:
                self._outage(str(exc.message))
                await self._pause(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            except Exception:
                # A bug must not stop the flushing: unacknowledged entries are
                # redelivered, so log loudly, count it, back off and go on.
                self.metrics.errors.inc()
                log.exception("worker %s: unexpected error; continuing", self.name)
                await self._pause(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            if self._trouble is not None:
                log.warning("worker %s: recovered (%s); resuming", self.name, self._trouble)
                self._trouble = None
            delay = 0.1
            if not busy:
                await self._pause(IDLE_PAUSE)
            elif self._partial:
                # A partial batch: let more draws arrive so the next transaction
                # carries more rows (fewer round trips and commits per row).
                await self._pause(self.linger)
        await self._settle()  # finish the batches in flight
        if self._backlog:
            log.warning(
                "worker %s stopping with %d entries unwritten: they stay pending and will be "
                "claimed by another worker or the next start",
                self.name,
                len(self._backlog),
            )
        log.info("worker %s stopped", self.name)

    async def _pause(self, seconds: float) -> None:
        if self.should_exit:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _outage(self, what: str) -> None:
        if self._trouble != what:
            log.error("worker %s: %s; retrying with backoff, nothing is lost", self.name, what)
            self._trouble = what

    async def step(self) -> bool:
        """One tick. Returns True if it handled entries.

        Up to ``concurrency`` batches are written at once: reading and parsing
        the next batch overlaps the database writing the previous ones.
        """
        self._raise_failure()
        now = time.monotonic()
        if now >= self._next["discover"]:
            await self.discover()
            self._next["discover"] = now + DISCOVER_EVERY
        if self._backlog:
            # Retry what an outage left unwritten, alone, before reading more.
            await self._settle()
            entries, self._backlog = self._backlog, []
            await self.flush(entries)
            return True
        entries = await self.read()
        if len(entries) < self.batch and now >= self._next["claim"]:
            entries += self._unheld(await self.claim(self.batch - len(entries)), entries)
            self._next["claim"] = now + max(0.5, self.claim_idle_ms / 4000)
        self._partial = len(entries) < self.batch
        if entries:
            await self._launch(entries)
        if now >= self._next["maintain"]:
            await self.maintain()
            self._next["maintain"] = now + MAINTAIN_EVERY
        if now >= self._next["report"]:
            f = self.following
            self.progress.report(now, lag=f.lag, pending=f.pending, streams=len(f.tracked))
            self._next["report"] = now + REPORT_EVERY
        return bool(entries)

    async def _launch(self, entries: list[Entry]) -> None:
        while len(self._inflight) >= self.concurrency:
            done, _ = await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
            self._collect(done)
        task = asyncio.create_task(self._flush_in_flight(entries))
        self._inflight[task] = entries

    async def _flush_in_flight(self, entries: list[Entry]) -> None:
        try:
            await self.flush(entries)
        except Unavailable as exc:
            self._failure = exc  # the batch is in the backlog; the loop backs off

    def _collect(self, done: set[asyncio.Task[None]]) -> None:
        for task in done:
            self._inflight.pop(task, None)
            task.result()  # a bug in a batch surfaces here, not silently

    async def _settle(self) -> None:
        if self._inflight:
            done, _ = await asyncio.wait(self._inflight)
            self._collect(done)
        self._raise_failure()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            exc, self._failure = self._failure, None
            raise exc

    async def drain(self, within: float = 60.0) -> None:
        """Work until every followed stream has nothing undelivered or pending;
        raises TimeoutError after ``within`` seconds."""
        self._next["discover"] = 0.0
        async with asyncio.timeout(within):
            while True:
                try:
                    busy = await self.step()
                    if not busy:
                        await self._settle()
                except Unavailable:
                    await asyncio.sleep(0.1)
                    continue
                if not busy and not self._backlog:
                    states = [await self.streams.state(a, s) for a, s in self.following.tracked]
                    if all(st.undelivered == 0 and st.pending == 0 for st in states):
                        return
                    self._next["claim"] = 0.0
                if not busy:
                    await asyncio.sleep(IDLE_PAUSE)

    # -- reading ------------------------------------------------------------------

    async def read(self) -> list[Entry]:
        by_activity: dict[ActivityId, list[str]] = defaultdict(list)
        for aid, sfx in self.following.tracked:
            by_activity[aid].append(sfx)
        order = sorted(by_activity)
        if not order:
            return []
        self._rotation = (self._rotation + 1) % len(order)
        out: list[Entry] = []
        for aid in order[self._rotation :] + order[: self._rotation]:
            out += await self.streams.read_new(
                aid, by_activity[aid], self.name, self.batch - len(out)
            )
            if len(out) >= self.batch:
                break
        return out

    async def claim(self, room: int) -> list[Entry]:
        out: list[Entry] = []
        for aid, sfx in list(self.following.tracked):
            got, deleted = await self.streams.claim(aid, sfx, self.name, self.claim_idle_ms, room)
            for entry_id in deleted:
                # Pending but gone from the stream: Redis cannot give this draw back.
                # Reconcile decides whether the database already has it.
                self.metrics.deleted.inc()
                log.error(
                    "ALARM: pending entry %s of round %s:%s was deleted before it was flushed",
                    entry_id,
                    aid,
                    sfx,
                )
                await self._dead_letter(
                    Entry(aid, sfx, entry_id, {}),
                    "pending entry deleted from the stream before it was flushed",
                    0,
                )
            out += got
            room -= len(got)
            if room <= 0:
                break
        return out

    def _unheld(self, claimed: list[Entry], current: list[Entry]) -> list[Entry]:
        """Claimed entries this worker is not already writing. A stall longer
        than the claim idle time (a slow commit, a paused process, a loaded
        box between the read and the claim) makes a worker's own unacknowledged
        entries claimable by itself: writing them twice in one batch is safe
        (the second is a duplicate) but wasted. Claims are rare, so the held
        set is built only when one returns something."""
        if not claimed:
            return claimed
        held = {(e.activity_id, e.sfx, e.id) for e in current}
        for batch in self._inflight.values():
            held.update((e.activity_id, e.sfx, e.id) for e in batch)
        return [e for e in claimed if (e.activity_id, e.sfx, e.id) not in held]

    # -- writing ------------------------------------------------------------------

    async def flush(self, entries: list[Entry]) -> None:
        started = time.monotonic()
        done: list[Entry] = []
        rows: list[tuple[Entry, DrawRecord]] = []
        try:
            for e in entries:
                try:
                    rows.append((e, e.record or ledger.parse(e.id, fields_of(e))))
                except MalformedEntry as exc:
                    await self._dead_letter(e, f"malformed entry: {exc}", 1)
                    done.append(e)
            if rows:
                done += await self._store(rows)
        except Unavailable:
            # Nothing of this batch is acknowledged; retry all of it (dead letters
            # and stored rows are idempotent).
            self._backlog.extend(entries)
            raise
        await self._ack(done)
        self.progress.counts.batches += 1
        elapsed = time.monotonic() - started
        self.progress.counts.batch_seconds += elapsed
        self.metrics.batch.observe(elapsed)

    async def _store(self, rows: list[tuple[Entry, DrawRecord]]) -> list[Entry]:
        """Write rows; returns the entries now done (stored, duplicate or dead-lettered)."""
        # A lane named "sfx@b/K" is bucket b of K: where its draws' blocks are.
        lanes = {e.sfx: rec.round_id for e, rec in rows}
        buckets = {r: b[1] for sfx, r in lanes.items() if (b := parse_lane(sfx)[1]) is not None}
        peek = self.runtimes.peek  # a prize for a win only: no look-up per loss
        try:
            result = await self.db.draws.store(
                [(r, prize_of(peek(r.activity_id), r) if r.won else None) for _, r in rows],
                before_commit=lambda: self.failpoints.hit("before_commit"),
                buckets=buckets,
            )
        except Rejected as exc:
            if len(rows) == 1:
                return await self._refused(rows[0], exc)
            log.warning("batch of %d refused (%s); writing one by one", len(rows), exc.message)
            done: list[Entry] = []
            for row in rows:
                done += await self._store([row])
            return done
        self.failpoints.hit("after_commit")
        self.progress.counts.rows += result.inserted
        self.progress.counts.duplicates += result.duplicates
        self.metrics.rows.inc(result.inserted)
        self.metrics.duplicates.inc(result.duplicates)
        collided = {new.draw_id: old for new, old in result.collisions}
        for e, rec in rows:
            if rec.draw_id in collided:
                await self._dead_letter(
                    e,
                    f"draw_id collision: the database holds another draw {rec.draw_id} "
                    f"(user {collided[rec.draw_id].user_id}); Redis may have lost data",
                    1,
                )
        return [e for e, _ in rows]

    async def _refused(self, row: tuple[Entry, DrawRecord], exc: Rejected) -> list[Entry]:
        e = row[0]
        attempts = await self.streams.count_failure(e.activity_id, e.sfx, e.id)
        self._failed.add((e.activity_id, e.sfx, e.id))
        if attempts < self.max_attempts:
            log.warning(
                "entry %s refused by the database (attempt %d of %d): %s",
                e.id,
                attempts,
                self.max_attempts,
                exc.message,
            )
            return []  # stays pending; claimed again after the claim idle time
        await self._dead_letter(e, f"refused {attempts} times: {exc.message}", attempts)
        return [e]

    async def _dead_letter(self, e: Entry, reason: str, attempts: int) -> None:
        await self.db.draws.dead_letter(
            stream=stream_key(e.activity_id, e.sfx),
            entry_id=e.id,
            draw_id=fields_of(e).get(ledger.F["drawId"]),
            fields=fields_of(e),
            reason=reason,
            attempts=attempts,
            now=self.clock.stamp(),
        )
        self.progress.counts.dead += 1
        self.metrics.dead.labels(reason=reason.split(":")[0][:40]).inc()
        log.error("dead-lettered entry %s of round %s:%s: %s", e.id, e.activity_id, e.sfx, reason)

    async def _ack(self, done: list[Entry]) -> None:
        by_stream: dict[tuple[ActivityId, str], list[str]] = defaultdict(list)
        for e in done:
            by_stream[(e.activity_id, e.sfx)].append(e.id)
        for n, ((aid, sfx), entry_ids) in enumerate(by_stream.items()):
            if n:
                self.failpoints.hit("mid_ack")
            await self.streams.ack(aid, sfx, entry_ids)
            failed = [i for i in entry_ids if (aid, sfx, i) in self._failed] if self._failed else []
            if failed:
                await self.streams.clear_failures(aid, sfx, failed)
                self._failed.difference_update((aid, sfx, i) for i in failed)

    # -- following streams ---------------------------------------------------------

    async def discover(self) -> None:
        await self.following.discover()

    async def maintain(self) -> None:
        await self.following.maintain()

    def stats(self) -> dict[str, Any]:
        return self.progress.stats(len(self.following.tracked))
