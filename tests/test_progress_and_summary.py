"""Progress lines and the run summary, driven by a clock the test moves."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import pytest

from tap_segment_analytics.progress import (
    PROGRESS_SECONDS,
    Progress,
    ReportFilesProgress,
    SegmentSizesProgress,
)
from tap_segment_analytics.run_summary import RunSummary

LOGGER = logging.getLogger("tests.progress")
HEADER = ("stream", "records", "requests", "retries", "skipped", "files", "bytes", "time")
CONTEXT = {
    "app_id": "1234567890",
    "report_name": "App Crashes",
    "granularity": "DAILY",
    "processing_date": "2026-11-20",
    "instance_id": "instance-12",
    "segment_id": "segment-2",
}


class Clock:
    """A clock that moves `step` seconds each time it is read."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@dataclass(frozen=True)
class Window:
    days: int


def progress_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER.name]


def test_a_line_is_due_first_then_once_every_few_seconds() -> None:
    clock = Clock()
    progress = Progress(clock=clock)

    assert progress.due()
    clock.now += PROGRESS_SECONDS - 0.1
    assert not progress.due()
    assert progress.due(force=True)
    clock.now += PROGRESS_SECONDS
    assert progress.due()
    progress.muted = True
    assert not progress.due(force=True)


def test_braze_segments_count_toward_a_total_that_grows_page_by_page(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOGGER.name)
    braze = SegmentSizesProgress(Progress(every=0))
    first_page = [{"id": f"s{n}", "name": f"Segment {n}"} for n in range(1, 101)]
    second_page = [{"id": f"s{n}", "name": f"Segment {n}"} for n in range(101, 181)]

    assert braze.listed(first_page, None) is first_page
    braze.segment(LOGGER, first_page[36], [Window(100)] * 4)
    braze.listed(second_page, None)
    braze.segment(LOGGER, second_page[36], [Window(100), Window(20)])

    assert progress_lines(caplog) == [
        "braze_segment_sizes: segment 37/100+ (Segment 37): 400 days in 4 requests",
        "braze_segment_sizes: segment 137/180 (Segment 137): 120 days in 2 requests",
    ]


def test_braze_total_counts_only_the_configured_segments(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOGGER.name)
    braze = SegmentSizesProgress(Progress(clock=Clock()))
    page = [{"id": f"s{n}", "name": f"Segment {n}"} for n in range(100)]

    braze.listed(page, {"s3", "s40"})
    braze.segment(LOGGER, page[3], [Window(10)])
    braze.segment(LOGGER, page[40], [Window(10)])  # not due yet, but the last one

    assert progress_lines(caplog) == [
        "braze_segment_sizes: segment 1/2 (Segment 3): 10 days in 1 requests",
        "braze_segment_sizes: segment 2/2 (Segment 40): 10 days in 1 requests",
    ]


def test_a_million_row_file_shows_how_far_it_is(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOGGER.name)
    clock = Clock(step=1.0)  # one second between two looks at the clock
    files = ReportFilesProgress(Progress(clock=clock))
    instances = [{"id": f"instance-{n}"} for n in range(1, 36)]
    segments = [{"id": f"segment-{n}"} for n in range(1, 4)]

    assert files.instances(instances) is instances
    assert files.files(segments) is segments
    rows = list(files.rows(LOGGER, CONTEXT, iter(range(1_000_000))))

    assert len(rows) == 1_000_000
    lines = progress_lines(caplog)
    prefix = (
        "appstore: app 1234567890 report 'App Crashes' DAILY: "
        "instance 2026-11-20 (12/35), file 2/3, "
    )
    assert lines[0] == prefix + "1,000 rows"
    assert lines[1] == prefix + "6,000 rows"  # PROGRESS_SECONDS later
    assert lines[-1] == prefix + "1,000,000 rows"
    assert len(lines) == 1_000_000 // 1_000 // int(PROGRESS_SECONDS) + 1


def test_small_files_in_quick_succession_share_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, LOGGER.name)
    files = ReportFilesProgress(Progress(clock=Clock()))

    for _ in range(50):
        list(files.rows(LOGGER, CONTEXT, range(30)))

    assert progress_lines(caplog) == [
        "appstore: app 1234567890 report 'App Crashes' DAILY: instance 2026-11-20, 30 rows"
    ]


def test_a_sync_counts_its_own_time_not_its_childrens() -> None:
    clock = Clock()
    summary = RunSummary(clock=clock)

    summary.enter("braze_segments")
    clock.now += 1.0
    summary.enter("braze_segment_sizes")
    clock.now += 5.0
    summary.leave()
    clock.now += 0.5
    summary.leave()

    tallies = summary.tallies()
    assert tallies["braze_segments"].seconds == pytest.approx(1.5)
    assert tallies["braze_segment_sizes"].seconds == pytest.approx(5.0)


def test_counts_from_many_threads_all_arrive() -> None:
    summary = RunSummary()

    def count() -> None:
        for _ in range(10_000):
            summary.count("appstore_app_crashes", files=1, bytes=3)
            summary.record("appstore_app_crashes")

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    tally = summary.tallies()["appstore_app_crashes"]
    assert (tally.files, tally.bytes, tally.records) == (80_000, 240_000, 80_000)


def test_the_summary_is_a_table_with_a_total_and_nothing_when_nothing_ran() -> None:
    clock = Clock()
    summary = RunSummary(clock=clock)
    assert summary.log_lines("succeeded") == []

    summary.count("braze_segments", records=6, requests=2)
    summary.count("appstore_app_crashes", records=1200, requests=20, files=20, bytes=1_234_567)
    clock.now += 2.0

    lines = summary.log_lines("succeeded")
    assert lines[0] == "run summary: succeeded after 2.0 s"
    assert lines[1].split() == [*HEADER]
    assert [line.split()[0] for line in lines[2:]] == [
        "appstore_app_crashes",
        "braze_segments",
        "total",
    ]
    assert lines[-1].split() == ["total", "1,206", "22", "0", "0", "20", "1,234,567", "0.0", "s"]
    assert len({len(line) for line in lines[1:]}) == 1, "the columns line up"


def test_the_summary_shows_bad_values_and_rows_only_when_a_file_held_any() -> None:
    summary = RunSummary(clock=Clock())
    summary.count("appstore_app_crashes", records=10, files=2)
    assert "bad_values" not in summary.log_lines("succeeded")[1]

    summary.count("appstore_app_crashes", bad_values=3, bad_rows=1)
    summary.count("braze_segments", records=6)

    lines = summary.log_lines("succeeded")
    assert lines[1].split() == [*HEADER, "bad_values", "bad_rows"]
    assert lines[-1].split()[-2:] == ["3", "1"]
    assert lines[-2].split()[-2:] == ["0", "0"]
    assert len({len(line) for line in lines[1:]}) == 1, "the columns line up"
