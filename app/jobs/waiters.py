"""Who waits for the flush worker to catch up (embedded mode's read-your-writes):
each waiter is released by the first pass of the flush loop that began after
it arrived and found nothing new to write. The worker decides what "nothing
new" means; this keeps the passes and the waiting list."""

from __future__ import annotations

import asyncio
import contextlib


class Waiters:
    def __init__(self) -> None:
        self._passes = 0
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def begin_pass(self) -> int:
        """A pass of the flush loop begins; returns its number."""
        self._passes += 1
        return self._passes

    async def wait(self, within: float) -> None:
        """Until a pass that began after now releases us, or ``within`` seconds."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (self._passes, done)
        self._waiting.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(done), within)
        except TimeoutError:
            # A worker busy for a long while releases nobody: leave, keep the list short.
            with contextlib.suppress(ValueError):
                self._waiting.remove(waiter)

    def release(self, began: int) -> None:
        """Pass ``began`` found everything written: release who arrived before it."""
        still = []
        for arrived, done in self._waiting:
            if arrived < began:
                if not done.done():
                    done.set_result(None)
            else:
                still.append((arrived, done))
        self._waiting = still
