"""Fault campaign: one nightly run through a flaky network finishes and lands the truth.

Every fake fails a seeded share of its requests with the kinds of trouble its real peer makes
(resets, bodies cut midway, stalls, HTML and empty 200s, cut-off JSON, 429s without
Retry-After, a token refused once, expired URLs, corrupt and truncated files). One run must
finish with exit 0, and the records, upserted by key, must equal the fakes' truth.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.campaign import World, fault_counts, run_cli, start_world
from tests.warehouse import Warehouse


@pytest.fixture
def world() -> Iterator[World]:
    started = start_world()
    yield started
    started.stop()


@pytest.mark.parametrize(("rate", "seed"), [(0.05, 5), (0.15, 15)], ids=["5%", "15%"])
def test_one_run_through_seeded_faults_finishes_and_lands_the_truth(
    world: World, tmp_path: Path, rate: float, seed: int
) -> None:
    plans = world.inject_faults(seed=seed, rate=rate)

    run = run_cli(world.config(), tmp_path)

    counts = fault_counts(plans)
    requests = {name: len(fake.requests) for name, fake in world.fakes.items()}
    print(f"\nfaults at {rate:.0%} (seed {seed}), per fake and kind: {counts}; requests {requests}")
    assert run.returncode == 0, run.stderr[-3000:]
    warehouse = Warehouse()
    warehouse.load(run.messages)
    assert world.differences(warehouse) == []
    injected = sum(plan.total for plan in plans.values())
    assert injected >= rate * sum(requests.values()) / 2, "the faults really happened"
    assert len({kind for c in counts.values() for kind in c}) >= 6, "of many kinds"
