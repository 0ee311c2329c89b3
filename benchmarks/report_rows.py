"""Rows per CPU-second of the App Store report-row path, against a plain-Python floor, and the
tap's peak memory.

Serves one instance of 'App Downloads Detailed' with ROWS rows (in SEGMENTS gzipped files) from
the local fakes and runs the tap's CLI on it (stdout to /dev/null). Beside it, on the same files,
runs the floor: a plain pipeline that gunzips, splits the TSV, makes a dict per row with typed
measures and a SHA-256 row key, and writes a msgspec RECORD line per row. Both run as child
processes; their CPU time (user + system, from wait4) and peak RSS (VmHWM) are measured.

Usage: python benchmarks/report_rows.py [ROWS] [SEGMENTS]   (from the repository root)
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from segment_analytics_sandbox.appstore import (
    REPORT_COLUMNS,
    FakeAppStoreConnect,
    FakeS3,
    generate_key_pair,
)

REPORT = "App Downloads Detailed"
APP_ID = "1234567890"
MEASURES = {"Counts"}
NOT_KEY = {"Processing Date", "App Name"}


def rows(count: int, day: date) -> list[dict[str, str]]:
    """Distinct rows: every dimension combination differs by territory and campaign."""
    template = dict.fromkeys(REPORT_COLUMNS[REPORT], "x")
    return [
        template
        | {
            "Date": day.isoformat(),
            "App Apple Identifier": APP_ID,
            "Campaign": f"campaign-{n // 50}",
            "Territory": f"T{n % 50}",
            "Counts": str(n % 997),
        }
        for n in range(count)
    ]


@dataclass
class ServedReport:
    """The fakes serving one instance of REPORT, and what a tap config needs of them."""

    api: FakeAppStoreConnect
    s3: FakeS3
    instance: str
    private_pem: str
    today: date

    def stop(self) -> None:
        self.api.stop()
        self.s3.stop()


def serve_report(total: int, rows_per_file: int) -> ServedReport:
    """Start the fakes with one DAILY instance of `total` rows of REPORT (processed today, of
    yesterday), in files of `rows_per_file` rows."""
    today = datetime.now(timezone.utc).date()
    private_pem, public_pem = generate_key_pair()
    s3 = FakeS3().start()
    api = FakeAppStoreConnect(public_key_pem=public_pem, key_id="BENCH", issuer_id="i", s3=s3)
    api.start()
    api.add_app(APP_ID)
    all_rows = rows(total, today - timedelta(days=1))
    files = [all_rows[i : i + rows_per_file] for i in range(0, total, rows_per_file)]
    del all_rows
    instance = api.add_instance(APP_ID, REPORT, "DAILY", today, files)
    return ServedReport(api, s3, instance, private_pem, today)


def floor(paths: list[str]) -> None:
    """The plain pipeline (run in a child process): every row to a RECORD line on stdout.

    Lean on purpose (the row key's JSON material assembled around precomputed column names),
    so the ratio compares the tap with the least plain Python can do for the same lines.
    """
    from json.encoder import encode_basestring_ascii as quoted

    import msgspec

    encoder = msgspec.json.Encoder()
    out = sys.stdout.buffer
    extracted = datetime.now(timezone.utc).isoformat()
    prefix = json.dumps([APP_ID, REPORT, "DAILY"], separators=(",", ":"))[:-1] + ",["
    for path in paths:
        with gzip.open(path, "rt", encoding="utf-8") as text:
            header = text.readline().rstrip("\n").split("\t")
            keyed = sorted((name, i) for i, name in enumerate(header) if name not in NOT_KEY)
            parts = [(i, f"[{quoted(n)},") for n, i in keyed if n not in MEASURES]
            measures = [(i, n) for i, n in enumerate(header) if n in MEASURES]
            for line in text:
                values = line.rstrip("\n").split("\t")
                record: dict[str, object] = dict(zip(header, values, strict=True))
                for i, name in measures:
                    record[name] = int(values[i])
                material = ",".join(p + quoted(values[i]) + "]" for i, p in parts)
                record["row_key"] = hashlib.sha256(f"{prefix}{material}]]".encode()).hexdigest()
                message = {
                    "type": "RECORD",
                    "stream": "appstore_app_downloads_detailed",
                    "record": record,
                    "time_extracted": extracted,
                }
                out.write(encoder.encode(message) + b"\n")


def tap_config(api: FakeAppStoreConnect, key: Path, today: date) -> dict[str, object]:
    """The tap's settings for the report the fakes serve."""
    return {
        "start_date": (today - timedelta(days=5)).isoformat(),
        "appstore_key_id": "BENCH",
        "appstore_issuer_id": "i",
        "appstore_private_key_path": str(key),
        "appstore_app_ids": [APP_ID],
        "appstore_api_url": api.base_url,
        "appstore_report_names": [REPORT],
    }


def high_water_kib(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), read from /proc.

    wait4's ru_maxrss would count the pages the fork copies from this (large) process.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def measured(
    command: list[str], *, stdout: Path | None = None, cwd: Path | None = None
) -> tuple[float, float, float]:
    """Run a child process with stdout to `stdout` (else /dev/null), in `cwd`: (wall s, CPU s,
    peak RSS MiB)."""
    started = time.perf_counter()
    peak_kib = 0
    with open(stdout or os.devnull, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.DEVNULL, cwd=cwd)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak_kib = max(peak_kib, high_water_kib(process.pid))
            time.sleep(0.02)  # sampling the child's memory, not waiting for readiness
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[:3]} failed")
    return wall, usage.ru_utime + usage.ru_stime, peak_kib / 1024


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--floor":
        floor(sys.argv[2:])
        return
    arguments = sys.argv[1:]
    if len(arguments) > 2 or not all(argument.isdigit() for argument in arguments):
        raise SystemExit(__doc__.strip().splitlines()[-1])  # -h, --help, a typo: the usage
    total = int(arguments[0]) if arguments else 200_000
    segments = int(arguments[1]) if len(arguments) > 1 else 4
    served = serve_report(total, -(-total // segments))
    with tempfile.TemporaryDirectory() as scratch:
        files = []
        for segment in served.api.instance_segments(served.instance):
            path = Path(scratch) / f"{segment.id}.tsv.gz"
            path.write_bytes(served.s3.object(segment.key))
            files.append(str(path))
        file_bytes = sum(Path(f).stat().st_size for f in files)
        key = Path(scratch) / "key.p8"
        key.write_text(served.private_pem)
        config = Path(scratch) / "config.json"
        config.write_text(json.dumps(tap_config(served.api, key, served.today)))
        tap = measured([sys.executable, "-m", "tap_segment_analytics.tap", "--config", str(config)])
        base = measured([sys.executable, __file__, "--floor", *files])
    served.stop()
    print(f"rows: {total:,} in {segments} gzip files ({file_bytes / 2**20:.1f} MiB gzipped)")
    for name, (wall, cpu, rss) in (("tap", tap), ("floor", base)):
        print(
            f"{name:>5}: {wall:6.2f} s wall, {cpu:6.2f} CPU s, {total / cpu:>9,.0f} rows per "
            f"CPU-second, peak RSS {rss:.0f} MiB"
        )
    print(f"tap / floor: {base[1] / tap[1]:.0%} of the floor's rows per CPU-second")


if __name__ == "__main__":
    main()
