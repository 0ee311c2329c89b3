"""The tap's CLI run against a sandbox, its records counted per stream (and kept, if asked)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from segment_analytics_sandbox.environment import Sandbox


def run_tap(sandbox: Sandbox, output: Path | None) -> int:
    """Run the tap's CLI against the sandbox; print a summary; return its exit code."""
    with tempfile.TemporaryDirectory() as scratch:
        config_path = Path(scratch) / "config.json"
        config_path.write_text(json.dumps(sandbox.tap_config()))
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "tap_segment_analytics", "--config", str(config_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert process.stdout is not None
        counts: Counter[str] = Counter()
        files: dict[str, Any] = {}
        if output:
            output.mkdir(parents=True, exist_ok=True)
        for line in process.stdout:
            message = json.loads(line)
            if message.get("type") != "RECORD":
                continue
            stream = message["stream"]
            counts[stream] += 1
            if output:
                if stream not in files:
                    files[stream] = (output / f"{stream}.jsonl").open("w")
                files[stream].write(json.dumps(message["record"]) + "\n")
        for handle in files.values():
            handle.close()
        code = process.wait()
        elapsed = time.monotonic() - started
    print(f"tap-segment-analytics ran against the sandbox in {elapsed:.1f} s (exit {code})")
    print(f"{'stream':<52} {'records':>8}")
    for stream, count in sorted(counts.items()):
        print(f"{stream:<52} {count:>8}")
    print(f"{'total':<52} {sum(counts.values()):>8}")
    if output:
        print(f"records written to {output}/<stream>.jsonl")
    return code
