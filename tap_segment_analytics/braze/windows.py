"""Plans the `/segments/data_series` requests that cover a range of days.

Observed behaviour (api-notes, unconfirmed by Braze): with a midnight `ending_at`, the series is
the `length` days *before* that date, the date itself left out. So a window covering the days
`start .. end - 1` is asked for as `ending_at = end at 00:00 UTC, length = (end - start).days`,
and the next window starts at this one's `end`: no day is missed or asked for twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

MAX_LENGTH = 100  # `length` must be 1..100


@dataclass(frozen=True)
class Window:
    """The days `start` (inclusive) to `end` (exclusive)."""

    start: date
    end: date

    @property
    def length(self) -> int:
        """The `length` parameter: days in the window."""
        return (self.end - self.start).days

    @property
    def ending_at(self) -> str:
        """The `ending_at` parameter: midnight UTC of the first day after the window."""
        return f"{self.end.isoformat()}T00:00:00Z"

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day < self.end


def plan_windows(first_day: date, end: date, max_length: int = MAX_LENGTH) -> list[Window]:
    """Windows of at most `max_length` days covering `first_day` up to (not including) `end`."""
    windows = []
    start = first_day
    while start < end:
        stop = min(start + timedelta(days=max_length), end)
        windows.append(Window(start, stop))
        start = stop
    return windows


def first_day_to_fetch(start_date: date, bookmark: date | None, lookback_days: int) -> date:
    """`start_date` on a first run; then the bookmark minus the lookback, not before start_date."""
    if bookmark is None:
        return start_date
    return max(start_date, bookmark - timedelta(days=lookback_days))
