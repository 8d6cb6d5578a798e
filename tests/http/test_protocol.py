"""``redrain serve``'s HTTP protocol: a response's head and body leave in one
write, close sends what is held first; and a request head past the limits
(issue 23, item 7: a 1 MB header and 5,000 headers were read) is answered 431
and its connection closed, in process and by a real server."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from app.http.protocol import MAX_HEAD, MAX_HEADERS, CoalescingHttpTools, _Coalesced
from tests.helpers import running_server


class Sink:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str) -> Any:
        return None if name in ("socket", "sslcontext") else f"info:{name}"

    def pause_reading(self) -> None:  # uvicorn's flow control, for the protocol tests
        pass

    def resume_reading(self) -> None:
        pass


async def test_writes_of_one_tick_leave_together() -> None:
    sink = Sink()
    t = _Coalesced(sink, asyncio.get_running_loop())
    t.write(b"HTTP/1.1 200 OK\r\n\r\n")
    t.write(b"{}")
    assert sink.writes == []
    await asyncio.sleep(0)
    assert sink.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    t.write(b"next")
    await asyncio.sleep(0)
    assert sink.writes[1:] == [b"next"]
    assert t.get_extra_info("peername") == "info:peername"  # the rest is the real transport


async def test_close_sends_what_is_held_and_abort_drops_it() -> None:
    sink = Sink()
    t = _Coalesced(sink, asyncio.get_running_loop())
    t.write(b"last answer")
    t.close()
    assert sink.writes == [b"last answer"] and sink.closed
    other = Sink()
    t = _Coalesced(other, asyncio.get_running_loop())
    t.write(b"never sent")
    t.abort()
    await asyncio.sleep(0)
    assert other.writes == [] and other.aborted


# -- request heads ----------------------------------------------------------------


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    seen.append(len(scope["headers"]))
    while (await receive()).get("more_body"):  # the whole body first, as routes read it
        pass
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


seen: list[int] = []  # header counts the app was handed


async def serve(*chunks: bytes) -> tuple[bytes, bool, int]:
    """Feeds ``chunks`` to one connection, stopping once it is closed: what was
    written back, whether it was closed, and how many bytes were fed."""
    seen.clear()
    config = Config(app=_ok, log_config=None, lifespan="off")
    proto = CoalescingHttpTools(config, ServerState(), {}, _loop=asyncio.get_running_loop())
    sink = Sink()
    proto.connection_made(sink)  # type: ignore[arg-type]
    fed = 0
    for chunk in chunks:
        if sink.closed:
            break
        proto.data_received(chunk)
        fed += len(chunk)
        for _ in range(5):
            await asyncio.sleep(0)
    for _ in range(5):
        await asyncio.sleep(0)
    return b"".join(sink.writes), sink.closed, fed


def refused(answer: bytes) -> None:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), answer[:200]
    lines = head.lower().split(b"\r\n")
    assert b"content-type: application/json" in lines and b"connection: close" in lines
    assert b"x-content-type-options: nosniff" in lines
    error = orjson.loads(body)["error"]
    assert error["code"] == "headers_too_large" and error["message"]
    assert not seen  # the app never saw the request


def request(*headers: bytes, target: bytes = b"/") -> bytes:
    return (
        b"GET "
        + target
        + b" HTTP/1.1\r\nHost: t\r\n"
        + b"".join(h + b"\r\n" for h in headers)
        + b"\r\n"
    )


async def test_a_head_within_the_limits_is_served() -> None:
    many = [b"X-H%d: v" % i for i in range(MAX_HEADERS - 1)]  # + Host: exactly the limit
    answer, closed, _ = await serve(request(*many))
    assert answer.startswith(b"HTTP/1.1 200 ") and not closed and seen == [MAX_HEADERS]
    big = request(b"X-Big: " + b"a" * (MAX_HEAD - 200))
    answer, closed, _ = await serve(*[big[i : i + 1000] for i in range(0, len(big), 1000)])
    assert answer.startswith(b"HTTP/1.1 200 ") and not closed
    # Keep-alive: two requests on one connection, the second in the same read.
    answer, closed, _ = await serve(request() + request())
    assert answer.count(b"HTTP/1.1 200 ") == 2 and not closed
    # A body is no head: 60 KB in the head's read, or in reads after it.
    body = b"x" * 60_000
    post = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
    for reads in ([post + body], [post, body[:30_000], body[30_000:]], [post, body]):
        answer, closed, _ = await serve(*reads, *reads)
        assert answer.count(b"HTTP/1.1 200 ") == 2 and not closed, answer[:200]


@pytest.mark.parametrize(
    "chunks",
    [
        [request(*[b"X-H%d: v" % i for i in range(5000)])],  # 5,000 headers in one read
        [request(*[b"X-H%d: v" % i for i in range(MAX_HEADERS)])],  # one too many
        [request(b"X-Big: " + b"a" * (MAX_HEAD + 1))],  # one read
        [request(target=b"/" + b"a" * (MAX_HEAD + 1))],  # a long target
    ],
    ids=["5000 headers", "101 headers", "17 KiB header", "long target"],
)
async def test_a_head_past_the_limits_is_431_and_closed(chunks: list[bytes]) -> None:
    answer, closed, _ = await serve(*chunks)
    refused(answer)
    assert closed


async def test_a_1_mb_header_is_refused_before_it_is_read_whole() -> None:
    """httptools holds a header until it ends: the reads that do not finish a
    head are counted, so a header still arriving is refused on the way."""
    head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: "
    reads = [head] + [b"a" * 65536] * 16 + [b"\r\n\r\n"]
    answer, closed, fed = await serve(*reads)
    refused(answer)
    assert closed and fed <= len(head) + MAX_HEAD + 65536


@pytest.mark.integration
def test_redrain_serve_refuses_oversized_heads(artifacts: Path) -> None:
    """The real server (``redrain serve``, embedded), over raw sockets: 431 or
    the connection closed, never a request served; normal requests after."""
    log = artifacts / "serve-header-limits.log"
    with running_server({}, log) as base:
        port = int(base.rsplit(":", 1)[1])
        huge = [
            b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n",
            request(*[b"X-H%d: v" % i for i in range(5000)], target=b"/healthz"),
        ]
        for raw in huge:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                got = b""
                try:
                    sock.sendall(raw)
                    while chunk := sock.recv(65536):
                        got += chunk
                except (ConnectionResetError, BrokenPipeError):
                    pass  # closed while we were still sending: also a refusal
                assert b"200 OK" not in got
                assert got == b"" or got.startswith(b"HTTP/1.1 431 "), got[:200]
                if got:
                    assert b'"code":"headers_too_large"' in got
        fine = httpx.get(f"{base}/healthz", headers={f"X-H{i}": "v" for i in range(50)})
        assert fine.status_code == 200
        # A 50 KB body is no head: refused for what it says, not for its size.
        body = {"user_id": "u", "pad": "x" * 50_000}
        assert httpx.post(f"{base}/v1/auth/dev", json=body).status_code == 422


# -- keep-alive ---------------------------------------------------------------------


async def test_an_idle_connection_is_closed_after_the_keep_alive_timeout() -> None:
    """app.http.keepalive: a connection idle past uvicorn's timeout_keep_alive
    is closed by the sweep (within a second more), one in use is not, and one
    opened and never used is closed too."""
    config = Config(app=_ok, log_config=None, lifespan="off", timeout_keep_alive=1)
    state = ServerState()
    loop = asyncio.get_running_loop()
    protos, sinks = [], []
    for _ in range(3):
        proto = CoalescingHttpTools(config, state, {}, _loop=loop)
        sink = Sink()
        proto.connection_made(sink)  # type: ignore[arg-type]
        state.connections.add(proto)
        protos.append(proto)
        sinks.append(sink)
    used, busy, _silent = protos
    used.data_received(request())
    deadline = loop.time() + 2.5
    while loop.time() < deadline:  # bounded: 2.5 s
        busy.data_received(request())  # a request every 100 ms: never idle for 1 s
        await asyncio.sleep(0.1)
    assert sinks[0].writes and sinks[0].closed  # answered, then closed once idle
    assert not sinks[1].closed and b"".join(sinks[1].writes).count(b"HTTP/1.1 200") >= 20
    assert sinks[2].closed and not sinks[2].writes  # never used
