"""Closing idle keep-alive connections with one sweep a second, not a timer per answer.

uvicorn arms a timer after every answer (``loop.call_later``) and cancels it
when the next request's first bytes arrive: in a profile of a worker
refusing a rain that pair was 8% of its CPU. ``app.http.protocol`` marks a
connection idle instead (the loop time its last answer left, or it was
opened), and a sweep once a second closes the connections idle for longer
than uvicorn's ``timeout_keep_alive``: one is closed between that timeout and
a second after it, as a client cannot tell. A connection opened and never
used is closed the same way.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

SWEEP_EVERY = 1.0  # seconds


class Idle(Protocol):
    _idle_since: float | None

    def timeout_keep_alive_handler(self) -> None: ...


def watch(loop: asyncio.AbstractEventLoop, state: Any, timeout: float) -> None:
    """Start the sweep of ``state.connections`` (uvicorn's ServerState) on
    ``loop``, once per server."""
    if getattr(state, "_redrain_sweeping", False):
        return
    state._redrain_sweeping = True
    loop.call_later(SWEEP_EVERY, _sweep, loop, state, timeout)


def _sweep(loop: asyncio.AbstractEventLoop, state: Any, timeout: float) -> None:
    now = loop.time()
    conn: Idle
    for conn in list(state.connections):
        since = getattr(conn, "_idle_since", None)
        if since is not None and now - since >= timeout:
            conn._idle_since = None
            conn.timeout_keep_alive_handler()
    if not loop.is_closed():
        loop.call_later(SWEEP_EVERY, _sweep, loop, state, timeout)
