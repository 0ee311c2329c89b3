"""The fakes' seeded faults look, on the client's side, like the real trouble they stand for."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest
import requests

from segment_analytics_sandbox import faults
from segment_analytics_sandbox.faults import FaultPlan
from tests.conftest import utc_today
from tests.fakes import FakeBraze, FakeS3

KEY = "reports/1/APP_CRASHES/DAILY/ONGOING/20260101/i-1/0.csv.gz"
DATA = bytes(range(256)) * 40


@pytest.fixture
def s3() -> Iterator[FakeS3]:
    fake = FakeS3().start()
    fake.put(KEY, DATA)
    yield fake
    fake.stop()


@pytest.fixture
def braze() -> Iterator[FakeBraze]:
    fake = FakeBraze(today=utc_today()).start()
    yield fake
    fake.stop()


def always(kind: str) -> FaultPlan:
    return FaultPlan(seed=1, rate=1.0, kinds=(kind,), stall_seconds=2.0)


def braze_list(fake: FakeBraze, **kwargs: object) -> requests.Response:
    return requests.get(
        f"{fake.base_url}/segments/list",
        headers={"Authorization": f"Bearer {fake.api_key}"},
        timeout=kwargs.pop("timeout", 5),  # type: ignore[arg-type]
    )


def test_reset_is_a_connection_error(braze: FakeBraze) -> None:
    braze.fault_plan = always(faults.RESET)
    with pytest.raises(requests.ConnectionError):
        braze_list(braze)


def test_a_body_cut_midway_is_an_incomplete_read(s3: FakeS3) -> None:
    s3.fault_plan = always(faults.CUT)
    with (
        pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"),
        requests.get(s3.presign(KEY), stream=True, timeout=5) as response,
    ):
        b"".join(response.iter_content(1024))


def test_a_stall_is_a_read_timeout(braze: FakeBraze) -> None:
    braze.fault_plan = always(faults.STALL)
    with pytest.raises(requests.exceptions.ReadTimeout):
        braze_list(braze, timeout=0.3)


@pytest.mark.parametrize(
    ("kind", "status", "content_type"),
    [
        (faults.HTML_5XX, 503, "text/html"),
        (faults.HTML_200, 200, "text/html"),
        (faults.EMPTY_200, 200, "application/json"),
        (faults.TRUNCATED_JSON, 200, "application/json"),
    ],
)
def test_malformed_answers(braze: FakeBraze, kind: str, status: int, content_type: str) -> None:
    braze.fault_plan = always(kind)

    response = braze_list(braze)

    assert (response.status_code, response.headers["Content-Type"]) == (status, content_type)
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_429_without_retry_after_and_a_key_refused_only_once(braze: FakeBraze) -> None:
    braze.fault_plan = FaultPlan(seed=1, rate=1.0, kinds=(faults.TOO_MANY_REQUESTS,))
    limited = braze_list(braze)
    braze.fault_plan = always(faults.CREDENTIALS_REJECTED)
    refused, again = braze_list(braze), braze_list(braze)

    assert limited.status_code == 429
    assert "Retry-After" not in limited.headers
    assert "X-RateLimit-Reset" in limited.headers
    assert (refused.status_code, again.status_code) == (401, 200)


@pytest.mark.parametrize(
    ("kind", "size"),
    [
        (faults.FLIPPED_BYTES, len(DATA)),
        (faults.TRUNCATED_GZIP, len(DATA) // 2),
        (faults.EXTRA_BYTES, len(DATA) + 14),
    ],
)
def test_damaged_files_fail_their_checksum(s3: FakeS3, kind: str, size: int) -> None:
    s3.fault_plan = always(kind)

    body = requests.get(s3.presign(KEY), timeout=5).content

    assert len(body) == size
    assert hashlib.md5(body).hexdigest() != hashlib.md5(DATA).hexdigest()  # noqa: S324


def test_expired_url_and_busy_host(s3: FakeS3) -> None:
    s3.fault_plan = always(faults.EXPIRED_URL)
    expired = requests.get(s3.presign(KEY), timeout=5)
    s3.fault_plan = always(faults.HTML_5XX)
    busy = requests.get(s3.presign(KEY), timeout=5)

    assert expired.status_code == 403
    assert b"Request has expired" in expired.content
    assert busy.status_code == 503
    assert b"SlowDown" in busy.content


def test_the_same_seed_faults_the_same_requests_whatever_their_order() -> None:
    identities = [f"GET /x?{n}" for n in range(200)]
    kinds = tuple(k for k in faults.API_FAULTS if k not in faults.ONCE_PER_PLAN)
    first, second = (FaultPlan(seed=3, rate=0.2, kinds=kinds) for _ in range(2))

    forward = [first.choose(i) for i in identities]
    backward = [second.choose(i) for i in reversed(identities)][::-1]

    assert forward == backward
    assert 10 < sum(f is not None for f in forward) < 80
    assert first.injected == second.injected
