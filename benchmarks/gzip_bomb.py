"""Peak memory and outcome of the tap given a gzip bomb as a report file.

Serves one instance of 'App Downloads Detailed' whose only file is a valid gzip (listed with
its true checksum and size) that expands to MIB mebibytes: the report's header, then either
one endless line ("line") or endless short lines ("lines"). Runs the tap's CLI on it as a child
process and prints its exit code, wall time, peak RSS (VmHWM) and its last log line.

Usage: python benchmarks/gzip_bomb.py [MIB] [line|lines]   (from the repository root)
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_rows import REPORT, high_water_kib, serve_report, tap_config

from segment_analytics_sandbox.appstore import REPORT_COLUMNS

BLOCK_BYTES = 1 << 20


def bomb(mebibytes: int, shape: str) -> bytes:
    """A gzip of the report's header and then `mebibytes` MiB of one line or of short lines."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    header = "\t".join(REPORT_COLUMNS[REPORT]) + "\n"
    block = b"x" * BLOCK_BYTES if shape == "line" else b"x\n" * (BLOCK_BYTES // 2)
    parts = [compressor.compress(header.encode())]
    parts += [compressor.compress(block) for _ in range(mebibytes)]
    return b"".join([*parts, compressor.flush()])


def main() -> None:
    mebibytes = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
    shape = sys.argv[2] if len(sys.argv) > 2 else "line"
    served = serve_report(1, 1)
    (segment,) = served.api.instance_segments(served.instance)
    data = bomb(mebibytes, shape)
    served.s3.put(segment.key, data)
    segment.checksum = hashlib.md5(data).hexdigest()  # noqa: S324 - Apple's checksum
    segment.size_in_bytes = len(data)
    with tempfile.TemporaryDirectory() as scratch:
        key = Path(scratch) / "key.p8"
        key.write_text(served.private_pem)
        config = Path(scratch) / "config.json"
        config.write_text(json.dumps(tap_config(served.api, key, served.today)))
        started = time.perf_counter()
        peak_kib = 0
        log = Path(scratch) / "stderr.txt"
        with open(os.devnull, "wb") as sink, log.open("wb") as err:
            tap = subprocess.Popen(
                [sys.executable, "-m", "tap_segment_analytics.tap", "--config", str(config)],
                stdout=sink,
                stderr=err,
            )
            while tap.poll() is None:
                peak_kib = max(peak_kib, high_water_kib(tap.pid))
                time.sleep(0.02)  # sampling the child's memory, not waiting for readiness
        stderr = log.read_text(errors="replace")
    served.stop()
    lines = stderr.splitlines()
    what = "one line" if shape == "line" else "short lines"
    print(f"bomb: {len(data) / 2**20:.1f} MiB gzip expanding to {mebibytes} MiB of {what}")
    print(
        f"tap: exit {tap.returncode}, {time.perf_counter() - started:.1f} s wall, peak RSS "
        f"{peak_kib / 1024:.0f} MiB, {len(lines)} stderr lines, "
        f"{sum('Traceback' in line for line in lines)} tracebacks"
    )
    print(f"last line: {lines[-1][:300] if lines else ''}")


if __name__ == "__main__":
    main()
