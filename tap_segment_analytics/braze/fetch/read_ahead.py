"""The Braze calls of a run, made ahead of the sync: the plan's fetch units, in its order.

The sync takes each unit's result in the plan's order, so records and STATE are those of one
request at a time; the tap's one prefetcher (`prefetch.Prefetcher`) walks the plan's units in
that same order, at most `braze_concurrency` at a time. Braze's `X-RateLimit-*` headers and 429s
are honoured by every call's own retries (the client's). With `braze_concurrency: 1` nothing is
read ahead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, Protocol

from tap_segment_analytics.braze.plan.segment_plan import DetailsCall, FetchUnit, SizesCall
from tap_segment_analytics.prefetch import Prefetcher, ReadAhead

# Results waiting to be taken, per worker: enough to keep every worker busy while the sync
# emits one segment's records.
AHEAD_PER_WORKER = 4
_LANE = "braze"


class SegmentReader(Protocol):
    """The client calls a plan's fetch units make."""

    def details(self, segment_id: str) -> dict[str, Any]:
        """A segment's details."""

    def data_series(self, segment_id: str, *, length: int, ending_at: str) -> list[Any] | None:
        """A segment's size series points for one window (None: no `data`)."""


def fetch(reader: SegmentReader, unit: FetchUnit) -> Any:
    """What Braze answers for one fetch unit: a details object, or a window's points."""
    if isinstance(unit, DetailsCall):
        return reader.details(unit.segment_id)
    assert isinstance(unit, SizesCall)
    window = unit.window
    return reader.data_series(unit.segment_id, length=window.length, ending_at=window.ending_at)


class SegmentFetches:
    """The results of a run's fetch units: read ahead while a run is on, else fetched when the
    sync asks for them."""

    def __init__(self, reader: SegmentReader) -> None:
        self._reader = reader
        self._prefetcher: Prefetcher | None = None

    def start(self, units: Iterable[FetchUnit], *, workers: int) -> None:
        """Read `units` ahead in `workers` threads (nothing ahead for one)."""
        self.close()
        if workers <= 1:
            return
        lane = ReadAhead(name=_LANE, workers=workers, ahead=AHEAD_PER_WORKER * workers)
        prefetcher = self._prefetcher = Prefetcher({_LANE: lane}, name="braze-read-ahead")
        prefetcher.start([partial(_walk, units, partial(fetch, self._reader))])

    def take(self, unit: FetchUnit) -> Any:
        """The unit's result: read ahead, or fetched now."""
        call = partial(fetch, self._reader, unit)
        if self._prefetcher is None:
            return call()
        return self._prefetcher.take(_LANE, unit, call)

    def details(self, unit: DetailsCall) -> dict[str, Any]:
        """A details call's answer."""
        details: dict[str, Any] = self.take(unit)
        return details

    def data_series(self, unit: SizesCall) -> list[Any] | None:
        """A sizes call's points (None: an answer without `data`)."""
        points: list[Any] | None = self.take(unit)
        return points

    def close(self) -> None:
        """Stop reading ahead."""
        if self._prefetcher is not None:
            self._prefetcher.close()
        self._prefetcher = None


def _walk(
    units: Iterable[FetchUnit], fetch_unit: Callable[[FetchUnit], Any], prefetcher: Prefetcher
) -> None:
    """Schedule the plan's units, in its order, until the run closes."""
    for unit in units:
        prefetcher.schedule(_LANE, unit, partial(fetch_unit, unit))
