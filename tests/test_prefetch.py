"""The prefetcher alone: a plan's fetch units run ahead, bounded, taken in the plan's order."""

from __future__ import annotations

import threading
from functools import partial

import pytest
from typing_extensions import override

from tap_segment_analytics import prefetch as prefetch_module
from tap_segment_analytics.prefetch import Prefetcher, ReadAhead

# How long a test waits for something that happens at once when the code is right: a bound on a
# hang, never a measure of speed.
PATIENCE_SECONDS = 30


class SlotsThatTell(threading.BoundedSemaphore):
    """A lane's slots that set `full` when a scheduler has to wait for one."""

    full = threading.Event()

    @override
    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        if super().acquire(blocking=False):
            return True
        SlotsThatTell.full.set()
        return super().acquire(blocking, timeout)


def test_units_run_ahead_at_most_the_lanes_bound_and_come_out_in_the_plans_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[int] = []
    scheduled: list[int] = []
    two_started = threading.Event()
    lock = threading.Lock()

    def fetch(unit: int) -> int:
        with lock:
            started.append(unit)
            if len(started) == 2:
                two_started.set()
        return unit * 10

    SlotsThatTell.full.clear()
    with monkeypatch.context() as patch:
        patch.setattr(prefetch_module.threading, "BoundedSemaphore", SlotsThatTell)
        prefetch = Prefetcher({"work": ReadAhead(name="t", workers=2, ahead=2)}, name="test")

    def walk(ahead: Prefetcher) -> None:
        for unit in range(6):
            ahead.schedule("work", unit, partial(fetch, unit))
            with lock:
                scheduled.append(unit)

    prefetch.start([walk])
    # The walk waits for a slot once two units are ahead: nothing more starts until a take.
    assert SlotsThatTell.full.wait(PATIENCE_SECONDS), "the walk never waited for a slot"
    assert two_started.wait(PATIENCE_SECONDS)
    with lock:
        assert (sorted(started), scheduled) == ([0, 1], [0, 1]), "two units ahead, no more"

    taken = [prefetch.take("work", unit, partial(fetch, unit)) for unit in range(6)]
    prefetch.close()

    assert taken == [0, 10, 20, 30, 40, 50]
    assert sorted(started) == list(range(6)), "each unit fetched once"


def test_a_closed_prefetcher_stops_its_walks() -> None:
    prefetch = Prefetcher({"work": ReadAhead(name="t", workers=1, ahead=1)}, name="test")
    stopped = threading.Event()

    def walk(ahead: Prefetcher) -> None:
        try:
            for unit in range(100):
                ahead.schedule("work", unit, partial(int, unit))
        finally:
            stopped.set()

    prefetch.start([walk])
    prefetch.close()

    assert stopped.wait(PATIENCE_SECONDS), "the walk ended once its lane was closed"
