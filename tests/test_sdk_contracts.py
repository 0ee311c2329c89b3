"""The private SDK methods the tap overrides are still called where the tap relies on them;
if the SDK changes under an override, these fail instead of the tap silently misbehaving."""

from __future__ import annotations

import inspect
from collections import Counter
from pathlib import Path

from singer_sdk import Stream
from singer_sdk.plugin_base import PluginBase

from tap_segment_analytics.appstore.streams import ReportSegments
from tap_segment_analytics.rest_stream import TapStream
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
