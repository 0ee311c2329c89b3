"""Kill and resume: SIGKILLed at seeded points and resumed from its last STATE, the tap lands
exactly the truth, and each kill costs at most the files of the instance it was in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.campaign import (
    MOST_FILES_PER_INSTANCE,
    READ_AHEAD_FILES,
    World,
    kill_and_resume,
    start_world,
)

KILLS = 6
SEED = 7


@pytest.fixture
def world() -> Iterator[World]:
    started = start_world()
    yield started
    started.stop()


def test_killed_runs_resume_where_they_stopped(world: World, tmp_path: Path) -> None:
    campaign = kill_and_resume(world, tmp_path, kills=KILLS, seed=SEED)

    assert campaign.final_returncode == 0, campaign.final_stderr[-3000:]
    assert campaign.kills == KILLS
    assert world.differences(campaign.warehouse) == []
    extra = [len(again) for again in campaign.read_again()]
    for again in campaign.read_again():
        # Only the instance the kill interrupted is read again, and the files read ahead.
        assert len(again) <= MOST_FILES_PER_INSTANCE + READ_AHEAD_FILES, again
    print(
        f"\n{KILLS} kills: {campaign.downloads} downloads against {campaign.clean_downloads} "
        f"for one clean run; extra per kill {extra}"
    )
    assert campaign.downloads - campaign.clean_downloads == sum(extra)
