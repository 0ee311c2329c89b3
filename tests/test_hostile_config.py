"""Broken or hostile config, catalog, state and signals: one line naming the setting, file or
signal (exit non-zero), or a WARNING where the run can rightly go on; never a traceback; nothing
already emitted lost; deletions only inside the tap's own run folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tap_segment_analytics.batch_files import RUN_FOLDERS_KEY
from tap_segment_analytics.scratch import LOCK_NAME, scratch_folder
from tap_segment_analytics.stopping import StopGuard, Stopped
from tests.conftest import AppStore, braze_config, utc_today
from tests.fakes import FakeBraze
from tests.tap_runner import TapRun, assert_no_secret, config_arguments, run_cli, run_tap

BAD_INPUT = 2
INSTANCES = "appstore_report_instances"
SIZES = "braze_segment_sizes"
CONCURRENCY_VARIABLE = "TAP_SEGMENT_ANALYTICS_BRAZE_CONCURRENCY"
# A run folder name as BatchRun makes them.
OLD_RUN_FOLDER = "tap-segment-analytics-run-20261101T020000Z-0123abcd"


def errors_of(run: TapRun) -> list[str]:
    return [line.split(" | ", 3)[-1] for line in run.error_lines()]


def warnings_of(run: TapRun) -> list[str]:
    """The run's WARNING messages, but the one counting the segments whose series Braze
    refused: the sandbox refuses its untracked segment's (test_braze_segment_sizes)."""
    messages = [line.split(" | ", 3)[-1] for line in run.log_lines() if "| WARNING" in line]
    return [m for m in messages if not m.startswith("braze_segment_sizes: Braze refused")]


def assert_clean_failure(run: TapRun, code: int, lines: list[str]) -> None:
    assert run.returncode == code, run.stderr[-2000:]
    assert errors_of(run) == lines
    assert "Traceback" not in run.stderr
    assert run.messages == []


@pytest.mark.parametrize(
    ("setting", "value", "line"),
    [
        (
            "appstore_report_categories",
            ["app_usage"],
            "appstore_report_categories: ['app_usage'] not among ['APP_USAGE', "
            "'APP_STORE_ENGAGEMENT', 'COMMERCE', 'FRAMEWORK_USAGE', 'PERFORMANCE']",
        ),
        ("start_date", "2026-13-01", "start_date: '2026-13-01' is not a date like 2026-01-31"),
        ("start_date", "yesterday", "start_date: 'yesterday' is not a date like 2026-01-31"),
        (
            "appstore_api_url",
            "http://api.appstoreconnect.apple.com",
            "appstore_api_url: 'http://api.appstoreconnect.apple.com' is plain http to another "
            "host, which would send the credentials in clear; use https:// (http:// is for "
            "localhost only)",
        ),
        (
            "batch_config",
            {"storage": {"root": "file:///tmp"}},
            "batch_config needs encoding.format",
        ),
    ],
)
def test_a_setting_that_would_fail_later_or_read_nothing_is_one_line(
    appstore: AppStore, tmp_path: Path, setting: str, value: Any, line: str
) -> None:
    run = run_tap(appstore.config(**{setting: value}), tmp_path)

    assert_clean_failure(run, 1, [line, "Config validation failed"])
    assert appstore.api.requests == []


def test_a_start_date_in_the_future_is_one_line(fake_braze: FakeBraze, tmp_path: Path) -> None:
    future = utc_today() + timedelta(days=30)

    run = run_tap(braze_config(fake_braze, start_date=future.isoformat()), tmp_path)

    line = f"start_date: {future} is in the future (today is {utc_today()} UTC): nothing to read"
    assert_clean_failure(run, 1, [line, "Config validation failed"])
    assert fake_braze.requests == []


def test_plain_http_to_another_host_never_sends_the_braze_key(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    config = braze_config(fake_braze, braze_rest_endpoint="http://rest.iad-01.braze.com")

    run = run_tap(config, tmp_path)

    assert_clean_failure(
        run,
        1,
        [
            "braze_rest_endpoint: 'http://rest.iad-01.braze.com' is plain http to another host, "
            "which would send the credentials in clear; use https:// (http:// is for localhost "
            "only)",
            "Config validation failed",
        ],
    )


def test_an_unknown_setting_is_a_warning_and_the_run_goes_on(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    config = braze_config(fake_braze, braze_lookbak_days=5, stream_maps={})

    run = run_tap(config, tmp_path)

    assert run.returncode == 0, run.stderr[-2000:]
    assert warnings_of(run) == ["unknown settings, ignored: braze_lookbak_days"]
    assert run.record_counts()[SIZES] > 0


@pytest.mark.parametrize("value", ["abc", "2.5", ""])
def test_an_integer_setting_from_the_environment_that_is_no_integer_is_one_line(
    fake_braze: FakeBraze, value: str
) -> None:
    env = {
        **os.environ,
        **{
            f"TAP_SEGMENT_ANALYTICS_{name.upper()}": str(setting)
            for name, setting in braze_config(fake_braze).items()
        },
        CONCURRENCY_VARIABLE: value,
    }

    run = run_cli("--config", "ENV", env=env, secrets=(fake_braze.api_key,))

    assert_clean_failure(
        run,
        BAD_INPUT,
        [f"{CONCURRENCY_VARIABLE}: '{value}' is not an integer (braze_concurrency)"],
    )
    assert fake_braze.requests == []


def test_a_stream_map_that_does_not_parse_is_one_line(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    config = braze_config(fake_braze, stream_maps={"braze_segments": {"x": "1 +* 2"}})

    run = run_tap(config, tmp_path)

    assert_clean_failure(run, 1, ["stream_maps: Failed to parse expression 1 +* 2."])
    assert fake_braze.requests == []


def discovered_catalog(config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    discovery = subprocess.run(
        [
            sys.executable,
            "-m",
            "tap_segment_analytics.tap",
            "--discover",
            *config_arguments(config, tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    catalog: dict[str, Any] = json.loads(discovery.stdout)
    return catalog


def run_with_catalog(config: dict[str, Any], catalog: dict[str, Any], tmp_path: Path) -> TapRun:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    return run_tap(config, tmp_path, args=("--catalog", str(path)))


def test_a_catalog_that_selects_nothing_is_one_line(fake_braze: FakeBraze, tmp_path: Path) -> None:
    config = braze_config(fake_braze)
    catalog = discovered_catalog(config, tmp_path)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            entry["metadata"]["selected"] = False

    run = run_with_catalog(config, catalog, tmp_path)

    assert_clean_failure(
        run, 1, ["--catalog selects none of the streams of the configured sources: nothing to read"]
    )
    assert fake_braze.requests == []


def test_a_catalog_naming_unknown_streams_is_a_warning_and_the_rest_syncs(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    config = braze_config(fake_braze)
    catalog = discovered_catalog(config, tmp_path)
    catalog["streams"].append({**catalog["streams"][0], "tap_stream_id": "braze_segmnts"})

    run = run_with_catalog(config, catalog, tmp_path)

    assert run.returncode == 0, run.stderr[-2000:]
    assert warnings_of(run) == [
        "--catalog names streams the configured sources do not have, ignored: braze_segmnts"
    ]
    assert run.record_counts()[SIZES] > 0


def test_catalog_metadata_that_is_not_a_list_is_one_line(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    config = braze_config(fake_braze)
    catalog = discovered_catalog(config, tmp_path)
    catalog["streams"][0]["metadata"] = {"selected": True}

    run = run_with_catalog(config, catalog, tmp_path)

    assert_clean_failure(
        run,
        BAD_INPUT,
        [f"--catalog {tmp_path / 'catalog.json'}: streams[0] 'metadata' is not a list of objects"],
    )
    assert fake_braze.requests == []


def test_state_folders_that_are_not_run_folders_under_the_batch_root_are_left_alone(
    appstore: AppStore, tmp_path: Path
) -> None:
    root = tmp_path / "batches"
    outside = tmp_path / "precious"
    beside = tmp_path / "beside"
    old_run = root / OLD_RUN_FOLDER
    for folder in (outside, beside, old_run):
        folder.mkdir(parents=True)
        (folder / "keep.txt").write_text("x")
    config = appstore.config(
        appstore_report_names=["App Crashes"],
        batch_config={
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": str(root)},
        },
    )
    named = [str(outside), "../beside", OLD_RUN_FOLDER, 7]
    state = {"bookmarks": {INSTANCES: {RUN_FOLDERS_KEY: named}}}

    run = run_tap(config, tmp_path, state=state)

    assert run.returncode == 0, run.stderr[-2000:]
    assert warnings_of(run) == [
        f"batch_folders in the state: not this tap's run folders under {root}, left alone: "
        f"'{outside}', '../beside', 7"
    ]
    assert (outside / "keep.txt").exists()
    assert (beside / "keep.txt").exists()
    assert not old_run.exists()
    (this_run,) = root.iterdir()
    assert run.final_state["bookmarks"][INSTANCES][RUN_FOLDERS_KEY] == [this_run.name]
    batches = [m for m in run.messages if m["type"] == "BATCH"]
    files = sorted(this_run.iterdir())
    assert batches
    assert len(files) == sum(len(m["manifest"]) for m in batches)
    assert this_run.stat().st_mode & 0o777 == 0o700
    assert {f.stat().st_mode & 0o777 for f in files} == {0o600}


def test_an_instance_whose_processing_date_is_no_date_is_skipped_with_a_warning(
    appstore: AppStore, tmp_path: Path
) -> None:
    config = appstore.config(appstore_report_names=["App Crashes"])
    clean = run_tap(config, tmp_path)
    instances = clean.records(INSTANCES)
    garbled, null = instances[1]["id"], instances[2]["id"]
    appstore.api.garbled_processing_dates.update({garbled: "not-a-date", null: None})

    run = run_tap(config, tmp_path)
    again = run_tap(config, tmp_path, state=run.final_state)

    assert run.returncode == 0, run.stderr[-2000:]
    assert again.returncode == 0, again.stderr[-2000:]
    for later in (run, again):
        assert sorted(warnings_of(later)) == sorted(
            f"appstore: app {i['app_id']} report 'App Crashes' (DAILY): instance {i['id']} "
            f"skipped, its processingDate {shown} is not a date"
            for i, shown in ((instances[1], '"not-a-date"'), (instances[2], "null"))
        )
    assert [i["id"] for i in run.records(INSTANCES)] == [
        i["id"] for i in instances if i["id"] not in (garbled, null)
    ]
    assert "not-a-date" not in json.dumps(run.states)
    assert again.records(INSTANCES) == []


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_run_exits_non_zero_and_a_resume_loses_nothing(
    fake_braze: FakeBraze, tmp_path: Path, stop: signal.Signals
) -> None:
    config = braze_config(fake_braze, braze_concurrency=1)
    clean = run_tap(config, tmp_path)
    fake_braze.clear_log()
    # Three windows a segment: hold the second segment's second window.
    fake_braze.hold("/segments/data_series", after=4)

    stopped = run_until_held(config, tmp_path, fake_braze, stop)
    resumed = run_tap(config, tmp_path, state=stopped.final_state)

    assert stopped.returncode == 128 + stop
    assert errors_of(stopped) == [
        f"stopped by {stop.name}: what was written before stands; a run from the last STATE "
        "resumes where this one stopped"
    ]
    assert "Traceback" not in stopped.stderr
    assert 0 < len(stopped.records(SIZES)) < len(clean.records(SIZES))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    days = {
        (r["segment_id"], r["time"]) for r in (*stopped.records(SIZES), *resumed.records(SIZES))
    }
    assert days == {(r["segment_id"], r["time"]) for r in clean.records(SIZES)}


def run_until_held(
    config: dict[str, Any], directory: Path, fake: FakeBraze, stop: signal.Signals
) -> TapRun:
    """Run the tap until the fake holds a request, then send it `stop`."""
    out_path = directory / "stopped.out"
    with (
        out_path.open("w") as out,
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tap_segment_analytics.tap",
                *config_arguments(config, directory),
            ],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        ) as process,
    ):
        assert fake.held.wait(timeout=120), "the tap never reached the held request"
        process.send_signal(stop)
        fake.release()
        _, stderr = process.communicate(timeout=120)
    stdout = out_path.read_text()
    run = TapRun(process.returncode, stdout, stderr)
    run.messages = [json.loads(line) for line in stdout.splitlines()]
    assert_no_secret((stdout, stderr), (fake.api_key,))
    return run


def test_the_scratch_folders_of_killed_runs_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    holder = (
        "import sys; from pathlib import Path; "
        "from tap_segment_analytics.scratch import scratch_folder; "
        "print(scratch_folder(Path(sys.argv[1]))[0], flush=True); sys.stdin.read()"
    )
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", holder, str(tmp_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    killed, live = runs
    folders = [Path(run.stdout.readline().strip()) for run in runs]  # type: ignore[union-attr]
    for folder in folders:
        (folder / "report.csv.gz").write_bytes(b"rows")
        os.utime(folder / LOCK_NAME, (0, 0))  # locked long ago: not a run just starting
    killed.kill()
    killed.wait()

    mine, swept = scratch_folder(tmp_path)

    assert swept == [folders[0].name]
    assert not folders[0].exists()
    assert (folders[1] / "report.csv.gz").exists()
    assert mine.exists()
    live.communicate("")
    assert live.returncode == 0
    assert not folders[1].exists()  # removed by its own run at exit


def test_after_a_stop_a_finalizer_cut_short_prints_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Seen once on Python 3.13: SIGTERM inside HTTPResponse.__init__, then its __del__ failed
    # ("Exception ignored ... has no attribute 'fp'") under the run's one line.
    printed: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", printed.append)  # Python's prints to stderr
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # this process's handlers stay

    class HalfBuilt:
        def __del__(self) -> None:
            raise AttributeError("'HalfBuilt' object has no attribute 'fp'")

    HalfBuilt()
    assert len(printed) == 1, "before a stop, a failing finalizer is reported"
    with pytest.raises(Stopped):
        StopGuard().handle(signal.SIGTERM, None)
    HalfBuilt()

    assert len(printed) == 1
