"""A world of fake APIs with realistic data, and the tap's CLI run against it as a scheduler
would: through seeded faults, killed at seeded points and resumed from its last STATE.

Used by the fault-campaign and kill-and-resume tests and by benchmarks/fault_campaign.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import IO, Any

from segment_analytics_sandbox import faults
from segment_analytics_sandbox.environment import APP_IDS, Sandbox, start_sandbox
from segment_analytics_sandbox.faults import FaultPlan
from tap_segment_analytics.appstore.fetch.app_fetch import FILES_AHEAD_PER_WORKER
from tap_segment_analytics.appstore.plan.app_plan import DEFAULT_CONCURRENCY
from tests.fakes import FakeAPI, FakeAppStoreConnect, FakeBraze, FakeS3
from tests.tap_runner import (
    TapRun,
    assert_no_secret,
    config_arguments,
    config_secrets,
    start_tap,
)
from tests.warehouse import Warehouse, appstore_differences, braze_differences

BRAZE_SEGMENTS = 12
BRAZE_DAYS = 250
# The sandbox's instances have one or two files; the tap reads this many files ahead.
MOST_FILES_PER_INSTANCE = 2
READ_AHEAD_FILES = FILES_AHEAD_PER_WORKER * DEFAULT_CONCURRENCY
# A stalled request holds its connection this long; the tap's read timeout is shorter.
STALL_SECONDS = 3.0
TIMEOUT_SECONDS = 1


@dataclass
class World:
    """The sandbox's fakes, larger, and the truth they hold."""

    sandbox: Sandbox

    @property
    def braze(self) -> FakeBraze:
        return self.sandbox.braze

    @property
    def appstore(self) -> FakeAppStoreConnect:
        return self.sandbox.appstore

    @property
    def s3(self) -> FakeS3:
        return self.sandbox.s3

    def config(self, **overrides: Any) -> dict[str, Any]:
        """Both sources, fast retries, a short read timeout (stalls end quickly)."""
        return self.sandbox.tap_config(
            request_backoff_seconds=0.01, request_timeout_seconds=TIMEOUT_SECONDS, **overrides
        )

    @property
    def fakes(self) -> dict[str, FakeAPI]:
        return {"braze": self.braze, "appstore": self.appstore, "s3": self.s3}

    def inject_faults(self, *, seed: int, rate: float) -> dict[str, FaultPlan]:
        """Fail `rate` of every fake's requests, each with a kind its real peer suffers."""
        plans = {
            name: FaultPlan(
                seed=seed,
                rate=rate,
                kinds=faults.FILE_FAULTS if name == "s3" else faults.API_FAULTS,
                stall_seconds=STALL_SECONDS,
            )
            for name in self.fakes
        }
        for name, fake in self.fakes.items():
            fake.fault_plan = plans[name]
        return plans

    def differences(self, warehouse: Warehouse) -> list[str]:
        """What the warehouse lacks or holds wrongly, per source (empty: it equals the truth)."""
        found = []
        if braze := braze_differences(warehouse, self.braze, self.sandbox.start_date):
            found.append(f"braze_segment_sizes: {braze}")
        if appstore := appstore_differences(warehouse, self.appstore, APP_IDS):
            found.append(f"report rows: {appstore}")
        return found

    def stop(self) -> None:
        self.sandbox.stop()


def start_world() -> World:
    """Start the sandbox with 12 Braze segments over 250 days (2 apps, 11 reports, 8 days)."""
    return World(start_sandbox(braze_segments=BRAZE_SEGMENTS, braze_days=BRAZE_DAYS))


@dataclass
class CliRun(TapRun):
    """One run of the tap's CLI (its messages read as they came, and `stdout` their complete
    lines), and whether it was killed."""

    killed: bool = False

    @property
    def last_state(self) -> dict[str, Any] | None:
        """The last STATE it printed, if any."""
        return self.states[-1] if self.states else None


def run_cli(
    config: dict[str, Any],
    directory: Path,
    *,
    state: dict[str, Any] | None = None,
    kill_after_records: int | None = None,
    timeout: float = 600,
    frozen_at: float | None = None,
) -> CliRun:
    """Run the tap (its clock moved to `frozen_at`, ticking, if given); SIGKILL it once it
    has printed `kill_after_records` records.

    Everything it printed before dying is read (a target would have received it); a line cut
    by the kill is dropped.
    """
    arguments = config_arguments(config, directory, state=state)
    stderr_path = directory / "stderr.log"
    run = CliRun(returncode=0, stdout="", stderr="")
    records = 0
    lines = []
    with tap_output(arguments, directory, stderr_path, frozen_at) as (output, process):
        for line in output:
            if not line.endswith("\n"):
                break  # cut off by the kill
            lines.append(line)
            message = json.loads(line)
            run.messages.append(message)
            if message["type"] == "RECORD":
                records += 1
                if records == kill_after_records:
                    os.kill(process.pid, signal.SIGKILL)
                    run.killed = True
        run.returncode = process.wait(timeout=timeout)
    run.stdout = "".join(lines)
    run.stderr = stderr_path.read_text()
    assert_no_secret((json.dumps(run.messages), run.stderr), config_secrets(config))
    return run


@dataclass
class _Forked:
    """A tap started by `start_tap`, waited for as a Popen is."""

    process: BaseProcess

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def wait(self, timeout: float) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()
            raise subprocess.TimeoutExpired("tap-segment-analytics", timeout)
        return self.process.exitcode


@contextmanager
def tap_output(
    arguments: list[str], directory: Path, stderr_path: Path, frozen_at: float | None
) -> Iterator[tuple[IO[str], _Forked]]:
    """The tap's stdout (through a FIFO) as it comes, and the started tap (tests/tap_runner.py's
    `start_tap`)."""
    fifo = directory / "stdout.fifo"
    with contextlib.suppress(FileNotFoundError):
        fifo.unlink()
    os.mkfifo(fifo, 0o600)
    (directory / "stdin").write_text("")
    process = start_tap(
        arguments, stdin=directory / "stdin", stdout=fifo, stderr=stderr_path, frozen_at=frozen_at
    )
    try:
        with fifo.open(encoding="utf-8") as output:
            yield output, _Forked(process)
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        fifo.unlink()


def instance_of(key: str) -> str:
    """The instance a report file belongs to, from its S3 key (…/<instance id>/<n>.csv.gz)."""
    return key.rsplit("/", 2)[-2]


def fault_counts(plans: dict[str, FaultPlan]) -> dict[str, Counter[str]]:
    """Faults injected per fake and kind."""
    return {name: Counter(plan.injected) for name, plan in plans.items()}


@dataclass
class KillCampaign:
    """What `kill_and_resume` saw: downloads of one clean run, and of each run that followed."""

    clean_downloads: int
    downloads_per_run: list[list[str]]
    warehouse: Warehouse
    kills: int
    final_returncode: int
    final_stderr: str
    # The state each run started from (None: none), and every instance record any run printed.
    states_per_run: list[dict[str, Any] | None]
    instances: dict[str, dict[str, Any]]

    @property
    def downloads(self) -> int:
        return sum(len(keys) for keys in self.downloads_per_run)

    def read_again(self) -> list[list[str]]:
        """Per killed run, the files a later run downloaded again."""
        again = []
        for index, killed in enumerate(self.downloads_per_run[:-1]):
            later = {key for run in self.downloads_per_run[index + 1 :] for key in run}
            again.append([key for key in killed if key in later])
        return again


def kill_and_resume(
    world: World, directory: Path, *, kills: int, seed: int, **settings: Any
) -> KillCampaign:
    """One clean run, then runs SIGKILLed at seeded points, each resumed from the last STATE,
    until one ends on its own; the records all runs printed land in one warehouse."""
    clean = run_cli(world.config(**settings), directory)
    assert clean.returncode == 0, clean.stderr[-3000:]
    clean_downloads = len(world.s3.downloads)
    records = sum(clean.record_counts().values())
    world.s3.downloads.clear()
    rng = random.Random(seed)
    warehouse = Warehouse()
    state = None
    per_run: list[list[str]] = []
    states: list[dict[str, Any] | None] = []
    instances: dict[str, dict[str, Any]] = {}
    killed = 0
    while True:
        before = len(world.s3.downloads)
        kill_at = rng.randint(50, records // 3) if killed < kills else None
        states.append(state)
        run = run_cli(world.config(**settings), directory, state=state, kill_after_records=kill_at)
        per_run.append(world.s3.downloads[before:])
        warehouse.load(run.messages)
        instances.update((i["id"], i) for i in run.records("appstore_report_instances"))
        state = run.last_state or state
        if not run.killed:
            return KillCampaign(
                clean_downloads,
                per_run,
                warehouse,
                killed,
                run.returncode,
                run.stderr,
                states,
                instances,
            )
        killed += 1
