"""What the flush worker knows it has finished: per activity, a mark (every
round starting before it is flushed and retired in every bucket) and the few
lanes after the mark that are done too. Over a year of rounds this is one
number per activity, not a set that only grows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from app.domain.types import ActivityId

Lane = tuple[str, int, int]  # (lane suffix, round start ms, round end ms)


class Flushed:
    def __init__(self) -> None:
        self._lanes: dict[ActivityId, set[str]] = {}
        self._marks: dict[ActivityId, tuple[int, int]] = {}  # -> (version, start ms)

    def keep(self, active: Iterable[ActivityId]) -> None:
        """Forget activities no longer published."""
        for gone in set(self._lanes) - set(active):
            del self._lanes[gone]
            self._marks.pop(gone, None)

    def mark(self, aid: ActivityId, version: int) -> int | None:
        """The start before which every round of ``aid`` is flushed; None to
        look at every round (none seen yet, or a publish may have added rounds
        anywhere: the version moved)."""
        mark = self._marks.get(aid)
        if mark is not None and mark[0] != version:
            del self._marks[aid]
            self._lanes.pop(aid, None)
            return None
        return None if mark is None else mark[1]

    def lanes(self, aid: ActivityId) -> set[str] | None:
        """The lanes after the mark known to be done; None until loaded."""
        return self._lanes.get(aid)

    def load(self, aid: ActivityId, lanes: set[str]) -> set[str]:
        self._lanes[aid] = lanes
        return lanes

    def add(self, aid: ActivityId, sfx: str) -> None:
        """A lane retired (kept until :meth:`advance` moves the mark past it)."""
        self._lanes.setdefault(aid, set()).add(sfx)

    def advance(
        self, aid: ActivityId, version: int, seen: Sequence[Lane], first_open: int | None
    ) -> None:
        """Every lane of the rounds starting before the first one not flushed
        (``first_open``; past the last one ``seen`` when all are) is flushed
        for good: keep the mark, drop the lanes."""
        if not seen:
            return
        upto = first_open if first_open is not None else seen[-1][1] + 1
        self._lanes.get(aid, set()).difference_update(sfx for sfx, start, _ in seen if start < upto)
        self._marks[aid] = (version, upto)
