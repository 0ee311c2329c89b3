"""Plans the `/segments/data_series` requests that cover a range of days.

Braze documents `length` only as the "maximum number of days before `ending_at`"; whether the
`ending_at` day itself is in the series is not documented. Observed (api-notes, unconfirmed):
with a midnight `ending_at` the day is left out. So that the tap is exact under either reading,
a window of days `start .. end - 1` is asked for as `ending_at = end at 00:00 UTC` with one day
more than the window, `length = (end - start).days + 1`:

- `ending_at` left out: the series is `start - 1 .. end - 1`;
- `ending_at` included: the series is `start .. end`.

Either way it holds the whole window, and the reader keeps exactly the window's days (the one
extra day belongs to a neighbouring window or lies beyond the end). Windows are therefore at most
99 days long, so that `length` stays within Braze's 1..100.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

MAX_LENGTH = 100  # `length` must be 1..100
MAX_WINDOW_DAYS = MAX_LENGTH - 1  # one day of each request is the margin described above


@dataclass(frozen=True)
class Window:
    """The days `start` (inclusive) to `end` (exclusive)."""

    start: date
    end: date

    @property
    def days(self) -> int:
        """Days in the window."""
        return (self.end - self.start).days

    @property
    def length(self) -> int:
        """The `length` parameter: the window's days plus the one-day margin."""
        return self.days + 1

    @property
    def ending_at(self) -> str:
        """The `ending_at` parameter: midnight UTC of the first day after the window."""
        return f"{self.end.isoformat()}T00:00:00Z"

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day < self.end


def plan_windows(first_day: date, end: date, max_days: int = MAX_WINDOW_DAYS) -> list[Window]:
    """Windows of at most `max_days` days covering `first_day` up to (not including) `end`."""
    windows = []
    start = first_day
    while start < end:
        stop = min(start + timedelta(days=max_days), end)
        windows.append(Window(start, stop))
        start = stop
    return windows


def first_day_to_fetch(start_date: date, bookmark: date | None, lookback_days: int) -> date:
    """`start_date` on a first run; then the bookmark minus the lookback, not before start_date."""
    if bookmark is None:
        return start_date
    return max(start_date, bookmark - timedelta(days=lookback_days))
