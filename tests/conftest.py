"""Shared fixtures: local fake APIs over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import pytest

from tests.fakes import FakeBraze


# Days from start_date to yesterday on a first run: three windows of 100, 100 and 50 days.
FIRST_RUN_DAYS = 250


def utc_today() -> date:
    """Today in UTC, as the tap sees it."""
    return datetime.now(timezone.utc).date()


@pytest.fixture
def fake_braze() -> Iterator[FakeBraze]:
    """A fake Braze whose 'today' is the real UTC today (the tap reads the real clock)."""
    fake = FakeBraze(today=utc_today()).start()
    yield fake
    fake.stop()


def braze_config(fake: FakeBraze, **overrides: object) -> dict[str, object]:
    """Config pointing the tap at a fake Braze, with fast retries."""
    return {
        "start_date": (utc_today() - timedelta(days=FIRST_RUN_DAYS)).isoformat(),
        "braze_api_key": fake.api_key,
        "braze_rest_endpoint": fake.base_url,
        "request_backoff_seconds": 0.01,
        **overrides,
    }
