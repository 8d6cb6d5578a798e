"""What the flush worker has done: counted as it goes, logged every few seconds."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

log = logging.getLogger("redrain.worker")


@dataclass
class Counts:
    rows: int = 0
    duplicates: int = 0
    dead: int = 0
    batches: int = 0
    batch_seconds: float = 0.0


class Progress:
    def __init__(self, now: float) -> None:
        self.counts = Counts()
        self._reported = Counts()
        self._reported_at = now

    def report(self, now: float, *, lag: int, pending: int, streams: int) -> None:
        """One log line of what happened since the last one (if anything did)."""
        c, r = self.counts, self._reported
        rows = c.rows - r.rows
        batches = c.batches - r.batches
        elapsed = max(now - self._reported_at, 1e-3)
        if rows or c.dead != r.dead or lag or pending:
            avg_ms = (c.batch_seconds - r.batch_seconds) / batches * 1000 if batches else 0.0
            log.info(
                "flushed %d rows in %.0f s (%.0f/s, %d batches, %.1f ms each), %d duplicates, "
                "%d dead letters; lag %d, pending %d, %d streams",
                rows,
                elapsed,
                rows / elapsed,
                batches,
                avg_ms,
                c.duplicates - r.duplicates,
                c.dead - r.dead,
                lag,
                pending,
                streams,
            )
        self._reported = dataclasses.replace(c)
        self._reported_at = now

    def stats(self, streams: int) -> dict[str, int]:
        c = self.counts
        return {
            "rows": c.rows,
            "duplicates": c.duplicates,
            "dead_letters": c.dead,
            "batches": c.batches,
            "streams": streams,
        }
