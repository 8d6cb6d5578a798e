"""Issue 24: past capacity a draw is refused cheaply and in time.

- Shedding: while the worker's admission is full, a well-formed
  ``POST /v1/draw`` is answered 503 ``busy`` by the protocol itself, before
  any ASGI task exists, with the app's headers and body, on a connection that
  stays open; bad input still reaches the app for its 4xx.
- The queue deadline: a draw that waited past the budget before its turn is
  refused, not started.
- The accept loop: one turn accepts a burst of waiting connections, not one.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import orjson
import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from app.http.admission import Admission
from app.http.listener import BURST, Listener
from app.http.protocol import CoalescingHttpTools
from tests.conftest import ServiceFactory
from tests.helpers import DAY, local, prize, rain
from tests.http.test_admission import admission_of, busy_count
from tests.http.test_http import Http, bearer, setup
from tests.http.test_protocol import Sink


def draw_request(aid: int, headers: dict[str, str], body: bytes | None = None) -> bytes:
    body = body if body is not None else b'{"activity_id": %d}' % aid
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (
        b"POST /v1/draw HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        + head.encode()
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


def answers(raw: bytes) -> list[tuple[int, dict[bytes, bytes], Any]]:
    """The responses in ``raw``: status, lower-cased headers, parsed body."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
        n = int(headers[b"content-length"])
        out.append((int(lines[0].split()[1]), headers, orjson.loads(rest[:n])))
        raw = rest[n:]
    return out


async def feed(app: Any, *reads: bytes) -> tuple[CoalescingHttpTools, Sink]:
    config = Config(app=app, log_config=None, lifespan="off")
    config.load()
    proto = CoalescingHttpTools(config, ServerState(), {}, _loop=asyncio.get_running_loop())
    sink = Sink()
    proto.connection_made(sink)  # type: ignore[arg-type]
    for data in reads:
        proto.data_received(data)
    return proto, sink


async def settle(sink: Sink, count: int) -> None:
    for _ in range(200):  # bounded: the app's answers take a few loop turns
        if len(answers(b"".join(sink.writes))) >= count:
            return
        await asyncio.sleep(0.005)


async def test_a_full_worker_refuses_a_draw_in_the_protocol(
    make_service: ServiceFactory, http: Http
) -> None:
    client, aid = await setup(make_service, http, rain([prize("c2", 5, 1.0)]), local(DAY, 10, 5))
    app: Any = client._transport.app  # type: ignore[attr-defined]
    adm = admission_of(client)
    adm.limit, adm.hard = 1, 1
    held = adm.admit()
    assert held is not None and adm.full()
    before = busy_count((await client.get("/metrics")).text)

    # Two draws on one keep-alive connection, the second in its own read.
    proto, sink = await feed(app, draw_request(aid, bearer("p1")))
    assert not proto.tasks  # no ASGI task was ever made for it
    proto.data_received(draw_request(aid, bearer("p2")))
    assert not proto.tasks
    await asyncio.sleep(0.01)
    got = answers(b"".join(sink.writes))
    assert [status for status, _, _ in got] == [503, 503] and not sink.closed
    for _, headers, body in got:
        assert body["error"]["code"] == "busy" and body["error"]["message"]
        assert headers[b"retry-after"] == b"1"
        assert headers[b"content-type"] == b"application/json"
        assert headers[b"x-content-type-options"] == b"nosniff"
        assert headers[b"cache-control"] == b"no-store"
    assert busy_count((await client.get("/metrics")).text) == before + 2
    assert adm.in_flight == 1  # refusals never count themselves in flight

    # What the app would answer 4xx is the app's to answer, even now.
    bad = [
        draw_request(aid, {}),  # no token: 401
        draw_request(aid, bearer("p1"), b"{"),  # 400 invalid_json
        draw_request(aid, bearer("p1") | {"Idempotency-Key": "bad key!"}),  # 400
    ]
    for raw, (status, code) in zip(
        bad, [(401, None), (400, "invalid_json"), (400, "invalid_idempotency_key")], strict=True
    ):
        _, sink = await feed(app, raw)
        await settle(sink, 1)
        [(got_status, _, body)] = answers(b"".join(sink.writes))
        assert got_status == status and (code is None or body["error"]["code"] == code), body

    # Connection: close is honoured.
    _, sink = await feed(app, draw_request(aid, bearer("p3") | {"Connection": "close"}))
    assert [s for s, _, _ in answers(b"".join(sink.writes))] == [503] and sink.closed

    # Room again: the same connection's next draw is served by the app.
    adm.done(held)
    proto, sink = await feed(app, draw_request(aid, bearer("p4")))
    await settle(sink, 1)
    [(status, _, body)] = answers(b"".join(sink.writes))
    assert status == 200 and body["won"], body


async def test_a_draw_behind_an_unanswered_one_is_not_refused_out_of_order(
    make_service: ServiceFactory, http: Http
) -> None:
    """HTTP/1.1 answers in order: a pipelined draw behind one the app is
    serving waits for its turn instead of being answered first."""
    client, aid = await setup(make_service, http, rain([prize("c2", 5, 1.0)]), local(DAY, 10, 5))
    app: Any = client._transport.app  # type: ignore[attr-defined]
    adm = admission_of(client)
    adm.limit, adm.hard = 1, 1
    proto, sink = await feed(app, draw_request(aid, bearer("p1")))
    await asyncio.sleep(0)  # its task starts: admitted, in flight, the worker full
    assert proto.tasks and adm.full()
    proto.data_received(draw_request(aid, bearer("p2")))
    await settle(sink, 2)
    statuses = [s for s, _, _ in answers(b"".join(sink.writes))]
    assert len(statuses) == 2 and statuses[0] == 200, statuses


def test_the_queue_deadline_refuses_a_draw_that_waited_past_the_budget() -> None:
    adm = Admission(64, 0.1, 1, deadline=0.25)
    assert adm.admit(time.monotonic() - 0.3) is None  # waited 300 ms: refused
    assert adm.in_flight == 0
    ticket = adm.admit(time.monotonic() - 0.2)  # within the deadline
    assert ticket is not None and adm.in_flight == 1
    adm.done(ticket)
    assert Admission(64, 0.1, 1).admit(time.monotonic() - 5) is not None  # deadline 0: off
    assert Admission(0, 0.1, 1, 0.25).admit(time.monotonic() - 5) is not None  # no bound


@pytest.mark.integration
async def test_one_turn_accepts_a_burst_of_waiting_connections() -> None:
    """libuv accepts one connection per loop turn; the listener takes up to
    BURST, so a rain's first second is not queued in the kernel."""
    loop = asyncio.get_running_loop()
    listening = socket.create_server(("127.0.0.1", 0), backlog=512)
    listening.setblocking(False)
    made: list[asyncio.Protocol] = []

    class Proto(asyncio.Protocol):
        def __init__(self) -> None:
            made.append(self)

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

    server = Listener(loop, [listening], Proto)
    clients: list[socket.socket] = []
    try:
        clients += [socket.create_connection(listening.getsockname()) for _ in range(BURST + 36)]
        server._accept(listening)  # one turn's worth
        await asyncio.sleep(0.05)
        assert len(made) == BURST
        server._accept(listening)
        await asyncio.sleep(0.05)
        assert len(made) == BURST + 36
        server._accept(listening)  # nothing left: returns at once
        assert len(made) == BURST + 36
    finally:
        for c in clients:
            c.close()
        for p in made:
            p.transport.close()
        server.close()
        await server.wait_closed()
    assert not server.is_serving()
