"""What the tap relies on from the singer-sdk where it overrides an SDK internal
(tap_segment_analytics/sdk/): each test runs the behaviour, so an SDK release that changes it
fails here first. The state's exact STATE lines are held by tests/test_golden_output.py too."""

from __future__ import annotations

import contextlib
import inspect
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from singer_sdk import Stream
from singer_sdk.contrib.msgspec import encoder
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers._state import StateWriter, increment_state
from singer_sdk.plugin_base import PluginBase
from singer_sdk.singerlib import StateMessage
from singer_sdk.streams._state import StreamStateManager
from typing_extensions import override

from tap_segment_analytics.sdk.state import (
    ClockedStateWriter,
    IndexedStateManager,
    KeyedStateManager,
    UncopiedStateMessage,
)
from tap_segment_analytics.sdk.streams import ChildPerContext, EmittingStream
from tap_segment_analytics.sdk.tap import AdaptedTap
from tap_segment_analytics.singer_output import SingerOutput
from tap_segment_analytics.tap import TapSegmentAnalytics
from tests.conftest import AppStore
from tests.tap_runner import run_tap


def test_the_overrides_keep_the_sdks_signatures() -> None:
    for ours, theirs in (
        (EmittingStream._write_schema_message, Stream._write_schema_message),
        (ChildPerContext._sync_children, Stream._sync_children),
        (AdaptedTap._validate_config, PluginBase._validate_config),
        (IndexedStateManager.get_context_state, StreamStateManager.get_context_state),
        (IndexedStateManager.finalize_state, StreamStateManager.finalize_state),
        (KeyedStateManager.get_context_state, StreamStateManager.get_context_state),
        (KeyedStateManager.finalize_state, StreamStateManager.finalize_state),
        (ClockedStateWriter.write_state, StateWriter.write_state),
    ):
        assert list(inspect.signature(ours).parameters) == list(
            inspect.signature(theirs).parameters
        )


def test_config_is_prepared_before_the_schema_check_and_checked_after_it(
    appstore: AppStore,
) -> None:
    # AdaptedTap._validate_config: numbers given as text pass the schema as numbers, and the
    # tap's own errors (an incomplete source) fail validation naming the setting.
    tap = TapSegmentAnalytics(config=appstore.config(request_backoff_seconds="0.5"))
    assert tap.config["request_backoff_seconds"] == 0.5

    incomplete = {k: v for k, v in appstore.config().items() if k != "appstore_key_id"}
    with pytest.raises(ConfigValidationError) as raised:
        TapSegmentAnalytics(config=incomplete)
    assert any("appstore_key_id" in error for error in raised.value.errors)


def test_the_cli_entry_holds_its_tap_a_failed_run_ends_with_its_summary_and_one_line(
    appstore: AppStore, tmp_path: Path
) -> None:
    # AdaptedTap.invoke: the run's summary and state come from the tap it made.
    run = run_tap(appstore.config(appstore_api_url="http://127.0.0.1:9"), tmp_path)

    assert run.returncode == 1
    assert "run summary: failed" in run.stderr
    assert "could not reach App Store Connect" in run.stderr
    assert "Traceback" not in run.stderr


def test_the_sdk_leaves_a_partitions_bookmark_to_its_plan_until_the_partition_ends() -> None:
    # appstore/partition_plan.py alone writes an instances partition's bookmark. For a stream
    # with state_partitioning_keys the SDK keeps each record's value in its own progress
    # markers (never sorted-checked: ReportInstances.check_sorted), and promotes it only when
    # the partition ends, when it is the last applied instance's processing date already.
    state: dict[str, Any] = {
        "position": ["2026-03-08", 1, "i2"],
        "replication_key_value": "2026-03-08",
    }
    increment_state(
        state,
        latest_record={"processing_date": "2026-03-01"},
        replication_key="processing_date",
        is_sorted=False,
        check_sorted=False,
    )
    assert state["replication_key_value"] == "2026-03-08"
    assert state["progress_markers"]["replication_key_value"] == "2026-03-01"


def test_one_schema_message_per_stream_and_run(appstore: AppStore, tmp_path: Path) -> None:
    run = run_tap(appstore.config(), tmp_path)

    assert run.returncode == 0, run.stderr
    schemas = Counter(m["stream"] for m in run.messages if m["type"] == "SCHEMA")
    assert set(schemas.values()) == {1}
    assert set(run.record_counts()) <= set(schemas)
    first: dict[str, int] = {}
    for index, message in enumerate(run.messages):
        first.setdefault(f"{message['type']} {message.get('stream')}", index)
    for stream in run.record_counts():
        assert first[f"SCHEMA {stream}"] < first[f"RECORD {stream}"]


def test_a_segment_syncs_only_the_rows_stream_of_its_report(
    appstore: AppStore, tmp_path: Path
) -> None:
    run = run_tap(appstore.config(appstore_report_names=["App Crashes"]), tmp_path)

    assert run.returncode == 0, run.stderr
    schemas = {m["stream"] for m in run.messages if m["type"] == "SCHEMA"}
    assert {s for s in schemas if s.startswith("appstore_app_")} == {"appstore_app_crashes"}


def test_an_instances_dates_follow_its_rows_whatever_order_the_streams_are_listed_in(
    appstore: AppStore, tmp_path: Path
) -> None:
    # ChildPerContext._sync_children: ReportInstances names its children's order (segments,
    # then dates, which count the rows); the SDK's own order is the order of the streams.
    class ReversedTap(TapSegmentAnalytics):
        @override
        def discover_streams(self) -> list[Stream]:
            return list(reversed(super().discover_streams()))

    config = appstore.config(appstore_report_names=["App Crashes"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ReversedTap(config=config).sync_all()
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    rows = Counter(
        (m["record"]["instance_id"], m["record"]["date"])
        for m in messages
        if m["type"] == "RECORD" and m["stream"] == "appstore_app_crashes"
    )
    dates = {
        (m["record"]["instance_id"], m["record"]["date"]): m["record"]["rows"]
        for m in messages
        if m["type"] == "RECORD" and m["stream"] == "appstore_report_dates"
    }
    assert rows
    assert dates == dict(rows)


def test_a_state_message_written_uncopied_is_the_sdks_line() -> None:
    state = {
        "bookmarks": {
            "braze_segment_sizes": {
                "partitions": [
                    {
                        "context": {"segment_id": "s1"},
                        "replication_key": "time",
                        "replication_key_value": "2026-12-01",
                    }
                ]
            },
            "braze_segments": {},
        }
    }
    writer = SingerOutput()

    ours = writer.serialize_message(UncopiedStateMessage(value=state))

    assert ours == writer.serialize_message(StateMessage(value=state))
    assert ours.startswith(b'{"type":"STATE","value":{"bookmarks":')
    # The clocked writer's line, from the state it encoded once, is the same.
    stdout = io.TextIOWrapper(io.BytesIO())
    with contextlib.redirect_stdout(stdout):
        writer.write_encoded_state(encoder.encode(state))
    stdout.flush()
    assert stdout.buffer.getvalue() == ours
