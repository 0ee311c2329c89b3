"""`--test`: one line per configured source saying it could be read, or exactly why not."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from segment_analytics_sandbox.environment import APP_IDS, Sandbox, start_sandbox
from tests.tap_runner import TapRun, run_tap

BRAZE_STREAMS = "braze_segments, braze_segment_details, braze_segment_sizes"
FORBIDDEN = {
    "errors": [
        {
            "id": "3f0a6f3c-0000-4000-8000-000000000403",
            "status": "403",
            "code": "FORBIDDEN_ERROR",
            "title": "This request is forbidden for security reasons",
            "detail": "The API key in use does not allow this request",
        }
    ]
}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    sandbox = start_sandbox(appstore_days=2)
    yield sandbox
    sandbox.stop()


def connection_test(sandbox: Sandbox, tmp_path: Path, **overrides: object) -> TapRun:
    config = sandbox.tap_config(request_backoff_seconds=0.01, **overrides)
    return run_tap(config, tmp_path, args=("--test",))


def lines(run: TapRun) -> list[tuple[str, str]]:
    """(level, message) of each log line on stderr (Python's own warnings left out: on Python
    3.10 the SDK warns that it reached its end of life)."""
    fields = (line.split(" | ", 3)[1:] for line in run.stderr.splitlines())
    return [(level.strip(), message) for level, _, message in (f for f in fields if f)]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_each_source_is_read_once_and_said_so_in_one_line(sandbox: Sandbox, tmp_path: Path) -> None:
    run = connection_test(sandbox, tmp_path)

    assert run.returncode == 0, run.stderr
    assert run.stdout == "", "a connection test writes no Singer messages"
    assert lines(run) == [
        (
            "INFO",
            f"Braze ({sandbox.braze.base_url}): authenticated and read {BRAZE_STREAMS} "
            "(3 requests)",
        ),
        (
            "INFO",
            f"App Store Connect ({sandbox.appstore.base_url}): authenticated and read "
            "appstore_report_requests, appstore_reports, appstore_report_instances, "
            "appstore_report_segments, appstore_app_downloads_standard, appstore_report_dates "
            "(8 requests)",
        ),
    ]
    # One record a stream, for each app: the chain down to one report file each.
    assert [r.path for r in sandbox.braze.requests] == [
        "/segments/list",
        "/segments/details",
        "/segments/data_series",
    ]
    apps = {r.path.split("/")[3] for r in sandbox.appstore.requests_to("/v1/apps/")}
    assert apps == set(APP_IDS)
    assert len(sandbox.s3.downloads) == len(APP_IDS)


def test_a_rejected_braze_key_fails_the_test_and_the_other_source_is_still_tested(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    run = connection_test(sandbox, tmp_path, braze_api_key="wrong-key-0123456789")

    assert run.returncode == 1
    retried, *rest = lines(run)
    assert retried[0] == "WARNING"
    assert "Braze refused the key (401)" in retried[1], "a key refused once is tried again"
    assert rest[0] == (
        "ERROR",
        f"Braze ({sandbox.braze.base_url}): cannot be read: Braze rejected braze_api_key "
        "(401 on /segments/list): check the key and that braze_rest_endpoint is the key's "
        "instance",
    )
    assert rest[1][0] == "INFO"
    assert len(rest) == 2


def test_a_forbidden_app_store_key_fails_the_test(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.appstore.inject(403, times=None, path="/v1/apps/", body=FORBIDDEN)

    run = connection_test(sandbox, tmp_path)

    assert run.returncode == 1
    assert [level for level, _ in lines(run)] == ["INFO", "ERROR"]
    error = lines(run)[1][1]
    assert error.startswith(f"App Store Connect ({sandbox.appstore.base_url}): cannot be read: ")
    assert "answered 403 on /v1/apps/1234567890/analyticsReportRequests" in error
    assert "the API key's role lacks access to analytics reports" in error


def test_an_unreachable_host_fails_the_test(sandbox: Sandbox, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"

    run = connection_test(sandbox, tmp_path, braze_rest_endpoint=url, request_max_tries=1)

    assert run.returncode == 1
    level, message = lines(run)[0]
    assert level == "ERROR"
    assert message.startswith(
        f"Braze ({url}): cannot be read: could not reach Braze at {url} on /segments/list: "
        "ConnectionError: "
    )
    assert message.endswith("Connection refused, still after 1 tries")
    assert len(run.error_lines()) == 1
