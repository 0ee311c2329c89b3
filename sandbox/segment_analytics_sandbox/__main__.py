"""`tap-segment-analytics-sandbox`: the built-in demo, with no credentials and no internet.

- `run`: start the fake APIs, run the tap against them, print what it emitted per stream
  (optionally writing each stream's records to `--output DIR/<stream>.jsonl`).
- `serve`: start the fake APIs, print every setting a config needs as `export` lines (the
  TAP_SEGMENT_ANALYTICS_* variables Meltano and `--config ENV` read, and the SANDBOX_* ones
  meltano.yml's `demo` environment reads), write a ready config.json, and serve until
  interrupted.
- `demo`: the full job: Meltano runs the tap into a throwaway PostgreSQL (see demo.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from segment_analytics_sandbox.environment import Sandbox, start_sandbox

READY = "# ready:"


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


def serve(sandbox: Sandbox) -> int:
    """Print the settings as `export` lines, write config.json, wait for Ctrl-C or SIGTERM."""
    # Before the ready line: a SIGTERM right after it must still clean up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    config_path = sandbox.write_config()
    print(
        f"# sandbox: Braze {sandbox.braze.base_url}, App Store Connect "
        f"{sandbox.appstore.base_url} (report files on {sandbox.s3.base_url})"
    )
    for name, value in {**sandbox.tap_env(), **sandbox.env()}.items():
        print(f"export {name}={shlex.quote(value)}")
    print(f"# config.json: {config_path}")
    print(f"#   tap-segment-analytics --config {shlex.quote(str(config_path))}")
    print(f"{READY} Ctrl-C stops the sandbox and deletes config.json and the key")
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        signal.pause()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `tap-segment-analytics-sandbox`."""
    parser = argparse.ArgumentParser(
        prog="tap-segment-analytics-sandbox",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run the tap against the sandbox")
    run_parser.add_argument("--output", type=Path, help="write <stream>.jsonl files here")
    commands.add_parser("serve", help="serve the fake APIs until interrupted")
    demo_parser = commands.add_parser("demo", help="Meltano → target-postgres → PostgreSQL")
    demo_parser.add_argument(
        "--output",
        type=Path,
        default=Path("output"),
        help="JSONL fallback folder when PostgreSQL is unavailable",
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        from segment_analytics_sandbox.demo import run_demo

        return run_demo(output=args.output)
    sandbox = start_sandbox()
    try:
        return run_tap(sandbox, args.output) if args.command == "run" else serve(sandbox)
    finally:
        sandbox.stop()


if __name__ == "__main__":
    sys.exit(main())
