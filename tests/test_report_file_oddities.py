"""What live report files hold beyond Apple's pages, served by the fake over real HTTP (its
`file_oddities`): no value or row stops a load. A value that is not its column's type lands null
and as written in extra_columns, a short or long row lands whole; each file's count is one
warning line and a run-summary figure; the instance is done, so the next run goes past it and
does not read it again; the reports after it, of the same app and of another, load in the same
run. Values as Apple's (Spark-style) writer writes them are read as meant, with no warning.
`on_bad_value: fail` stops instead, in one line naming report, file, line and column."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from segment_analytics_sandbox.appstore import (
    FILE_ODDITIES,
    LEADING_QUOTE,
    LIVE_HEADERS,
    LONG_ROW,
    ODD_SURPLUS,
    ODD_TITLE,
    REPORT_COLUMNS,
    SHORT_ROW,
    SPARK_ESCAPED,
    SUPPRESSED,
    SUPPRESSED_COUNT,
)
from segment_analytics_sandbox.environment import start_sandbox
from tap_segment_analytics.appstore.reports import report_named, snake_case
from tests.conftest import APP_ID, AppStore, StartAppStore, utc_today
from tests.row_keys import row_key
from tests.tap_runner import TapRun, run_tap

OTHER_APP = "2345678901"
SESSIONS = "App Sessions Standard"
SESSIONS_STREAM = "appstore_app_sessions_standard"
EXPANDED = "App Crashes Expanded"  # comma-separated (the fake's file_quirks)
EXPANDED_STREAM = "appstore_app_crashes_expanded"
ODD_STREAMS = (SESSIONS_STREAM, "appstore_app_downloads_detailed", EXPANDED_STREAM)
EVENTS = "App Store Subscription Event Standard"
EVENTS_STREAM = "appstore_app_store_subscription_event_standard"
LIVE_NAMES = {"Event Group": "Event Grouping", "Event Name": "Event Sub Type"}
EARLIER, ODD, LATER = (utc_today() - timedelta(days=back) for back in (3, 2, 1))


def report_row(report: str, day: Any, n: int) -> dict[str, str]:
    """A row of `report` for the Date before `day`: dimensions `v{n}`, measures `n + 1`."""
    row = {column: f"v{n}" for column in REPORT_COLUMNS[report]}
    row |= {
        "App Apple Identifier": APP_ID,
        "App Download Date": "",
        "Sessions": str(n + 1),
        "Total Session Duration": str(60 * (n + 1)),
        "Unique Devices": str(n + 1),
        "Counts": str(n + 1),
        "Count": str(n + 1),
    }
    date = "Event Date" if report == EVENTS else "Date"
    row[date] = (day - timedelta(days=1)).isoformat()
    return {column: row[column] for column in REPORT_COLUMNS[report]}


@dataclass
class Served:
    """Two apps' instances of one report: the odd one (app APP_ID, processed ODD) between two
    plain ones, and the other app's."""

    store: AppStore
    report: str
    instances: dict[tuple[str, Any], str]  # (app, processing date) → instance id

    @property
    def odd(self) -> str:
        return self.instances[(APP_ID, ODD)]

    def run(self, tmp_path: Path, state: dict[str, Any] | None = None, **settings: Any) -> TapRun:
        config = self.store.config(
            appstore_app_ids=[APP_ID, OTHER_APP], appstore_report_names=[self.report], **settings
        )
        return run_tap(config, tmp_path, state=state)

    def where(self) -> str:
        """How a line names the odd file."""
        (segment,) = self.store.api.instance_segments(self.odd)
        return (
            f"appstore: report '{self.report}' of app {APP_ID}, instance {self.odd} (processed "
            f"{ODD.isoformat()}), segment {segment.id}: "
        )


def serve(store: AppStore, report: str, *oddities: str) -> Served:
    """`report` for both apps on three processing dates, the odd file APP_ID's of ODD."""
    api = store.api
    instances = {}
    for app in (APP_ID, OTHER_APP):
        api.add_app(app)
        for day in (EARLIER, ODD, LATER):
            odd = frozenset(oddities if (app, day) == (APP_ID, ODD) else ())
            rows = [report_row(report, day, n) for n in range(3)]
            instances[(app, day)] = api.add_instance(
                app, report, "DAILY", day, [rows], oddities=odd
            )
    return Served(store, report, instances)


def odd_row(served: Served, run: TapRun, stream: str, n: int = 0) -> dict[str, Any]:
    """The record of the odd file's row `n` (the fake makes the first, the second or the last
    odd)."""
    rows = [r for r in run.records(stream) if r["instance_id"] == served.odd]
    assert len(rows) == 3, "every row of the odd file landed"
    # The other two rows are whole (a short row may lack its App Version).
    others = {f"v{i}" for i in range(3)} - {f"v{n}"}
    (row,) = [r for r in rows if r["app_version"] not in others]
    return row


def assert_loaded_and_done(served: Served, run: TapRun, tmp_path: Path, stream: str) -> None:
    """Exit 0; every instance of both apps landed, the odd one among them, each done (in
    appstore_report_instances, so its bookmark moved); a second run on the final state stops
    on nothing and reads none of them again."""
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    landed = {r["instance_id"] for r in run.records(stream)}
    assert landed == set(served.instances.values()), "the reports after the odd one loaded"
    done = {i["id"] for i in run.records("appstore_report_instances")}
    assert done == set(served.instances.values())

    again = served.run(tmp_path, state=run.final_state)

    assert again.returncode == 0, again.stderr
    assert again.records(stream) == [], "no file is read twice"
    assert not [line for line in again.stderr.splitlines() if served.odd in line]


def warnings_about(served: Served, run: TapRun) -> list[str]:
    """The warning lines naming the odd file (the part after where it is)."""
    where = served.where()
    return [m.removeprefix(where) for m in run.log_messages() if m.startswith(where)]


@pytest.fixture
def store(start_appstore: StartAppStore) -> AppStore:
    return start_appstore()


def test_a_suppressed_count_lands_null_and_as_written_with_one_warning(
    store: AppStore, tmp_path: Path
) -> None:
    served = serve(store, SESSIONS, SUPPRESSED_COUNT)

    run = served.run(tmp_path)

    assert_loaded_and_done(served, run, tmp_path, SESSIONS_STREAM)
    row = odd_row(served, run, SESSIONS_STREAM)
    assert row["sessions"] is None
    assert row["extra_columns"] == {"sessions": SUPPRESSED}
    assert row["unique_devices"] == 1, "the row's other values are read"
    assert warnings_about(served, run) == [
        "1 value not of the column's type, null in the column and kept as written in "
        "extra_columns: 'Sessions' 1 (e.g. '-' on line 2)"
    ]
    assert run.summary()[SESSIONS_STREAM]["bad_values"] == 1
    assert run.summary()["total"]["bad_rows"] == 0


@pytest.mark.parametrize("oddity", [LEADING_QUOTE, SPARK_ESCAPED])
def test_a_title_with_quotes_lands_as_the_developer_typed_it(
    store: AppStore, tmp_path: Path, oddity: str
) -> None:
    served = serve(store, SESSIONS, oddity)

    run = served.run(tmp_path)

    assert_loaded_and_done(served, run, tmp_path, SESSIONS_STREAM)
    row = odd_row(served, run, SESSIONS_STREAM)
    assert row["app_name"] == ODD_TITLE
    assert row["extra_columns"] is None
    assert row["sessions"] == 1
    assert warnings_about(served, run) == [], "Apple's own way of writing is no trouble"
    assert "bad_values" not in run.summary()["total"]


def test_a_comma_separated_file_gets_the_same_reading(store: AppStore, tmp_path: Path) -> None:
    served = serve(store, EXPANDED, SPARK_ESCAPED, SUPPRESSED_COUNT)
    (segment,) = store.api.instance_segments(served.odd)
    header = gzip.decompress(store.s3.object(segment.key)).split(b"\n", 1)[0]
    assert b"\t" not in header, "comma-separated"
    assert b"," in header

    run = served.run(tmp_path)

    assert_loaded_and_done(served, run, tmp_path, EXPANDED_STREAM)
    row = odd_row(served, run, EXPANDED_STREAM)
    assert row["app_name"] == ODD_TITLE
    assert row["count"] is None
    assert row["extra_columns"] == {"count": SUPPRESSED}
    assert run.summary()[EXPANDED_STREAM]["bad_values"] == 1


def test_a_short_row_lands_with_its_missing_field_null_and_one_warning(
    store: AppStore, tmp_path: Path
) -> None:
    served = serve(store, SESSIONS, SHORT_ROW)

    run = served.run(tmp_path)

    assert_loaded_and_done(served, run, tmp_path, SESSIONS_STREAM)
    row = odd_row(served, run, SESSIONS_STREAM, 1)
    (segment,) = store.api.instance_segments(served.odd)
    header = gzip.decompress(store.s3.object(segment.key)).decode().split("\n", 1)[0]
    lacked = snake_case(header.split("\t")[-1])
    assert row[lacked] is None, "the field the row lacks"
    assert row["extra_columns"] is None
    assert warnings_about(served, run) == [
        "1 row shorter than the header, the missing fields null (e.g. line 3: 12 fields for "
        "13 columns)"
    ]
    assert run.summary()[SESSIONS_STREAM]["bad_rows"] == 1


def test_a_long_row_lands_with_its_surplus_kept_and_one_warning(
    store: AppStore, tmp_path: Path
) -> None:
    served = serve(store, SESSIONS, LONG_ROW)

    run = served.run(tmp_path)

    assert_loaded_and_done(served, run, tmp_path, SESSIONS_STREAM)
    row = odd_row(served, run, SESSIONS_STREAM, 2)
    assert row["extra_columns"] == {"_extra_fields": ODD_SURPLUS}
    assert row["sessions"] == 3
    assert warnings_about(served, run) == [
        "1 row longer than the header, the surplus fields kept in extra_columns "
        "'_extra_fields' (e.g. line 4: 14 fields for 13 columns)"
    ]
    assert run.summary()[SESSIONS_STREAM]["bad_rows"] == 1


def test_live_subscription_event_names_land_in_the_documented_columns_under_one_key(
    store: AppStore, tmp_path: Path
) -> None:
    events = report_named(EVENTS)
    assert events is not None
    assert dict(events.header_aliases) == LIVE_NAMES
    served = serve(store, EVENTS, LIVE_HEADERS)

    run = served.run(tmp_path)

    assert_loaded_and_done(served, run, tmp_path, EVENTS_STREAM)
    rows = run.records(EVENTS_STREAM)
    live = [r for r in rows if r["instance_id"] == served.odd]
    assert {r["event_grouping"] for r in live} == {"v0", "v1", "v2"}
    assert {r["event_sub_type"] for r in live} == {"v0", "v1", "v2"}
    assert {r["extra_columns"]["churn_tenure"] for r in live} == {"1 Month"}
    assert all(set(r["extra_columns"]) == {"churn_tenure"} for r in live)
    aliases = {documented: alias for alias, documented in LIVE_NAMES.items()}
    for n in range(3):
        (record,) = [r for r in live if r["event_grouping"] == f"v{n}"]
        documented = report_row(EVENTS, ODD, n) | {"Churn Tenure": "1 Month"}
        as_live = {aliases.get(name, name): value for name, value in documented.items()}
        keys = {
            row_key(app_id=APP_ID, report_name=EVENTS, granularity="DAILY", row=row)
            for row in (documented, as_live)
        }
        assert keys == {record["row_key"]}, "an aliased column is the same column"
    unknown = [m for m in run.log_messages() if "is not in the schema" in m]
    assert len(unknown) == 1
    assert "column 'Churn Tenure'" in unknown[0]


def test_on_bad_value_fail_stops_in_one_line_naming_report_file_line_and_column(
    store: AppStore, tmp_path: Path
) -> None:
    served = serve(store, SESSIONS, SUPPRESSED_COUNT)

    run = served.run(tmp_path, on_bad_value="fail")

    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.error_lines()[-1].endswith(
        f"| {served.where()}line 2, column 'Sessions' holds '-', not an integer "
        "(on_bad_value is fail)"
    )
    assert served.odd not in {i["id"] for i in run.records("appstore_report_instances")}


def test_the_sandbox_with_every_oddity_on_loads_every_file(tmp_path: Path) -> None:
    sandbox = start_sandbox(appstore_days=2, braze_segments=1, file_oddities=FILE_ODDITIES)
    try:
        config = sandbox.tap_config(
            braze_api_key=None,
            braze_rest_endpoint=None,
            appstore_report_names=[SESSIONS, "App Downloads Detailed", EXPANDED],
            request_backoff_seconds=0.01,
        )
        run = run_tap(config, tmp_path)
    finally:
        sandbox.stop()

    assert run.returncode == 0, run.stderr
    files = sum(run.summary()[stream]["files"] for stream in ODD_STREAMS)
    warned = [m for m in run.log_messages() if m.startswith("appstore: report ")]
    assert len(warned) == files, "one warning per file"
    assert run.summary()["total"]["bad_rows"] == 2 * files, "a short and a long row each"
    assert run.summary()["total"]["bad_values"] == files, "a suppressed count each"
    titles = {r.get("page_title") or r["app_name"] for s in ODD_STREAMS for r in run.records(s)}
    assert ODD_TITLE in titles
