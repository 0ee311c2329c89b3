"""Kill and resume: SIGKILLed at seeded points and resumed from its last STATE, the tap lands
exactly the truth, and each kill costs at most the work since the last STATE it printed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tap_segment_analytics.appstore.plan.instance_plan import Position
from tap_segment_analytics.braze.plan.segment_plan import DEFAULT_LOOKBACK_DAYS as LOOKBACK_DAYS
from tests.campaign import (
    MOST_FILES_PER_INSTANCE,
    READ_AHEAD_FILES,
    KillCampaign,
    World,
    instance_of,
    kill_and_resume,
    run_cli,
    start_world,
)
from tests.conftest import segment_bookmarks

KILLS = 6
SEED = 7
# The last STATE of runs of the previous release, killed at two points (how: in the file).
PREVIOUS_RELEASE_STATES = Path(__file__).parent / "states" / "previous_release.json"
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def bookmark_of(state: dict[str, Any] | None, instance: dict[str, Any]) -> Position | None:
    """The position a state holds for the instance's partition."""
    instances = (state or {}).get("bookmarks", {}).get("appstore_report_instances", {})
    partition = {k: instance[k] for k in ("app_id", "report_name", "granularity")}
    for saved in instances.get("partitions", []):
        if saved["context"] == partition:
            return Position.from_state(saved)
    return None


@pytest.fixture
def world() -> Iterator[World]:
    started = start_world()
    yield started
    started.stop()


def test_killed_runs_resume_where_they_stopped(world: World, tmp_path: Path) -> None:
    # With a STATE after every instance (`state_interval_seconds` 0).
    campaign = kill_and_resume(world, tmp_path, kills=KILLS, seed=SEED, state_interval_seconds=0)

    assert campaign.final_returncode == 0, campaign.final_stderr[-3000:]
    assert campaign.kills == KILLS
    assert world.differences(campaign.warehouse) == []
    extra = [len(again) for again in campaign.read_again()]
    for again in campaign.read_again():
        # Only the instance the kill interrupted is read again, and the files read ahead.
        assert len(again) <= MOST_FILES_PER_INSTANCE + READ_AHEAD_FILES, again
    assert_reread_only_after_the_last_state(campaign)
    print(
        f"\n{KILLS} kills: {campaign.downloads} downloads against {campaign.clean_downloads} "
        f"for one clean run; extra per kill {extra}"
    )
    assert campaign.downloads - campaign.clean_downloads == sum(extra)


def test_on_the_clock_a_kill_costs_at_most_the_work_since_the_last_state(
    world: World, tmp_path: Path
) -> None:
    campaign = kill_and_resume(world, tmp_path, kills=3, seed=SEED)

    assert campaign.final_returncode == 0, campaign.final_stderr[-3000:]
    assert world.differences(campaign.warehouse) == []
    assert_reread_only_after_the_last_state(campaign)


def assert_reread_only_after_the_last_state(campaign: KillCampaign) -> None:
    """The files a later run read again are of instances the killed run's last STATE (the
    next run's --state) had not passed: a kill costs at most the work since that STATE."""
    for index, again in enumerate(campaign.read_again()):
        resumed_from = campaign.states_per_run[index + 1]
        for key in again:
            instance = campaign.instances[instance_of(key)]
            bookmark = bookmark_of(resumed_from, instance)
            assert bookmark is None or Position.of(instance) > bookmark, (key, bookmark)


def shifted(value: Any, days: int) -> Any:
    """`value` with every ISO date in its strings moved by `days`."""
    if isinstance(value, dict):
        return {k: shifted(v, days) for k, v in value.items()}
    if isinstance(value, list):
        return [shifted(v, days) for v in value]
    if isinstance(value, str):
        return ISO_DATE.sub(
            lambda m: (date.fromisoformat(m.group()) + timedelta(days=days)).isoformat(), value
        )
    return value


@pytest.mark.parametrize("point", ["mid_appstore", "mid_braze"])
def test_a_state_written_by_the_previous_release_resumes_exactly(
    world: World, tmp_path: Path, point: str
) -> None:
    saved = json.loads(PREVIOUS_RELEASE_STATES.read_text())
    days = (world.sandbox.today - date.fromisoformat(saved["produced_on"])).days
    state = shifted(saved[point], days)
    clean = run_cli(world.config(), tmp_path)
    assert clean.returncode == 0, clean.stderr[-3000:]

    resumed = run_cli(world.config(), tmp_path, state=state)

    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # App Store: exactly the instances after each partition's saved position.
    expected = {
        i["id"]
        for i in clean.records("appstore_report_instances")
        if (bookmark := bookmark_of(state, i)) is None or Position.of(i) > bookmark
    }
    assert {i["id"] for i in resumed.records("appstore_report_instances")} == expected
    # Braze: each segment from its saved bookmark less the lookback days, others in full.
    bookmarks = segment_bookmarks(state)
    first_days: dict[str, str] = {}
    for record in clean.records("braze_segment_sizes"):
        first_days.setdefault(record["segment_id"], record["time"])
        first_days[record["segment_id"]] = min(first_days[record["segment_id"]], record["time"])
    for segment_id, first_day in first_days.items():
        days_read = [r["time"] for r in resumed.records("braze_segment_sizes")
                     if r["segment_id"] == segment_id]  # fmt: skip
        segment_bookmark = bookmarks.get(segment_id)
        expected_first = (
            (date.fromisoformat(segment_bookmark) - timedelta(days=LOOKBACK_DAYS)).isoformat()
            if segment_bookmark
            else first_day
        )
        assert min(days_read) == expected_first, segment_id
