"""The Braze source as a pipeline, end to end against the fake Braze: the plan is made from the
client's answers, whole, before the first record is emitted."""

from __future__ import annotations

from collections import Counter
from typing import Any

from singer_sdk.singerlib import Message, RecordMessage
from typing_extensions import override

from segment_analytics_sandbox.braze import (
    DATA_SERIES_PATH,
    DETAILS_PATH,
    LIST_PATH,
    FakeBraze,
    sample_segments,
)
from tap_segment_analytics.braze.runtime import BrazeRuntime
from tap_segment_analytics.singer_output import SingerOutput
from tap_segment_analytics.tap import TapSegmentAnalytics
from tests.conftest import braze_config, utc_today

SEGMENTS = 150  # two pages of /segments/list, then an empty one


class FirstRecordWatch(SingerOutput):
    """Discards the messages; at the first RECORD, notes what the fake had been asked."""

    def __init__(self, fake: FakeBraze) -> None:
        super().__init__(discard=True)
        self.fake = fake
        self.asked_before_first_record: Counter[str] | None = None
        self.plan_before_first_record: Any = None
        self.first_record: RecordMessage | None = None
        self.runtime: BrazeRuntime | None = None

    @override
    def write_message(self, message: Message) -> None:
        if isinstance(message, RecordMessage) and self.asked_before_first_record is None:
            self.asked_before_first_record = Counter(r.path for r in self.fake.requests)
            self.first_record = message
            assert self.runtime is not None
            self.plan_before_first_record = self.runtime.plan
        super().write_message(message)


def test_the_plan_is_complete_before_the_first_record_is_emitted() -> None:
    fake = FakeBraze(today=utc_today(), segments=sample_segments(SEGMENTS, today=utc_today()))
    fake.start()
    try:
        watch = FirstRecordWatch(fake)
        tap = TapSegmentAnalytics(
            config=braze_config(fake, braze_concurrency=1), message_writer=watch
        )
        runtime = tap.runtimes()["braze"]
        assert isinstance(runtime, BrazeRuntime)
        watch.runtime = runtime
        tap.sync_all()
    finally:
        fake.stop()

    # Every page of the list, the empty one that ends it too, and of the segments' calls only
    # the one the first record is made of (the SDK writes a segment's children first).
    assert watch.first_record is not None
    assert watch.first_record.stream == "braze_segment_details"
    assert watch.asked_before_first_record == Counter({LIST_PATH: 3, DETAILS_PATH: 1})
    plan = watch.plan_before_first_record
    assert plan.listed_whole
    assert [segment.id for segment in plan.segments()] == [s.id for s in fake.segments]
    units = list(plan.fetch_units())
    # Then exactly the planned calls were made, each once.
    asked = Counter(r.path for r in fake.requests)
    assert asked[DETAILS_PATH] == len(fake.segments)
    assert asked[DATA_SERIES_PATH] == len(units) - len(fake.segments)
