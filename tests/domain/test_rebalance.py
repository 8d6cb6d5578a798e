"""The rebalancer's plan: where a round's unwon released stock should go."""

from __future__ import annotations

import itertools
import random

import pytest

from app.domain.rebalance import Move, plan


def test_a_dry_busy_bucket_is_fed_from_an_idle_one_first() -> None:
    assert plan([0, 5, 9], [True, True, False]) == [Move(2, 0, 7)]  # share 14 // 2
    assert plan([0, 0, 6], [True, True, False]) == [Move(2, 0, 3), Move(2, 1, 3)]


def test_nothing_moves_without_a_dry_busy_bucket() -> None:
    assert plan([3, 4, 5], [True, True, True]) == []
    assert plan([0, 4, 5], [False, True, True]) == []  # nobody draws in the dry one
    assert plan([0, 0, 0], [True, True, True]) == []


def test_the_last_unit_does_not_ping_pong_between_busy_buckets() -> None:
    assert plan([0, 1], [True, True]) == []
    assert plan([0, 1], [True, False]) == [Move(1, 0, 1)]


@pytest.mark.parametrize("seed", range(200))
def test_a_plan_never_takes_more_than_there_is(seed: int) -> None:
    rng = random.Random(seed)
    k = rng.randint(2, 8)
    left = [rng.choice([0, 0, 1, 2, 5, 40]) for _ in range(k)]
    busy = [rng.random() < 0.6 for _ in range(k)]
    moves = plan(left, busy)
    after = list(left)
    for m in moves:
        assert m.units > 0 and m.src != m.dst
        after[m.src] -= m.units
        after[m.dst] += m.units
    assert all(n >= 0 for n in after)
    assert sum(after) == sum(left)
    # Only dry busy buckets receive; a busy donor keeps its share.
    for m in moves:
        assert left[m.dst] == 0 and busy[m.dst]
    for b, g in itertools.groupby(sorted(moves, key=lambda m: m.src), key=lambda m: m.src):
        if busy[b]:
            share = max(1, sum(left) // sum(busy))
            assert left[b] - sum(m.units for m in g) >= share
