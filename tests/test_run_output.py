"""What a run prints on stderr: a few lines whatever the data's size, progress, and a summary
whose figures are what the fake servers served."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from segment_analytics_sandbox.environment import Sandbox, start_sandbox
from tap_segment_analytics.progress import PROGRESS_SECONDS
from tests.conftest import braze_config, utc_today
from tests.fakes import FakeBraze
from tests.promised_streams import ROWS_STREAMS
from tests.tap_runner import TapRun, config_arguments, run_tap

# Per-partition and per-request lines of the SDK and the backoff library, kept at DEBUG.
SDK_DETAIL = (
    "METRIC: ",
    "Added '",
    "Beginning sync of",
    "Starting incremental sync",
    "Skipping parse of env var settings",
    "Pagination stopped",
    "Backing off",
    "Giving up",
)
PROGRESS_TRACKERS = 2  # Braze segment sizes, App Store report files
# Paths of the fake App Store Connect API per stream (the rows streams share the last).
APPSTORE_PATHS = {
    "appstore_report_requests": "/v1/apps/",
    "appstore_reports": "/v1/analyticsReportRequests/",
    "appstore_report_instances": "/v1/analyticsReports/",
    "appstore_report_segments": "/v1/analyticsReportInstances/",
}
BRAZE_PATHS = {
    "braze_segments": "/segments/list",
    "braze_segment_details": "/segments/details",
    "braze_segment_sizes": "/segments/data_series",
}


@pytest.fixture
def sandboxes() -> Iterator[list[Sandbox]]:
    """Sandboxes a test starts (`sandboxes.append(start_sandbox(...))`); all stopped after it."""
    started: list[Sandbox] = []
    yield started
    for sandbox in started:
        sandbox.stop()


def timed_run(sandbox: Sandbox, tmp_path: Path, **overrides: object) -> tuple[TapRun, float]:
    started = time.monotonic()
    run = run_tap(sandbox.tap_config(request_backoff_seconds=0.01, **overrides), tmp_path)
    assert run.returncode == 0, run.stderr
    return run, time.monotonic() - started


def test_stderr_stays_a_few_lines_as_records_grow_fivefold(
    sandboxes: list[Sandbox], tmp_path: Path
) -> None:
    today = utc_today()
    sandboxes.append(start_sandbox(appstore_days=3))
    sandboxes.append(start_sandbox(appstore_days=15))
    small, _ = timed_run(
        sandboxes[0], tmp_path, start_date=(today - timedelta(days=60)).isoformat()
    )
    large, seconds = timed_run(
        sandboxes[1], tmp_path, start_date=(today - timedelta(days=300)).isoformat()
    )

    small_records = sum(small.record_counts().values())
    assert sum(large.record_counts().values()) >= 4 * small_records
    small_lines, large_lines = len(small.log_lines()), len(large.log_lines())
    # 30 before Braze's refusal of the untracked segment's series became one WARNING a run.
    assert small_lines <= 31
    # Only progress lines may be added, at most one per tracker every PROGRESS_SECONDS.
    assert large_lines <= small_lines + PROGRESS_TRACKERS * math.ceil(seconds / PROGRESS_SECONDS)
    for run in (small, large):
        assert not [m for m in run.log_messages() if m.startswith(SDK_DETAIL)]
        assert run.error_lines() == []


def test_summary_figures_are_what_the_fakes_served(
    sandboxes: list[Sandbox], tmp_path: Path
) -> None:
    sandbox = start_sandbox(appstore_days=4)
    sandboxes.append(sandbox)
    sandbox.braze.inject(503, times=2, path="/segments/details")
    sandbox.appstore.rate_limit(times=1, path="/v1/analyticsReports/")

    run, _ = timed_run(sandbox, tmp_path)

    summary = run.summary()
    for stream, path in BRAZE_PATHS.items():
        assert summary[stream]["requests"] == len(sandbox.braze.requests_to(path)), stream
    for stream, path in APPSTORE_PATHS.items():
        assert summary[stream]["requests"] == len(sandbox.appstore.requests_to(path)), stream
    rows_requests = sum(summary[s]["requests"] for s in ROWS_STREAMS if s in summary)
    assert rows_requests == len(sandbox.appstore.requests_to("/v1/analyticsReportSegments/"))
    served = len(sandbox.braze.requests) + len(sandbox.appstore.requests)
    assert summary["total"]["requests"] == served

    assert summary["braze_segment_details"]["retries"] == 2
    assert summary["appstore_report_instances"]["retries"] == 1
    assert summary["total"]["retries"] == 3

    segments = run.records("appstore_report_segments")
    assert summary["total"]["files"] == len(sandbox.s3.downloads) == len(segments)
    assert summary["total"]["bytes"] == sum(s["size_in_bytes"] for s in segments)
    for stream, count in run.record_counts().items():
        assert summary[stream]["records"] == count, stream
    assert summary["total"]["records"] == sum(run.record_counts().values())
    assert summary["total"]["seconds"] > 0


def test_a_failed_run_ends_with_its_summary_and_one_line_saying_why(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    fake_braze.inject(500, times=None, path="/segments/data_series", after=3)

    # One request at a time: the failure comes after the first segment's three windows.
    run = run_tap(braze_config(fake_braze, request_max_tries=2, braze_concurrency=1), tmp_path)

    assert run.returncode == 1
    messages = run.log_messages()
    assert messages[-1].startswith("Braze answered 500 on /segments/data_series for segment ")
    assert messages[-1].endswith(", still after 2 tries")
    assert any(m.startswith("run summary: failed after") for m in messages)
    summary = run.summary()
    assert summary["braze_segment_sizes"]["records"] > 0, "what was emitted is in the summary"
    assert summary["braze_segment_sizes"]["retries"] >= 1
    # The SDK names the stream that failed, once; the tap's line says why.
    assert len(run.error_lines()) == 2
    assert "while syncing 'braze_segment_sizes'" in run.error_lines()[0]


def test_a_target_that_stops_reading_is_one_error_line_and_exit_1(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    # `tap ... | head -1`: about 1,000 records, far more than a pipe holds, so the tap is still
    # writing when its reader goes.
    command = config_arguments(braze_config(fake_braze), tmp_path)
    tap = subprocess.Popen(
        [sys.executable, "-m", "tap_segment_analytics.tap", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert tap.stdout is not None
    first = json.loads(tap.stdout.readline())
    tap.stdout.close()
    _, stderr = tap.communicate(timeout=120)
    log = stderr.decode()

    assert first["type"] == "SCHEMA"
    assert tap.returncode == 1
    errors = [line for line in log.splitlines() if "ERROR" in line]
    assert len(errors) == 1, log
    assert "the target stopped reading the tap's output (broken pipe)" in errors[0]
    assert "Traceback" not in log
    assert "Exception ignored" not in log
    assert "run summary: failed after" in log


def test_progress_names_each_segment_it_starts(fake_braze: FakeBraze, tmp_path: Path) -> None:
    run = run_tap(braze_config(fake_braze), tmp_path)

    first = fake_braze.segments[0]
    assert f"braze_segment_sizes: segment 1/6 ({first.name}): 250 days in 3 requests" in (
        run.log_messages()
    )


def test_sdk_detail_comes_back_at_debug(fake_braze: FakeBraze, tmp_path: Path) -> None:
    env = {**os.environ, "TAP_SEGMENT_ANALYTICS_LOGLEVEL": "debug"}

    run = run_tap(braze_config(fake_braze), tmp_path, env=env)

    assert run.returncode == 0, run.stderr
    for detail in (
        "Skipping parse of env var settings",
        "Added 'braze_segment_details' as child stream to 'braze_segments'",
        "Beginning sync of 'braze_segment_sizes' in incremental mode",
        "Starting incremental sync of 'braze_segment_sizes'",
    ):
        lines = [line for line in run.stderr.splitlines() if detail in line]
        assert lines, detail
        assert all("| DEBUG " in line for line in lines), detail
    assert not [m for m in run.log_messages() if m.startswith("METRIC: ")], "metrics_log_level"


@pytest.mark.parametrize(("level", "shown"), [("INFO", True), ("WARNING", False)])
def test_metric_lines_follow_metrics_log_level(
    fake_braze: FakeBraze, tmp_path: Path, level: str, shown: bool
) -> None:
    run = run_tap(braze_config(fake_braze, metrics_log_level=level), tmp_path)

    metrics = [m for m in run.log_messages() if m.startswith("METRIC: ")]
    assert bool(metrics) == shown
    assert not shown or any('"metric":"record_count"' in m for m in metrics)
