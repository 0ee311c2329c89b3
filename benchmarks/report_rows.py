"""Throughput and peak memory of the App Store report-row path (download, verify, parse, emit).

Serves one instance of 'App Downloads Detailed' with ROWS rows (split over SEGMENTS files) from
the local fakes, runs the tap's CLI on it with stdout to /dev/null, and prints rows per second
and the tap process's peak RSS. Usage: python benchmarks/report_rows.py [ROWS] [SEGMENTS]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from tap_segment_analytics.sandbox.appstore import (
    REPORT_COLUMNS,
    FakeAppStoreConnect,
    FakeS3,
    generate_key_pair,
)

REPORT = "App Downloads Detailed"
APP_ID = "1234567890"


def rows(count: int, day: date) -> list[dict[str, str]]:
    """Distinct rows: every dimension combination differs by territory and campaign."""
    template = dict.fromkeys(REPORT_COLUMNS[REPORT], "x")
    return [
        template
        | {
            "Date": day.isoformat(),
            "App Apple Identifier": APP_ID,
            "Processing Date": day.isoformat(),
            "Campaign": f"campaign-{n // 50}",
            "Territory": f"T{n % 50}",
            "Counts": str(n % 997),
        }
        for n in range(count)
    ]


def high_water_kib(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), read from /proc.

    ru_maxrss of children would count the pages a fork copies from this (large) process.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    segments = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    today = datetime.now(timezone.utc).date()
    private_pem, public_pem = generate_key_pair()
    s3 = FakeS3().start()
    api = FakeAppStoreConnect(public_key_pem=public_pem, key_id="BENCH", issuer_id="i", s3=s3)
    api.start()
    api.add_app(APP_ID)
    day = today - timedelta(days=1)
    all_rows = rows(total, day)
    per = -(-total // segments)
    api.add_instance(
        APP_ID, REPORT, "DAILY", today, [all_rows[i : i + per] for i in range(0, total, per)]
    )
    file_bytes = sum(api.segment(s).size_in_bytes for s in api._segments)
    with tempfile.TemporaryDirectory() as scratch:
        key = Path(scratch) / "key.p8"
        key.write_text(private_pem)
        config = Path(scratch) / "config.json"
        config.write_text(
            json.dumps(
                {
                    "start_date": (today - timedelta(days=5)).isoformat(),
                    "appstore_key_id": "BENCH",
                    "appstore_issuer_id": "i",
                    "appstore_private_key_path": str(key),
                    "appstore_app_ids": [APP_ID],
                    "appstore_api_url": api.base_url,
                    "appstore_report_names": [REPORT],
                }
            )
        )
        started = time.perf_counter()
        tap = subprocess.Popen(
            [sys.executable, "-m", "tap_segment_analytics.tap", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        peak_kib = 0
        while tap.poll() is None:
            peak_kib = max(peak_kib, high_water_kib(tap.pid))
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    peak_mib = peak_kib / 1024
    api.stop()
    s3.stop()
    print(f"rows: {total} in {segments} gzip files ({file_bytes / 2**20:.1f} MiB gzipped)")
    print(f"exit code: {tap.returncode}")
    print(f"wall time: {elapsed:.2f} s")
    print(f"throughput: {total / elapsed:,.0f} rows/s")
    print(f"tap peak RSS: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
