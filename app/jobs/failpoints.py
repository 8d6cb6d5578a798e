"""Crash on purpose at named points, for crash tests and rehearsals only."""

from __future__ import annotations

import logging
import os
import random
import signal

from app.domain.errors import ConfigError

log = logging.getLogger("redrain.worker")


class Failpoints:
    """``REDRAIN_FAILPOINTS="before_commit=0.1,after_commit=0.2,mid_ack=0.1"``: at
    each point the process SIGKILLs itself with that probability."""

    POINTS = frozenset(
        {"before_commit", "after_commit", "mid_ack", "moved_out", "moved_in", "move_recorded"}
    )

    def __init__(self, spec: str) -> None:
        self.odds: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, _, value = part.partition("=")
            if name not in self.POINTS:
                raise ConfigError(
                    f"invalid setting REDRAIN_FAILPOINTS: unknown failpoint {name!r} "
                    f"(known: {sorted(self.POINTS)})"
                )
            try:
                self.odds[name] = float(value or 1)
            except ValueError as exc:
                raise ConfigError(f"invalid setting REDRAIN_FAILPOINTS: {exc}") from exc
        self._rng = random.Random()

    def hit(self, name: str) -> None:
        p = self.odds.get(name)
        if p and self._rng.random() < p:
            log.warning("failpoint %s: killing this worker now", name)
            os.kill(os.getpid(), signal.SIGKILL)
