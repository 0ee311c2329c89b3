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
import shlex
import signal
import sys
from pathlib import Path

from segment_analytics_sandbox.environment import Sandbox, start_sandbox
from segment_analytics_sandbox.tap_run import run_tap

READY = "# ready:"


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
