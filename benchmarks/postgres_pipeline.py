"""The main job into PostgreSQL: tap -> MeltanoLabs target-postgres, record by record and with
BATCH messages, beside the target alone on the same saved stream.

Serves one large 'App Downloads Detailed' instance (ROWS rows in files of 10,000) from the local
fakes and loads it into an embedded PostgreSQL with target-postgres 0.8.1 (installed once into
benchmarks/.venv-target-postgres), configured as meltano.yml configures it. For each mode it runs
the tap alone (stdout to a file), the target alone on that file, and the two piped together (as
`meltano run` pipes them), each into a fresh schema; it prints wall times, peak RSS of each
process, the rows landed, and the ratios. Usage: python benchmarks/postgres_pipeline.py [ROWS]
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

from tap_segment_analytics.sandbox.postgres import EmbeddedPostgres

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
        results = {}
        for mode, extra in (("RECORD", {}), ("BATCH", batch)):
            config = scratch / f"tap-{mode}.json"
            config.write_text(json.dumps({**settings, **extra}))
            tap = [sys.executable, "-m", "tap_segment_analytics.tap", "--config", str(config)]
            saved = scratch / f"{mode}.jsonl"

            def target_command(schema: str, mode: str = mode) -> list[str]:
                path = scratch / f"target-{mode}-{schema}.json"
                path.write_text(
                    json.dumps(
                        {
                            "sqlalchemy_url": pg.url,
                            "default_target_schema": schema,
                            "add_record_metadata": True,
                            "activate_version": True,
                            "validate_records": True,
                        }
                    )
                )
                return [target, "--config", str(path)]

            started = time.perf_counter()
            with saved.open("wb") as out:
                (tap_rss,) = watch([subprocess.Popen(tap, stdout=out, stderr=subprocess.DEVNULL)])
            tap_wall = time.perf_counter() - started

            schema = f"alone_{mode.lower()}"
            started = time.perf_counter()
            with saved.open("rb") as stream:
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
            alone_rows = pg.query(f"select count(*) from {schema}.{TABLE}")[0][0]  # noqa: S608

            schema = f"piped_{mode.lower()}"
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
            results[mode] = (piped_wall, target_wall)
            print(
                f"{mode:>6}: tap alone {tap_wall:6.1f} s ({tap_rss:.0f} MiB); target alone "
                f"{target_wall:6.1f} s ({target_rss:.0f} MiB, {alone_rows} rows); tap | target "
                f"{piped_wall:6.1f} s (tap {piped_tap_rss:.0f} MiB, target "
                f"{piped_target_rss:.0f} MiB, {piped_rows} rows): the tap adds "
                f"{piped_wall / target_wall - 1:+.0%} to the target alone"
            )
        batch_files = list((scratch / "batches").rglob("*.json.gz"))
        print(f"BATCH files on disk after the runs: {len(batch_files)} of <= {BATCH_SIZE} records")
    served.stop()
    record_wall, batch_wall = results["RECORD"][0], results["BATCH"][0]
    print(
        f"rows: {total:,}; tap | target-postgres with BATCH vs record by record: "
        f"{record_wall / batch_wall:.2f}x faster ({record_wall:.1f} s -> {batch_wall:.1f} s); "
        f"{os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
