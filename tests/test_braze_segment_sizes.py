"""braze_segment_sizes: windows, bookmarks per segment, lookback, resumption."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.conftest import FIRST_RUN_DAYS, braze_config, segment_bookmarks, utc_today
from tests.fakes import FakeBraze
from tests.tap_runner import run_tap

STREAM = "braze_segment_sizes"


def days_between(first: date, end: date) -> set[str]:
    """ISO days from `first` up to (not including) `end`."""
    return {(first + timedelta(days=n)).isoformat() for n in range((end - first).days)}


def tracked(fake: FakeBraze) -> list[str]:
    return [s.id for s in fake.segments if s.analytics_tracking_enabled]


def test_first_run_emits_every_day_once_per_tracked_segment(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    run = run_tap(braze_config(fake_braze), tmp_path)
    assert run.returncode == 0, run.stderr

    start = utc_today() - timedelta(days=FIRST_RUN_DAYS)
    expected_days = days_between(start, utc_today())
    records = run.records(STREAM)
    per_segment = Counter(r["segment_id"] for r in records)
    assert set(per_segment) == set(tracked(fake_braze))
    for segment_id in tracked(fake_braze):
        days = [r["time"] for r in records if r["segment_id"] == segment_id]
        assert len(days) == len(set(days)), "a day arrived twice"
        assert set(days) == expected_days
    assert all(
        r["size"] == fake_braze.size_for(r["segment_id"], date.fromisoformat(r["time"]))
        for r in records
    )
    names = {s.id: s.name for s in fake_braze.segments}
    assert all(r["name"] == names[r["segment_id"]] for r in records)


def test_first_run_windows_are_contiguous_99_days_asked_with_one_day_margin(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    run_tap(braze_config(fake_braze), tmp_path)

    for segment_id in tracked(fake_braze):
        calls = sorted(
            ((n, end) for s, n, end in fake_braze.data_series_calls() if s == segment_id),
            key=lambda call: call[1],
        )
        # 250 days: windows of 99, 99 and 52 days, each asked with `length` one day longer.
        assert [n for n, _ in calls] == [100, 100, 53]
        ends = [date.fromisoformat(end[:10]) for _, end in calls]
        assert ends[-1] == utc_today()
        # Each window starts where the previous one ended: nothing missed, nothing twice.
        assert [b - a for a, b in itertools.pairwise(ends)] == [
            timedelta(days=n - 1) for n, _ in calls[1:]
        ]
        # Braze served every day (and the margin day before start_date, which the tap drops).
        served = {d.isoformat() for d in fake_braze.days_served(segment_id)}
        start = utc_today() - timedelta(days=FIRST_RUN_DAYS)
        assert days_between(start, utc_today()) <= served


@pytest.mark.parametrize("ending_at_included", [False, True], ids=["day-left-out", "day-included"])
def test_every_day_exactly_once_whichever_way_braze_reads_ending_at(
    ending_at_included: bool, tmp_path: Path
) -> None:
    with FakeBraze(today=utc_today(), ending_at_included=ending_at_included) as fake:
        config = braze_config(fake, braze_lookback_days=5)
        first = run_tap(config, tmp_path)
        truth_before = {
            (r["segment_id"], r["time"]): fake.size_for(
                r["segment_id"], date.fromisoformat(r["time"])
            )
            for r in first.records(STREAM)
        }
        fake.restate(tracked(fake)[0], utc_today() - timedelta(days=4), 777)
        second = run_tap(config, tmp_path, state=first.final_state)

    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    yesterday = utc_today() - timedelta(days=1)
    for run, first_day in (
        (first, utc_today() - timedelta(days=FIRST_RUN_DAYS)),
        (second, yesterday - timedelta(days=5)),
    ):
        for segment_id in tracked(fake):
            days = [r["time"] for r in run.records(STREAM) if r["segment_id"] == segment_id]
            assert sorted(days) == sorted(days_between(first_day, utc_today()))
    assert all(r["size"] == truth_before[r["segment_id"], r["time"]] for r in first.records(STREAM))
    restated = [r for r in second.records(STREAM) if r["size"] == 777]
    assert len(restated) == 1


def test_untracked_segments_are_asked_and_a_refusal_is_one_warning(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    run = run_tap(braze_config(fake_braze), tmp_path)

    assert run.returncode == 0, run.stderr
    untracked = [s for s in fake_braze.segments if not s.analytics_tracking_enabled]
    assert len(untracked) == 1
    called = {s for s, _, _ in fake_braze.data_series_calls()}
    assert called == {s.id for s in fake_braze.segments}, "every segment's series is asked"
    # The fake refuses an untracked segment's series (400) by default: skipped, said once.
    refusals = [line for line in run.stderr.splitlines() if "Braze refused" in line]
    assert len(refusals) == 1
    assert "WARNING" in refusals[0]
    assert "size series of 1 segment," in refusals[0]
    assert "400: Analytics tracking is not enabled for this segment (1)" in refusals[0]
    assert run.summary()["braze_segment_sizes"]["skipped"] == 1
    assert untracked[0].id not in segment_bookmarks(run.final_state)
    # Its details are still synced.
    assert {r["segment_id"] for r in run.records("braze_segment_details")} == {
        s.id for s in fake_braze.segments
    }


def test_second_run_requests_only_the_lookback_days(fake_braze: FakeBraze, tmp_path: Path) -> None:
    config = braze_config(fake_braze, braze_lookback_days=3)
    first = run_tap(config, tmp_path)
    fake_braze.clear_log()

    second = run_tap(config, tmp_path, state=first.final_state)

    assert second.returncode == 0, second.stderr
    calls = fake_braze.data_series_calls()
    # One request a segment; the one Braze refused is asked from start_date again.
    refused = {s.id for s in fake_braze.segments} - set(tracked(fake_braze))
    assert sorted(s for s, _, _ in calls if s not in refused) == sorted(tracked(fake_braze))
    assert {(n, end[:10]) for s, n, end in calls if s not in refused} == {
        (5, utc_today().isoformat())
    }
    assert [n for _, n in sorted((end, n) for s, n, end in calls if s in refused)] == [100, 100, 53]
    yesterday = utc_today() - timedelta(days=1)
    assert {r["time"] for r in second.records(STREAM)} == days_between(
        yesterday - timedelta(days=3), utc_today()
    )


def test_restated_sizes_arrive_on_the_next_run(fake_braze: FakeBraze, tmp_path: Path) -> None:
    config = braze_config(fake_braze)
    first = run_tap(config, tmp_path)
    segment_id = tracked(fake_braze)[0]
    restated_day = utc_today() - timedelta(days=2)
    fake_braze.restate(segment_id, restated_day, 4242)

    second = run_tap(config, tmp_path, state=first.final_state)

    restated = [
        r
        for r in second.records(STREAM)
        if r["segment_id"] == segment_id and r["time"] == restated_day.isoformat()
    ]
    assert [r["size"] for r in restated] == [4242]


def test_each_segment_keeps_its_own_bookmark(fake_braze: FakeBraze, tmp_path: Path) -> None:
    run = run_tap(braze_config(fake_braze), tmp_path)

    bookmarks = segment_bookmarks(run.final_state)
    yesterday = (utc_today() - timedelta(days=1)).isoformat()
    assert {bookmarks[s] for s in tracked(fake_braze)} == {yesterday}


def test_interrupted_run_resumes_from_its_last_state_without_losing_a_day(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    config = braze_config(fake_braze, request_max_tries=2, braze_concurrency=1)
    # The server starts failing after 5 data_series answers: mid-way through segment 2.
    fake_braze.inject(503, times=None, path="/segments/data_series", after=5)

    interrupted = run_tap(config, tmp_path)
    assert interrupted.returncode != 0
    assert interrupted.records(STREAM), "the first segments were emitted before the failure"

    fake_braze.clear_faults()
    fake_braze.clear_log()
    resumed = run_tap(config, tmp_path, state=interrupted.final_state)
    assert resumed.returncode == 0, resumed.stderr

    expected = days_between(utc_today() - timedelta(days=FIRST_RUN_DAYS), utc_today())
    for segment_id in tracked(fake_braze):
        days = {
            r["time"]
            for run in (interrupted, resumed)
            for r in run.records(STREAM)
            if r["segment_id"] == segment_id
        }
        assert days == expected, f"days lost for segment {segment_id}"
    # Segments finished before the failure are not fetched from the start again.
    first_segment = tracked(fake_braze)[0]
    assert [n for s, n, _ in fake_braze.data_series_calls() if s == first_segment] == [5]
