"""App Store Connect answers the documents allow, read by what they say: a 409 that does not
mean "exists", a listed report, instance or segment that answers 404, the hourly budget spent
or low, optional attributes left out. Each over real HTTP, the tap run end to end twice."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests.conftest import APP_ID, AppStore, StartAppStore, utc_today
from tests.tap_runner import TapRun, run_tap

CRASHES = {"appstore_report_names": ["App Crashes"]}
ROWS = "appstore_app_crashes"
OTHER_APP = "2345678901"
EXPIRED = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
NO_SUCH_KEY = (
    b"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"
)


def rows_by_instance(run: TapRun) -> set[tuple[str, str]]:
    return {(r["instance_id"], r["row_key"]) for r in run.records(ROWS)}


def warnings(run: TapRun) -> list[str]:
    return [line for line in run.log_lines() if line.split(" | ")[1].strip() == "WARNING"]


def two_apps(store: AppStore) -> None:
    store.api.populate_sample(
        app_ids=[APP_ID, OTHER_APP], today=utc_today(), days=3, rows_per_day=2
    )


def test_a_409_that_does_not_mean_exists_warns_and_the_other_apps_go_on(
    start_appstore: StartAppStore, tmp_path: Path
) -> None:
    store = start_appstore()
    two_apps(store)
    store.api.add_app("3456789012", ongoing_request=False)
    store.api.creation_conflict = (
        "ENTITY_ERROR.RELATIONSHIP.INVALID",
        "The relationship 'app' is not valid for this request.",
    )
    config = store.config(
        **CRASHES,
        appstore_app_ids=[APP_ID, "3456789012", OTHER_APP],
        appstore_create_report_requests=True,
    )

    run = run_tap(config, tmp_path)

    assert run.returncode == 0, run.stderr
    (line,) = [w for w in warnings(run) if "3456789012" in w]
    assert "no active ONGOING report request" in line
    assert "409 ENTITY_ERROR.RELATIONSHIP.INVALID: The relationship 'app' is not valid" in line
    assert "already has" not in run.stderr
    assert {r["app_id"] for r in run.records(ROWS)} == {APP_ID, OTHER_APP}
    assert "skipped: 1 App Store apps without an ONGOING report request" in run.stderr

    store.api.creation_conflict = None
    second = run_tap(config, tmp_path, state=run.final_state)

    assert second.returncode == 0, second.stderr
    assert not (rows_by_instance(run) & rows_by_instance(second)), "nothing read twice"
    assert "created an ONGOING report request for app 3456789012" in second.stderr


def test_a_409_that_means_exists_is_confirmed_by_the_listing(
    start_appstore: StartAppStore, tmp_path: Path
) -> None:
    store = start_appstore()
    two_apps(store)
    store.api.add_app("3456789012", ongoing_request=False)
    # A request another run made between the listing and the creation: Apple's STATE_ERROR.
    store.api.creation_conflict = ("STATE_ERROR", "You already have such an entity")
    config = store.config(
        **CRASHES, appstore_app_ids=["3456789012"], appstore_create_report_requests=True
    )

    run = run_tap(config, tmp_path)

    assert run.returncode == 0, run.stderr
    # Nothing is listed after the 409, so it is not taken on its word.
    assert "Apple answered (409 STATE_ERROR: You already have such an entity)" in run.stderr


def test_an_instance_gone_after_its_listing_is_skipped_and_the_rest_lands(
    appstore: AppStore, tmp_path: Path
) -> None:
    instances = appstore.api.instance_ids(APP_ID, "App Crashes", "DAILY")
    gone = instances[1]
    appstore.api.gone.add(gone)

    run = run_tap(appstore.config(**CRASHES), tmp_path)

    assert run.returncode == 0, run.stderr
    (line,) = [w for w in warnings(run) if gone in w]
    assert "answered 404" in line
    assert f"app {APP_ID}, report 'App Crashes', DAILY, processed " in line
    assert "NOT_FOUND" in line
    assert "report instance skipped" in line
    landed = {r["instance_id"] for r in run.records(ROWS)}
    assert landed == set(instances) - {gone}
    assert "skipped: 1 App Store report instances not served" in run.stderr

    second = run_tap(appstore.config(**CRASHES), tmp_path, state=run.final_state)

    assert second.returncode == 0, second.stderr
    assert not second.records(ROWS), "the bookmark passed it with the later instances"
    assert gone not in second.stderr


def test_the_last_instance_gone_for_a_moment_is_read_by_the_next_run(
    appstore: AppStore, tmp_path: Path
) -> None:
    instances = appstore.api.instance_ids(APP_ID, "App Crashes", "DAILY")
    appstore.api.gone.add(instances[-1])

    run = run_tap(appstore.config(**CRASHES), tmp_path)
    appstore.api.gone.clear()
    second = run_tap(appstore.config(**CRASHES), tmp_path, state=run.final_state)

    assert run.returncode == 0, run.stderr
    assert second.returncode == 0, second.stderr
    assert {r["instance_id"] for r in second.records(ROWS)} == {instances[-1]}
    assert not (rows_by_instance(run) & rows_by_instance(second))


@pytest.mark.parametrize(
    ("status", "body"), [(403, EXPIRED), (404, NO_SUCH_KEY)], ids=["expired", "no-such-key"]
)
def test_a_report_and_a_segment_gone_after_listing_are_skipped(
    start_appstore: StartAppStore, tmp_path: Path, status: int, body: bytes
) -> None:
    store = start_appstore()
    two_apps(store)
    store.api.gone.add(store.api.report_id(APP_ID, "App Crashes"))
    instance = store.api.instance_ids(OTHER_APP, "App Crashes", "DAILY")[0]
    segment = store.api.instance_segments(instance)[0].id
    store.api.gone.add(segment)
    # Its listed URL is refused or finds no file: asked for a fresh one, the segment is 404.
    store.s3.inject(status, path="/" + quote(store.api.segment(segment).key), body=body)
    config = store.config(**CRASHES, appstore_app_ids=[APP_ID, OTHER_APP])

    run = run_tap(config, tmp_path)

    assert run.returncode == 0, run.stderr
    report_line = next(w for w in warnings(run) if "/v1/analyticsReports/" in w)
    assert f"(app {APP_ID}, report 'App Crashes', DAILY)" in report_line
    assert "report skipped" in report_line
    segment_line = next(w for w in warnings(run) if segment in w and "answered 404" in w)
    assert f"instance {instance}" in segment_line
    assert "segment skipped" in segment_line
    landed = {r["instance_id"] for r in run.records(ROWS)}
    others = set(store.api.instance_ids(OTHER_APP, "App Crashes", "DAILY"))
    assert others - {instance} <= landed
    assert APP_ID not in {r["app_id"] for r in run.records(ROWS)}


def test_budget_spent_midway_stops_every_thread_at_once_and_the_next_run_finishes(
    appstore: AppStore, tmp_path: Path
) -> None:
    # Requests, reports, instances, then the segments of 3 of the 4 instances.
    appstore.api.exhaust_budget_after(6)
    config = appstore.config(**CRASHES, appstore_rate_limit_wait_seconds=0)

    begun = time.monotonic()
    run = run_tap(config, tmp_path)
    seconds = time.monotonic() - begun

    assert run.returncode == 1
    line = run.error_lines()[-1]
    assert "hourly request budget for this key is spent" in line
    assert "stopped without waiting (appstore_rate_limit_wait_seconds 0)" in line
    assert "finds the budget back" in line
    statuses = [r.status for r in appstore.api.requests]
    assert statuses.count(429) <= 3, "no thread goes on asking (3 calls in flight at most)"
    assert seconds < 15, f"the run ends right after its line ({seconds:.1f} s)"
    assert run.records(ROWS), "what came before the stop landed, with its STATE"

    appstore.api.restore_budget()
    second = run_tap(config, tmp_path, state=run.final_state)

    assert second.returncode == 0, second.stderr
    instances = set(appstore.api.instance_ids(APP_ID, "App Crashes", "DAILY"))
    first_rows, second_rows = rows_by_instance(run), rows_by_instance(second)
    assert not (first_rows & second_rows), "nothing emitted twice"
    assert {i for i, _ in first_rows | second_rows} == instances, "nothing lost"


def test_a_low_budget_is_paced_not_run_into_a_429(appstore: AppStore, tmp_path: Path) -> None:
    appstore.api.spend_budget(3600 - 100)  # another tool left 100 of 3600
    config = appstore.config(**CRASHES, appstore_rate_limit_wait_seconds=0)

    run = run_tap(config, tmp_path)

    assert run.returncode == 1
    assert [r.status for r in appstore.api.requests].count(429) == 0
    assert "budget for this key is down to 9" in run.error_lines()[-1]
    assert not run.records(ROWS)

    appstore.api.restore_budget()
    second = run_tap(config, tmp_path, state=run.states[-1] if run.states else None)

    assert second.returncode == 0, second.stderr
    assert {r["instance_id"] for r in second.records(ROWS)} == set(
        appstore.api.instance_ids(APP_ID, "App Crashes", "DAILY")
    )


@pytest.mark.parametrize("how", ["missing", "null"])
def test_optional_attributes_may_be_missing_or_null(
    appstore: AppStore, tmp_path: Path, how: str
) -> None:
    optional = {
        "stoppedDueToInactivity",
        "category",
        "checksum",
        "sizeInBytes",
        "accessType",
        "granularity",
    }
    if how == "missing":
        appstore.api.missing_attributes = optional
    else:
        appstore.api.null_attributes = optional

    run = run_tap(appstore.config(**CRASHES), tmp_path)

    assert run.returncode == 0, run.stderr
    assert {r["instance_id"] for r in run.records(ROWS)} == set(
        appstore.api.instance_ids(APP_ID, "App Crashes", "DAILY")
    )


def test_a_segment_without_a_url_is_skipped_with_a_warning(
    appstore: AppStore, tmp_path: Path
) -> None:
    appstore.api.missing_attributes = {"url"}

    run = run_tap(appstore.config(**CRASHES), tmp_path)

    assert run.returncode == 0, run.stderr
    assert "sent no download url" in "".join(warnings(run))
    assert not run.records(ROWS)


def spec_query(store: AppStore, path: str, **params: str) -> requests.Response:
    from tap_segment_analytics.appstore.api.auth import AppStoreJWTAuthenticator, load_private_key
    from tests.conftest import APPSTORE_ISSUER_ID, APPSTORE_KEY_ID

    signer = AppStoreJWTAuthenticator(
        key_id=APPSTORE_KEY_ID,
        issuer_id=APPSTORE_ISSUER_ID,
        private_key=load_private_key({"appstore_private_key": store.private_key_pem}),
    )
    headers: dict[str, Any] = {"Authorization": f"Bearer {signer.token()}"}
    return requests.get(store.api.base_url + path, params=params, headers=headers, timeout=10)


def test_the_fake_accepts_what_the_spec_lists_and_refuses_the_rest(appstore: AppStore) -> None:
    listing = spec_query(
        appstore,
        f"/v1/apps/{APP_ID}/analyticsReportRequests",
        **{
            "filter[accessType]": "ONGOING",
            "fields[analyticsReportRequests]": "accessType,reports",
            "fields[analyticsReports]": "name",
            "include": "reports",
            "limit[reports]": "2",
            "limit": "5",
        },
    )
    assert listing.status_code == 200, listing.text
    assert "user-hour-rem:" in listing.headers["X-Rate-Limit"]
    body = listing.json()
    assert len(body["included"]) == 2
    assert set(body["included"][0]["attributes"]) == {"name"}

    unknown = spec_query(appstore, f"/v1/apps/{APP_ID}/analyticsReportRequests", sort="name")
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["code"] == "PARAMETER_ERROR.INVALID"
    assert "X-Rate-Limit" in unknown.headers
