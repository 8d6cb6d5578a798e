"""heap.settle: what the API and the flush worker do to the collector after start-up."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from app import heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_collector")
def test_settle_freezes_what_lives_and_collects_the_young_less_often() -> None:
    gc.unfreeze()
    alive = [object() for _ in range(1000)]  # noqa: F841 - held through settle
    assert gc.get_freeze_count() == 0
    heap.settle(heap.WORKER)
    assert gc.get_freeze_count() > 1000
    assert gc.get_threshold() == heap.WORKER
    assert gc.isenabled()


@pytest.mark.usefixtures("restored_collector")
@pytest.mark.parametrize("thresholds", [heap.API, heap.WORKER])
def test_cycles_made_after_settle_are_still_collected(thresholds: tuple[int, int, int]) -> None:
    heap.settle(thresholds)

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    ref = weakref.ref(a)
    del a, b
    gc.collect()
    assert ref() is None
