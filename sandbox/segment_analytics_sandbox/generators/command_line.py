"""The command line the file generators share (meltano_plugin, current_rows_models,
reporting_models): regenerate their files in a checkout, or with --check only name the stale
ones (tests run it)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Protocol

import tap_segment_analytics

# The checkout of the tap these generators import (installed editable): they write into it.
CHECKOUT = Path(tap_segment_analytics.__file__).resolve().parents[1]


class StaleFiles(Protocol):
    """The generated files of the checkout `root` that are stale; rewritten if `write`."""

    def __call__(self, root: Path, *, write: bool) -> list[Path]: ...


def generator_main(
    argv: list[str] | None,
    *,
    command: str,
    description: str,
    marker: Path,
    stale_files: StaleFiles,
) -> int:
    """Run a generator whose checkout holds `marker` (a relative path)."""
    parser = argparse.ArgumentParser(prog=command, description=description)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if stale")
    parser.add_argument("--root", type=Path, default=CHECKOUT, help="the checkout")
    args = parser.parse_args(argv)
    if not (args.root / marker).is_file():
        print(f"{command}: no {marker} in {args.root} (run it in a source checkout)")
        return 2
    try:
        stale = stale_files(args.root, write=not args.check)
    except ValueError as exc:
        print(f"{command}: {exc}")
        return 2
    for path in stale:
        print(f"{path}: {'stale, run ' + command if args.check else 'regenerated'}")
    return 1 if args.check and stale else 0
