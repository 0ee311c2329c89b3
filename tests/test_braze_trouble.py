"""Braze under trouble: rate limits, server errors, bad keys, bad config, bad bodies."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import braze_config, segment_bookmarks, utc_today
from tests.fakes import FakeBraze
from tests.tap_runner import run_tap

SIZES = "braze_segment_sizes"


def statuses(fake: FakeBraze, path: str) -> list[int]:
    return [r.status for r in fake.requests_to(path)]


def test_429_waits_until_rate_limit_reset_then_retries(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    fake_braze.rate_limit(times=2, reset_in=1, path="/segments/data_series")

    run = run_tap(braze_config(fake_braze), tmp_path)

    assert run.returncode == 0, run.stderr
    assert statuses(fake_braze, "/segments/data_series")[:3] == [429, 429, 200]
    assert len(run.records(SIZES)) == 250 * 5
    assert "Braze answered 429 on /segments/data_series for segment" in run.stderr


def test_429_honours_retry_after(fake_braze: FakeBraze, tmp_path: Path) -> None:
    # Reset far away, Retry-After short: the tap must use Retry-After or this test times out.
    fake_braze.rate_limit(times=1, reset_in=3000, retry_after=1, path="/segments/list")

    run = run_tap(braze_config(fake_braze), tmp_path, timeout=60)

    assert run.returncode == 0, run.stderr
    assert statuses(fake_braze, "/segments/list")[:2] == [429, 200]


def test_5xx_and_connection_trouble_are_retried(fake_braze: FakeBraze, tmp_path: Path) -> None:
    fake_braze.inject(503, times=2, path="/segments/details")
    fake_braze.inject(500, times=1, path="/segments/data_series", after=3)

    run = run_tap(braze_config(fake_braze), tmp_path)

    assert run.returncode == 0, run.stderr
    assert statuses(fake_braze, "/segments/details")[:3] == [503, 503, 200]
    assert len(run.records(SIZES)) == 250 * 5


def test_persistent_5xx_fails_after_bounded_tries(fake_braze: FakeBraze, tmp_path: Path) -> None:
    fake_braze.inject(502, times=None, path="/segments/list")

    run = run_tap(braze_config(fake_braze, request_max_tries=3), tmp_path)

    assert run.returncode == 1
    assert statuses(fake_braze, "/segments/list") == [502, 502, 502]
    assert "Braze answered 502 on /segments/list, still after 3 tries" in run.error_lines()[-1]


def test_connection_trouble_that_persists_names_the_endpoint(tmp_path: Path) -> None:
    with FakeBraze(today=utc_today()) as fake:
        config = braze_config(fake, request_max_tries=2)
    # The fake is stopped: nothing listens on its port any more.

    run = run_tap(config, tmp_path)

    assert run.returncode == 1
    line = run.error_lines()[-1]
    assert f"could not reach Braze at {config['braze_rest_endpoint']} on /segments/list" in line
    assert "ConnectionError" in line
    assert "still after 2 tries" in line


def test_bad_api_key_is_one_clear_line_without_the_key(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    config = braze_config(fake_braze, braze_api_key="wrong-key-0123456789")

    run = run_tap(config, tmp_path)  # run_tap asserts the key is printed nowhere

    assert run.returncode == 1
    assert statuses(fake_braze, "/segments/list") == [401, 401], "a 401 is retried once, not more"
    # The SDK says which stream failed; the tap's own line says why, last.
    assert "braze_api_key" in run.error_lines()[-1]
    assert sum("401" in line for line in run.error_lines()) == 1
    assert "Traceback" not in run.stderr


def test_missing_permission_names_it(fake_braze: FakeBraze, tmp_path: Path) -> None:
    fake_braze.permissions = frozenset({"segments.list", "segments.details"})

    run = run_tap(braze_config(fake_braze), tmp_path)

    assert run.returncode == 1
    assert "'segments.data_series' permission" in run.error_lines()[-1]


def test_a_key_refused_once_mid_sync_is_retried(fake_braze: FakeBraze, tmp_path: Path) -> None:
    fake_braze.inject(401, body={"message": "Invalid API key"}, path="/segments/details", after=2)

    run = run_tap(braze_config(fake_braze), tmp_path)

    assert run.returncode == 0, run.stderr
    assert statuses(fake_braze, "/segments/details").count(401) == 1
    assert len(run.records("braze_segment_details")) == len(fake_braze.segments)


@pytest.mark.parametrize(
    "body", [b"<html>maintenance</html>", b"", b'{"message":"success","data":[{"ti'], ids=str
)
def test_a_malformed_200_is_retried(fake_braze: FakeBraze, tmp_path: Path, body: bytes) -> None:
    fake_braze.inject(200, body=body, path="/segments/data_series", times=2)

    run = run_tap(braze_config(fake_braze), tmp_path)

    assert run.returncode == 0, run.stderr
    assert len(run.records(SIZES)) == 250 * 5


def test_malformed_json_that_persists_names_endpoint_and_segment(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    segment_id = fake_braze.segments[0].id
    fake_braze.inject(
        200, body=b"<html>maintenance</html>", path="/segments/data_series", times=None
    )

    run = run_tap(braze_config(fake_braze, request_max_tries=3, braze_concurrency=1), tmp_path)

    assert run.returncode == 1
    line = run.error_lines()[-1]
    assert "Braze sent malformed JSON (HTTP 200) on /segments/data_series" in line
    assert segment_id in line
    assert "still after 3 tries" in line
    assert statuses(fake_braze, "/segments/data_series") == [200, 200, 200]


def test_a_series_of_the_wrong_shape_skips_that_segment_for_the_run(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    fake_braze.inject(
        200, body={"message": "success", "data": "soon"}, path="/segments/data_series"
    )

    run = run_tap(braze_config(fake_braze, braze_concurrency=1), tmp_path)

    assert run.returncode == 0, run.stderr
    first = fake_braze.segments[0]
    assert first.id not in {r["segment_id"] for r in run.records(SIZES)}
    assert first.id not in segment_bookmarks(run.final_state)
    [line] = [line for line in run.stderr.splitlines() if "Braze refused" in line]
    assert "WARNING" in line
    assert "'data' as a JSON str, not a list (1)" in line
    assert run.summary()[SIZES]["skipped"] == 2, "it and the untracked segment"


def test_segment_ids_limit_the_sync_and_unknown_ids_warn(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    wanted = fake_braze.segments[1].id
    config = braze_config(fake_braze, braze_segment_ids=[wanted, "no-such-segment"])

    run = run_tap(config, tmp_path)

    assert run.returncode == 0, run.stderr
    assert [r["id"] for r in run.records("braze_segments")] == [wanted]
    assert {r["segment_id"] for r in run.records(SIZES)} == {wanted}
    assert any("no-such-segment" in line and "WARNING" in line for line in run.stderr.splitlines())


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"braze_rest_endpoint": None}, "braze_rest_endpoint is required"),
        ({"braze_api_key": None}, "braze_api_key is required"),
        ({"braze_rest_endpoint": "zz-99"}, "braze_rest_endpoint: unknown Braze instance"),
        ({"braze_rest_endpoint": "ftp://x"}, "braze_rest_endpoint"),
        ({"start_date": None}, "start_date"),
        ({"braze_lookback_days": -1}, "braze_lookback_days"),
    ],
)
def test_bad_config_is_a_clear_error_naming_the_setting(
    fake_braze: FakeBraze, tmp_path: Path, overrides: dict, named: str
) -> None:
    config = {k: v for k, v in {**braze_config(fake_braze), **overrides}.items() if v is not None}

    run = run_tap(config, tmp_path, secrets=(fake_braze.api_key,))

    assert run.returncode != 0
    assert named in run.stderr
    assert "Traceback" not in run.stderr
    assert fake_braze.requests == [], "nothing is asked of Braze with a bad config"


def test_no_source_configured_is_an_error(tmp_path: Path) -> None:
    run = run_tap({"start_date": "2026-01-01"}, tmp_path)

    assert run.returncode != 0
    assert "no source configured" in run.stderr
