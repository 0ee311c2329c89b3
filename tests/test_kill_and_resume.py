"""Kill and resume: SIGKILLed at seeded points and resumed from its last STATE, the tap lands
exactly the truth, and each kill costs at most the work since the last STATE it printed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tap_segment_analytics.appstore.instance_plan import Position
from tests.campaign import (
    MOST_FILES_PER_INSTANCE,
    READ_AHEAD_FILES,
    KillCampaign,
    World,
    instance_of,
    kill_and_resume,
    start_world,
)

KILLS = 6
SEED = 7


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
