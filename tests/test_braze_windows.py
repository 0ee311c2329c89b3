"""The data_series window arithmetic, exact under both readings of `ending_at`.

Braze does not document whether a midnight `ending_at` day is part of the series. Each reading
is modelled here as the days a request returns; whatever the range of days to fetch, the planned
requests must hand back every day of it, each exactly once after the tap keeps only its window.
"""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tap_segment_analytics.braze.emit.series import DailySizes, Point
from tap_segment_analytics.braze.plan.windows import (
    MAX_LENGTH,
    Window,
    first_day_to_fetch,
    plan_windows,
)

READINGS = ("ending_at left out", "ending_at included")


def served(window: Window, reading: str) -> set[date]:
    """The days Braze answers for the window's `length` and `ending_at` under a reading."""
    ending = date.fromisoformat(window.ending_at[:10])
    last = ending if reading == "ending_at included" else ending - timedelta(days=1)
    return {last - timedelta(days=n) for n in range(window.length)}


days = st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31))


@given(first=days, span=st.integers(min_value=0, max_value=1200), reading=st.sampled_from(READINGS))
def test_planned_windows_return_every_day_once_under_either_reading(
    first: date, span: int, reading: str
) -> None:
    end = first + timedelta(days=span)

    windows = plan_windows(first, end)

    kept = [day for window in windows for day in sorted(served(window, reading)) if day in window]
    assert kept == [first + timedelta(days=n) for n in range(span)]
    assert all(1 <= window.length <= MAX_LENGTH for window in windows)
    assert all(
        {window.start + timedelta(days=n) for n in range(window.days)} <= served(window, reading)
        for window in windows
    )


@given(first=days, span=st.integers(min_value=1, max_value=1200))
def test_windows_are_as_few_as_the_margin_allows(first: date, span: int) -> None:
    windows = plan_windows(first, first + timedelta(days=span))

    assert len(windows) == -(-span // (MAX_LENGTH - 1))


@given(
    start=days,
    bookmark_offset=st.integers(min_value=-30, max_value=400),
    lookback=st.integers(min_value=0, max_value=30),
)
def test_a_later_run_starts_at_bookmark_minus_lookback_never_before_start_date(
    start: date, bookmark_offset: int, lookback: int
) -> None:
    bookmark = start + timedelta(days=bookmark_offset)

    first = first_day_to_fetch(start, bookmark, lookback)

    assert first == max(start, bookmark - timedelta(days=lookback))
    assert first_day_to_fetch(start, None, lookback) == start


def test_window_parameters() -> None:
    window = Window(date(2026, 1, 1), date(2026, 1, 11))

    assert (window.days, window.length, window.ending_at) == (10, 11, "2026-01-11T00:00:00Z")
    assert date(2026, 1, 10) in window
    assert date(2026, 1, 11) not in window
    assert plan_windows(date(2026, 1, 1), date(2026, 1, 1)) == []


def test_a_day_missing_after_a_day_sized_is_a_gap_but_not_before_the_first() -> None:
    series = DailySizes()
    for day in (date(2026, 11, 3), date(2026, 11, 4), date(2026, 11, 7)):
        series.add(Point(day, 10))

    assert series.gaps() == [date(2026, 11, 5), date(2026, 11, 6)]
    # The bookmark's day (sized by an earlier run) counts as sized: the days after it are owed.
    assert series.gaps(since=date(2026, 11, 1))[0] == date(2026, 11, 2)
    assert series.gaps(since=date(2026, 11, 8)) == [date(2026, 11, 5), date(2026, 11, 6)]
    assert DailySizes().gaps(since=date(2026, 11, 1)) == []
    assert "no size for 3 days between days it sized (e.g. 2026-11-02)" in " ".join(
        series.oddities(since=date(2026, 11, 1))
    )
