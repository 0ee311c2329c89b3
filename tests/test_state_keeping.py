"""How state is kept, found and written: STATE on a clock, partitions found through an index,
and bookmarks that cannot be right dropped with a warning."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

from singer_sdk.helpers._state import get_writeable_state_dict
from singer_sdk.helpers.types import TapState
from singer_sdk.singerlib import Message, StateMessage
from singer_sdk.singerlib.encoding.base import GenericSingerWriter
from typing_extensions import override

from tap_segment_analytics.sdk.state import (
    STATE_BYTES_PER_SECOND,
    STATE_INTERVAL_SECONDS,
    STATE_RUN_SHARE,
    ClockedStateWriter,
    IndexedStateManager,
    KeyedStateManager,
    keyed_from_partitions,
)
from tap_segment_analytics.state_reading import read_bookmarks
from tests.conftest import braze_config, segment_bookmarks, utc_today
from tests.fakes import FakeBraze
from tests.tap_runner import run_tap

STREAM = "braze_segment_sizes"
BY_SEGMENT = "replication_key_value_by_segment_id"


class Collected(GenericSingerWriter[str, Message]):
    """The STATE messages written, as JSON text."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    @override
    def serialize_message(self, message: Message) -> str:
        return json.dumps(message.to_dict())

    @override
    def write_message(self, message: Message) -> None:
        assert isinstance(message, StateMessage)
        self.lines.append(self.serialize_message(message))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def state_of(value: int, padding: int = 0) -> TapState:
    return {"bookmarks": {"s": {"value": value, "padding": "x" * padding}}}


def test_state_goes_out_at_most_once_an_interval_and_what_waits_on_flush() -> None:
    output, clock = Collected(), Clock()
    writer = ClockedStateWriter(output, clock=clock)

    for value in range(10):
        writer.write_state(state_of(value))
    assert output.lines == [], "within the first interval nothing goes out"
    clock.now += STATE_INTERVAL_SECONDS
    writer.write_state(state_of(10))
    writer.write_state(state_of(11))
    assert [json.loads(line)["value"]["bookmarks"]["s"]["value"] for line in output.lines] == [10]
    writer.flush()
    writer.flush()
    assert len(output.lines) == 2
    assert json.loads(output.lines[-1])["value"] == state_of(11)


def test_an_unchanged_state_is_not_written_twice() -> None:
    output, clock = Collected(), Clock()
    writer = ClockedStateWriter(output, clock=clock)

    writer.write_state(state_of(1))
    writer.flush()
    clock.now += STATE_INTERVAL_SECONDS
    writer.write_state(state_of(1))
    writer.flush()

    assert len(output.lines) == 1


def test_a_large_state_goes_out_less_often() -> None:
    output, clock = Collected(), Clock()
    writer = ClockedStateWriter(output, clock=clock)
    padding = int(STATE_BYTES_PER_SECOND * STATE_INTERVAL_SECONDS * 4) - 100

    writer.write_state(state_of(0, padding))
    writer.flush()
    clock.now += STATE_INTERVAL_SECONDS * 2
    writer.write_state(state_of(1, padding))
    assert len(output.lines) == 1, "a 4-interval state waits 4 intervals"
    clock.now += STATE_INTERVAL_SECONDS * 2
    writer.write_state(state_of(2, padding))
    assert len(output.lines) == 2


def test_a_long_run_writes_state_as_often_as_the_log_of_its_length() -> None:
    output, clock = Collected(), Clock()
    started = clock.now
    writer = ClockedStateWriter(output, clock=clock)
    hour = 3600

    for second in range(1, hour + 1):
        clock.now = started + second
        writer.write_state(state_of(second))

    written = [json.loads(line)["value"]["bookmarks"]["s"]["value"] for line in output.lines]
    # 45 STATEs in an hour, where every 5 s would be 720 ...
    assert len(written) <= 50, len(written)
    # ... each at most an eighth of the run so far after the one before (a kill's bound) ...
    for before, after in pairwise(written):
        assert after - before <= max(STATE_INTERVAL_SECONDS, before * STATE_RUN_SHARE) + 1
    # ... and the first minute still every 5 s.
    assert written[:4] == [5, 10, 15, 20]


def test_write_next_lets_the_next_state_out_at_once() -> None:
    output = Collected()
    writer = ClockedStateWriter(output, clock=Clock())

    writer.write_next()
    writer.write_state(state_of(1))

    assert len(output.lines) == 1


def test_the_index_finds_the_partitions_the_sdk_would() -> None:
    contexts = [{"app_id": str(a), "report_name": f"r{r}"} for a in range(30) for r in range(5)]
    tap_state: TapState = {
        "bookmarks": {"s": {"partitions": [{"context": c, "n": i} for i, c in enumerate(contexts)]}}
    }
    manager = IndexedStateManager(
        stream_name="s", tap_state=tap_state, state_partitioning_keys=("app_id", "report_name")
    )

    for context in contexts:
        reordered = dict(reversed(list(context.items())))
        found = manager.get_context_state({**reordered, "other": 1})
        assert found is get_writeable_state_dict(tap_state, "s", state_partition_context=context)
    new = manager.get_context_state({"app_id": "new", "report_name": "r"})
    assert tap_state["bookmarks"]["s"]["partitions"][-1] is new
    assert manager.find({"app_id": "new", "report_name": "r"}) is new
    assert manager.find({"app_id": "absent", "report_name": "r"}) is None
    # A list changed behind the index's back is indexed again.
    tap_state["bookmarks"]["s"]["partitions"].pop(0)
    assert manager.find(contexts[0]) is None
    assert manager.find(contexts[1]) is not None


def test_bookmarks_that_are_not_dates_or_in_the_future_are_dropped() -> None:
    today = utc_today()
    state: TapState = {
        "bookmarks": {
            STREAM: {
                "partitions": [
                    {"context": {"segment_id": "a"}, "replication_key_value": "2026-01-01"},
                    {"context": {"segment_id": "b"}, "replication_key_value": "soon"},
                    {"context": {"segment_id": "c"}, "replication_key_value": 17},
                    {
                        "context": {"segment_id": "d"},
                        "replication_key_value": (today + timedelta(days=3)).isoformat(),
                    },
                ]
            },
            "appstore_report_instances": {
                "partitions": [
                    {
                        "context": {"app_id": "1", "report_name": "r", "granularity": "DAILY"},
                        "position": ["2999-01-01", 1, "x"],
                        "replication_key_value": "2999-01-01",
                        "snapshots_read": ["s1"],
                    }
                ]
            },
        }
    }

    warnings = read_bookmarks(state, today)

    assert len(warnings) == 4
    assert "in the future (2999-01-01)" in warnings[0]
    assert "'soon', not a date" in warnings[1]
    assert "{'segment_id': 'b'}" in warnings[1]
    assert state["bookmarks"][STREAM][BY_SEGMENT] == {"a": "2026-01-01"}
    (instances,) = state["bookmarks"]["appstore_report_instances"]["partitions"]
    assert "position" not in instances
    assert instances["snapshots_read"] == ["s1"]


def test_a_state_of_the_previous_layout_moves_into_the_keyed_one() -> None:
    stream_state = {
        "partitions": [
            {
                "context": {"segment_id": "a"},
                "replication_key": "time",
                "replication_key_value": "1",
            },
            {"context": {"segment_id": "b"}, "progress_markers": {"replication_key_value": "2"}},
            {
                "context": {"segment_id": "c"},
                "replication_key": "time",
                "replication_key_value": "3",
            },
            {"context": {"segment_id": "d", "x": 1}, "replication_key_value": "4"},
        ],
        # A state Meltano merged from runs of both layouts: the keyed entry is the newer.
        BY_SEGMENT: {"c": "5"},
    }

    keyed_from_partitions(stream_state, "segment_id")

    assert stream_state == {"replication_key": "time", BY_SEGMENT: {"a": "1", "c": "5"}}


def test_the_keyed_manager_keeps_what_the_sdk_finalizes_by_id() -> None:
    tap_state: TapState = {"bookmarks": {"s": {"replication_key": "t", BY_SEGMENT: {"a": "d1"}}}}
    manager = KeyedStateManager(
        partition_key="segment_id",
        stream_name="s",
        tap_state=tap_state,
        state_partitioning_keys=("segment_id",),
    )
    context = {"segment_id": "a"}
    assert manager.get_starting_replication_value(context, "INCREMENTAL") is None
    manager.write_starting_replication_value(context, "INCREMENTAL", "t", {})
    assert manager.get_starting_replication_value(context, "INCREMENTAL") == "d1"
    for n in (2, 4, 3):  # each value a str object of its own
        manager.increment_state({"t": f"d{n}"}, context=context, replication_key="t")
        manager.increment_state({"t": f"d{n}"}, context={"segment_id": "new"}, replication_key="t")
    # Until the partition ends, the state keeps its value from before.
    assert tap_state["bookmarks"]["s"][BY_SEGMENT] == {"a": "d1"}
    assert manager.find(context) == {
        "context": context,
        "replication_key": "t",
        "replication_key_value": "d1",
    }

    manager.finalize_state(manager.get_context_state(context))

    assert tap_state["bookmarks"]["s"] == {"replication_key": "t", BY_SEGMENT: {"a": "d4"}}
    assert manager.find({"segment_id": "new"}) is None
    manager.finalize_state(manager.get_context_state({"segment_id": "new"}))
    assert tap_state["bookmarks"]["s"][BY_SEGMENT] == {"a": "d4", "new": "d4"}
    # The same day is one str object however many segments hold it.
    by_id = tap_state["bookmarks"]["s"][BY_SEGMENT]
    assert by_id["a"] is by_id["new"]


def test_a_bookmark_in_the_future_warns_and_reads_the_segment_again(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    config = braze_config(fake_braze, braze_concurrency=1)
    segment = fake_braze.segments[0].id
    future = (utc_today() + timedelta(days=30)).isoformat()
    state = {"bookmarks": {STREAM: {BY_SEGMENT: {segment: future}}}}

    run = run_tap(config, tmp_path, state=state)

    assert run.returncode == 0, run.stderr
    assert any(f"is in the future ({future})" in line for line in run.stderr.splitlines())
    assert {r["segment_id"] for r in run.records(STREAM)} >= {segment}
    bookmarks = segment_bookmarks(run.final_state)
    assert bookmarks[segment] == (utc_today() - timedelta(days=1)).isoformat()


def test_a_state_whose_partitions_are_not_what_the_sdk_reads_is_one_line(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    config = braze_config(fake_braze)
    for state, problem in (
        ({"bookmarks": {STREAM: []}}, f"bookmarks.{STREAM} is not an object"),
        ({"bookmarks": {STREAM: {"partitions": {}}}}, "partitions is not a list"),
        ({"bookmarks": {STREAM: {BY_SEGMENT: []}}}, f"{STREAM}.{BY_SEGMENT} is not an object"),
        ({"bookmarks": {STREAM: {"partitions": [{"x": 1}]}}}, "has no 'context' object"),
        (
            {"bookmarks": {STREAM: {"partitions": [{"context": {"segment_id": "a"}}] * 2}}},
            'repeats the context {"segment_id": "a"}',
        ),
    ):
        run = run_tap(config, tmp_path, state=state)

        assert run.returncode == 2
        (line,) = run.stderr.strip().splitlines()
        assert "--state" in line
        assert problem in line
        assert "Traceback" not in run.stderr
        assert run.stdout == "" or not io.StringIO(run.stdout).read().strip()


def test_interval_zero_writes_every_changed_state_as_the_sdk_did() -> None:
    output = Collected()
    writer = ClockedStateWriter(output, interval=0, clock=Clock())

    for value in (1, 2, 2, 3):
        writer.write_state(state_of(value))

    assert len(output.lines) == 3
