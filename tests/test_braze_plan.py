"""The Braze plan alone, no HTTP: which calls a run makes for each listed segment, and in
which order."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tap_segment_analytics.braze.plan.segment_plan import (
    DetailsCall,
    SegmentPlan,
    SegmentSettings,
    SizesCall,
)
from tap_segment_analytics.braze.plan.windows import Window, plan_windows
from tap_segment_analytics.errors import SourceError

RUN_DAY = date(2026, 12, 2)
SETTINGS = SegmentSettings(start_date=date(2026, 8, 1), run_day=RUN_DAY, lookback_days=3)


def listed(*ids: str, untracked: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """A page of `/segments/list` as Braze sends it."""
    return [
        {
            "id": segment_id,
            "name": f"Segment {segment_id}",
            "analytics_tracking_enabled": segment_id not in untracked,
            "tags": ["a tag"],
        }
        for segment_id in ids
    ]


def test_each_segment_brings_its_details_then_its_windows_in_list_order() -> None:
    plan = SegmentPlan(SETTINGS)

    plan.list_page(listed("s1", "s2"))

    first_run = [Window(date(2026, 8, 1), date(2026, 11, 8)), Window(date(2026, 11, 8), RUN_DAY)]
    assert list(plan.fetch_units()) == [
        DetailsCall("s1"),
        *(SizesCall("s1", window) for window in first_run),
        DetailsCall("s2"),
        *(SizesCall("s2", window) for window in first_run),
    ]


def test_a_bookmarked_segment_is_read_from_its_bookmark_less_the_lookback() -> None:
    bookmarks = {"s1": "2026-11-30"}
    plan = SegmentPlan(SETTINGS, bookmark=bookmarks.get)

    plan.list_page(listed("s1", "s2"))

    assert plan.segment("s1").sizes == (SizesCall("s1", Window(date(2026, 11, 27), RUN_DAY)),)
    assert plan.segment("s2").sizes[0].window.start == SETTINGS.start_date


def test_an_untracked_segment_has_details_and_size_calls() -> None:
    # Braze's docs tie analytics tracking to dashboard tools, not to the size series: asked.
    plan = SegmentPlan(SETTINGS)

    plan.list_page(listed("s1", untracked=("s1",)))

    windows = plan_windows(SETTINGS.start_date, RUN_DAY)
    assert list(plan.fetch_units()) == [
        DetailsCall("s1"),
        *(SizesCall("s1", window) for window in windows),
    ]


def test_only_the_selected_streams_calls_are_planned() -> None:
    sizes_only = SegmentPlan(SETTINGS, details=False)
    details_only = SegmentPlan(SETTINGS, sizes=False)

    sizes_only.list_page(listed("s1"))
    details_only.list_page(listed("s1"))

    assert all(isinstance(unit, SizesCall) for unit in sizes_only.fetch_units())
    assert list(details_only.fetch_units()) == [DetailsCall("s1")]


def test_configured_ids_keep_only_their_segments_and_name_the_missing_ones() -> None:
    settings = SegmentSettings(
        start_date=SETTINGS.start_date, run_day=RUN_DAY, wanted_ids=frozenset({"s2", "gone"})
    )
    plan = SegmentPlan(settings, sizes=False)

    plan.list_page(listed("s1", "s2"))
    plan.list_page(listed("s3"))

    assert not plan.wanted("s1")
    assert plan.missing_ids() == ["gone"]


def test_the_plan_keeps_the_page_being_synced_only() -> None:
    plan = SegmentPlan(SETTINGS, sizes=False)
    plan.list_page(listed("s1", "s2"))

    plan.list_page(listed("s3"))

    assert list(plan.fetch_units()) == [DetailsCall("s3")]
    with pytest.raises(KeyError):
        plan.segment("s1")


def test_a_segment_listed_again_is_planned_once() -> None:
    plan = SegmentPlan(SETTINGS, sizes=False)
    plan.list_page(listed("s1", "s2"))

    page = plan.list_page(listed("s2", "s3"))

    assert page.repeated == ["s2"]
    assert list(plan.fetch_units()) == [DetailsCall("s3")]
    with pytest.raises(SourceError, match="ignore 'page'"):
        plan.list_page(listed("s3"))


def test_a_deleted_segment_is_reported_once() -> None:
    plan = SegmentPlan(SETTINGS)

    assert plan.first_deletion("s1")
    assert not plan.first_deletion("s1")


def test_settings_come_from_the_tap_config() -> None:
    config = {"start_date": "2026-08-01T00:00:00Z", "braze_segment_ids": ["s1"]}

    settings = SegmentSettings.from_config(config, RUN_DAY)

    assert settings == SegmentSettings(
        start_date=date(2026, 8, 1), run_day=RUN_DAY, lookback_days=3, wanted_ids=frozenset({"s1"})
    )
