"""Braze answers read by what they say (issue 24): an error answer is never an empty series, a
refused segment is skipped for the run with one line and asked again on the next, every
segment's series is asked whatever its tracking, and what Braze may leave out stops nothing.

Each case runs the tap twice over real HTTP: the second run, the fake answering well again,
fetches exactly the days the first did not receive, and the bookmark day itself (re-read by
design: `braze_lookback_days: 0` here, so nothing else is read twice).
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pytest

from segment_analytics_sandbox.braze import DATA_SERIES_PATH, DETAILS_PATH, LIST_PATH
from tap_segment_analytics.braze.plan.windows import MAX_WINDOW_DAYS
from tests.conftest import FIRST_RUN_DAYS, braze_config, segment_bookmarks, utc_today
from tests.fakes import FakeBraze
from tests.tap_runner import TapRun, run_tap

DETAILS = "braze_segment_details"
SIZES = "braze_segment_sizes"
UNTRACKED_REFUSED = "400: Analytics tracking is not enabled for this segment (1)"


def days_from(first: date, end: date | None = None) -> set[str]:
    """ISO days from `first` up to (not including) `end`, today by default."""
    end = end or utc_today()
    return {(first + timedelta(days=n)).isoformat() for n in range((end - first).days)}


def days_of(run: TapRun, segment_id: str) -> list[str]:
    return sorted(r["time"] for r in run.records(SIZES) if r["segment_id"] == segment_id)


def refusal_lines(run: TapRun) -> list[str]:
    return [line for line in run.stderr.splitlines() if "Braze refused" in line]


def asked_days(fake: FakeBraze, segment_id: str) -> int:
    """Days of the windows asked for a segment (each `length` is its window plus one day)."""
    return sum(n - 1 for s, n, _ in fake.data_series_calls() if s == segment_id)


@pytest.mark.parametrize("concurrency", [1, 16], ids=["one at a time", "read ahead"])
def test_a_200_error_answer_is_no_empty_series_and_the_bookmark_waits_for_its_days(
    fake_braze: FakeBraze, tmp_path: Path, concurrency: int
) -> None:
    config = braze_config(fake_braze, braze_lookback_days=0, braze_concurrency=concurrency)
    segment = fake_braze.segments[0]
    start = utc_today() - timedelta(days=FIRST_RUN_DAYS)
    # Braze answers the segment's second window (of three) with a 200 and an `errors` array.
    fake_braze.series_error_answers[segment.id] = start + timedelta(days=MAX_WINDOW_DAYS + 50)

    first = run_tap(config, tmp_path)

    assert first.returncode == 0, first.stderr
    received = days_of(first, segment.id)
    assert received == sorted(days_from(start, start + timedelta(days=MAX_WINDOW_DAYS)))
    assert segment_bookmarks(first.final_state)[segment.id] == received[-1]
    [line] = refusal_lines(first)
    assert "| WARNING" in line
    assert line.endswith(
        "braze_segment_sizes: Braze refused the size series of 2 segments, skipped for this run "
        "and asked again on the next (each keeps the days received before): 200 with message "
        f"'Segment data series is temporarily unavailable' (1); {UNTRACKED_REFUSED}"
    )
    assert first.summary()[SIZES]["skipped"] == 2

    fake_braze.series_error_answers.clear()
    fake_braze.clear_log()
    second = run_tap(config, tmp_path, state=first.final_state)

    assert second.returncode == 0, second.stderr
    again = days_of(second, segment.id)
    assert set(again) == days_from(date.fromisoformat(received[-1]))
    assert set(received) & set(again) == {received[-1]}, "only the bookmark day twice"
    assert set(received) | set(again) == days_from(start), "nothing lost"
    assert asked_days(fake_braze, segment.id) == len(again)
    assert segment_bookmarks(second.final_state)[segment.id] == again[-1]


def test_a_segment_whose_series_braze_refuses_is_skipped_and_read_whole_next_run(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    config = braze_config(fake_braze, braze_lookback_days=0)
    refused = fake_braze.segments[1]
    fake_braze.series_refused.add(refused.id)

    first = run_tap(config, tmp_path)

    assert first.returncode == 0, first.stderr
    assert days_of(first, refused.id) == []
    assert refused.id not in segment_bookmarks(first.final_state)
    [line] = refusal_lines(first)
    assert "| WARNING" in line
    assert "size series of 2 segments" in line
    assert line.endswith(
        f"{UNTRACKED_REFUSED}; 400: Data series is not available for this segment (1)"
    )
    assert first.summary()[SIZES]["skipped"] == 2
    others = [s.id for s in fake_braze.segments if fake_braze.serves_series(s)]
    assert {r["segment_id"] for r in first.records(SIZES)} == set(others)
    assert refused.id in {r["segment_id"] for r in first.records(DETAILS)}

    fake_braze.series_refused.clear()
    fake_braze.clear_log()
    second = run_tap(config, tmp_path, state=first.final_state)

    assert second.returncode == 0, second.stderr
    start = utc_today() - timedelta(days=FIRST_RUN_DAYS)
    assert set(days_of(second, refused.id)) == days_from(start)
    calls = sorted((end, n) for s, n, end in fake_braze.data_series_calls() if s == refused.id)
    assert [n for _, n in calls] == [100, 100, 53]
    yesterday = (utc_today() - timedelta(days=1)).isoformat()
    for segment_id in others:
        assert days_of(second, segment_id) == [yesterday], "the others: their bookmark day"
    assert segment_bookmarks(second.final_state)[refused.id] == yesterday


def test_an_untracked_segment_whose_series_braze_serves_lands(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    config = braze_config(fake_braze, braze_lookback_days=0)
    fake_braze.untracked_series_served = True
    [untracked] = [s for s in fake_braze.segments if not s.analytics_tracking_enabled]
    created = untracked.created_at.date()
    assert created > utc_today() - timedelta(days=FIRST_RUN_DAYS - MAX_WINDOW_DAYS)

    first = run_tap(config, tmp_path)

    assert first.returncode == 0, first.stderr
    # Braze has no days before the segment existed: its first window is an empty success.
    assert set(days_of(first, untracked.id)) == days_from(created)
    assert all(
        r["size"] == fake_braze.size_for(untracked.id, date.fromisoformat(r["time"]))
        for r in first.records(SIZES)
        if r["segment_id"] == untracked.id
    )
    yesterday = (utc_today() - timedelta(days=1)).isoformat()
    assert segment_bookmarks(first.final_state)[untracked.id] == yesterday
    assert refusal_lines(first) == []
    assert first.summary()[SIZES]["skipped"] == 0

    fake_braze.clear_log()
    second = run_tap(config, tmp_path, state=first.final_state)

    assert second.returncode == 0, second.stderr
    assert days_of(second, untracked.id) == [yesterday], "its empty days are not asked again"
    assert asked_days(fake_braze, untracked.id) == 1


def test_details_without_a_name_land_with_the_lists_name(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    nameless = fake_braze.segments[2]
    fake_braze.details_without_name.add(nameless.id)

    run = run_tap(braze_config(fake_braze), tmp_path)

    assert run.returncode == 0, run.stderr
    [details] = [r for r in run.records(DETAILS) if r["segment_id"] == nameless.id]
    assert details["name"] == nameless.name
    assert details["description"] == nameless.description, "the rest of the answer lands"
    assert len(days_of(run, nameless.id)) == FIRST_RUN_DAYS
    assert "Traceback" not in run.stderr


def test_answers_with_only_what_braze_marks_required_stop_nothing(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    segments = fake_braze.segments
    # List entries with an id alone, details with `message` alone, and a series whose first
    # answer holds a point without a size, one without a day and one sized day.
    listed = [{"id": s.id} for s in segments]
    fake_braze.inject(200, path=LIST_PATH, body={"message": "success", "segments": listed})
    fake_braze.inject(200, times=None, path=DETAILS_PATH, body={"message": "success"})
    start = utc_today() - timedelta(days=FIRST_RUN_DAYS)
    sized = start + timedelta(days=5)
    points = [
        {"time": start.isoformat(), "size": None},
        {"size": 12},
        {"time": sized.isoformat(), "size": 34},
    ]
    fake_braze.inject(200, path=DATA_SERIES_PATH, body={"message": "success", "data": points})
    config = braze_config(fake_braze, braze_concurrency=1, braze_lookback_days=0)

    first = run_tap(config, tmp_path)

    assert first.returncode == 0, first.stderr
    assert [r["id"] for r in first.records("braze_segments")] == [s.id for s in segments]
    assert all(r["name"] is None for r in first.records(DETAILS))
    assert len(first.records(DETAILS)) == len(segments)
    days = days_of(first, segments[0].id)
    # Its first window answered one day: the others (sized or not) are not landed, and said.
    assert days == sorted({sized.isoformat()} | days_from(start + timedelta(MAX_WINDOW_DAYS)))
    warned = [line for line in first.stderr.splitlines() if "| WARNING" in line]
    assert any(
        "Braze sent 2 data point(s) without a day or a size it could read (e.g. {'time': "
        f"'{start.isoformat()}', 'size': None}}), left out"
        in line
        and segments[0].id in line
        for line in warned
    )
    assert any(
        f"no size for {MAX_WINDOW_DAYS - 6} days between days it sized" in line for line in warned
    )
    assert "Traceback" not in first.stderr


def test_refused_details_skip_that_segments_details_and_each_refusal_is_a_debug_line(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    refused = fake_braze.segments[0]
    fake_braze.inject(400, path=DETAILS_PATH, body={"message": "Invalid segment"})
    config = braze_config(fake_braze, braze_concurrency=1)
    env = {**os.environ, "TAP_SEGMENT_ANALYTICS_LOGLEVEL": "debug"}

    run = run_tap(config, tmp_path, env=env)

    assert run.returncode == 0, run.stderr
    assert refused.id not in {r["segment_id"] for r in run.records(DETAILS)}
    assert len(run.records(DETAILS)) == len(fake_braze.segments) - 1
    assert len(days_of(run, refused.id)) == FIRST_RUN_DAYS, "its sizes land"
    [line] = [line for line in refusal_lines(run) if "the details of" in line]
    assert line.endswith(
        "braze_segment_details: Braze refused the details of 1 segment, skipped for this run "
        "and asked again on the next: 400: Invalid segment (1)"
    )
    assert run.summary()[DETAILS]["skipped"] == 1
    debug = [line for line in run.stderr.splitlines() if "| DEBUG" in line and "skipped" in line]
    assert any(
        f"braze_segment_details: segment {refused.id} ({refused.name}) skipped for this run, "
        f"its details refused: Braze answered 400 on /segments/details for segment {refused.id}"
        in line
        for line in debug
    )
    [untracked] = [s for s in fake_braze.segments if not s.analytics_tracking_enabled]
    assert any(
        f"braze_segment_sizes: segment {untracked.id} ({untracked.name}) skipped for this run, "
        "its days from" in line
        for line in debug
    )


def test_an_error_answer_for_the_list_stops_the_source_with_one_line(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    body = {"message": "Internal error", "errors": ["listing failed"], "segments": []}
    fake_braze.inject(200, path=LIST_PATH, body=body)

    run = run_tap(braze_config(fake_braze), tmp_path)

    assert run.returncode == 1
    assert run.error_lines()[-1].endswith(
        "Braze answered 200 with message 'Internal error' and errors 'listing failed' on "
        "/segments/list"
    )
    assert "Traceback" not in run.stderr
    assert run.records("braze_segments") == []


def test_a_success_without_data_is_no_sizes_for_its_days_and_said(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    fake_braze.inject(200, path=DATA_SERIES_PATH, body={"message": "success"})

    run = run_tap(braze_config(fake_braze, braze_concurrency=1), tmp_path)

    assert run.returncode == 0, run.stderr
    first = fake_braze.segments[0]
    start = utc_today() - timedelta(days=FIRST_RUN_DAYS)
    assert set(days_of(run, first.id)) == days_from(start + timedelta(days=MAX_WINDOW_DAYS))
    assert any(
        "| WARNING" in line
        and f"Braze sent 1 answer(s) without 'data', read as no size for their days for segment "
        f"{first.id}"
        in line
        for line in run.stderr.splitlines()
    )
