"""App Store Connect answering badly on purpose: `links.next` that loops, never ends or leads
to another host, and download URLs that point where no report file is."""

from __future__ import annotations

from pathlib import Path

import pytest
from typing_extensions import override

from segment_analytics_sandbox import faults
from segment_analytics_sandbox.http import FakeAPI, Request, Response, json_response
from tap_segment_analytics.appstore.api.url_policy import RefusedURL, check_download_url
from tests.conftest import AppStore
from tests.tap_runner import TapRun, run_tap

CRASHES = {"appstore_report_names": ["App Crashes"]}
REPORTS = "/v1/analyticsReportRequests/"
APPLE_API = "https://api.appstoreconnect.apple.com"


class Bystander(FakeAPI):
    """Another host on the machine, which must never hear from the tap."""

    @override
    def handle(self, request: Request) -> Response:
        return json_response(200, {"data": []})


def reports_listed(store: AppStore) -> int:
    return len([r for r in store.api.requests_to(REPORTS) if r.path.endswith("/reports")])


def no_traceback(run: TapRun) -> bool:
    return "Traceback" not in run.stderr


def test_links_next_back_to_a_page_already_read_is_one_line(
    appstore: AppStore, tmp_path: Path
) -> None:
    appstore.api.page_size = 5
    appstore.api.next_loops_after = 2  # A → B → A → B ...

    run = run_tap(appstore.config(**CRASHES), tmp_path, timeout=120)

    assert run.returncode == 1
    line = run.error_lines()[-1]
    assert "App Store Connect's links.next on /v1/analyticsReportRequests/" in line
    assert line.endswith("leads back to a page already read: the listing loops; stopped")
    assert no_traceback(run)
    assert reports_listed(appstore) == 3, "A, B, A again: its next is B, read already"


def test_a_listing_that_never_ends_stops_at_the_page_bound(
    appstore: AppStore, tmp_path: Path
) -> None:
    appstore.api.page_size = 5
    appstore.api.endless_pages = True

    run = run_tap(appstore.config(**CRASHES), tmp_path, timeout=300)

    assert run.returncode == 1
    assert run.error_lines()[-1].endswith(
        "App Store Connect listed more than 1,000 pages on "
        "/v1/apps/1234567890/analyticsReportRequests: stopped, the listing does not seem to end"
    )
    assert no_traceback(run)
    assert len(appstore.api.requests_to("/v1/apps/")) == 1_000


def test_the_token_never_follows_links_next_to_another_host(
    appstore: AppStore, tmp_path: Path
) -> None:
    with Bystander() as bystander:
        appstore.api.page_size = 5
        appstore.api.next_link_base = bystander.base_url

        run = run_tap(appstore.config(**CRASHES), tmp_path)
        port = bystander.port

    assert run.returncode == 1
    assert (
        f"leads to http://127.0.0.1:{port}, not to appstore_api_url's host: not "
        "followed (the token goes to that host only)"
    ) in run.error_lines()[-1]
    assert no_traceback(run)
    assert bystander.requests == []


def test_an_api_answer_trickling_in_is_cut_at_the_request_timeout(
    appstore: AppStore, tmp_path: Path
) -> None:
    page = {"data": [], "links": {"self": appstore.api.base_url}}  # ~60 bytes, 6 s
    appstore.api.inject(200, times=None, path="/v1/apps/", body=page, transport=faults.TRICKLE)

    run = run_tap(appstore.config(request_timeout_seconds=1, request_max_tries=2), tmp_path)

    assert run.returncode == 1
    line = run.error_lines()[-1]
    assert (
        "App Store Connect sent an answer slower than request_timeout_seconds allows (1 s for "
        "the whole answer) on /v1/apps/"
    ) in line
    assert line.endswith("/analyticsReportRequests, still after 2 tries")
    assert no_traceback(run)
    assert len(appstore.api.requests_to("/v1/apps/")) == 2


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "a file:// URL, not https"),
        ("ftp://files.example/report.gz", "a ftp:// URL, not https"),
        ("//no-scheme/report.gz", "no scheme, not https"),
    ],
)
def test_a_download_url_that_is_not_a_web_url_is_refused_naming_the_endpoint(
    appstore: AppStore, tmp_path: Path, url: str, reason: str
) -> None:
    appstore.api.download_url = url

    run = run_tap(appstore.config(**CRASHES), tmp_path)

    assert run.returncode == 1
    line = run.error_lines()[-1]
    assert "App Store Connect handed out a download URL the tap refuses on " in line
    assert "/v1/analyticsReportInstances/" in line
    assert line.endswith(f": {reason}")
    assert "could not reach" not in run.stderr
    assert no_traceback(run)
    assert appstore.s3.requests == []
    assert run.records("appstore_app_crashes") == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://s3.example/r.gz?X-Amz-Signature=abc", "a http:// URL, not https"),
        ("https://127.0.0.1:8080/admin", "https://127.0.0.1:8080 is a loopback"),
        ("https://localhost/r.gz", "https://localhost:443 is a loopback"),
        ("https://10.1.2.3/r.gz", "https://10.1.2.3:443 is a loopback, private"),
        ("https://169.254.169.254/latest/meta-data", "https://169.254.169.254:443 is a"),
        ("https://[::1]:9000/r.gz", "https://::1:9000 is a loopback"),
        ("https://s3:notaport/r.gz", "malformed host or port"),
        ("https:///r.gz", "without a host"),
    ],
)
def test_a_public_api_gets_files_only_over_https_from_public_hosts(url: str, reason: str) -> None:
    with pytest.raises(RefusedURL, match=reason.replace("[", r"\[").replace(".", r"\.")) as info:
        check_download_url(url, APPLE_API)
    assert "Signature" not in str(info.value)


def test_the_sandbox_serves_files_from_local_hosts_over_http() -> None:
    check_download_url("https://17.253.144.10/r.gz?X-Amz-Signature=abc", APPLE_API)
    check_download_url("http://127.0.0.1:9000/r.gz", "http://127.0.0.1:8000")
    with pytest.raises(RefusedURL, match="a file:// URL"):
        check_download_url("file:///etc/passwd", "http://127.0.0.1:8000")
