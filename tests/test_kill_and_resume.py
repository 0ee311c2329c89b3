"""Kill and resume: SIGKILLed at seeded points and resumed from its last STATE, the tap lands
exactly the truth, and each kill costs at most the files of the instance it was in."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.campaign import (
    MOST_FILES_PER_INSTANCE,
    READ_AHEAD_FILES,
    World,
    run_cli,
    start_world,
)
from tests.warehouse import Warehouse

KILLS = 6
SEED = 7


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    started = start_world(tmp_path)
    yield started
    started.stop()


def test_killed_runs_resume_where_they_stopped(world: World, tmp_path: Path) -> None:
    clean = run_cli(world.config(), tmp_path)
    assert clean.returncode == 0, clean.stderr[-3000:]
    clean_downloads = len(world.s3.downloads)
    world.s3.downloads.clear()

    rng = random.Random(SEED)
    warehouse = Warehouse()
    state = None
    downloads_per_run: list[list[str]] = []
    kills = 0
    while True:
        before = len(world.s3.downloads)
        kill_at = rng.randint(50, clean.record_count() // 3) if kills < KILLS else None
        run = run_cli(world.config(), tmp_path, state=state, kill_after_records=kill_at)
        downloads_per_run.append(world.s3.downloads[before:])
        warehouse.load(run.messages)
        state = run.last_state or state
        if not run.killed:
            assert run.returncode == 0, run.stderr[-3000:]
            break
        kills += 1

    assert kills == KILLS
    assert world.differences(warehouse) == []
    total = sum(len(d) for d in downloads_per_run)
    extra = []
    for index, killed in enumerate(downloads_per_run[:-1]):
        later = {key for run in downloads_per_run[index + 1 :] for key in run}
        again = [key for key in killed if key in later]
        extra.append(len(again))
        # Only the instance the kill interrupted is read again, and the files read ahead.
        assert len(again) <= MOST_FILES_PER_INSTANCE + READ_AHEAD_FILES, again
    print(
        f"\n{KILLS} kills: {total} downloads against {clean_downloads} for one clean run; "
        f"extra per kill {extra}"
    )
    assert total - clean_downloads == sum(extra)
