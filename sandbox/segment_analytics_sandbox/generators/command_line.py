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


def sync_folder(
    root: Path, wanted: dict[Path, str], folder: Path, pattern: str, *, write: bool
) -> list[Path]:
    """The files of `wanted` (relative path → text) that are missing or differ, and the files
    of `folder` matching `pattern` that are not wanted; written and deleted if `write`."""
    present = {path.relative_to(root) for path in (root / folder).glob(pattern)}
    leftover = sorted(present - set(wanted))
    changed = [
        path
        for path, text in wanted.items()
        if not (root / path).is_file() or (root / path).read_text(encoding="utf-8") != text
    ]
    if write:
        (root / folder).mkdir(parents=True, exist_ok=True)
        for path in changed:
            (root / path).write_text(wanted[path], encoding="utf-8")
        for path in leftover:
            (root / path).unlink()
    return changed + leftover


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
