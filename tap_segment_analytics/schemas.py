"""Where the JSON Schema files are: one per stream, named `<stream name>.json`.

They live in `schemas/` at the project root and ship inside the wheel as
`tap_segment_analytics/schemas/` (see pyproject.toml); an editable install reads the former.
Streams load them through the SDK's `StreamSchema(SCHEMAS)` descriptor.
"""

from __future__ import annotations

from pathlib import Path

from singer_sdk import SchemaDirectory

_PACKAGE_DIR = Path(__file__).resolve().parent
SCHEMA_DIRS = (_PACKAGE_DIR / "schemas", _PACKAGE_DIR.parent / "schemas")


def schema_dir() -> Path:
    """The first schema directory that exists."""
    for directory in SCHEMA_DIRS:
        if directory.is_dir():
            return directory
    searched = ", ".join(str(d) for d in SCHEMA_DIRS)
    raise FileNotFoundError(f"no schemas directory in {searched}")


SCHEMAS = SchemaDirectory(schema_dir())
