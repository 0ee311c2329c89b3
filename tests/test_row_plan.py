"""The row plan's row key is byte for byte `reports.row_key`, on any header and values."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_segment_analytics.appstore.reports import NOT_KEY_COLUMNS, row_key
from tap_segment_analytics.appstore.row_plan import (
    BadValue,
    as_date,
    as_integer,
    as_number,
    as_text,
    row_key_of,
)

# Documented measures and dimensions, an unknown column, an unknown measure-named one.
COLUMNS = ["Date", "Crashes", "Unique Devices", "Device", "App Version", "Caf\u00e9", "Counts",
           *sorted(NOT_KEY_COLUMNS)]  # fmt: skip
values = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)


@given(
    header=st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=10),
    data=st.data(),
    app=st.sampled_from(["1234567890", 'quo"te']),
    report=st.sampled_from(["App Crashes", "Some Future Report"]),
)
def test_planned_row_key_equals_the_row_key_of_the_row(
    header: list[str], data: st.DataObject, app: str, report: str
) -> None:
    row_values = data.draw(st.lists(values, min_size=len(header), max_size=len(header)))

    planned = row_key_of(header, app_id=app, report_name=report, granularity="DAILY")

    # A row as a dict keeps the last value of a repeated column, as the plan does.
    row = dict(zip(header, row_values, strict=True))
    expected = row_key(app_id=app, report_name=report, granularity="DAILY", row=row)
    assert planned(row_values) == expected


def test_converters() -> None:
    assert as_number("counts")(" 1,234.5 ") == 1234.5
    assert as_number("counts")("42") == 42
    assert as_number("counts")("") is None
    assert as_integer("count")("1,234") == 1234
    assert as_integer("count")("12.0") == 12
    assert as_integer("count")("") is None
    assert as_date("date")("2026-11-20 00:00:00") == "2026-11-20"
    assert as_date("date")("") is None
    assert as_text("  x ") == "x"
    assert as_text("") is None
    with pytest.raises(BadValue, match="column 'counts' holds 'n/a', not a number"):
        as_number("counts")("n/a")
    with pytest.raises(BadValue, match=re.escape("column 'count' holds '1.5', not an integer")):
        as_integer("count")("1.5")
    with pytest.raises(BadValue, match="column 'date' holds '23/11/2026', not a YYYY-MM-DD date"):
        as_date("date")("23/11/2026")
