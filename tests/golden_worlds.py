"""The sandbox worlds of the golden-output test, on one frozen clock shared by the fakes (in this
process) and the tap (a subprocess that moves its own clock to the same instant at start)."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import time_machine

from segment_analytics_sandbox.environment import APP_IDS, start_sandbox
from tests.campaign import CliRun, World, run_cli
from tests.golden_files import normalised
from tests.warehouse import Warehouse

# A Wednesday at noon: every date the fakes serve and the tap asks for follows from it, and no
# run reaches midnight. Golden files do not depend on the real date.
FROZEN_AT = datetime(2026, 3, 18, 12, 0, tzinfo=timezone.utc)
# A few reports: a plain one, a Detailed one (empty fields written `""`), the comma-separated
# one, and one the catalogue does not know (it lands in appstore_report_rows).
REPORTS = [
    "App Downloads Standard",
    "App Downloads Detailed",
    "App Crashes Expanded",
    "App Store Web Previews",
]
SETTINGS: dict[str, Any] = {
    "state_interval_seconds": 0,  # a STATE after every bookmark move, not on a clock
    "appstore_granularities": ["DAILY", "WEEKLY"],
    "appstore_report_names": REPORTS,
}
SNAPSHOT_HISTORY_DAYS = 20


def batch_root(directory: Path) -> Path:
    """Where runs in `directory` write BATCH files."""
    return directory / "batches"


def batch_settings(directory: Path) -> dict[str, Any]:
    """BATCH messages of gzipped JSONL files under `batch_root(directory)`."""
    return {
        "batch_config": {
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": str(batch_root(directory))},
        }
    }


@dataclass
class GoldenWorld:
    """A campaign world whose clock is frozen at FROZEN_AT (ticking) for the fakes and the tap."""

    world: World
    traveller: time_machine.Traveller

    def run(
        self,
        directory: Path,
        *,
        state: dict[str, Any] | None = None,
        kill_after_records: int | None = None,
        **settings: Any,
    ) -> CliRun:
        """One run of the tap at this world's time (SETTINGS, then `settings`)."""
        config = self.world.config(**{**SETTINGS, **settings})
        return run_cli(
            config,
            directory,
            state=state,
            kill_after_records=kill_after_records,
            frozen_at=time.time(),
        )

    def lines(self, run: CliRun, directory: Path) -> list[str]:
        """The stdout of a run in `directory`, normalised for golden files."""
        placeholders = {fake.base_url: f"<{name}>" for name, fake in self.world.fakes.items()}
        placeholders[batch_root(directory).as_uri()] = "<batch root>"
        return normalised(run.stdout, placeholders)

    def next_day(self) -> None:
        """A day passes: Braze has one more day, App Store Connect processes yesterday's
        instances."""
        processed = self.world.braze.today
        self.traveller.shift(timedelta(days=1))
        self.world.braze.today = processed + timedelta(days=1)
        self.world.appstore.publish_day(app_ids=list(APP_IDS), processing=processed)


@contextmanager
def frozen_world() -> Iterator[GoldenWorld]:
    """The sandbox (both sources, two apps) started and run at FROZEN_AT."""
    with time_machine.travel(FROZEN_AT, tick=True) as traveller:
        world = World(start_sandbox(today=FROZEN_AT.date()))
        try:
            yield GoldenWorld(world, traveller)
        finally:
            world.stop()


def nightly_runs(world: GoldenWorld, directory: Path, **settings: Any) -> list[list[str]]:
    """A first run, then a day later a second one from its last STATE: both runs' lines (each
    read before the next run, which deletes the BATCH files of the one before)."""
    first = world.run(directory, **settings)
    assert first.returncode == 0, first.stderr[-3000:]
    lines = [world.lines(first, directory)]
    world.next_day()
    second = world.run(directory, state=first.final_state, **settings)
    assert second.returncode == 0, second.stderr[-3000:]
    return [*lines, world.lines(second, directory)]


def with_snapshot(world: GoldenWorld) -> GoldenWorld:
    """The first app's ONE_TIME_SNAPSHOT request made and ready (one instance a past day)."""
    world.world.appstore.add_snapshot(APP_IDS[0])
    world.world.appstore.publish_snapshot(APP_IDS[0], history_days=SNAPSHOT_HISTORY_DAYS)
    return world


@dataclass
class Resumed:
    """What runs killed at seeded points, each resumed from the last STATE, left behind."""

    warehouse: Warehouse
    final_state: dict[str, Any]
    kills: int


def killed_and_resumed(
    world: GoldenWorld, directory: Path, *, records: int, kills: int, seed: int
) -> Resumed:
    """Runs SIGKILLed after a seeded number of records (of the `records` a whole run prints),
    each from the last STATE before it, then one run to the end; their records upserted."""
    rng = random.Random(seed)
    warehouse = Warehouse()
    state = None
    for killed in range(kills + 1):
        kill_at = rng.randint(50, records // 3) if killed < kills else None
        run = world.run(directory, state=state, kill_after_records=kill_at)
        warehouse.load(json.loads(line) for line in world.lines(run, directory))
        state = run.last_state or state
        if not run.killed:
            assert run.returncode == 0, run.stderr[-3000:]
            assert run.last_state is not None
            return Resumed(warehouse, run.last_state, killed)
    raise AssertionError("the last run was killed")
