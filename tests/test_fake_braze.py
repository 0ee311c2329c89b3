"""The fake Braze segments API behaves as the tap's tests and the sandbox assume."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from segment_analytics_sandbox.braze import (
    ALL_PERMISSIONS,
    BrazeSegment,
    FakeBraze,
    sample_segments,
)

API_KEY = "test-rest-key"
TODAY = date(2024, 6, 15)
TRACKED = BrazeSegment(
    id="11111111-2222-3333-4444-555555555555",
    name="VIP Customers",
    created_at=datetime(2024, 6, 1, 15, 30, tzinfo=timezone.utc),
)
UNTRACKED = BrazeSegment(
    id="99999999-8888-7777-6666-555555555555",
    name="Cart Abandoners",
    created_at=datetime(2023, 1, 1, tzinfo=timezone.utc),
    analytics_tracking_enabled=False,
)


@pytest.fixture
def braze() -> Iterator[FakeBraze]:
    fake = FakeBraze(api_key=API_KEY, segments=[TRACKED, UNTRACKED], today=TODAY).start()
    yield fake
    fake.stop()


def get(fake: FakeBraze, path: str, key: str = API_KEY, **params: Any) -> requests.Response:
    return requests.get(
        fake.base_url + path,
        params=params,
        headers={"Authorization": f"Bearer {key}"},
        timeout=5,
    )


def series(fake: FakeBraze, **params: Any) -> list[dict[str, Any]]:
    response = get(fake, "/segments/data_series", segment_id=TRACKED.id, **params)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def test_wrong_key_is_401_echoing_the_key_sent(braze: FakeBraze) -> None:
    response = get(braze, "/segments/list", key="leaked-secret")

    assert response.status_code == 401
    assert response.json() == {"message": "Invalid API key: leaked-secret"}


def test_key_without_the_endpoint_permission_is_403(braze: FakeBraze) -> None:
    braze.permissions = ALL_PERMISSIONS - {"segments.data_series"}

    assert get(braze, "/segments/list").status_code == 200
    response = get(braze, "/segments/data_series", segment_id=TRACKED.id, length=7)
    assert response.status_code == 403
    assert response.json()["errors"] == ["missing permission segments.data_series"]


def test_list_pages_hold_100_segments_oldest_first_until_an_empty_page() -> None:
    segments = sample_segments(250, today=TODAY)
    with FakeBraze(api_key=API_KEY, segments=segments, today=TODAY) as fake:
        pages = [get(fake, "/segments/list", page=n).json()["segments"] for n in range(4)]
        assert get(fake, "/segments/list", page="-1").status_code == 400

    assert [len(page) for page in pages] == [100, 100, 50, 0]
    listed_ids = [s["id"] for page in pages for s in page]
    assert listed_ids == [s.id for s in sorted(segments, key=lambda s: s.created_at)]
    assert set(pages[0][0]) == {"id", "name", "analytics_tracking_enabled", "tags"}


@pytest.mark.parametrize(
    ("ending_at", "newest"),
    [
        ("2024-06-10T00:00:00Z", date(2024, 6, 9)),  # midnight: that date left out
        ("2024-06-10", date(2024, 6, 9)),
        ("2024-06-10T00:00:01Z", date(2024, 6, 10)),  # any later time: that date included
        ("2024-06-10T23:59:59+00:00", date(2024, 6, 10)),
        ("2024-06-09T23:30:00-05:00", date(2024, 6, 10)),  # 04:30 UTC on the 10th
        ("2024-06-10T05:00:00+05:00", date(2024, 6, 9)),  # midnight UTC
    ],
)
def test_series_ends_before_a_utc_midnight_and_on_any_other_time(
    braze: FakeBraze, ending_at: str, newest: date
) -> None:
    days = [d["time"] for d in series(braze, length=3, ending_at=ending_at)]

    assert days == [(newest - timedelta(days=i)).isoformat() for i in range(3)]


def test_series_is_newest_first_between_creation_and_yesterday(braze: FakeBraze) -> None:
    days = [d["time"] for d in series(braze, length=100, ending_at="2024-07-01T00:00:00Z")]

    assert days[0] == "2024-06-14"  # no future days, and today only when asked for up to now
    assert days[-1] == "2024-06-01"  # nothing before the segment was created
    assert days == sorted(days, reverse=True)
    assert [d["time"] for d in series(braze, length=1)] == ["2024-06-15"]  # default: now, today


@pytest.mark.parametrize("length", ["0", "101", "seven", None])
def test_length_must_be_an_integer_from_1_to_100(braze: FakeBraze, length: str | None) -> None:
    response = get(braze, "/segments/data_series", segment_id=TRACKED.id, length=length)

    assert response.status_code == 400
    assert response.json()["message"] == "'length' must be an integer between 1 and 100"
    assert braze.data_series_calls()[-1] == (TRACKED.id, 0 if length != "101" else 101, "")


def test_every_response_carries_rate_limit_headers_and_429_tells_when_to_retry(
    braze: FakeBraze,
) -> None:
    first, second = get(braze, "/segments/list"), get(braze, "/segments/nope")
    before = time.time()
    braze.rate_limit(reset_in=30, path="/segments/list")
    after = time.time()
    limited = get(braze, "/segments/list")

    for response in (first, second, limited):
        assert response.headers["X-RateLimit-Limit"] == "250000"
        assert int(response.headers["X-RateLimit-Reset"]) > time.time()
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in (first, second)]
    assert remaining[1] < remaining[0] < 250_000
    assert limited.status_code == 429
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    # 30 s after the fault was set (an epoch second, rounded up), however long that took.
    assert before + 30 <= int(limited.headers["X-RateLimit-Reset"]) <= math.ceil(after + 30)
    assert "Retry-After" not in limited.headers
    assert get(braze, "/segments/list").status_code == 200


def test_restate_changes_the_answer_for_that_day_only(braze: FakeBraze) -> None:
    before = series(braze, length=3, ending_at="2024-06-10T12:00:00Z")
    braze.restate(TRACKED.id, date(2024, 6, 9), 4242)
    after = series(braze, length=3, ending_at="2024-06-10T12:00:00Z")

    assert after[1] == {"time": "2024-06-09", "size": 4242}
    assert (after[0], after[2]) == (before[0], before[2])
    assert braze.days_served(TRACKED.id) == [date(2024, 6, 8), date(2024, 6, 9), date(2024, 6, 10)]


def test_untracked_segment_is_400_and_unknown_one_404(braze: FakeBraze) -> None:
    untracked = get(braze, "/segments/data_series", segment_id=UNTRACKED.id, length=7)
    unknown = get(braze, "/segments/data_series", segment_id="no-such-id", length=7)
    details = get(braze, "/segments/details", segment_id=UNTRACKED.id)

    assert untracked.status_code == 400
    assert untracked.json()["message"] == "Analytics tracking is not enabled for this segment"
    assert unknown.status_code == 404
    assert details.status_code == 200
    assert details.json()["created_at"] == "2023-01-01T00:00:00Z"


def test_the_switches_for_answers_brazes_docs_allow(braze: FakeBraze) -> None:
    window: dict[str, Any] = {"length": 3, "ending_at": "2024-06-10T12:00:00Z"}  # 06-08..06-10
    braze.untracked_series_served = True
    braze.details_without_name.add(TRACKED.id)
    braze.series_error_answers[TRACKED.id] = date(2024, 6, 8)

    served = get(braze, "/segments/data_series", segment_id=UNTRACKED.id, **window)
    failed = get(braze, "/segments/data_series", segment_id=TRACKED.id, **window)
    later = get(braze, "/segments/data_series", segment_id=TRACKED.id, length=1)
    details = get(braze, "/segments/details", segment_id=TRACKED.id)
    braze.series_refused.add(UNTRACKED.id)
    refused = get(braze, "/segments/data_series", segment_id=UNTRACKED.id, **window)

    assert served.status_code == 200
    assert [p["time"] for p in served.json()["data"]] == ["2024-06-10", "2024-06-09", "2024-06-08"]
    assert failed.status_code == 200
    assert failed.json()["message"] == "Segment data series is temporarily unavailable"
    assert failed.json()["errors"]
    assert failed.json()["data"] == []
    assert later.json()["message"] == "success", "only the windows asking for that day fail"
    assert details.status_code == 200
    assert "name" not in details.json()
    assert details.json()["message"] == "success"
    assert refused.status_code == 400
    assert refused.json()["message"] == "Data series is not available for this segment"
    assert braze.days_served(TRACKED.id) == [TODAY], "no day of a failed answer"


def test_every_parameter_brazes_docs_list_is_accepted(braze: FakeBraze) -> None:
    listed = get(braze, "/segments/list", page=0, sort_direction="desc")
    details = get(braze, "/segments/details", segment_id=TRACKED.id)
    sizes = get(
        braze, "/segments/data_series", segment_id=TRACKED.id, length=2, ending_at="2024-06-10"
    )

    assert [s["id"] for s in listed.json()["segments"]] == [TRACKED.id, UNTRACKED.id]
    assert details.status_code == sizes.status_code == 200
