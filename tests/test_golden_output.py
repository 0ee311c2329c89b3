"""Golden output: the sandbox worlds give the same Singer output, line for line, as when the
golden files were written (issue 17: a redesign must not change a record, a value, a STATE or
the order of messages).

Each world runs the tap's CLI over real HTTP against the sandbox's fakes, the fakes and the tap
on one clock frozen at `FROZEN_AT` (ticking), with a STATE after every bookmark move. Lines are
compared after normalising only what changes from run to run: `time_extracted` and the fakes'
URLs (a new port each run). The fakes' dates follow from the frozen clock, not from the real
one: the golden files hold next month too. The worlds:

- clean: both sources, two apps, four reports (Detailed, comma-separated, one the catalogue does
  not know), DAILY and WEEKLY; a first run, then a day later a run from its last STATE. At the
  default concurrency and at 1, the same golden files.
- faults: the fault campaign's seeded faults (10%, seed 10) on every fake: retries change no
  line, so the clean world's golden files.
- kills: the first run SIGKILLed at seeded points, each resumed from its last STATE: where a
  kill lands depends on timing, so only the last run's final STATE and the records upserted by
  key are pinned, both equal to the clean first run's.
- backfill: a ready ONE_TIME_SNAPSHOT request with `appstore_backfill`.
- batch: the clean world with `batch_config` (gzipped JSONL): each BATCH message is followed by
  the lines of its files; the run folder (clock and random id) and the root are placeholders.

Rewrite the golden files (after a change meant to change output, and say why in the commit):

    GOLDEN_UPDATE=1 .venv/bin/python -m pytest tests/test_golden_output.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.campaign import fault_counts
from tests.golden_files import check_golden, differences, golden_messages
from tests.golden_worlds import (
    batch_settings,
    frozen_world,
    killed_and_resumed,
    nightly_runs,
    with_snapshot,
)
from tests.warehouse import Warehouse

FAULT_RATE = 0.1
FAULT_SEED = 10
KILLS = 3
KILL_SEED = 7


def check_nightly(runs: list[list[str]], *, name: str = "clean", source: bool = False) -> None:
    first, second = runs
    check_golden(f"{name}_first_run", first, source=source)
    check_golden(f"{name}_second_run", second, source=source)


@pytest.mark.parametrize("concurrency", [None, 1], ids=["default_concurrency", "concurrency_1"])
def test_clean_world(tmp_path: Path, concurrency: int | None) -> None:
    settings = {} if concurrency is None else {"appstore_concurrency": concurrency}
    with frozen_world() as world:
        runs = nightly_runs(world, tmp_path, **settings)

    check_nightly(runs, source=concurrency is None)


def test_clean_world_in_batch_messages(tmp_path: Path) -> None:
    with frozen_world() as world:
        runs = nightly_runs(world, tmp_path, **batch_settings(tmp_path))

    check_nightly(runs, name="batch", source=True)


def test_faults_world(tmp_path: Path) -> None:
    with frozen_world() as world:
        plans = world.world.inject_faults(seed=FAULT_SEED, rate=FAULT_RATE)
        runs = nightly_runs(world, tmp_path)

    counts = fault_counts(plans)
    print(f"\nfaults at {FAULT_RATE:.0%} (seed {FAULT_SEED}), per fake and kind: {counts}")
    assert all(plan.total for plan in plans.values()), "every fake really failed requests"
    check_nightly(runs)


def test_kills_world(tmp_path: Path) -> None:
    clean = golden_messages("clean_first_run")
    records = sum(message["type"] == "RECORD" for message in clean)
    with frozen_world() as world:
        resumed = killed_and_resumed(world, tmp_path, records=records, kills=KILLS, seed=KILL_SEED)

    assert resumed.kills == KILLS
    expected = Warehouse()
    expected.load(clean)
    assert resumed.final_state == [m["value"] for m in clean if m["type"] == "STATE"][-1]
    assert sorted(resumed.warehouse.tables) == sorted(expected.tables)
    for stream, table in expected.tables.items():
        landed = resumed.warehouse.table(stream)
        keys = table.keys() | landed.keys()
        wrong = [key for key in keys if table.get(key) != landed.get(key)]
        assert not wrong, f"{stream}: {len(wrong)} of {len(table)} rows differ, first {wrong[0]}"


def test_backfill_world(tmp_path: Path) -> None:
    with frozen_world() as world:
        run = with_snapshot(world).run(tmp_path, appstore_backfill=True)
        lines = world.lines(run, tmp_path)

    assert run.returncode == 0, run.stderr[-3000:]
    check_golden("backfill", lines, source=True)


def test_a_mismatch_is_told_per_stream_in_a_few_lines() -> None:
    def record(stream: str, n: int) -> str:
        return f'{{"type":"RECORD","stream":"{stream}","record":{{"n":{n}}}}}'

    state = '{"type":"STATE","value":{}}'
    golden = [record("a", 1), record("b", 1), state, record("a", 2), state]

    changed = differences(golden, [record("a", 1), record("b", 9), state, record("a", 2)])
    reordered = differences(golden, [record("b", 1), record("a", 1), state, record("a", 2), state])

    assert changed.splitlines() == [
        "lines: expected 5, got 4",
        "STATE: expected 2 lines, got 1, 0 of them unequal; first difference at its line 1, "
        "column 0:",
        "  expected: " + state,
        "  got:      (no line)",
        "b: expected 1 lines, got 1, 1 of them unequal; first difference at its line 0, column 44:",
        '  expected: {"type":"RECORD","stream":"b","record":{"n":1}}',
        '  got:      {"type":"RECORD","stream":"b","record":{"n":9}}',
    ]
    assert reordered.splitlines()[1] == (
        "every stream equal, their order not: at line 0, column 27:"
    )
