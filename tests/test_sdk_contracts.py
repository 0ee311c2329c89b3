"""The private SDK methods the tap overrides are still called where the tap relies on them;
if the SDK changes under an override, these fail instead of the tap silently misbehaving."""

from __future__ import annotations

import contextlib
import inspect
import io
from collections import Counter
from pathlib import Path
from typing import Any

from singer_sdk import RESTStream, Stream, Tap
from singer_sdk.contrib.msgspec import encoder
from singer_sdk.helpers._state import StateWriter, increment_state
from singer_sdk.plugin_base import PluginBase
from singer_sdk.singerlib import StateMessage
from singer_sdk.streams._state import StreamStateManager

from tap_segment_analytics.appstore.segments_stream import ReportSegments
from tap_segment_analytics.rest_stream import TapStream
from tap_segment_analytics.sdk.state import (
    ClockedStateWriter,
    IndexedStateManager,
    KeyedStateManager,
    UncopiedStateMessage,
)
from tap_segment_analytics.singer_output import SingerOutput
from tap_segment_analytics.tap import TapSegmentAnalytics
from tests.conftest import AppStore
from tests.tap_runner import run_tap


def test_the_sdk_still_calls_the_methods_the_tap_overrides() -> None:
    assert "self._write_schema_message()" in inspect.getsource(Stream.sync)
    assert "self._sync_children(" in inspect.getsource(Stream._process_record)
    assert "self._validate_config(" in inspect.getsource(PluginBase.__init__)
    # The tap replaces the SDK's SIGTERM/SIGINT handlers after PluginBase.__init__ installs them.
    assert "self._setup_signal_handlers()" in inspect.getsource(PluginBase.__init__)
    for ours, theirs in (
        (TapStream._write_schema_message, Stream._write_schema_message),
        (ReportSegments._sync_children, Stream._sync_children),
        (TapSegmentAnalytics._validate_config, PluginBase._validate_config),
    ):
        assert list(inspect.signature(ours).parameters) == list(
            inspect.signature(theirs).parameters
        )


def test_the_sdk_invoke_the_tap_repeats_is_still_the_same() -> None:
    # TapSegmentAnalytics.invoke repeats Tap.invoke's lines to hold the tap it makes: if the
    # SDK's changes, the copy must be looked at again.
    body = inspect.getsource(Tap.invoke)
    code = body[body.index('"""', body.index('"""') + 3) + 3 :]
    lines = [line.strip() for line in code.splitlines() if line.strip()]
    assert lines == [
        "super().invoke(about=about, about_format=about_format)",
        "cls.print_version(print_fn=cls.logger.info)",
        "config = config or _ConfigInput()",
        "tap = cls(",
        "config=config.config,",
        "state=None if state is None else load_json(state.read()),",
        "catalog=None if catalog is None else load_json(catalog.read()),",
        "parse_env_config=config.parse_env,",
        "validate_config=True,",
        ")",
        "tap.sync_all()",
    ]
    assert list(inspect.signature(TapSegmentAnalytics.invoke).parameters) == list(
        inspect.signature(Tap.invoke).parameters
    )


def test_the_sdk_still_keeps_and_writes_state_where_sdk_state_hooks_in() -> None:
    # Streams write STATE through the tap's public `state_writer` (the clocked one) ...
    assert "self._tap.state_writer.write_state(" in inspect.getsource(Stream._write_state_message)
    # ... and the run's first STATE through the SDK's own writer.
    assert "self._state_writer.write_state(self.state)" in inspect.getsource(Tap.sync_all)
    # The manager lives in `_state_manager`, made from `_tap_state`, and finds partitions
    # through `get_context_state` (which the index replaces).
    made = inspect.getsource(inspect.getattr_static(Stream, "state_manager").fget)
    assert "self._state_manager = StreamStateManager(" in made
    assert "tap_state=self._tap_state" in made
    # A sync without a context ends by finalizing the stream's own state, then writing STATE.
    sync_records = inspect.getsource(Stream._sync_records)
    assert sync_records.index("self._finalize_state(self.stream_state)") < sync_records.rindex(
        "self._write_state_message()"
    )
    assert "self.state_manager.finalize_state(state)" in inspect.getsource(Stream._finalize_state)
    assert "self.finalize_state(state)" in inspect.getsource(
        StreamStateManager.finalize_progress_markers
    )
    for method in (
        "increment_state",
        "write_starting_replication_value",
        "finalize_progress_markers",
    ):
        assert "self.get_context_state(" in inspect.getsource(getattr(StreamStateManager, method))
    for ours, theirs in (
        (IndexedStateManager.get_context_state, StreamStateManager.get_context_state),
        (IndexedStateManager.finalize_state, StreamStateManager.finalize_state),
        (KeyedStateManager.get_context_state, StreamStateManager.get_context_state),
        (KeyedStateManager.finalize_state, StreamStateManager.finalize_state),
        (ClockedStateWriter.write_state, StateWriter.write_state),
    ):
        assert list(inspect.signature(ours).parameters) == list(
            inspect.signature(theirs).parameters
        )
    assert list(inspect.signature(StateWriter.__init__).parameters) == ["self", "message_writer"]


def test_the_sdk_finalizes_a_partition_through_the_object_it_worked_on() -> None:
    # KeyedStateManager hands the SDK a partition object while the partition syncs and takes
    # its value when the SDK finalizes that same object, which it gets again from
    # `get_context_state` once the context's records are done (its context being exactly the
    # state partition's, as Braze's {segment_id} is).
    sync_records = inspect.getsource(Stream._sync_records)
    ending = sync_records[sync_records.index("if current_context == state_partition_context:") :]
    assert ending.index("state = self.get_context_state(current_context)") < ending.index(
        "self._finalize_state(state)"
    )
    # The starting value is read from the partition object only under the same replication key.
    starting = inspect.getsource(StreamStateManager.write_starting_replication_value)
    assert 'replication_key == state.get("replication_key")' in starting
    assert 'rk_value = state.get("replication_key_value")' in starting


def test_the_sdk_leaves_a_partitions_bookmark_to_its_plan_until_the_partition_ends() -> None:
    # appstore/partition_plan.py alone writes an instances partition's bookmark. For a stream
    # with state_partitioning_keys the SDK keeps each record's value in its own progress
    # markers (never sorted-checked: ReportInstances.check_sorted), and promotes it only when
    # the partition ends, when it is the last applied instance's processing date already.
    assert "treat_as_sorted = self._is_sorted and self.state_partitioning_keys is None" in (
        inspect.getsource(StreamStateManager.increment_state)
    )
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


def test_a_segment_syncs_only_the_rows_stream_of_its_report(
    appstore: AppStore, tmp_path: Path
) -> None:
    run = run_tap(appstore.config(appstore_report_names=["App Crashes"]), tmp_path)

    assert run.returncode == 0, run.stderr
    schemas = {m["stream"] for m in run.messages if m["type"] == "SCHEMA"}
    assert {s for s in schemas if s.startswith("appstore_app_")} == {"appstore_app_crashes"}


def test_the_sdk_syncs_a_parents_children_before_it_reads_the_next_page() -> None:
    # A parent's child streams are synced while its record is processed (a Braze segment's
    # details and sizes right after its list record), and a REST stream requests its next page
    # only once the records of the last one are all processed.
    assert "self._process_record(" in inspect.getsource(Stream._sync_records)
    assert "self._sync_children(" in inspect.getsource(Stream._process_record)
    request_records = inspect.getsource(RESTStream.request_records)
    loop = request_records[request_records.index("while not paginator.finished") :]
    assert loop.index("self.parse_response(resp)") < loop.index("yield from records")
    assert loop.index("yield from records") < loop.rindex("paginator.advance(resp)")


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
