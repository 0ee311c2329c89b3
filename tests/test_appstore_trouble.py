"""App Store Connect under trouble: auth, expiring URLs, corrupt files, 429/5xx, bad config."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from segment_analytics_sandbox.appstore import generate_key_pair
from tests.conftest import APP_ID, AppStore, StartAppStore, utc_today
from tests.tap_runner import run_tap

CRASHES = {"appstore_report_names": ["App Crashes"]}
EXPIRED = (
    b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
    b"<Message>Request has expired</Message></Error>"
)


def expire_downloads(store: AppStore, times: int) -> None:
    """S3 answers the next downloads as it does once a presigned URL's 5 minutes are over."""
    store.s3.inject(403, times=times, body=EXPIRED, headers={"Content-Type": "application/xml"})


def no_jwt_printed(*texts: str) -> bool:
    return all("eyJ" not in text for text in texts)


def test_downloads_use_the_listing_url_and_refresh_an_expired_one(
    appstore: AppStore, tmp_path: Path
) -> None:
    expire_downloads(appstore, 2)

    run = run_tap(appstore.config(**CRASHES), tmp_path)

    assert run.returncode == 0, run.stderr
    assert [r.status for r in appstore.s3.requests][:3] == [403, 403, 200]
    segment_reads = appstore.api.requests_to("/v1/analyticsReportSegments/")
    assert len(segment_reads) == 2, "a fresh URL only after each refusal"
    assert "the download URL was refused (403), retry 1 of 5" in run.stderr


def test_a_url_refused_on_every_try_is_a_clear_error(appstore: AppStore, tmp_path: Path) -> None:
    expire_downloads(appstore, 100)

    run = run_tap(appstore.config(**CRASHES, request_max_tries=3), tmp_path)

    assert run.returncode == 1
    line = run.error_lines()[-1]
    assert "download of report 'App Crashes' of app 1234567890, instance" in line
    assert "refused (403), still after 3 tries" in line
    tries = Counter(r.path for r in appstore.s3.requests)
    # The file that failed the run had its 3 tries; the run's end stops the files read ahead
    # (their lanes close), so they are tried at most 3 times, never more.
    assert max(tries.values()) == 3
    assert set(tries.values()) <= {1, 2, 3}, "each file read ahead is tried 3 times at most"


@pytest.mark.parametrize("mode", ["bytes", "truncate", "size"])
def test_a_bad_download_is_retried(appstore: AppStore, tmp_path: Path, mode: str) -> None:
    first = run_tap(appstore.config(**CRASHES), tmp_path)
    segment = first.records("appstore_report_segments")[0]
    key = appstore.api.segment(segment["id"]).key
    appstore.s3.corrupt(key, mode, times=1)

    run = run_tap(appstore.config(**CRASHES), tmp_path)

    assert run.returncode == 0, run.stderr
    assert (
        run.record_counts()["appstore_app_crashes"] == first.record_counts()["appstore_app_crashes"]
    )
    assert "retry 1 of 5" in run.stderr


def test_a_file_that_stays_corrupt_fails_naming_report_instance_and_segment(
    appstore: AppStore, tmp_path: Path
) -> None:
    first = run_tap(appstore.config(**CRASHES), tmp_path)
    segment = first.records("appstore_report_segments")[0]
    appstore.s3.corrupt(appstore.api.segment(segment["id"]).key, "bytes", times=10)

    run = run_tap(appstore.config(**CRASHES), tmp_path)

    assert run.returncode == 1
    line = run.error_lines()[-1]
    assert "'App Crashes'" in line
    assert segment["instance_id"] in line
    assert segment["id"] in line
    assert "MD5" in line
    assert "still after 6 tries" in line
    emitted = {r["segment_id"] for r in run.records("appstore_app_crashes")}
    assert segment["id"] not in emitted, "no row of a corrupt file is emitted"


def test_429_and_5xx_are_survived(appstore: AppStore, tmp_path: Path) -> None:
    appstore.api.rate_limit(times=2, path="/v1/analyticsReports/")
    appstore.api.inject(503, times=2, path="/v1/analyticsReportInstances/")
    appstore.api.inject(500, times=1, path="/v1/apps/")

    run = run_tap(appstore.config(**CRASHES), tmp_path)

    assert run.returncode == 0, run.stderr
    statuses = [r.status for r in appstore.api.requests]
    assert statuses.count(429) == 2
    assert statuses.count(503) == 2
    assert statuses.count(500) == 1
    assert run.records("appstore_app_crashes")


def test_trouble_that_persists_names_the_instance_it_was_on(
    appstore: AppStore, tmp_path: Path
) -> None:
    appstore.api.inject(503, times=None, path="/v1/analyticsReportInstances/")

    run = run_tap(appstore.config(**CRASHES, request_max_tries=2), tmp_path)

    assert run.returncode == 1
    line = run.error_lines()[-1]
    assert "App Store Connect answered 503 on /v1/analyticsReportInstances/" in line
    assert f"(app {APP_ID}, report 'App Crashes', DAILY, processed " in line
    assert ", instance " in line
    assert line.endswith("still after 2 tries")
    assert run.records("appstore_report_instances") == [], "no instance done without its rows"


def test_wrong_key_is_a_one_line_error_from_apples_error_body(
    appstore: AppStore, tmp_path: Path
) -> None:
    other_private, _ = generate_key_pair()
    key_path = tmp_path / "other.p8"
    key_path.write_text(other_private)

    run = run_tap(
        appstore.config(appstore_private_key_path=str(key_path)), tmp_path, secrets=(other_private,)
    )

    assert run.returncode == 1
    line = run.error_lines()[-1]
    assert "401" in line
    assert "NOT_AUTHORIZED" in line
    assert "appstore_key_id" in line
    assert no_jwt_printed(run.stdout, run.stderr)
    assert len([r for r in appstore.api.requests if r.status == 401]) == 2, "retried once only"


def test_unknown_app_is_a_404_error_naming_it(appstore: AppStore, tmp_path: Path) -> None:
    run = run_tap(appstore.config(appstore_app_ids=["999000999"]), tmp_path)

    assert run.returncode == 1
    line = run.error_lines()[-1]
    assert "404" in line
    assert "NOT_FOUND" in line
    assert "999000999" in line


def test_unknown_report_name_lists_the_ones_that_exist(appstore: AppStore, tmp_path: Path) -> None:
    run = run_tap(appstore.config(appstore_report_names=["App Downloadz"]), tmp_path)

    assert run.returncode == 1
    line = run.error_lines()[-1]
    assert "appstore_report_names: 'App Downloadz' not listed" in line
    assert "'App Downloads Standard'" in line
    assert appstore.s3.requests == []


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        (
            {"appstore_private_key_path": "/nonexistent/AuthKey.p8"},
            "appstore_private_key_path: cannot read",
        ),
        (
            {"appstore_private_key_path": None, "appstore_private_key": "not a key"},
            "appstore_private_key: not a PEM private key",
        ),
        ({"appstore_key_id": None}, "appstore_key_id is required"),
        ({"appstore_app_ids": None}, "appstore_app_ids is required"),
        ({"appstore_private_key_path": None}, "exactly one of appstore_private_key"),
        ({"appstore_granularities": ["HOURLY"]}, "appstore_granularities"),
    ],
)
def test_bad_config_or_key_is_a_clear_error_at_start(
    appstore: AppStore, tmp_path: Path, settings: dict, named: str
) -> None:
    config = {k: v for k, v in {**appstore.config(), **settings}.items() if v is not None}

    run = run_tap(config, tmp_path, secrets=(appstore.private_key_pem.splitlines()[1],))

    assert run.returncode != 0
    assert named in run.stderr
    assert "Traceback" not in run.stderr
    assert appstore.api.requests == []


def test_rsa_key_is_refused_without_printing_it(appstore: AppStore, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    config = {**appstore.config(appstore_private_key=pem)}
    config.pop("appstore_private_key_path")

    run = run_tap(config, tmp_path, secrets=(pem.splitlines()[1],))

    assert run.returncode != 0
    assert "appstore_private_key: ES256 needs an EC P-256 key" in run.stderr


def test_individual_key_signs_with_sub_user(start_appstore: StartAppStore, tmp_path: Path) -> None:
    store = start_appstore(issuer_id=None)
    store.api.populate_sample(app_ids=[APP_ID], today=utc_today(), days=1, reports=["App Crashes"])
    config = store.config(**CRASHES)
    config.pop("appstore_issuer_id")

    run = run_tap(config, tmp_path)

    assert run.returncode == 0, run.stderr
    assert store.api.tokens_seen
    assert all(t["sub"] == "user" and "iss" not in t for t in store.api.tokens_seen)


def test_creates_an_ongoing_request_when_asked_and_handles_409(
    start_appstore: StartAppStore, tmp_path: Path
) -> None:
    store = start_appstore()
    store.api.add_app("111", ongoing_request=False)
    store.api.add_app(APP_ID)
    # A race: the list says there is no request, but one exists by the time we POST.
    store.api.inject(
        200,
        times=1,
        path=f"/v1/apps/{APP_ID}/analyticsReportRequests",
        body={"data": [], "links": {}, "meta": {"paging": {"total": 0}}},
    )
    config = store.config(appstore_app_ids=["111", APP_ID], appstore_create_report_requests=True)

    run = run_tap(config, tmp_path)

    assert run.returncode == 0, run.stderr
    posts = [r for r in store.api.requests if r.method == "POST"]
    assert [r.status for r in posts] == [201, 409]
    assert len(store.api.created_requests) == 1
    requests_by_app = {r["app_id"] for r in run.records("appstore_report_requests")}
    assert requests_by_app == {"111", APP_ID}
    assert "24 to 48 hours" in run.stderr


def test_stopped_request_is_a_clear_warning(start_appstore: StartAppStore, tmp_path: Path) -> None:
    store = start_appstore()
    store.api.add_app(APP_ID, stopped_due_to_inactivity=True)

    run = run_tap(store.config(), tmp_path)

    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line]
    assert any("stopped due to inactivity" in line for line in warnings)
    assert any("appstore_create_report_requests" in line for line in warnings)
