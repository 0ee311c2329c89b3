"""Progress lines a person can follow: at most one INFO line every few seconds per long task.

- Braze: `braze_segment_sizes: segment 37/180 (Lapsed users): 400 days in 4 requests`
- App Store: `appstore: app 1234567890 report 'App Crashes' DAILY: instance 2026-11-20 (12/35),
  file 2/3, 48,210 rows`, also while one long file is being read.

Each source's runtime holds its tracker (thread-safe) for the run; streams call it from one
line each.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

PROGRESS_SECONDS = 5.0
# Braze lists 100 segments a page (api-notes): after a full page, more may follow.
BRAZE_SEGMENTS_PER_PAGE = 100
# Rows between two looks at the clock while a file is read.
ROWS_PER_CLOCK_CHECK = 1000

_Row = TypeVar("_Row")


class Progress:
    """Decides when a progress line is due: the first time, then once `every` seconds."""

    def __init__(
        self, *, every: float = PROGRESS_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._every = every
        self._clock = clock
        self._last: float | None = None
        self._lock = threading.Lock()
        self.muted = False

    def due(self, *, force: bool = False) -> bool:
        """Whether to log a line now; if so, the next one is due `every` seconds later."""
        now = self._clock()
        with self._lock:
            if self.muted:
                return False
            if force or self._last is None or now - self._last >= self._every:
                self._last = now
                return True
            return False

    def reset(self) -> None:
        """The next line is due at once."""
        with self._lock:
            self._last = None


def fraction(position: int | None, total: int, *, more: bool = False) -> str:
    """`12/35`, `37/100+` while more may follow, or `?/35` for an unknown position."""
    return f"{position if position is not None else '?'}/{total}{'+' if more else ''}"


class _Window(Protocol):
    @property
    def days(self) -> int: ...


class SegmentSizesProgress:
    """Where braze_segment_sizes is: which segment of how many, and what it asks for.

    It keeps the positions of the page of `/segments/list` being synced only: the SDK syncs a
    page's segments before it lists the next page, so memory does not grow with the account.
    """

    def __init__(self, progress: Progress | None = None) -> None:
        self.progress = progress or Progress()
        self._lock = threading.Lock()
        self._positions: dict[str, int] = {}
        self._total = 0
        self._more = False

    def reset(self) -> None:
        """Start a new run."""
        with self._lock:
            self._positions.clear()
            self._total = 0
            self._more = False
        self.progress.reset()

    def listed(
        self, segments: list[dict[str, Any]], wanted: AbstractSet[str] | None
    ) -> list[dict[str, Any]]:
        """A page of /segments/list, passed through: its wanted segments count toward the total."""
        with self._lock:
            self._positions = {}
            for segment in segments:
                segment_id = str(segment.get("id"))
                if (wanted is None or segment_id in wanted) and segment_id not in self._positions:
                    self._total += 1
                    self._positions[segment_id] = self._total
            self._more = wanted is None and len(segments) >= BRAZE_SEGMENTS_PER_PAGE
        return segments

    def segment(
        self, logger: logging.Logger, segment: Mapping[str, Any], windows: Sequence[_Window]
    ) -> None:
        """The sizes of this segment are asked for next, in these windows."""
        with self._lock:
            position = self._positions.get(str(segment.get("id")))
            total, more = self._total, self._more
        if self.progress.due(force=position == total and not more):
            logger.info(
                "braze_segment_sizes: segment %s (%s): %s days in %d requests",
                fraction(position, total, more=more),
                segment.get("name"),
                f"{sum(window.days for window in windows):,}",
                len(windows),
            )


class ReportFilesProgress:
    """Where the App Store report rows are: which instance of a report, which file, how many
    rows of it so far."""

    def __init__(self, progress: Progress | None = None) -> None:
        self.progress = progress or Progress()
        self._lock = threading.Lock()
        self._instances: dict[str, tuple[int, int]] = {}
        self._files: dict[str, tuple[int, int]] = {}

    def reset(self) -> None:
        """Start a new run."""
        with self._lock:
            self._instances.clear()
            self._files.clear()
        self.progress.reset()

    def forget(self) -> None:
        """Drop the positions of the instances and files read so far (their app is done)."""
        with self._lock:
            self._instances.clear()
            self._files.clear()

    def instances(self, instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The instances of one report and granularity this run reads, in order; passed through."""
        with self._lock:
            for position, instance in enumerate(instances, start=1):
                self._instances[str(instance["id"])] = (position, len(instances))
        return instances

    def files(self, segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The segments (files) of one instance, in order; passed through."""
        with self._lock:
            for position, segment in enumerate(segments, start=1):
                self._files[str(segment["id"])] = (position, len(segments))
        return segments

    def rows(
        self, logger: logging.Logger, context: Mapping[str, Any], rows: Iterable[_Row]
    ) -> Iterator[_Row]:
        """The rows of one file, passed through; a line when due, and at the end of a file
        that took more than one."""
        count = 0
        lines = 0
        for count, row in enumerate(rows, start=1):
            yield row
            if count % ROWS_PER_CLOCK_CHECK == 0 and self.progress.due():
                lines += 1
                logger.info("%s", self._line(context, count))
        if self.progress.due(force=lines > 0):
            logger.info("%s", self._line(context, count))

    def _line(self, context: Mapping[str, Any], rows: int) -> str:
        with self._lock:
            instance = self._instances.get(str(context["instance_id"]))
            file = self._files.get(str(context["segment_id"]))
        return (
            f"appstore: app {context['app_id']} report '{context['report_name']}' "
            f"{context['granularity']}: instance {context['processing_date']}"
            + (f" ({fraction(*instance)})" if instance else "")
            + (f", file {fraction(*file)}" if file else "")
            + f", {rows:,} rows"
        )


@contextmanager
def muted(trackers: Iterable[SegmentSizesProgress | ReportFilesProgress]) -> Iterator[None]:
    """No progress lines from these trackers in this block (the connection test reads one record
    a stream)."""
    progresses = [tracker.progress for tracker in trackers]
    for progress in progresses:
        progress.muted = True
    try:
        yield
    finally:
        for progress in progresses:
            progress.muted = False
