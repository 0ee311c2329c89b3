"""Small pieces with sharp edges: windows, row keys, redaction, the hourly budget."""

from __future__ import annotations

from tap_segment_analytics.appstore.emit.segments_stream import strip_query
from tap_segment_analytics.appstore.reports import rows_stream_name, snake_case
from tap_segment_analytics.errors import redact
from tests.row_keys import row_key


def test_row_key_ignores_column_order_processing_date_app_name_and_measures() -> None:
    row = {
        "Date": "2026-11-01",
        "Territory": "US",
        "Device": "iPhone",
        "Counts": "5",
        "Processing Date": "2026-11-02",
        "App Name": "Old",
    }
    restated = {
        "App Name": "New",
        "Counts": "7",
        "Processing Date": "2026-11-04",
        "Device": "iPhone",
        "Territory": "US",
        "Date": "2026-11-01",
    }
    args = {"app_id": "1", "report_name": "App Downloads Standard", "granularity": "DAILY"}

    assert row_key(row=row, **args) == row_key(row=restated, **args)
    assert row_key(row=row, **args) != row_key(row={**row, "Territory": "GB"}, **args)
    assert row_key(row=row, **args) != row_key(row=row, **{**args, "granularity": "WEEKLY"})
    assert row_key(row=row, **args) != row_key(
        row=row, **{**args, "report_name": "App Downloads Detailed"}
    )


def test_report_names_map_to_stream_names() -> None:
    assert snake_case("App Apple Identifier") == "app_apple_identifier"
    assert snake_case("Pre-Order") == "pre_order"
    assert rows_stream_name("App Downloads Standard") == "appstore_app_downloads_standard"
    assert rows_stream_name("Some Future Report") == "appstore_report_rows"


def test_redaction_removes_every_kind_of_secret() -> None:
    text = (
        "key sk-live-123456 url https://s3/x.csv.gz?X-Amz-Security-Token=abc&X-Amz-Signature=f00d"
        "&X-Amz-Credential=AKIA%2F1 auth Bearer eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl"
        " pem -----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----"
    )

    clean = redact(text, ["sk-live-123456"])

    for secret in ("sk-live-123456", "abc&", "f00d", "AKIA", "eyJ", "MIGH"):
        assert secret not in clean
    assert "X-Amz-Signature=<redacted>" in clean


def test_presigned_url_is_emitted_without_its_query() -> None:
    url = "https://bucket.s3.amazonaws.com/reports/1/0.csv.gz?X-Amz-Signature=abc&X-Amz-Expires=300"
    assert strip_query(url) == "https://bucket.s3.amazonaws.com/reports/1/0.csv.gz"
