"""The row plan's row key is byte for byte `reports.row_key`, on any header and values (an
alias of a documented column included); a value or row that does not fit is kept and counted."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_segment_analytics.appstore.fetch.row_plan import (
    EXTRA_FIELDS,
    BadValue,
    BadValues,
    OddRow,
    RowPlan,
    as_date,
    as_integer,
    as_number,
    as_text,
    row_key_of,
)
from tap_segment_analytics.appstore.reports import NOT_KEY_COLUMNS
from tests.row_keys import row_key

# Documented measures and dimensions, an unknown column, an unknown measure-named one.
# Subscription Event's documented Event Grouping, and the name live files give it.
COLUMNS = ["Date", "Crashes", "Unique Devices", "Device", "App Version", "Caf\u00e9", "Counts",
           "Event Grouping", "Event Group", *sorted(NOT_KEY_COLUMNS)]  # fmt: skip
values = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)


@given(
    header=st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=10),
    data=st.data(),
    app=st.sampled_from(["1234567890", 'quo"te']),
    report=st.sampled_from(
        ["App Crashes", "Some Future Report", "App Store Subscription Event Standard"]
    ),
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


def crashes_plan(bad: BadValues, header: list[str] | None = None) -> RowPlan:
    header = header or ["Date", "Device", "Crashes"]
    return RowPlan(
        header,
        columns={"date": as_date("date"), "device": as_text, "crashes": as_integer("crashes")},
        metadata={"app_id": "1"},
        row_key=row_key_of(header, app_id="1", report_name="App Crashes", granularity="DAILY"),
        bad=bad,
    )


def test_a_value_not_of_its_type_is_null_and_kept_as_written_and_counted() -> None:
    bad = BadValues(lambda: 7)
    plan = crashes_plan(bad)

    record = plan.record(["2026-11-20", "iPhone", " - "])

    assert record["crashes"] is None
    assert record["extra_columns"] == {"crashes": " - "}
    assert record["row_key"] == plan.record(["2026-11-20", "iPhone", "3"])["row_key"]
    assert bad.values_count == 1
    assert bad.warning() == (
        "1 value not of the column's type, null in the column and kept as written in "
        "extra_columns: 'Crashes' 1 (e.g. '-' on line 7)"
    )


def test_short_and_long_rows_are_kept_and_counted() -> None:
    bad = BadValues(lambda: 3)
    plan = crashes_plan(bad, ["Date", "Device", "Crashes", "Unknown"])

    short = plan.record(["2026-11-20", "iPhone"])
    long = plan.record(["2026-11-20", "iPad", "2", "u", "more", "and more"])

    assert (short["device"], short["crashes"]) == ("iPhone", None)
    assert short["extra_columns"] == {"unknown": None}, "a missing field is null"
    assert long["crashes"] == 2
    assert long["extra_columns"] == {"unknown": "u", EXTRA_FIELDS: "more\tand more"}
    assert (bad.rows_count, bad.values_count) == (2, 0)
    assert "1 row shorter than the header" in (bad.warning() or "")
    assert "(e.g. line 3: 6 fields for 4 columns)" in (bad.warning() or "")


def test_a_generic_row_keeps_a_long_rows_surplus_in_its_row() -> None:
    bad = BadValues()
    header = ["Date", "Thing"]
    plan = RowPlan(
        header,
        columns=None,
        metadata={},
        row_key=row_key_of(header, app_id="1", report_name="Future", granularity="DAILY"),
        bad=bad,
        delimiter=",",
    )

    assert plan.record(["2026-11-20", "a", "b", "c"])["row"] == {
        "date": "2026-11-20",
        "thing": "a",
        EXTRA_FIELDS: "b,c",
    }
    assert bad.rows_count == 1


@pytest.mark.parametrize(
    ("values", "says"),
    [
        (["2026-11-20", "iPhone", "n/a"], "line 9, column 'Crashes' holds 'n/a', not an integer"),
        (["2026-11-20", "iPhone"], "line 9 has 2 fields for 3 columns (no 'Crashes')"),
        (["2026-11-20", "iPhone", "1", "x"], "line 9 has 4 fields for 3 columns"),
    ],
)
def test_when_values_are_not_kept_the_first_names_its_line_and_column(
    values: list[str], says: str
) -> None:
    plan = crashes_plan(BadValues(lambda: 9, keep=False))

    with pytest.raises(OddRow) as raised:
        plan.record(values)

    assert str(raised.value) == says
