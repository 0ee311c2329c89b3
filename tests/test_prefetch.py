"""The prefetcher alone: a plan's fetch units run ahead, bounded, taken in the plan's order."""

from __future__ import annotations

import threading
import time
from functools import partial

from tap_segment_analytics.prefetch import Prefetcher, ReadAhead


def test_units_run_ahead_at_most_the_lanes_bound_and_come_out_in_the_plans_order() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def fetch(unit: int) -> int:
        with lock:
            started.append(unit)
        return unit * 10

    prefetch = Prefetcher({"work": ReadAhead(name="t", workers=2, ahead=2)}, name="test")

    def walk(ahead: Prefetcher) -> None:
        for unit in range(6):
            ahead.schedule("work", unit, partial(fetch, unit))

    prefetch.start([walk])
    time.sleep(0.2)
    assert sorted(started) == [0, 1], "two units ahead, no more, until the sync takes one"

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

    assert stopped.wait(5), "the walk ended once its lane was closed"
