"""The coalescing transport of ``redrain serve``'s HTTP protocol: a response's
head and body leave in one write; close sends what is held first."""

from __future__ import annotations

import asyncio

from app.http.protocol import _Coalesced


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

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


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
