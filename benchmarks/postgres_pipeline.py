"""The main job into PostgreSQL: tap -> MeltanoLabs target-postgres, record by record and with
BATCH messages, each with INSERT and with COPY, beside the target alone on the same saved stream.

Serves one large 'App Downloads Detailed' instance (ROWS rows in files of 10,000) from the local
fakes and loads it into an embedded PostgreSQL with target-postgres 0.8.1 (installed once into
benchmarks/.venv-target-postgres). For each mode it runs the tap alone (stdout to a file, once
per tap mode), the target alone on that file, and the two piped together (as `meltano run`
pipes them), each into a fresh schema; it prints wall times, peak RSS of each process, the rows
landed, how many differ from record by record with INSERT (0: every row exact), and the ratios.
Usage: python benchmarks/postgres_pipeline.py [ROWS]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_rows import high_water_kib, serve_report, tap_config

from segment_analytics_sandbox.postgres import EmbeddedPostgres

TARGET_VENV = Path(__file__).resolve().parent / ".venv-target-postgres"
TARGET_PACKAGE = "meltanolabs-target-postgres~=0.8.1"
ROWS_PER_FILE = 10_000
BATCH_SIZE = 10_000
TABLE = "appstore_app_downloads_detailed"


def target_executable() -> str:
    """target-postgres in its own venv, as Meltano installs it (made once)."""
    executable = TARGET_VENV / "bin" / "target-postgres"
    if not executable.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TARGET_VENV)], check=True)
        subprocess.run(
            [str(TARGET_VENV / "bin" / "pip"), "install", "--quiet", TARGET_PACKAGE], check=True
        )
    return str(executable)


def watch(processes: list[subprocess.Popen[bytes]]) -> list[float]:
    """Wait for the processes; the peak RSS (MiB) of each."""
    peaks = [0] * len(processes)
    while any(p.poll() is None for p in processes):
        for i, process in enumerate(processes):
            if process.poll() is None:
                peaks[i] = max(peaks[i], high_water_kib(process.pid))
        time.sleep(0.02)  # sampling memory, not waiting for readiness
    for process in processes:
        if process.returncode != 0:
            raise SystemExit(f"{process.args!r} exited {process.returncode}")
    return [peak / 1024 for peak in peaks]


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    target = target_executable()
    served = serve_report(total, ROWS_PER_FILE)
    with tempfile.TemporaryDirectory() as scratch_name, EmbeddedPostgres() as pg:
        scratch = Path(scratch_name)
        key = scratch / "key.p8"
        key.write_text(served.private_pem)
        settings = tap_config(served.api, key, served.today)
        batch = {
            "batch_config": {
                "encoding": {"format": "jsonl", "compression": "gzip"},
                "storage": {"root": (scratch / "batches").as_uri()},
                "batch_size": BATCH_SIZE,
            }
        }
        # (tap mode, target mode): record by record or BATCH, INSERT or COPY; meltano.yml's
        # main job is BATCH with COPY. Without validation: what the check costs.
        modes = {
            ("RECORD", "INSERT"): ({}, {"use_copy": False}),
            ("RECORD", "COPY"): ({}, {"use_copy": True}),
            ("BATCH", "INSERT"): (batch, {"use_copy": False}),
            ("BATCH", "COPY"): (batch, {"use_copy": True}),
            ("BATCH", "COPY unvalidated"): (batch, {"use_copy": True, "validate_records": False}),
        }
        saved: dict[str, Path] = {}
        results: dict[tuple[str, str], float] = {}
        for (tap_mode, target_mode), (tap_extra, target_extra) in modes.items():
            config = scratch / f"tap-{tap_mode}.json"
            config.write_text(json.dumps({**settings, **tap_extra}))
            tap = [sys.executable, "-m", "tap_segment_analytics.tap", "--config", str(config)]
            name = f"{tap_mode.lower()}_{target_mode.lower().replace(' ', '_')}"

            def target_command(schema: str, target_extra: dict = target_extra) -> list[str]:
                path = scratch / f"target-{schema}.json"
                path.write_text(
                    json.dumps(
                        {
                            "sqlalchemy_url": pg.url,
                            "default_target_schema": schema,
                            "add_record_metadata": True,
                            "activate_version": True,
                            "validate_records": True,
                            **target_extra,
                        }
                    )
                )
                return [target, "--config", str(path)]

            if tap_mode not in saved:
                saved[tap_mode] = scratch / f"{tap_mode}.jsonl"
                started = time.perf_counter()
                with saved[tap_mode].open("wb") as out:
                    (tap_rss,) = watch(
                        [subprocess.Popen(tap, stdout=out, stderr=subprocess.DEVNULL)]
                    )
                print(
                    f"{tap_mode:>6} tap alone {time.perf_counter() - started:6.1f} s "
                    f"({tap_rss:.0f} MiB)"
                )

            schema = f"alone_{name}"
            started = time.perf_counter()
            with saved[tap_mode].open("rb") as stream:
                (target_rss,) = watch(
                    [
                        subprocess.Popen(
                            target_command(schema),
                            stdin=stream,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                        )
                    ]
                )
            target_wall = time.perf_counter() - started

            schema = f"piped_{name}"
            started = time.perf_counter()
            tap_process = subprocess.Popen(tap, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            target_process = subprocess.Popen(
                target_command(schema),
                stdin=tap_process.stdout,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            assert tap_process.stdout is not None
            tap_process.stdout.close()
            piped_tap_rss, piped_target_rss = watch([tap_process, target_process])
            piped_wall = time.perf_counter() - started
            piped_rows = pg.query(f"select count(*) from {schema}.{TABLE}")[0][0]  # noqa: S608
            differing = differing_rows(pg, "piped_record_insert", schema)
            results[(tap_mode, target_mode)] = piped_wall
            print(
                f"{tap_mode:>6} {target_mode:<16}: target alone {target_wall:6.1f} s "
                f"({target_rss:.0f} MiB); tap | target {piped_wall:6.1f} s (tap "
                f"{piped_tap_rss:.0f} MiB, target {piped_target_rss:.0f} MiB, {piped_rows} rows, "
                f"{differing} differing from record by record with INSERT): the tap adds "
                f"{piped_wall / target_wall - 1:+.0%} to the target alone"
            )
        batch_files = list((scratch / "batches").rglob("*.json.gz"))
        print(f"BATCH files on disk after the runs: {len(batch_files)} of <= {BATCH_SIZE} records")
    served.stop()
    baseline = results[("RECORD", "INSERT")]
    print(
        f"rows: {total:,}; {os.cpu_count()} cores; tap | target-postgres against record by record "
        f"with INSERT ({baseline:.1f} s):"
    )
    for (tap_mode, target_mode), wall in results.items():
        print(f"  {tap_mode:>6} {target_mode:<16} {wall:6.1f} s  {baseline / wall:5.2f}x faster")
    print(
        "  BATCH with COPY (meltano.yml) against BATCH with INSERT: "
        f"{results[('BATCH', 'INSERT')] / results[('BATCH', 'COPY')]:.2f}x faster"
    )


def differing_rows(pg: EmbeddedPostgres, schema: str, other: str) -> int:
    """Rows of TABLE in one schema and not the other (either way), the target's _sdc_ columns
    aside: 0 when both loads are exact copies."""
    columns = ", ".join(
        f'"{name}"'
        for (name,) in pg.query(
            "select column_name from information_schema.columns "  # noqa: S608 - constants
            f"where table_schema = '{schema}' and table_name = '{TABLE}' "
            "and column_name not like '\\_sdc\\_%' order by column_name"
        )
    )
    one_way = (
        f"select {columns} from {schema}.{TABLE} except all select {columns} from {other}.{TABLE}"  # noqa: S608
    )
    other_way = (
        f"select {columns} from {other}.{TABLE} except all select {columns} from {schema}.{TABLE}"  # noqa: S608
    )
    return int(
        pg.query(
            f"select (select count(*) from ({one_way}) a) + (select count(*) from ({other_way}) b)"  # noqa: S608
        )[0][0]
    )


if __name__ == "__main__":
    main()
