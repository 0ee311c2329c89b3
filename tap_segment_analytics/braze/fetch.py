"""The Braze calls of a run, made ahead of the sync: the plan's fetch units, in its order.

The sync takes each unit's result in the plan's order, so records and STATE are those of one
request at a time; the tap's one prefetcher (`prefetch.Prefetcher`) walks the units of each
listed page in that same order, at most `braze_concurrency` at a time. Braze's `X-RateLimit-*`
headers and 429s are honoured by every call's own retries. With `braze_concurrency: 1` nothing
is read ahead.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, TypeVar

from tap_segment_analytics.braze.plan import FetchUnit
from tap_segment_analytics.prefetch import Prefetcher, ReadAhead, for_context

_T = TypeVar("_T")
# Results waiting to be taken, per worker: enough to keep every worker busy while the sync
# emits one segment's records.
AHEAD_PER_WORKER = 4
_LANE = "braze"

Fetch = Callable[[FetchUnit], list[dict[str, Any]]]


class SegmentFetches:
    """The results of a run's fetch units: read ahead while a run is on, else fetched when the
    sync asks for them."""

    def __init__(self) -> None:
        self._prefetcher: Prefetcher | None = None
        self._units: queue.Queue[list[FetchUnit] | None] | None = None

    def start(self, fetch: Fetch, *, workers: int) -> None:
        """Read units ahead with `fetch` in `workers` threads (nothing ahead for one)."""
        self.close()
        if workers <= 1:
            return
        lane = ReadAhead(name=_LANE, workers=workers, ahead=AHEAD_PER_WORKER * workers)
        prefetcher = Prefetcher({_LANE: lane}, name="braze-read-ahead")
        units: queue.Queue[list[FetchUnit] | None] = queue.Queue()
        self._prefetcher, self._units = prefetcher, units
        prefetcher.start([partial(_walk, units, fetch)])

    def add(self, units: Iterable[FetchUnit]) -> None:
        """Units the sync will take next, in its order."""
        if self._units is not None:
            self._units.put(list(units))

    def take(self, unit: FetchUnit, call: Callable[[], _T]) -> _T:
        """The unit's result: read ahead, or `call()` made now."""
        if self._prefetcher is None:
            return call()
        return self._prefetcher.take(_LANE, unit, call)

    def close(self) -> None:
        """Stop reading ahead."""
        if self._units is not None:
            self._units.put(None)
        if self._prefetcher is not None:
            self._prefetcher.close()
        self._prefetcher = self._units = None


def _walk(units: queue.Queue[list[FetchUnit] | None], fetch: Fetch, prefetcher: Prefetcher) -> None:
    """Schedule each listed page's units, in the plan's order, until the run closes."""
    while (batch := units.get()) is not None:
        for unit in batch:
            call = for_context({"segment_id": unit.segment_id}, partial(fetch, unit))
            prefetcher.schedule(_LANE, unit, call)
