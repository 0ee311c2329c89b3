"""Golden Singer output: normalised stdout lines kept in gzipped JSONL under tests/golden/, and a
short account of how a run's lines differ from them."""

from __future__ import annotations

import gzip
import json
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from tap_segment_analytics.batch_files import RUN_FOLDER_PREFIX

GOLDEN_DIRECTORY = Path(__file__).parent / "golden"
# Set to 1 to write the golden files from this run instead of comparing with them.
UPDATE_VARIABLE = "GOLDEN_UPDATE"
# The one part of a message that changes from run to run (the SDK's clock at emission).
TIME_EXTRACTED = re.compile(r',"time_extracted":"[^"]*"')
# A run's BATCH folder, named after the clock and a random id (in BATCH manifests and STATE).
RUN_FOLDER = re.compile(rf"{re.escape(RUN_FOLDER_PREFIX)}\d{{8}}T\d{{6}}Z-[0-9a-f]{{8}}")
# How much of two differing lines a failure shows: this many characters, from this many before
# the first that differs.
SHOWN_CHARACTERS = 240
SHOWN_BEFORE = 80


def normalised(stdout: str, placeholders: dict[str, str]) -> list[str]:
    """The tap's stdout lines without `time_extracted`, each text of `placeholders` (a fake's
    URL: a new port each run; the BATCH root) replaced by its placeholder and the BATCH run
    folder by `<run folder>`; each BATCH message followed by the lines of its files."""
    lines = []
    for line in stdout.splitlines():
        files = batch_file_lines(line)
        line = RUN_FOLDER.sub("<run folder>", TIME_EXTRACTED.sub("", line))
        for text, placeholder in placeholders.items():
            line = line.replace(text, placeholder)
        lines += [line, *files]
    return lines


def batch_file_lines(line: str) -> list[str]:
    """For a BATCH message, every line of its files in manifest order, each wrapped as
    `{"type":"BATCH_FILE_LINE","stream":…,"line":<the line as written>}`; else nothing."""
    if not line.startswith('{"type":"BATCH"'):
        return []
    message = json.loads(line)
    opened = gzip.open if message["encoding"].get("compression") == "gzip" else open
    stream = json.dumps(message["stream"])
    wrapped = []
    for uri in message["manifest"]:
        with opened(unquote(urlparse(uri).path), "rt") as file:
            wrapped += [f'{{"type":"BATCH_FILE_LINE","stream":{stream},"line":{raw.rstrip()}}}'
                        for raw in file]  # fmt: skip
    return wrapped


def golden_path(name: str) -> Path:
    return GOLDEN_DIRECTORY / f"{name}.jsonl.gz"


def updating() -> bool:
    """Whether this run writes the golden files (GOLDEN_UPDATE=1)."""
    return os.environ.get(UPDATE_VARIABLE) == "1"


def write_golden(name: str, lines: list[str]) -> None:
    """Store `lines` as the golden output `name` (gzipped without a timestamp: the same lines
    give the same bytes)."""
    GOLDEN_DIRECTORY.mkdir(exist_ok=True)
    text = "".join(f"{line}\n" for line in lines).encode()
    golden_path(name).write_bytes(gzip.compress(text, compresslevel=9, mtime=0))


def read_golden(name: str) -> list[str]:
    return gzip.decompress(golden_path(name).read_bytes()).decode().splitlines()


def golden_messages(name: str) -> list[dict[str, Any]]:
    """The golden output `name`, parsed."""
    return [json.loads(line) for line in read_golden(name)]


def check_golden(name: str, lines: list[str], *, source: bool = False) -> None:
    """Assert `lines` equal the golden output `name`; the `source` run of it writes it instead
    under GOLDEN_UPDATE=1."""
    if source and updating():
        write_golden(name, lines)
        return
    expected = read_golden(name)
    if lines != expected:
        heading = (
            f"Singer output differs from {golden_path(name)} ({UPDATE_VARIABLE}=1 rewrites it)"
        )
        pytest.fail(f"{heading}:\n{differences(expected, lines)}", pytrace=False)


def channel(line: str) -> str:
    """What a line's order is kept within: a stream's RECORDs and SCHEMAs, or the STATEs."""
    message = json.loads(line)
    return message.get("stream") or message["type"]


def differences(expected: list[str], actual: list[str]) -> str:
    """Per stream (and STATE): line counts and the first line that differs; else where the
    interleaving of otherwise equal streams first differs."""
    by_channel: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for side, lines in enumerate((expected, actual)):
        for line in lines:
            by_channel[channel(line)][side].append(line)
    report = [f"lines: expected {len(expected)}, got {len(actual)}"]
    for name, (want, got) in sorted(by_channel.items()):
        if want != got:
            unequal = sum(w != g for w, g in zip(want, got, strict=False))
            counts = f"expected {len(want)} lines, got {len(got)}, {unequal} of them unequal"
            report.append(
                f"{name}: {counts}; first difference at its {first_difference(want, got)}"
            )
    if len(report) == 1:
        report.append(
            f"every stream equal, their order not: at {first_difference(expected, actual)}"
        )
    return "\n".join(report)


def first_difference(expected: list[str], actual: list[str]) -> str:
    """Where two lists of lines first differ: the line's number, and both lines around the
    first character that differs."""
    index = next(
        (i for i, (e, a) in enumerate(zip(expected, actual, strict=False)) if e != a),
        min(len(expected), len(actual)),
    )
    want, got = (lines[index] if index < len(lines) else "" for lines in (expected, actual))
    column = next(
        (i for i, (e, a) in enumerate(zip(want, got, strict=False)) if e != a),
        min(len(want), len(got)),
    )
    start = max(0, column - SHOWN_BEFORE)
    return (
        f"line {index}, column {column}:\n"
        f"  expected: {excerpt(want, start)}\n"
        f"  got:      {excerpt(got, start)}"
    )


def excerpt(line: str, start: int) -> str:
    if not line:
        return "(no line)"
    end = start + SHOWN_CHARACTERS
    return ("…" if start else "") + line[start:end] + ("…" if end < len(line) else "")
