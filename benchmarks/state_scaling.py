"""Whether the tap's cost grows linearly with the account: CPU per Braze segment and per App
Store app at a small and a large account, and the STATE bytes a run writes against the size of
its final state.

- Braze: SEGMENTS segments x 100 days (one partition per segment).
- App Store: APPS apps x 155 reports (the sandbox's catalogue, the web-previews report and 5
  more), DAILY instances of APPSTORE_DAYS days (one partition per app and report).

Each run is the tap's CLI against local fakes (no latency), stdout to a file. Prints, per run, the
tap's CPU seconds (user + system, from wait4), its peak RSS, the STATE messages and their bytes
against the final state's size, and a SHA-256 of its RECORD lines (without `time_extracted`,
and with the fakes' ports left out);
then the CPU per segment (per app) at the large account against the small one. `--tap-source DIR`
runs the tap from another checkout of the package (e.g. `git archive` of main) on the same fakes,
so records and figures can be compared before and after a change.

Usage: python benchmarks/state_scaling.py [--segments 250,2000] [--apps 5,40]
                                          [--tap-source DIR]   (from the repository root)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from report_rows import measured

from segment_analytics_sandbox.appstore import (
    REPORT_COLUMNS,
    WEB_PREVIEWS_REPORT,
    FakeAppStoreConnect,
    FakeS3,
    generate_key_pair,
)
from segment_analytics_sandbox.braze import FakeBraze, sample_segments

BRAZE_DAYS = 100
APPSTORE_REPORTS = [*REPORT_COLUMNS, WEB_PREVIEWS_REPORT, *(f"Other Report {n}" for n in range(5))]
APPSTORE_DAYS = 6
APPSTORE_ROWS_PER_DAY = 2
STATE_PREFIX = b'{"type":"STATE"'
RECORD_PREFIX = b'{"type":"RECORD"'
TIME_EXTRACTED = b',"time_extracted":'
# The fakes listen on a new port each run; segment records carry the file host's URL.
FAKE_HOST = re.compile(rb"http://127\.0\.0\.1:\d+")


@dataclass
class Run:
    """What one run of the tap cost and wrote."""

    label: str
    units: int
    cpu: float
    wall: float
    peak_mib: float
    records: int
    states: int
    state_bytes: int
    final_state_bytes: int
    records_sha256: str

    def line(self) -> str:
        return (
            f"{self.label}: {self.records:,} records, {self.cpu:.2f} CPU s ({self.wall:.1f} s "
            f"wall), {self.cpu / self.units * 1000:.2f} CPU ms each, peak RSS "
            f"{self.peak_mib:.0f} MiB; {self.states} STATE messages, {self.state_bytes:,} bytes "
            f"= {self.state_bytes / self.final_state_bytes:.1f}x the final state "
            f"({self.final_state_bytes:,} bytes); records sha256 {self.records_sha256[:16]}"
        )


def run_tap(
    label: str, units: int, config: dict[str, Any], scratch: Path, source: Path | None
) -> Run:
    """Run the tap's CLI with `config` (from `source` when given) and measure it."""
    config_path = scratch / "config.json"
    config_path.write_text(json.dumps(config))
    out_path = scratch / "out.jsonl"
    command = [sys.executable, "-m", "tap_segment_analytics.tap", "--config", str(config_path)]
    wall, cpu, peak_mib = measured(command, stdout=out_path, cwd=source)
    records = states = state_bytes = 0
    last_state = b""
    digest = hashlib.sha256()
    with out_path.open("rb") as lines:
        for line in lines:
            if line.startswith(RECORD_PREFIX):
                records += 1
                digest.update(FAKE_HOST.sub(b"http://fake", line[: line.rfind(TIME_EXTRACTED)]))
            elif line.startswith(STATE_PREFIX):
                states += 1
                state_bytes += len(line)
                last_state = line
    out_path.unlink()
    return Run(
        label=label,
        units=units,
        cpu=cpu,
        wall=wall,
        peak_mib=peak_mib,
        records=records,
        states=states,
        state_bytes=state_bytes,
        final_state_bytes=len(last_state),
        records_sha256=digest.hexdigest(),
    )


def braze_run(segments: int, today: date, scratch: Path, source: Path | None) -> Run:
    """The tap over `segments` segments x BRAZE_DAYS days."""
    fake = FakeBraze(today=today, segments=sample_segments(segments, today=today)).start()
    try:
        config = {
            "start_date": (today - timedelta(days=BRAZE_DAYS)).isoformat(),
            "braze_api_key": fake.api_key,
            "braze_rest_endpoint": fake.base_url,
        }
        return run_tap(f"Braze {segments:,} segments", segments, config, scratch, source)
    finally:
        fake.stop()


def appstore_run(apps: int, today: date, scratch: Path, source: Path | None) -> Run:
    """The tap over `apps` apps x 155 reports x APPSTORE_DAYS DAILY instances."""
    private_pem, public_pem = generate_key_pair()
    key_path = scratch / "key.p8"
    key_path.write_text(private_pem)
    s3 = FakeS3().start()
    api = FakeAppStoreConnect(
        public_key_pem=public_pem, key_id="K", issuer_id="i", s3=s3, hour_limit=10**9
    ).start()
    app_ids = [str(1_000_000_000 + n) for n in range(apps)]
    try:
        for app_id in app_ids:
            api.add_app(app_id)
            for name in APPSTORE_REPORTS:
                api.add_report(app_id, name)
        for offset in range(APPSTORE_DAYS, 0, -1):
            api.publish_day(
                app_ids=app_ids,
                processing=today - timedelta(days=offset),
                rows_per_day=APPSTORE_ROWS_PER_DAY,
            )
        config = {
            "start_date": (today - timedelta(days=60)).isoformat(),
            "appstore_key_id": "K",
            "appstore_issuer_id": "i",
            "appstore_private_key_path": str(key_path),
            "appstore_app_ids": app_ids,
            "appstore_api_url": api.base_url,
            "appstore_report_names": APPSTORE_REPORTS,
        }
        return run_tap(f"App Store {apps} apps", apps, config, scratch, source)
    finally:
        api.stop()
        s3.stop()


def counts(text: str) -> list[int]:
    return [int(n) for n in text.split(",") if n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=counts, default=[250, 2000])
    parser.add_argument("--apps", type=counts, default=[5, 40])
    parser.add_argument("--tap-source", type=Path, default=None)
    arguments = parser.parse_args()
    today = datetime.now(timezone.utc).date()
    source = arguments.tap_source.resolve() if arguments.tap_source else None
    print(f"tap from {source or 'this checkout'}")
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        for name, sizes, run in (
            ("segment", arguments.segments, braze_run),
            ("app", arguments.apps, appstore_run),
        ):
            runs = []
            for size in sizes:
                runs.append(run(size, today, scratch, source))
                print(runs[-1].line(), flush=True)
            for large in runs[1:]:
                small = runs[0]
                ratio = (large.cpu / large.units) / (small.cpu / small.units)
                print(
                    f"CPU per {name} at {large.units:,} against {small.units:,}: {ratio:.2f}x; "
                    f"STATE bytes / final state: {small.state_bytes / small.final_state_bytes:.1f}x"
                    f" and {large.state_bytes / large.final_state_bytes:.1f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
