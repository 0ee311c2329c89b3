"""Every report of the catalogue, read with rows: one run against a fake App Store Connect that
serves each of the 149 reports one instance, a file whose header is the report's documented
columns and whose rows hold valid values of each column's type. Each report's typed stream
emits those rows with typed values (integers as integers, dates as YYYY-MM-DD, text as text)
and nothing in `extra_columns`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tap_segment_analytics.appstore.reports import Report, catalogue, snake_case
from tests.conftest import APP_ID, APPSTORE_ISSUER_ID, APPSTORE_KEY_ID, utc_today
from tests.fakes import FakeAppStoreConnect, FakeS3
from tests.tap_runner import TapRun, run_tap

REPORTS = catalogue()
PROCESSED = utc_today() - timedelta(days=1)
# Two rows a report: each column's value as written in the file, and as the record holds it.
CELLS: dict[str, tuple[tuple[str, Any], tuple[str, Any]]] = {
    "integer": (("7", 7), ("1,234", 1234)),
    "number": (("2.5", 2.5), ("10", 10)),
    "string": (("{column} one", "{column} one"), (" {column} two ", "{column} two")),
}


def day_cells(row: int) -> tuple[str, str]:
    """The Date of a row, in the file and in the record."""
    day = (PROCESSED - timedelta(days=row + 1)).isoformat()
    return day, day


def cells(report: Report, row: int) -> tuple[dict[str, str], dict[str, Any]]:
    """Row `row` (0 or 1) of the report's file: {column: text}, and the record's typed fields."""
    written: dict[str, str] = {}
    typed: dict[str, Any] = {}
    for field in report.fields:
        if field.type == "date":
            text, value = day_cells(row)
        else:
            text, value = CELLS[field.type][row]
            if field.type == "string":
                text, value = text.format(column=field.name), value.format(column=field.name)
        written[field.name] = text
        typed[snake_case(field.name)] = value
    return written, typed


@pytest.fixture(scope="module")
def run(key_pair: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[TapRun]:
    """One tap run over an app that has every catalogue report, one file each."""
    private_pem, public_pem = key_pair
    folder = tmp_path_factory.mktemp("catalogue-rows")
    key_path = folder / "AuthKey.p8"
    key_path.write_text(private_pem)
    with (
        FakeS3() as s3,
        FakeAppStoreConnect(
            public_key_pem=public_pem, key_id=APPSTORE_KEY_ID, issuer_id=APPSTORE_ISSUER_ID, s3=s3
        ) as api,
    ):
        api.add_app(APP_ID)
        for report in REPORTS:
            rows = [cells(report, row)[0] for row in (0, 1)]
            api.add_instance(APP_ID, report.name, "DAILY", PROCESSED, [rows])
        yield run_tap(config(api, key_path), folder)


def config(api: FakeAppStoreConnect, key_path: Path) -> dict[str, object]:
    return {
        "start_date": (PROCESSED - timedelta(days=30)).isoformat(),
        "appstore_key_id": APPSTORE_KEY_ID,
        "appstore_issuer_id": APPSTORE_ISSUER_ID,
        "appstore_private_key_path": str(key_path),
        "appstore_app_ids": [APP_ID],
        "appstore_api_url": api.base_url,
        "request_backoff_seconds": 0.01,
    }


def strict(fields: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """Each field's value with its type's name."""
    return {name: (type(value).__name__, value) for name, value in fields.items()}


def test_the_run_reads_every_catalogue_report_and_nothing_else(run: TapRun) -> None:
    assert run.returncode == 0, run.stderr[-3000:]
    counts = run.record_counts()
    assert {stream: counts[stream] for stream in (r.stream for r in REPORTS)} == {
        r.stream: 2 for r in REPORTS
    }
    assert counts["appstore_report_rows"] == 0, "every report has its typed stream"


@pytest.mark.parametrize("report", REPORTS, ids=lambda report: report.stream)
def test_a_report_stream_emits_its_rows_typed(run: TapRun, report: Report) -> None:
    day = snake_case(report.date_column)
    records = sorted(run.records(report.stream), key=lambda record: str(record.get(day)))
    expected = [cells(report, row)[1] for row in (1, 0)]  # the older Date first

    assert len(records) == 2
    for record, typed in zip(records, expected, strict=True):
        # With each value's type: 7.0 == 7 and True == 1 in Python, not in a warehouse.
        assert strict({name: record.get(name) for name in typed}) == strict(typed)
        assert record["extra_columns"] is None
        assert record["app_id"] == APP_ID
        assert record["granularity"] == "DAILY"
        assert record["processing_date"] == PROCESSED.isoformat()
        assert record["date"] == typed[day]
    assert len({record["row_key"] for record in records}) == 2


def test_types_cover_every_column_type_of_the_catalogue() -> None:
    kinds = {field.type for report in REPORTS for field in report.fields}
    assert kinds == {*CELLS, "date"}
    assert date.fromisoformat(day_cells(0)[0]) < PROCESSED
