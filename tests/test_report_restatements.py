"""Every catalogue report: the files of instances that restate Dates over the report's
completeness window, as the fake serves them, upsert by the tap's row key to exactly the truth."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tap_segment_analytics.appstore.emit.rows_streams import converter
from tap_segment_analytics.appstore.fetch.report_files import read_rows
from tap_segment_analytics.appstore.fetch.row_plan import RowPlan, row_key_of
from tap_segment_analytics.appstore.reports import catalogue, report_named
from tests.fakes import FakeAppStoreConnect, FakeS3, generate_key_pair
from tests.row_keys import row_key

APP_ID = "1234567890"
TODAY = date(2026, 11, 30)
DAYS = 10


def served(report_name: str, public_pem: str) -> FakeAppStoreConnect:
    """The fake (not listening: only its files are read) with DAYS daily instances."""
    api = FakeAppStoreConnect(public_key_pem=public_pem, key_id="K", issuer_id="i", s3=FakeS3())
    api.add_app(APP_ID)
    api.add_report(APP_ID, report_name)
    for back in range(DAYS, 0, -1):
        api.publish_day(app_ids=[APP_ID], processing=TODAY - timedelta(days=back), rows_per_day=4)
    return api


def upserted(
    api: FakeAppStoreConnect, report_name: str, tmp_path: Path
) -> tuple[dict[str, Any], int]:
    """Every file's records through the tap's row plan, oldest instance first, by row_key;
    and how many rows the files held."""
    report = report_named(report_name)
    assert report is not None
    columns = {f.column: converter(f.column, f.type) for f in report.fields}
    table: dict[str, Any] = {}
    read = 0
    for instance_id in api.instance_ids(APP_ID, report_name, "DAILY"):
        for segment in api.instance_segments(instance_id):
            path = tmp_path / "file.gz"
            path.write_bytes(api.s3.object(segment.key))
            rows = read_rows(path)
            header = next(rows)
            key = row_key_of(header, app_id=APP_ID, report_name=report_name, granularity="DAILY")
            plan = RowPlan(
                header, columns=columns, metadata={}, row_key=key, date=report.date_column
            )
            for values in rows:
                record = plan.record(values)
                table[record["row_key"]] = record
                read += 1
    return table, read


@pytest.mark.parametrize("report_name", [r.name for r in catalogue()])
def test_restated_dates_upsert_to_exactly_the_truth(report_name: str, tmp_path: Path) -> None:
    _, public_pem = KEYS
    api = served(report_name, public_pem)
    report = report_named(report_name)
    assert report is not None

    table, read = upserted(api, report_name, tmp_path)

    truth = api.truth(APP_ID, report_name, "DAILY")
    expected = {
        row_key(app_id=APP_ID, report_name=report_name, granularity="DAILY", row=row): row
        for row in truth
    }
    assert len(expected) == len(truth), "the truth's rows have distinct keys"
    assert set(table) == set(expected)
    for key, row in expected.items():
        for field in report.measures:
            raw = row[field.name]
            want = {"integer": int, "number": float}.get(field.type, str)(raw)
            assert table[key][field.column] == want, (field.name, raw)
        assert table[key]["date"] == row[report.date_column]
    # The fake restated: the files held more rows than the truth keeps.
    restated = report.completeness_lag_days is None or report.completeness_lag_days > 1
    assert read > len(truth) if restated else read >= len(truth)


KEYS = generate_key_pair()
