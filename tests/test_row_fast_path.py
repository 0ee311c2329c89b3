"""The rows streams' fast path writes exactly the lines the SDK's record path writes, in the
same order among the other messages, and steps aside whenever the SDK would change a record."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any

import pytest

from tap_segment_analytics.appstore.emit.rows_streams import ReportRows
from tap_segment_analytics.tap import TapSegmentAnalytics
from tests.conftest import AppStore


def sync(config: dict[str, Any]) -> list[dict[str, Any]]:
    """A run in this process: its messages, without the moment each record was extracted."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        TapSegmentAnalytics(config=config).sync_all()
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    for message in messages:
        message.pop("time_extracted", None)
    return messages


def test_the_fast_path_writes_what_the_sdk_path_writes(
    appstore: AppStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # STATE after every instance: on the default clock, a loaded machine would write STATE at
    # other points in the two runs.
    config = appstore.config(appstore_concurrency=1, state_interval_seconds=0)
    fast = sync(config)
    monkeypatch.setattr(ReportRows, "FAST_PATH", False)
    sdk = sync(config)

    assert fast == sdk
    assert sum(m["type"] == "RECORD" and m["stream"] == "appstore_app_crashes" for m in fast)


def test_a_stream_map_or_a_deselected_property_takes_the_sdk_path(appstore: AppStore) -> None:
    maps = {"appstore_app_crashes": {"crashes": "crashes * 10", "device": "__NULL__"}}
    config = appstore.config(appstore_report_names=["App Crashes"], stream_maps=maps)

    records = [
        m["record"] for m in sync(config) if m["type"] == "RECORD"
        and m["stream"] == "appstore_app_crashes"
    ]  # fmt: skip

    assert records
    assert all("device" not in r for r in records)
    assert all(r["crashes"] % 10 == 0 for r in records)
