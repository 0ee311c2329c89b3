"""Each kind of trouble on its own: every request's first try fails that way, and the run still
finishes with exactly the truth."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from segment_analytics_sandbox import faults
from segment_analytics_sandbox.faults import FaultPlan
from tests.conftest import APP_ID, FIRST_RUN_DAYS, AppStore, braze_config, utc_today
from tests.fakes import FakeBraze
from tests.tap_runner import TapRun, run_tap
from tests.warehouse import Warehouse, appstore_differences, braze_differences

CRASHES = {"appstore_report_names": ["App Crashes"]}
FAST = {"request_timeout_seconds": 1}


def first_tries_fail(kind: str) -> FaultPlan:
    """Every request's first try fails with `kind` (only two for slow stalls)."""
    limit = 2 if kind == faults.STALL else None
    return FaultPlan(
        seed=11, rate=1.0, kinds=(kind,), stall_seconds=3, only_first_try=True, limit=limit
    )


def crash_rows_differences(run: TapRun, appstore: AppStore) -> list[tuple[str, str]]:
    """App Crashes rows missing, extra or stale in what the run landed."""
    warehouse = Warehouse()
    warehouse.load(run.messages)
    differences = appstore_differences(warehouse, appstore.api, [APP_ID])
    return [
        key
        for key in differences.missing + differences.extra + differences.stale
        if key[0] == "appstore_app_crashes"
    ]


@pytest.mark.parametrize("kind", faults.API_FAULTS)
def test_app_store_api_trouble(appstore: AppStore, tmp_path: Path, kind: str) -> None:
    appstore.api.fault_plan = plan = first_tries_fail(kind)

    run = run_tap(appstore.config(**CRASHES, **FAST), tmp_path)

    assert run.returncode == 0, run.stderr[-2000:]
    assert plan.injected[kind] >= (1 if kind in faults.ONCE_PER_PLAN | {faults.STALL} else 5)
    assert crash_rows_differences(run, appstore) == []


@pytest.mark.parametrize("kind", faults.FILE_FAULTS)
def test_file_host_trouble(appstore: AppStore, tmp_path: Path, kind: str) -> None:
    appstore.s3.fault_plan = plan = first_tries_fail(kind)

    run = run_tap(appstore.config(**CRASHES, **FAST), tmp_path)

    assert run.returncode == 0, run.stderr[-2000:]
    assert plan.injected[kind] >= (1 if kind == faults.STALL else 4)
    assert crash_rows_differences(run, appstore) == []


@pytest.mark.parametrize("kind", faults.API_FAULTS)
def test_braze_trouble(fake_braze: FakeBraze, tmp_path: Path, kind: str) -> None:
    fake_braze.fault_plan = plan = first_tries_fail(kind)

    run = run_tap(braze_config(fake_braze, **FAST), tmp_path)

    assert run.returncode == 0, run.stderr[-2000:]
    assert plan.injected[kind] >= 1
    warehouse = Warehouse()
    warehouse.load(run.messages)
    start = utc_today() - timedelta(days=FIRST_RUN_DAYS)
    assert not braze_differences(warehouse, fake_braze, start)
