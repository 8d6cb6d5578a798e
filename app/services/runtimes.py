"""The one cache of compiled published activities, shared by the API, the
flush worker and reconcile.

A publish stores the configuration in Redis with its version; each process
compiles it once (:func:`app.domain.runtime.compile_runtime`) and keeps it
until the version moves. Loading is single-flight per activity and runs off
the event loop, so a burst after a start or a re-publish compiles once.
"""

from __future__ import annotations

import asyncio
import time

from app.domain.errors import NotFound
from app.domain.runtime import Runtime, compile_runtime
from app.domain.types import ActivityId, RoundPlan
from app.store.redis.catalogue import Catalogue

VERSION_CHECK_SECONDS = 2.0  # how stale a cached activity may be for read-only views
# How long a process remembers that a round (bucket) is sold out: the tail of
# a rain, most of its taps, then costs no Redis call. A top-up through this
# process forgets at once; one through another reopens within this time.
SOLD_OUT_MEMORY = 1.0
# Compiled activities kept at most: past it the one compiled first is dropped
# (and compiled again if it is still drawn in). A process of a long-running
# deployment serves the live campaigns, not every campaign there was.
MAX_RUNTIMES = 256


class _Flight:
    """One activity's load in progress, and how many callers wait on it."""

    __slots__ = ("callers", "lock")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.callers = 0


class RuntimeCache:
    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._runtimes: dict[ActivityId, Runtime] = {}
        # Only while a load is in flight: any activity id can be asked for.
        self._loading: dict[ActivityId, _Flight] = {}
        self.sold_out_memory = SOLD_OUT_MEMORY
        self._sold_out: dict[tuple[ActivityId, str, int], float] = {}  # -> until (monotonic)

    def known_sold_out(self, activity_id: ActivityId, sfx: str, bucket: int) -> bool:
        until = self._sold_out.get((activity_id, sfx, bucket))
        if until is None:
            return False
        if until > time.monotonic():
            return True
        del self._sold_out[(activity_id, sfx, bucket)]
        return False

    def sold_out(self, activity_id: ActivityId, sfx: str, bucket: int) -> None:
        now = time.monotonic()
        if len(self._sold_out) > 1024:  # rounds long over
            self._sold_out = {k: v for k, v in self._sold_out.items() if v > now}
        self._sold_out[(activity_id, sfx, bucket)] = now + self.sold_out_memory

    def reopened(self, activity_id: ActivityId) -> None:
        """Stock was added (a top-up): forget what was sold out."""
        self._sold_out = {k: v for k, v in self._sold_out.items() if k[0] != activity_id}

    def peek(self, activity_id: ActivityId) -> Runtime | None:
        """The cached runtime, without asking Redis."""
        return self._runtimes.get(activity_id)

    def forget(self, activity_id: ActivityId) -> None:
        self._runtimes.pop(activity_id, None)

    async def get(self, activity_id: ActivityId, *, stale: Runtime | None = None) -> Runtime:
        """The compiled published activity, from this cache or Redis.

        ``stale`` is a runtime the caller found out of date: it is replaced
        unless another request already replaced it. Raises :class:`NotFound`
        (``activity_not_found``) when the activity is not published.
        """
        cached = self._runtimes.get(activity_id)
        if cached is not None and cached is not stale:
            return cached
        flight = self._loading.get(activity_id)
        if flight is None:
            flight = self._loading[activity_id] = _Flight()
        flight.callers += 1
        try:
            async with flight.lock:
                return await self._load(activity_id, stale)
        finally:
            flight.callers -= 1
            if not flight.callers:  # the last one out: nobody holds or awaits it
                del self._loading[activity_id]

    async def _load(self, activity_id: ActivityId, stale: Runtime | None) -> Runtime:
        cached = self._runtimes.get(activity_id)
        if cached is not None and cached is not stale:
            return cached
        found = await self.catalogue.activity_config(activity_id)
        if found is None:
            self._runtimes.pop(activity_id, None)
            raise NotFound(f"activity {activity_id} is not published", code="activity_not_found")
        version, js, history = found
        if cached is not None and cached.version == version:
            cached.checked_at = time.monotonic()
            return cached
        # A year of hourly rounds takes ~0.1 s to compile: keep it off the event loop.
        rt = await asyncio.to_thread(compile_runtime, activity_id, version, js, history)
        rt.checked_at = time.monotonic()
        if activity_id not in self._runtimes and len(self._runtimes) >= MAX_RUNTIMES:
            del self._runtimes[next(iter(self._runtimes))]
        self._runtimes[activity_id] = rt
        return rt

    def sizes(self) -> dict[str, int]:
        """How much this cache holds (for tests and the curious)."""
        return {
            "runtimes": len(self._runtimes),
            "loading": len(self._loading),
            "sold_out": len(self._sold_out),
        }

    async def paused(self, activity_id: ActivityId) -> bool:
        """Whether an operator paused the activity, as draws see it now (not
        cached: a pause must show within a second)."""
        return await self.catalogue.paused(activity_id)

    async def fresh(self, activity_id: ActivityId) -> Runtime:
        """Like :meth:`get`, re-checking the version if the cache is a bit old."""
        rt = self._runtimes.get(activity_id)
        if rt is not None and time.monotonic() - rt.checked_at < VERSION_CHECK_SECONDS:
            return rt
        if rt is not None and await self.catalogue.activity_version(activity_id) == rt.version:
            rt.checked_at = time.monotonic()
            return rt
        return await self.get(activity_id, stale=rt)

    async def current(self, activity_id: ActivityId) -> Runtime | None:
        """The published version now (None if not published): one version read,
        a compile only when it moved. For loops that visit every activity."""
        version = await self.catalogue.activity_version(activity_id)
        if version is None:
            return None
        cached = self._runtimes.get(activity_id)
        if cached is not None and cached.version == version:
            return cached
        try:
            return await self.get(activity_id, stale=cached)
        except NotFound:
            return None

    async def seed_of(self, rt: Runtime, rnd: RoundPlan) -> tuple[bytes, str]:
        """``(seed, seed_hash)`` of a published round (cached with its runtime)."""
        got = rt.seeds.get(rnd.sfx)
        if got is None:
            found = await self.catalogue.round_seed(rt.id, rnd.sfx, rt.config.buckets)
            if found is None:
                raise NotFound(f"round {rnd.round_id} is not published", code="round_not_found")
            got = rt.seeds[rnd.sfx] = found
        return got
