"""App Store Connect's hourly budget: paced when low, waited for within a bound when spent,
then one stop for every thread. Time is injected: nothing here really waits."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from tap_segment_analytics.appstore.api.rate_limit import (
    RateBudget,
    RateLimitStop,
    parse_rate_limit,
)
from tap_segment_analytics.prefetch import Closed, ReadAhead, pause


class FakeTime:
    """A monotonic clock that moves only when the budget sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def budget(wait_seconds: float, fake: FakeTime) -> RateBudget:
    return RateBudget(
        wait_seconds=wait_seconds,
        clock=fake.clock,
        sleep=fake.sleep,
        now=lambda: datetime(2026, 12, 4, 17, 5, tzinfo=timezone.utc),
    )


def test_the_header_is_parsed() -> None:
    assert parse_rate_limit("user-hour-lim:3500;user-hour-rem:3499;") == (3500, 3499)
    assert parse_rate_limit("garbage") is None


def test_a_comfortable_budget_never_waits() -> None:
    fake = FakeTime()
    rate = budget(300, fake)
    rate.observe("user-hour-lim:3600;user-hour-rem:3000;")
    assert [rate.before_request() for _ in range(5)] == [0.0] * 5
    assert fake.sleeps == []


def test_a_low_budget_is_spread_over_the_hour() -> None:
    fake = FakeTime()
    rate = budget(300, fake)
    rate.observe("user-hour-lim:3600;user-hour-rem:300;")  # 12 s a request lasts the hour
    waits = [rate.before_request() for _ in range(3)]
    assert waits == pytest.approx([0.0, 12.0, 12.0])
    rate.observe("user-hour-lim:3600;user-hour-rem:10;")  # 360 s, yet at most a minute
    # The next slot was given at the old pace; the one after it at the new.
    assert [rate.before_request() for _ in range(2)] == pytest.approx([12.0, 60.0])


def test_a_spent_budget_is_asked_again_each_minute_then_stops_naming_when_to_run() -> None:
    fake = FakeTime()
    rate = budget(150, fake)
    rate.observe("user-hour-lim:3500;user-hour-rem:0;")

    assert rate.before_request() == pytest.approx(60.0)
    assert rate.before_request() == pytest.approx(60.0)
    with pytest.raises(RateLimitStop) as stop:
        rate.before_request()

    line = str(stop.value)
    assert "hourly request budget for this key is spent" in line
    assert "user-hour-rem:0 of 3500" in line
    assert "after waiting 120 s" in line
    assert "appstore_rate_limit_wait_seconds 150" in line
    assert "a run after 2026-12-04 18:05 UTC finds the budget back" in line
    assert fake.sleeps == pytest.approx([60.0, 60.0]), "never more than the allowance"
    with pytest.raises(RateLimitStop):  # every later request, of any thread, stops too
        rate.before_request()


def test_no_allowance_stops_at_once() -> None:
    fake = FakeTime()
    rate = budget(0, fake)
    rate.observe("user-hour-lim:3500;user-hour-rem:0;")
    with pytest.raises(RateLimitStop, match="stopped without waiting"):
        rate.before_request()
    assert fake.sleeps == []


def test_overlapping_waits_of_threads_count_once() -> None:
    fake = FakeTime()
    rate = RateBudget(wait_seconds=30, clock=fake.clock, sleep=lambda s: None)
    rate.observe("user-hour-lim:3600;user-hour-rem:300;")
    # Three threads ask at the same moment: slots now, +12, +24 (24 s of waiting, not 36).
    assert [rate.before_request() for _ in range(3)] == pytest.approx([0.0, 12.0, 24.0])
    assert rate.waited == pytest.approx(24.0)


def test_closing_a_read_ahead_ends_a_call_waiting_to_retry() -> None:
    lane = ReadAhead(name="test", workers=1, keep=True)
    started = threading.Event()

    def retrying_call() -> None:
        started.set()
        pause(120)  # a backoff wait, as a retry or the budget makes it

    lane.schedule("key", retrying_call)
    assert started.wait(10)
    begun = time.monotonic()
    future = lane._futures["key"]
    lane.close()
    with pytest.raises(Closed):
        future.result(timeout=10)
    assert time.monotonic() - begun < 5, "the worker stopped waiting when its lane closed"
