"""The --config, --state and --catalog files: JSON objects, or one line saying what is wrong."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tap_segment_analytics.sdk.state import KEYED_PREFIX

STDIN = "-"
_JSON_TYPES = {list: "an array", str: "a string", bool: "true or false", int: "a number"}


class BadInputFile(Exception):
    """An input file that cannot be used; the message names the option and the file."""


def read_json_object(option: str, path: str, *, stdin: bool) -> tuple[str, dict[str, Any]]:
    """The file's text and its JSON object; with `stdin`, `-` reads standard input."""
    where = f"{option} {path}"
    try:
        if stdin and path == STDIN:
            text = sys.stdin.read()
        else:
            text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInputFile(f"{where}: no such file") from None
    except UnicodeDecodeError:
        raise BadInputFile(f"{where} is not UTF-8 text") from None
    except OSError as exc:
        raise BadInputFile(f"{where} cannot be read: {exc.strerror or exc}") from None
    if not text.strip():
        raise BadInputFile(f"{where} is empty")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputFile(f"{where} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        kind = "null" if value is None else _JSON_TYPES.get(type(value), "a number")
        raise BadInputFile(f"{where} holds {kind}, not a JSON object")
    problem = _shape_problem(option, value)
    if problem:
        raise BadInputFile(f"{where}: {problem}")
    return text, value


def _shape_problem(option: str, value: dict[str, Any]) -> str | None:
    """What the SDK would trip over in a state or catalog object."""
    if option == "--catalog":
        streams = value.get("streams")
        if not isinstance(streams, list):
            return "has no 'streams' list"
        for index, stream in enumerate(streams):
            if not isinstance(stream, dict) or not isinstance(stream.get("tap_stream_id"), str):
                return f"streams[{index}] has no 'tap_stream_id'"
            metadata = stream.get("metadata", [])
            if not isinstance(metadata, list) or not all(isinstance(m, dict) for m in metadata):
                return f"streams[{index}] 'metadata' is not a list of objects"
    if option == "--state":
        return _state_problem(value)
    return None


def _state_problem(value: dict[str, Any]) -> str | None:
    """What the SDK or the tap would trip over in a state's bookmarks: an entry, a `partitions`
    list, a partition's `context` or an object of bookmarks by id that is not what they read,
    or two partitions of one context."""
    bookmarks = value.get("bookmarks", {})
    if not isinstance(bookmarks, dict):
        return "'bookmarks' is not an object"
    for stream, entry in bookmarks.items():
        if not isinstance(entry, dict):
            return f"bookmarks.{stream} is not an object"
        for key, value in entry.items():
            if key.startswith(KEYED_PREFIX) and not isinstance(value, dict):
                return f"bookmarks.{stream}.{key} is not an object"
        partitions = entry.get("partitions", [])
        if not isinstance(partitions, list):
            return f"bookmarks.{stream}.partitions is not a list"
        seen = set()
        for index, partition in enumerate(partitions):
            where = f"bookmarks.{stream}.partitions[{index}]"
            if not isinstance(partition, dict) or not isinstance(partition.get("context"), dict):
                return f"{where} has no 'context' object"
            context = json.dumps(partition["context"], sort_keys=True)
            if context in seen:
                return f"{where} repeats the context {context}"
            seen.add(context)
    return None
