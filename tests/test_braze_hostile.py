"""Braze answering badly on purpose: a list that never ends, items that are not segments,
duplicates, fractional sizes, segments deleted mid-run and answers that trickle in."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from segment_analytics_sandbox import faults
from segment_analytics_sandbox.braze import DATA_SERIES_PATH, DETAILS_PATH, LIST_PATH
from tap_segment_analytics.braze.plan.segment_list import MAX_LIST_PAGES, SegmentListPages
from tap_segment_analytics.braze.plan.windows import MAX_WINDOW_DAYS
from tap_segment_analytics.errors import SourceError
from tests.conftest import FIRST_RUN_DAYS, braze_config, segment_bookmarks
from tests.fakes import FakeBraze
from tests.tap_runner import TapRun, run_tap

SEGMENTS = "braze_segments"
DETAILS = "braze_segment_details"
SIZES = "braze_segment_sizes"


def no_traceback(run: TapRun) -> bool:
    return "Traceback" not in run.stderr


def warnings_about(run: TapRun, text: str) -> list[str]:
    return [line for line in run.stderr.splitlines() if "WARNING" in line and text in line]


def test_a_list_that_ignores_page_stops_at_the_first_repeated_page(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    fake_braze.list_ignores_page = True

    run = run_tap(braze_config(fake_braze), tmp_path, timeout=120)

    assert run.returncode == 1
    assert run.error_lines()[-1].endswith(
        "Braze answered page 1 of /segments/list with only segments it had already listed: "
        "it seems to ignore 'page'; stopped"
    )
    assert no_traceback(run)
    assert len(fake_braze.requests_to(LIST_PATH)) == 2
    assert len(run.records(SEGMENTS)) == 6, "page 0 is synced once, nothing twice"
    assert len(run.records(SIZES)) == 5 * FIRST_RUN_DAYS
    assert len(segment_bookmarks(run.final_state)) == 5, "the bookmarks of page 0's segments stand"


def test_an_item_that_is_not_a_segment_is_one_line(fake_braze: FakeBraze, tmp_path: Path) -> None:
    segment = fake_braze.segments[0]
    page = {"message": "success", "segments": [{"id": segment.id, "name": segment.name}, "oops"]}
    fake_braze.inject(200, path=LIST_PATH, body=page)

    run = run_tap(braze_config(fake_braze), tmp_path)

    assert run.returncode == 1
    assert run.error_lines()[-1].endswith(
        "Braze sent an item without a segment 'id' on /segments/list page 0: 'oops'"
    )
    assert no_traceback(run)
    assert run.records(SEGMENTS) == [], "a page is checked whole before any of it is emitted"


def test_a_segment_listed_twice_is_one_record_and_a_warning(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    twice = fake_braze.segments[1]
    fake_braze.segments.append(twice)

    run = run_tap(braze_config(fake_braze), tmp_path)

    assert run.returncode == 0, run.stderr
    ids = [record["id"] for record in run.records(SEGMENTS)]
    assert sorted(ids) == sorted({s.id for s in fake_braze.segments})
    assert [r["segment_id"] for r in run.records(DETAILS)].count(twice.id) == 1
    sizes = [(r["segment_id"], r["time"]) for r in run.records(SIZES)]
    assert len(sizes) == len(set(sizes)) == 5 * FIRST_RUN_DAYS
    assert len(warnings_about(run, f"Braze listed segment {twice.id} again on page 0")) == 1


@pytest.mark.parametrize("concurrency", [1, 16], ids=["one at a time", "read ahead"])
def test_a_segment_deleted_after_listing_is_skipped_with_one_warning(
    fake_braze: FakeBraze, tmp_path: Path, concurrency: int
) -> None:
    deleted = fake_braze.segments[2]
    fake_braze.deleted_after_listing[DETAILS_PATH].add(deleted.id)
    fake_braze.deleted_after_listing[DATA_SERIES_PATH].add(deleted.id)

    run = run_tap(braze_config(fake_braze, braze_concurrency=concurrency), tmp_path)

    assert run.returncode == 0, run.stderr
    assert len(warnings_about(run, f"segment {deleted.id} ({deleted.name}) was deleted")) == 1
    assert deleted.id not in {r["segment_id"] for r in run.records(DETAILS)}
    assert deleted.id not in {r["segment_id"] for r in run.records(SIZES)}
    assert len(run.records(DETAILS)) == 5
    assert len(run.records(SIZES)) == 4 * FIRST_RUN_DAYS, "the other segments are all synced"
    assert deleted.id not in segment_bookmarks(run.final_state)


def test_a_series_404_keeps_the_segments_bookmark(fake_braze: FakeBraze, tmp_path: Path) -> None:
    first = run_tap(braze_config(fake_braze), tmp_path)
    assert first.returncode == 0, first.stderr
    deleted = fake_braze.segments[0]
    fake_braze.deleted_after_listing[DATA_SERIES_PATH].add(deleted.id)

    run = run_tap(braze_config(fake_braze), tmp_path, state=first.final_state)

    assert run.returncode == 0, run.stderr
    assert len(warnings_about(run, f"segment {deleted.id} ({deleted.name}) was deleted")) == 1
    assert "404 on /segments/data_series for segment" in warnings_about(run, deleted.id)[0]
    assert deleted.id not in {r["segment_id"] for r in run.records(SIZES)}
    assert deleted.id in {r["segment_id"] for r in run.records(DETAILS)}
    assert segment_bookmarks(run.final_state) == segment_bookmarks(first.final_state)


def test_a_segment_deleted_between_two_windows_keeps_the_days_read_before(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    first = fake_braze.segments[0]
    gone = {"message": "Segment not found"}
    fake_braze.inject(404, times=1, path=DATA_SERIES_PATH, after=1, body=gone)

    run = run_tap(braze_config(fake_braze, braze_concurrency=1), tmp_path)

    assert run.returncode == 0, run.stderr
    assert len(warnings_about(run, f"segment {first.id} ({first.name}) was deleted")) == 1
    days = sorted(r["time"] for r in run.records(SIZES) if r["segment_id"] == first.id)
    assert len(days) == MAX_WINDOW_DAYS, "its first window, read before the 404, stands"
    assert segment_bookmarks(run.final_state)[first.id] == days[-1]
    assert len(run.records(SIZES)) == MAX_WINDOW_DAYS + 4 * FIRST_RUN_DAYS


def test_a_day_listed_twice_is_one_record_with_the_larger_size(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    fake_braze.repeat_days = True

    run = run_tap(braze_config(fake_braze), tmp_path)

    assert run.returncode == 0, run.stderr
    records = run.records(SIZES)
    assert len({(r["segment_id"], r["time"]) for r in records}) == len(records)
    assert len(records) == 5 * FIRST_RUN_DAYS
    for record in records[:: FIRST_RUN_DAYS // 5]:
        truth = fake_braze.size_for(record["segment_id"], _day(record["time"]))
        assert record["size"] == truth + 1
    assert len(warnings_about(run, "days listed more than once")) == 5, "one per segment"


def test_a_fractional_size_is_rounded_not_truncated(fake_braze: FakeBraze, tmp_path: Path) -> None:
    fake_braze.size_fraction = 0.6

    run = run_tap(braze_config(fake_braze), tmp_path)

    assert run.returncode == 0, run.stderr
    records = run.records(SIZES)
    assert len(records) == 5 * FIRST_RUN_DAYS
    for record in records[:: FIRST_RUN_DAYS // 5]:
        truth = fake_braze.size_for(record["segment_id"], _day(record["time"]))
        assert record["size"] == truth + 1
    assert len(warnings_about(run, f"{FIRST_RUN_DAYS} fractional sizes")) == 5


def test_an_answer_trickling_in_is_cut_at_the_request_timeout(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    segment = fake_braze.segments[0]
    page = {"message": "success", "segments": [{"id": segment.id, "name": segment.name}]}
    # About 100 bytes at a byte every 0.1 s: 10 s each, where the timeout is 1 s.
    fake_braze.inject(200, times=None, path=LIST_PATH, body=page, transport=faults.TRICKLE)

    run = run_tap(
        braze_config(fake_braze, request_timeout_seconds=1, request_max_tries=2), tmp_path
    )

    assert run.returncode == 1
    assert run.error_lines()[-1].endswith(
        "Braze sent an answer slower than request_timeout_seconds allows (1 s for the whole "
        "answer) on /segments/list, still after 2 tries"
    )
    assert no_traceback(run)
    assert len(fake_braze.requests_to(LIST_PATH)) == 2


def test_the_list_is_bounded_even_when_every_page_is_new() -> None:
    pages = SegmentListPages(LIST_PATH)
    for page in range(MAX_LIST_PAGES):
        assert len(pages.check([{"id": f"segment-{page}"}]).segments) == 1

    with pytest.raises(SourceError, match=r"more than 10,000 pages on /segments/list"):
        pages.check([{"id": "one-more"}])


def _day(text: str) -> date:
    return date.fromisoformat(text[:10])
