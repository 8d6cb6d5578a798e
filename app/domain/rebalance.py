"""Which stock to move between a round's buckets (SPEC §9). Pure.

Per prize, given each bucket's unwon released units (``left``) and whether
players drew there since the last look (``busy``): a busy bucket that ran dry
gets a fair share of what is left, taken from idle buckets first (they can
give everything) and then from the fullest busy ones (they keep a fair share
themselves). A bucket with the last unit is not robbed for another busy one,
so stock never ping-pongs; an idle bucket's stock always goes where players are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Move:
    src: int
    dst: int
    units: int


def plan(left: Sequence[int], busy: Sequence[bool]) -> list[Move]:
    k = len(left)
    dry = [b for b in range(k) if left[b] <= 0 and busy[b]]
    total = sum(max(0, n) for n in left)
    if not dry or total == 0:
        return []
    share = max(1, total // max(1, sum(busy)))  # what each busy bucket should hold
    spare = {b: left[b] - (share if busy[b] else 0) for b in range(k) if left[b] > 0}
    donors = sorted((b for b in spare if spare[b] > 0), key=lambda b: (busy[b], -spare[b], b))
    moves: list[Move] = []
    for dst in dry:
        need = share
        for src in donors:
            n = min(need, spare[src])
            if n <= 0:
                continue
            moves.append(Move(src, dst, n))
            spare[src] -= n
            need -= n
            if need == 0:
                break
    return moves
