"""The reliability campaign: how many nightly runs land everything through a flaky network, and
what a SIGKILL costs.

For each fault rate and seed, the fakes (12 Braze segments over 250 days; 2 apps, 11 reports,
8 days of App Store instances) fail that share of their requests with every kind of trouble
(tests/campaign.py); the tap's CLI is run as a scheduler would, each run resuming from the last
STATE, until a run exits 0. Then, without faults, the CLI is SIGKILLed at seeded points and
resumed; the downloads are compared with one clean run. Prints faults per kind, runs needed,
whether the landed rows equal the truth, and the extra downloads per kill.

Usage: python benchmarks/fault_campaign.py [SEEDS]   (from the repository root)
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.campaign import fault_counts, instance_of, kill_and_resume, run_cli, start_world
from tests.warehouse import Warehouse

RATES = (0.05, 0.15)
MAX_RUNS = 30
KILLS = 6


def runs_needed(rate: float, seed: int) -> tuple[int, Counter[str], bool, int]:
    """Scheduled runs until one exits 0; faults per kind; rows equal the truth; requests."""
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        world = start_world()
        try:
            plans = world.inject_faults(seed=seed, rate=rate)
            warehouse = Warehouse()
            state = None
            runs = 0
            while runs < MAX_RUNS:
                runs += 1
                run = run_cli(world.config(), directory, state=state)
                warehouse.load(run.messages)
                state = run.last_state or state
                if run.returncode == 0:
                    break
            kinds = sum(fault_counts(plans).values(), Counter[str]())
            requests = sum(len(fake.requests) for fake in world.fakes.values())
            return runs, kinds, world.differences(warehouse) == [], requests
        finally:
            world.stop()


def kill_campaign(seed: int) -> tuple[int, int, list[int], list[int], bool]:
    """Clean downloads, downloads with kills, extra downloads per kill, instances re-read per
    kill, and whether the landed rows equal the truth."""
    with tempfile.TemporaryDirectory() as scratch:
        world = start_world()
        try:
            campaign = kill_and_resume(world, Path(scratch), kills=KILLS, seed=seed)
            again = campaign.read_again()
            return (
                campaign.clean_downloads,
                campaign.downloads,
                [len(keys) for keys in again],
                [len({instance_of(key) for key in keys}) for keys in again],
                world.differences(campaign.warehouse) == [],
            )
        finally:
            world.stop()


def main() -> None:
    seeds = [int(s) for s in sys.argv[1:]] or [1, 2, 3]
    print("fault campaign: runs needed until one run exits 0 (each resuming from the last STATE)")
    for rate in RATES:
        for seed in seeds:
            runs, kinds, exact, requests = runs_needed(rate, seed)
            print(
                f"  {rate:.0%} seed {seed}: {runs} run(s), {sum(kinds.values())} faults in "
                f"{requests} requests, rows equal truth: {exact}; per kind: "
                + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
            )
    print(f"kill and resume: {KILLS} SIGKILLs at seeded points, each run resumed from its STATE")
    for seed in seeds:
        clean, total, extra, instances, exact = kill_campaign(seed)
        print(
            f"  seed {seed}: {total} downloads against {clean} for one clean run "
            f"(+{total - clean}); extra per kill {extra}; instances read again per kill "
            f"{instances}; rows equal truth: {exact}"
        )


if __name__ == "__main__":
    main()
