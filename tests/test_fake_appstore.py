"""The fake App Store Connect Analytics Reports API and its S3 host behave as the tap's tests and
the sandbox assume."""

from __future__ import annotations

import gzip
import hashlib
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import jwt
import pytest
import requests

from segment_analytics_sandbox.appstore import (
    AUDIENCE,
    DEFAULT_REPORTS,
    REPORT_COLUMNS,
    FakeAppStoreConnect,
    FakeS3,
    generate_key_pair,
)

KEY_ID = "2X9R4HXF34"
ISSUER_ID = "57246542-96fe-1a63-e053-0824d011072a"
APP_ID = "1234567890"
TODAY = date(2025, 3, 12)
PRIVATE_PEM, PUBLIC_PEM = generate_key_pair()


def make_token(
    *,
    kid: str = KEY_ID,
    iss: str | None = ISSUER_ID,
    sub: str | None = None,
    iat_offset: int = 0,
    lifetime: int = 1200,
    private_pem: str = PRIVATE_PEM,
) -> str:
    now = int(time.time()) + iat_offset
    payload: dict[str, Any] = {"iat": now, "exp": now + lifetime, "aud": AUDIENCE}
    if iss is not None:
        payload["iss"] = iss
    if sub is not None:
        payload["sub"] = sub
    return jwt.encode(payload, private_pem, algorithm="ES256", headers={"kid": kid})


@pytest.fixture
def s3() -> Iterator[FakeS3]:
    fake = FakeS3()
    fake.start()
    yield fake
    fake.stop()


def start_api(s3: FakeS3, **kwargs: Any) -> FakeAppStoreConnect:
    options: dict[str, Any] = {"key_id": KEY_ID, "issuer_id": ISSUER_ID, **kwargs}
    fake = FakeAppStoreConnect(public_key_pem=PUBLIC_PEM, s3=s3, **options)
    fake.start()
    return fake


@pytest.fixture
def api(s3: FakeS3) -> Iterator[FakeAppStoreConnect]:
    fake = start_api(s3)
    fake.add_app(APP_ID)
    yield fake
    fake.stop()


def call(
    fake: FakeAppStoreConnect, url: str, token: str | None = None, **params: Any
) -> requests.Response:
    full = url if url.startswith("http") else fake.base_url + url
    headers = {"Authorization": f"Bearer {token or make_token()}"}
    return requests.get(full, params=params, headers=headers, timeout=5)


def ongoing_request_id(fake: FakeAppStoreConnect) -> str:
    response = call(fake, f"/v1/apps/{APP_ID}/analyticsReportRequests")
    return str(response.json()["data"][0]["id"])


def segments_of(fake: FakeAppStoreConnect, instance_id: str) -> list[dict[str, Any]]:
    response = call(fake, f"/v1/analyticsReportInstances/{instance_id}/segments")
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def file_rows(content: bytes) -> list[dict[str, str]]:
    header, *lines = gzip.decompress(content).decode().splitlines()
    return [dict(zip(header.split("\t"), line.split("\t"), strict=True)) for line in lines]


def instance_rows(fake: FakeAppStoreConnect, instance_id: str) -> list[dict[str, str]]:
    return [
        row
        for segment in segments_of(fake, instance_id)
        for row in file_rows(requests.get(segment["attributes"]["url"], timeout=5).content)
    ]


def sorted_items(row: dict[str, str]) -> list[tuple[str, str]]:
    return sorted(row.items())


def instance_ids(fake: FakeAppStoreConnect, report_id: str, **filters: str) -> list[str]:
    params = {f"filter[{name}]": value for name, value in filters.items()}
    response = call(fake, f"/v1/analyticsReports/{report_id}/instances", **params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"kid": "OTHERKEY01"}, id="wrong-kid"),
        pytest.param({"iat_offset": -1300}, id="expired"),
        pytest.param({"lifetime": 1201}, id="longer-than-20-minutes"),
        pytest.param({"iat_offset": 120}, id="issued-in-the-future"),
        pytest.param({"iss": "another-issuer"}, id="wrong-issuer"),
        pytest.param({"private_pem": generate_key_pair()[0]}, id="wrong-signature"),
    ],
)
def test_bad_tokens_get_401_not_authorized(
    api: FakeAppStoreConnect, claims: dict[str, Any]
) -> None:
    response = call(api, f"/v1/apps/{APP_ID}/analyticsReportRequests", make_token(**claims))
    garbage = call(api, f"/v1/apps/{APP_ID}/analyticsReportRequests", "not-a-jwt")

    assert [response.status_code, garbage.status_code] == [401, 401]
    assert response.json()["errors"][0]["code"] == "NOT_AUTHORIZED"
    assert api.tokens_seen == []


def test_individual_key_needs_sub_user_and_no_issuer(s3: FakeS3) -> None:
    fake = start_api(s3, issuer_id=None)
    fake.add_app(APP_ID)
    try:
        path = f"/v1/apps/{APP_ID}/analyticsReportRequests"
        assert call(fake, path, token=make_token(iss=None, sub="user")).status_code == 200
        assert call(fake, path, token=make_token(sub="user")).status_code == 401
        assert fake.tokens_seen[0]["sub"] == "user"
        assert fake.tokens_seen[0]["header"]["kid"] == KEY_ID
    finally:
        fake.stop()


def test_lists_page_with_links_next_and_limit_is_bounded(api: FakeAppStoreConnect) -> None:
    for name in DEFAULT_REPORTS[:10]:
        api.add_report(APP_ID, name)
    url = f"/v1/analyticsReportRequests/{ongoing_request_id(api)}/reports"

    names, pages, next_url = [], 0, f"{api.base_url}{url}?limit=4"
    while next_url:
        body = call(api, next_url).json()
        names += [item["attributes"]["name"] for item in body["data"]]
        assert body["meta"]["paging"] == {"total": 10, "limit": 4}
        next_url, pages = body["links"].get("next"), pages + 1

    assert names == list(DEFAULT_REPORTS[:10])
    assert pages == 3
    assert call(api, url, limit=200).status_code == 200
    too_many = call(api, url, limit=201)
    assert too_many.status_code == 400
    assert too_many.json()["errors"][0]["code"] == "PARAMETER_ERROR.INVALID"
    assert too_many.json()["errors"][0]["source"] == {"parameter": "limit"}


def test_second_ongoing_request_is_409(s3: FakeS3) -> None:
    fake = start_api(s3)
    fake.add_app(APP_ID, ongoing_request=False)
    body = {
        "data": {
            "type": "analyticsReportRequests",
            "attributes": {"accessType": "ONGOING"},
            "relationships": {"app": {"data": {"type": "apps", "id": APP_ID}}},
        }
    }
    try:
        post = [
            requests.post(
                f"{fake.base_url}/v1/analyticsReportRequests",
                json=body,
                headers={"Authorization": f"Bearer {make_token()}"},
                timeout=5,
            )
            for _ in range(2)
        ]
        assert [r.status_code for r in post] == [201, 409]
        assert post[1].json()["errors"][0]["status"] == "409"
        assert fake.created_requests == [post[0].json()["data"]["id"]]
    finally:
        fake.stop()


def test_segment_files_match_their_listing(api: FakeAppStoreConnect) -> None:
    name = "App Crashes"
    rows = [
        {c: f"{c}-{i}" for c in REPORT_COLUMNS[name]} | {"Date": "2025-03-10", "Crashes": str(i)}
        for i in range(4)
    ]
    instance_id = api.add_instance(APP_ID, name, "DAILY", date(2025, 3, 11), [rows[:3], rows[3:]])

    segments = segments_of(api, instance_id)
    read_back = []
    for segment in segments:
        attributes = segment["attributes"]
        download = requests.get(attributes["url"], timeout=5)
        assert download.status_code == 200
        assert download.headers["Content-Type"] == "binary/octet-stream"
        assert "Content-Encoding" not in download.headers
        assert len(download.content) == attributes["sizeInBytes"]
        assert hashlib.md5(download.content).hexdigest() == attributes["checksum"]  # noqa: S324
        header = gzip.decompress(download.content).decode().split("\n", 1)[0].split("\t")
        assert sorted(header) == sorted(REPORT_COLUMNS[name])
        read_back += file_rows(download.content)

    assert len(segments) == 2
    assert read_back == rows


def test_s3_refuses_an_authorization_header(api: FakeAppStoreConnect, s3: FakeS3) -> None:
    instance_id = api.add_instance(APP_ID, "App Crashes", "DAILY", TODAY, [[{"Crashes": "1"}]])
    url = segments_of(api, instance_id)[0]["attributes"]["url"]

    response = requests.get(url, headers={"Authorization": f"Bearer {make_token()}"}, timeout=5)

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/xml"
    assert "<Code>InvalidArgument</Code>" in response.text
    assert s3.downloads == []


def test_expired_url_is_403_and_the_segment_endpoint_signs_a_fresh_one(
    api: FakeAppStoreConnect,
) -> None:
    instance_id = api.add_instance(
        APP_ID, "App Crashes", "DAILY", TODAY, [[{"Date": "2025-03-11", "Crashes": "3"}]]
    )
    segment_id = segments_of(api, instance_id)[0]["id"]
    api.expire_next_urls(1)

    stale = call(api, f"/v1/analyticsReportSegments/{segment_id}").json()
    expired = requests.get(stale["data"]["attributes"]["url"], timeout=5)
    fresh = call(api, f"/v1/analyticsReportSegments/{segment_id}").json()

    assert expired.status_code == 403
    assert "<Message>Request has expired</Message>" in expired.text
    assert stale["links"]["self"] == stale["data"]["links"]["self"]
    assert requests.get(fresh["data"]["attributes"]["url"], timeout=5).status_code == 200


@pytest.mark.parametrize(("mode", "size_change"), [("bytes", 0), ("truncate", -1), ("size", 1)])
def test_corrupt_download_is_bad_once(
    api: FakeAppStoreConnect, s3: FakeS3, mode: str, size_change: int
) -> None:
    rows = [{"Date": "2025-03-11", "Crashes": str(n), "Device": "iPhone"} for n in range(50)]
    instance_id = api.add_instance(APP_ID, "App Crashes", "DAILY", TODAY, [rows])
    segment = segments_of(api, instance_id)[0]
    s3.corrupt(api.segment(segment["id"]).key, mode)

    bad = requests.get(segment["attributes"]["url"], timeout=5)
    good = requests.get(segment["attributes"]["url"], timeout=5)

    size = segment["attributes"]["sizeInBytes"]
    assert hashlib.md5(bad.content).hexdigest() != segment["attributes"]["checksum"]  # noqa: S324
    assert int(bad.headers["Content-Length"]) == len(bad.content)
    assert (len(bad.content) > size) - (len(bad.content) < size) == size_change
    if mode == "truncate":
        with pytest.raises(EOFError):
            gzip.decompress(bad.content)
    columns = REPORT_COLUMNS["App Crashes"]
    assert file_rows(good.content) == [{c: row.get(c, "") for c in columns} for row in rows]


def test_truth_keeps_the_newest_instance_for_restated_dates(api: FakeAppStoreConnect) -> None:
    name = "App Sessions Standard"
    api.populate_sample(app_ids=[APP_ID], today=TODAY, days=4, reports=[name])
    report_id = api.add_report(APP_ID, name)
    restated = "2025-03-09"  # Dates 03-08..03-10 are in 03-11's instance, 03-07..03-09 in 03-10's
    older, newer = (
        [
            row
            for instance_id in instance_ids(api, report_id, processingDate=day, granularity="DAILY")
            for row in instance_rows(api, instance_id)
            if row["Date"] == restated
        ]
        for day in ("2025-03-10", "2025-03-11")
    )

    truth = [row for row in api.truth(APP_ID, name, "DAILY") if row["Date"] == restated]

    assert len(older) == len(newer) == 6
    assert sorted(r["Sessions"] for r in older) != sorted(r["Sessions"] for r in newer)
    assert sorted(truth, key=sorted_items) == sorted(newer, key=sorted_items)


def test_rate_limit_header_counts_down_to_429(s3: FakeS3) -> None:
    fake = start_api(s3, hour_limit=3)
    fake.add_app(APP_ID)
    try:
        responses = [call(fake, f"/v1/apps/{APP_ID}/analyticsReportRequests") for _ in range(4)]
        assert [r.status_code for r in responses] == [200, 200, 200, 429]
        assert [r.headers["X-Rate-Limit"] for r in responses] == [
            f"user-hour-lim:3;user-hour-rem:{n};" for n in (2, 1, 0, 0)
        ]
        assert responses[3].json()["errors"][0]["code"] == "RATE_LIMIT_EXCEEDED"
    finally:
        fake.stop()


def test_injected_429_has_no_retry_after(api: FakeAppStoreConnect) -> None:
    api.rate_limit(times=1, path="/v1/apps/")

    limited = call(api, f"/v1/apps/{APP_ID}/analyticsReportRequests")
    after = call(api, f"/v1/apps/{APP_ID}/analyticsReportRequests")

    assert limited.status_code == 429
    assert "Retry-After" not in limited.headers
    assert limited.json()["errors"][0]["code"] == "RATE_LIMIT_EXCEEDED"
    assert after.status_code == 200


def test_instances_are_listed_newest_first(api: FakeAppStoreConnect) -> None:
    api.populate_sample(app_ids=[APP_ID], today=TODAY, days=3, reports=["App Crashes"])
    report_id = api.add_report(APP_ID, "App Crashes")

    listed = call(
        api, f"/v1/analyticsReports/{report_id}/instances", **{"filter[granularity]": "DAILY"}
    )

    dates = [item["attributes"]["processingDate"] for item in listed.json()["data"]]
    assert dates == ["2025-03-11", "2025-03-10", "2025-03-09"]
