"""Concurrent reads: the same records, STATE and order as one request at a time, and rate limits
and 429 bursts respected under concurrency."""

from __future__ import annotations

import contextlib
import io
import threading
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import time_machine

from segment_analytics_sandbox.braze import sample_segments
from segment_analytics_sandbox.http import Request, Response
from tap_segment_analytics.tap import TapSegmentAnalytics
from tests.conftest import FIRST_RUN_DAYS, AppStore, braze_config, utc_today
from tests.fakes import FakeAPI, FakeBraze
from tests.tap_runner import TapRun, run_tap
from tests.warehouse import Warehouse, braze_differences

# Runs compared message for message write STATE where the SDK asks, not on the wall clock.
EVERY_STATE = {"state_interval_seconds": 0}
# How long a fake waits for requests that come at once when the tap is right: a bound on a
# hang, never a measure of speed.
PATIENCE_SECONDS = 30


class Together:
    """The first `count` requests whose path holds `path` are answered only once all of them
    are in the fake at once (each waits for the others): `count` calls in flight, on any
    machine. `complete` says whether they came (or the wait ran out of patience)."""

    def __init__(self, fake: FakeAPI, path: str, count: int) -> None:
        self._answer = fake.handle
        self._path = path
        self._barrier = threading.Barrier(count, timeout=PATIENCE_SECONDS)
        self._lock = threading.Lock()
        self._waiting = count
        self.complete = False
        fake.handle = self.handle  # type: ignore[method-assign]

    def handle(self, request: Request) -> Response:
        if self._path in request.path:
            with self._lock:
                wait = self._waiting > 0
                self._waiting -= 1
            if wait:
                with contextlib.suppress(threading.BrokenBarrierError):
                    self._barrier.wait()
                    self.complete = True
        return self._answer(request)


class OutOfOrder:
    """The first request under `path` is answered only after a later one is: answers arrive
    out of order, on any machine. `happened` says whether they did."""

    def __init__(self, fake: FakeAPI, path: str) -> None:
        self._answer = fake.handle
        self._path = path
        self._first_taken = False
        self._lock = threading.Lock()
        self._later_answered = threading.Event()
        self.happened = False
        fake.handle = self.handle  # type: ignore[method-assign]

    def handle(self, request: Request) -> Response:
        if not request.path.startswith(self._path):
            return self._answer(request)
        with self._lock:
            first, self._first_taken = not self._first_taken, True
        if first:
            self.happened = self._later_answered.wait(PATIENCE_SECONDS)
            return self._answer(request)
        response = self._answer(request)
        self._later_answered.set()
        return response


def messages(run: TapRun) -> list[dict[str, Any]]:
    """The Singer messages, without the moment each record was extracted."""
    assert run.returncode == 0, run.stderr[-3000:]
    return [{k: v for k, v in m.items() if k != "time_extracted"} for m in run.messages]


def test_braze_read_ahead_emits_exactly_what_one_request_at_a_time_does(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    sequential = run_tap(braze_config(fake_braze, braze_concurrency=1, **EVERY_STATE), tmp_path)
    reordered = OutOfOrder(fake_braze, "/segments/data_series")
    concurrent = run_tap(braze_config(fake_braze, braze_concurrency=16, **EVERY_STATE), tmp_path)

    assert reordered.happened, "a later answer came first"
    assert messages(concurrent) == messages(sequential)
    assert len(sequential.records("braze_segment_sizes")) == 5 * FIRST_RUN_DAYS


def test_app_store_read_ahead_emits_exactly_what_one_request_at_a_time_does(
    appstore: AppStore, tmp_path: Path
) -> None:
    sequential = run_tap(appstore.config(appstore_concurrency=1, **EVERY_STATE), tmp_path)
    reordered = OutOfOrder(appstore.s3, "/")
    concurrent = run_tap(appstore.config(appstore_concurrency=8, **EVERY_STATE), tmp_path)

    assert reordered.happened, "a later download came first"
    assert messages(concurrent) == messages(sequential)
    assert sequential.records("appstore_app_crashes")


def test_concurrent_requests_reuse_their_connections(tmp_path: Path) -> None:
    # requests keeps 10 connections per host and session: at braze_concurrency 24, the other
    # 14 were closed after their answer (a new handshake for a later call), one WARNING each.
    today = utc_today()
    with FakeBraze(today=today, segments=sample_segments(120, today=today)) as fake:
        together = Together(fake, "/segments/data_series", count=24)
        run = run_tap(braze_config(fake, braze_concurrency=24), tmp_path)

    assert run.returncode == 0, run.stderr[-3000:]
    assert together.complete, "24 calls were in flight at once"
    sizes = len(fake.requests_to("/segments/data_series"))
    assert sizes >= 100
    assert "Connection pool is full" not in run.stderr


def test_a_run_across_midnight_asks_for_each_segment_once(fake_braze: FakeBraze) -> None:
    # The read-ahead plans segments' windows before the sync reaches them; midnight passing in
    # between must not make the sync plan (and fetch) other windows.
    day = utc_today()
    before_midnight = datetime.combine(day, time(23, 59, 59), tzinfo=timezone.utc)
    with time_machine.travel(before_midnight, tick=True) as traveller:
        answer = fake_braze.handle

        def midnight_passes(request: Request) -> Response:
            if request.path == "/segments/data_series":
                traveller.move_to(before_midnight + timedelta(seconds=2))
            return answer(request)

        fake_braze.handle = midnight_passes  # type: ignore[method-assign]
        tap = TapSegmentAnalytics(config=braze_config(fake_braze, braze_concurrency=2))
        with contextlib.redirect_stdout(io.StringIO()):
            tap.sync_all()

    windows: dict[str, list[tuple[str, str]]] = {}
    for request in fake_braze.requests_to("/segments/data_series"):
        query = request.query
        windows.setdefault(query["segment_id"], []).append((query["ending_at"], query["length"]))
    assert len(windows) == len(fake_braze.segments), "every segment, tracked or not"
    # Every segment: the same windows, each asked once, the last ending where the run began.
    first, *others = (sorted(asked) for asked in windows.values())
    assert all(asked == first for asked in others)
    assert len(set(first)) == len(first)
    assert first[-1][0] == f"{day.isoformat()}T00:00:00Z"


def test_a_failure_under_read_ahead_stops_where_a_sequential_run_stops(
    appstore: AppStore, tmp_path: Path
) -> None:
    first = run_tap(appstore.config(appstore_concurrency=1), tmp_path)
    broken = first.records("appstore_report_instances")[7]["id"]
    appstore.api.inject(503, times=None, path=f"/v1/analyticsReportInstances/{broken}/")
    config = {"request_max_tries": 2, **EVERY_STATE}

    sequential = run_tap(appstore.config(appstore_concurrency=1, **config), tmp_path)
    concurrent = run_tap(appstore.config(appstore_concurrency=8, **config), tmp_path)

    assert sequential.returncode == concurrent.returncode == 1
    assert sequential.log_messages()[-1] == concurrent.log_messages()[-1]
    assert broken in concurrent.log_messages()[-1]
    without_time = [
        [{k: v for k, v in m.items() if k != "time_extracted"} for m in run.messages]
        for run in (sequential, concurrent)
    ]
    assert without_time[0] == without_time[1], "the same records and STATE before the failure"


def test_a_429_burst_under_concurrency_is_survived(fake_braze: FakeBraze, tmp_path: Path) -> None:
    # Every one of the 16 requests in flight is refused, without Retry-After.
    fake_braze.rate_limit(times=16, reset_in=1, path="/segments/data_series")

    run = run_tap(braze_config(fake_braze, braze_concurrency=16), tmp_path)

    assert run.returncode == 0, run.stderr[-3000:]
    assert sum(r.status == 429 for r in fake_braze.requests) == 16
    warehouse = Warehouse()
    warehouse.load(run.messages)
    start = utc_today() - timedelta(days=FIRST_RUN_DAYS)
    assert not braze_differences(warehouse, fake_braze, start)


def test_braze_quota_headers_make_concurrent_requests_wait_for_the_reset(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    fake_braze.rate_limit_per_window = 12  # the run needs 23 requests: two windows at least
    fake_braze.rate_window_seconds = 1

    run = run_tap(braze_config(fake_braze, braze_concurrency=8), tmp_path)

    assert run.returncode == 0, run.stderr[-3000:]
    assert "Braze rate limit nearly spent: waiting" in run.stderr
    refused = sum(r.status == 429 for r in fake_braze.requests)
    assert refused <= len(fake_braze.requests) // 4, "the tap waits before the quota runs out"
    warehouse = Warehouse()
    warehouse.load(run.messages)
    start = utc_today() - timedelta(days=FIRST_RUN_DAYS)
    assert not braze_differences(warehouse, fake_braze, start)


def test_app_store_bursts_refused_with_429_are_survived(appstore: AppStore, tmp_path: Path) -> None:
    appstore.api.max_parallel = 1
    # The read-ahead lists every report's instances at once, on its lane of API threads.
    together = Together(appstore.api, "/instances", count=2)

    run = run_tap(appstore.config(appstore_concurrency=8), tmp_path)

    assert run.returncode == 0, run.stderr[-3000:]
    assert together.complete, "two calls were in flight at once"
    assert appstore.api.burst_refusals > 0, "the fake refused bursts of parallel calls"
    assert run.records("appstore_app_crashes")
