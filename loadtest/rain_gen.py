"""The rain generator's engine: one process's share of the taps, over keep-alive
connections it opens before the schedule starts. ``loadtest/rain.py`` runs one
or more of these (``python -m loadtest.rain_gen``) and merges what they find.

Two modes:

  closed  every connection taps again as soon as its answer is in (the
          capacity run: answers/s of a crowd that never waits)
  open    taps fall due on a fixed schedule (``rate`` per second, evenly
          spaced, whatever the server answers); a tap goes out on an idle
          connection, or waits in a FIFO for the next one to come free. Its
          latency counts from its SCHEDULED time, so a slow server cannot
          slow the crowd down and hide its own queue (no coordinated omission)

A connection carries one request at a time, as a browser does (no
pipelining). The requests are built once, one per player token; the hot loop
is an asyncio.Protocol on uvloop that reads the status line, Content-Length,
``"busy"`` in a 503's body, ``"rate_limited"`` in a 429's and ``"won":true``
in a 200's, and nothing else.

Talks to its parent over stdin/stdout: one JSON line of settings in, then
``ready OPENED FAILED`` out; ``go EPOCH`` in (the Unix time the schedule
starts, the same for every process); the result is written to the
settings' ``out`` path as JSON (series as base64 arrays of doubles) and ``done`` printed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import resource
import sys
import time
from array import array
from collections import deque
from typing import Any

BATCH = 100  # connections opened at once before the schedule starts
TICK = 0.001  # the schedule's timer: every tick sends the taps that fell due


def requests_for(tokens: list[str], activity_id: int) -> list[bytes]:
    body = b'{"activity_id": %d}' % activity_id
    return [
        b"POST /v1/draw HTTP/1.1\r\nHost: rain\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s"
        % (tok.encode(), len(body), body)
        for tok in tokens
    ]


class Gen:
    def __init__(self, cfg: dict[str, Any], reqs: list[bytes]) -> None:
        self.cfg = cfg
        self.reqs = reqs
        self.loop = asyncio.get_running_loop()
        self.closed_loop = cfg["mode"] == "closed"
        self.idle: list[Conn] = []
        self.waiting: deque[float] = deque()  # scheduled times of taps with no idle connection
        self.sending = False  # taps go out (schedule running, or its FIFO still draining)
        self.inflight = 0
        self.count_from = self.t_end = float("inf")  # set at go
        # What the run found; latencies and lags in seconds.
        self.accepted = array("d")
        self.busy = array("d")
        self.limited = array("d")
        self.other: dict[int, int] = {}
        self.other_lat = array("d")
        self.lag = array("d")  # when the timer sent a tap's turn - its scheduled time
        self.queued = array("d")  # when it went out on a connection - its scheduled time
        self.accepted_in_window = 0  # 200s answered between count_from and t_end
        self.wins = 0
        self.scheduled = self.sent = self.answers = 0
        self.errors = 0  # taps whose connection was lost while they were in flight
        self.bad_answers = 0  # answers this parser cannot read (then counted as errors too)
        self.opened = self.connect_failed = self.reconnects = self.closed_by_server = 0
        self.max_waiting = 0

    # -- connections ---------------------------------------------------------
    async def open(self, n: int) -> None:
        host, port = self.cfg["host"], self.cfg["port"]
        for i in range(0, n, BATCH):
            got = await asyncio.gather(
                *(
                    self.loop.create_connection(lambda: Conn(self), host, port)
                    for _ in range(min(BATCH, n - i))
                ),
                return_exceptions=True,
            )
            for g in got:
                if isinstance(g, BaseException):
                    self.connect_failed += 1
                else:
                    self.opened += 1

    def reconnect(self) -> None:
        """A connection the server closed is replaced, once, while taps still go
        out (a browser would open another); failures count."""
        self.reconnects += 1

        async def go() -> None:
            try:
                await self.loop.create_connection(
                    lambda: Conn(self), self.cfg["host"], self.cfg["port"]
                )
            except OSError:
                self.connect_failed += 1

        self.loop.create_task(go())

    def free(self, conn: Conn) -> None:
        """``conn`` can take a tap: the oldest waiting one, or the next due."""
        if not self.sending:
            self.idle.append(conn)
        elif self.closed_loop:
            conn.send(self.loop.time())
        elif self.waiting:
            sched = self.waiting.popleft()
            self.queued.append(self.loop.time() - sched)
            conn.send(sched)
        else:
            self.idle.append(conn)

    # -- the schedule ----------------------------------------------------------
    def start(self, t0: float) -> None:
        cfg = self.cfg
        self.sending = True
        if self.closed_loop:
            self.count_from = t0 + cfg["warmup"]
            self.t_end = self.count_from + cfg["duration"]
            idle, self.idle = self.idle, []
            for c in idle:
                if not c.dead:
                    c.send(t0)
            self.loop.call_at(self.t_end, self.stop_sending)
            return
        self.count_from, self.t_end = t0, t0 + cfg["duration"]
        n = int(cfg["rate"] * cfg["duration"])
        step = 1.0 / cfg["rate"]
        # Each process's taps sit between the others': the merged schedule is even.
        first = t0 + step * cfg["phase"]
        self.loop.call_at(first, self.tick, first, step, 0, n)

    def tick(self, first: float, step: float, k: int, n: int) -> None:
        now = self.loop.time()
        due = min(n, int((now - first) / step) + 1)
        idle, waiting, lag, queued = self.idle, self.waiting, self.lag, self.queued
        while k < due:
            sched = first + k * step
            k += 1
            lag.append(now - sched)
            conn = None
            while idle:
                conn = idle.pop()
                if not conn.dead:
                    break
                conn = None
            if conn is None:
                waiting.append(sched)
            else:
                queued.append(now - sched)
                conn.send(sched)
        self.scheduled = k
        if len(waiting) > self.max_waiting:
            self.max_waiting = len(waiting)
        if k < n:
            self.loop.call_at(max(now + TICK, first + k * step), self.tick, first, step, k, n)

    def stop_sending(self) -> None:
        self.sending = False

    # -- answers -------------------------------------------------------------
    def answered(self, conn: Conn, status: int, body: bytes) -> None:
        now = self.loop.time()
        took = now - conn.sched
        self.inflight -= 1
        self.answers += 1
        if now < self.count_from:  # the closed loop's warm-up
            return
        if status == 200:
            self.accepted.append(took)
            if now <= self.t_end:
                self.accepted_in_window += 1
            if b'"won":true' in body or b'"won": true' in body:
                self.wins += 1
        elif status == 503 and b'"busy"' in body:
            self.busy.append(took)
        elif status == 429 and b'"rate_limited"' in body:
            self.limited.append(took)
        else:
            self.other[status] = self.other.get(status, 0) + 1
            self.other_lat.append(took)


class Conn(asyncio.Protocol):
    __slots__ = ("buf", "dead", "gen", "inflight", "sched", "tr")

    def __init__(self, gen: Gen) -> None:
        self.gen = gen
        self.tr: Any = None  # uvloop's TCPTransport
        self.buf = b""
        self.sched = 0.0
        self.inflight = self.dead = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.tr = transport
        self.gen.free(self)

    def send(self, sched: float) -> None:
        self.sched = sched
        self.inflight = True
        self.gen.inflight += 1
        self.gen.sent += 1
        self.tr.write(random.choice(self.gen.reqs))

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data, self.buf = self.buf + data, b""
        end = data.find(b"\r\n\r\n")
        if end < 0:
            self.buf = data
            return
        head = data[:end].lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0 or not self.inflight:  # chunked, or an answer nobody asked for
            self.gen.bad_answers += 1
            self.tr.close()
            return
        stop = head.find(b"\r\n", at + 17)
        length = int(head[at + 17 : stop if stop >= 0 else end])
        total = end + 4 + length
        if len(data) < total:
            self.buf = data
            return
        self.inflight = False
        self.gen.answered(self, int(data[9:12]), data[end + 4 : total])
        if b"\r\nconnection: close" in head:
            self.tr.close()  # not an error: connection_lost replaces it
        else:
            self.gen.free(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.dead = True
        gen = self.gen
        if self.inflight:
            self.inflight = False
            gen.inflight -= 1
            gen.errors += 1
        if gen.sending:
            gen.closed_by_server += 1
            gen.reconnect()


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def main(cfg: dict[str, Any], reqs: list[bytes]) -> dict[str, Any]:
    gen = Gen(cfg, reqs)
    await gen.open(cfg["connections"])
    print(f"ready {gen.opened} {gen.connect_failed}", flush=True)
    line = sys.stdin.readline().split()  # blocks the loop: nothing is in flight yet
    if not line or line[0] != "go":
        raise SystemExit("rain_gen: no go")
    loop = asyncio.get_running_loop()
    t0 = loop.time() + (float(line[1]) - time.time())
    await asyncio.sleep(max(0.0, t0 - loop.time()))
    gen.start(t0)
    await asyncio.sleep(max(0.0, gen.count_from - loop.time()))
    cpu0, w0 = cpu_s(), loop.time()
    await asyncio.sleep(max(0.0, gen.t_end - loop.time()))
    cpu1, w1 = cpu_s(), loop.time()
    # After the schedule: the FIFO still drains and answers still count, for a
    # bounded grace period; what is left is unanswered or never sent.
    grace_end = gen.t_end + cfg["grace"]
    while (gen.inflight or gen.waiting) and loop.time() < grace_end:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    gen.sending = False
    never_sent = len(gen.waiting)
    gen.waiting.clear()
    # The closed loop's answers that missed the end count as answered late,
    # not unanswered: it stops sending at t_end, and answers still arrive.
    return {
        "mode": cfg["mode"],
        "opened": gen.opened,
        "connect_failed": gen.connect_failed,
        "reconnects": gen.reconnects,
        "closed_by_server": gen.closed_by_server,
        "scheduled": gen.scheduled if not gen.closed_loop else gen.sent,
        "sent": gen.sent,
        "answers": gen.answers,  # every answer, the closed loop's warm-up too
        "never_sent": never_sent,
        "unanswered": gen.inflight,
        "errors": gen.errors,
        "bad_answers": gen.bad_answers,
        "accepted": gen.accepted,
        "accepted_in_window": gen.accepted_in_window,
        "wins": gen.wins,
        "busy": gen.busy,
        "limited": gen.limited,
        "other": gen.other,
        "other_lat": gen.other_lat,
        "lag": gen.lag,
        "queued": gen.queued,
        "max_waiting": gen.max_waiting,
        "window_s": w1 - w0,
        "cpu_s": cpu1 - cpu0,
        "cpu_total_s": cpu_s(),
    }


def run() -> None:
    import uvloop

    cfg = json.loads(sys.stdin.readline())
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with open(cfg["tokens"]) as f:
        reqs = requests_for(f.read().split(), cfg["activity"])
    result = uvloop.run(main(cfg, reqs))
    for k, v in result.items():
        if isinstance(v, array):  # rain_report.merge reads them back
            result[k] = base64.b64encode(v.tobytes()).decode()
    with open(cfg["out"], "w") as f:
        json.dump(result, f)
    print("done", flush=True)


if __name__ == "__main__":
    run()
