"""Loads the JSON Schema files: one per stream, named `<stream name>.json`.

They live in `schemas/` at the project root and ship inside the wheel as
`tap_segment_analytics/schemas/` (see pyproject.toml), so both locations are searched.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

_PACKAGE_DIR = Path(__file__).resolve().parent
SCHEMA_DIRS = (_PACKAGE_DIR / "schemas", _PACKAGE_DIR.parent / "schemas")


def schema_path(stream_name: str) -> Path | None:
    """The schema file for a stream, or None when there is none."""
    for directory in SCHEMA_DIRS:
        candidate = directory / f"{stream_name}.json"
        if candidate.is_file():
            return candidate
    return None


@cache
def _load(stream_name: str) -> str:
    path = schema_path(stream_name)
    if path is None:
        searched = ", ".join(str(d) for d in SCHEMA_DIRS)
        raise FileNotFoundError(f"no schema file {stream_name}.json in {searched}")
    return path.read_text(encoding="utf-8")


def load_schema(stream_name: str) -> dict[str, Any]:
    """A fresh copy of the stream's JSON Schema."""
    schema: dict[str, Any] = json.loads(_load(stream_name))
    return schema
