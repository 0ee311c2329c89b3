"""BATCH files of report rows (the SDK's `batch_config`): at most `batch_size` records a file,
one folder per run, and the folders of earlier runs deleted once the target has had them.

A target reads a BATCH message's files when it gets to it, after the tap may have exited, so the
tap cannot delete its own files. It names its run's folder in its STATE instead: a run that
starts from a STATE was started after the run that wrote it ended, and the target had read every
file of that run before it passed the STATE on, so that folder can go. Folders that never made
it into a STATE (a run killed before its first one) are deleted once they are a week old.

Only names of this tap's run folders, right under the storage root, are ever deleted: a state
file is hand-edited, copied between projects and corrupted, and an absolute path or `..` in it
must not delete whatever it names. On a local disk (a path or a `file://` URL) the folder and its
files are the owner's alone (0700 and 0600): report rows are not for every user of the machine.
The instances stream takes over at the run's first partition, so a run that writes no file still
deletes the folders of the runs before it.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from singer_sdk.contrib.msgspec import encoder
from upath import UPath

RUN_FOLDERS_KEY = "batch_folders"  # in the state of appstore_report_instances
RUN_FOLDER_PREFIX = "tap-segment-analytics-run-"
_RUN_FOLDER = re.compile(rf"{RUN_FOLDER_PREFIX}\d{{8}}T\d{{6}}Z-[0-9a-f]{{8}}")
ORPHAN_SECONDS = 7 * 24 * 3600
_FOLDER_MODE = 0o700
_FILE_MODE = 0o600
# A local disk, as a path or a URL (`file:///...`, as meltano.yml gives the root).
_LOCAL_PROTOCOLS = ("", "file", "local")


@dataclasses.dataclass
class TakeOver:
    """The earlier runs' folders deleted, and the state's entries that name no run folder of
    this tap (left alone)."""

    deleted: list[str]
    refused: list[str]


class BatchRun:
    """This run's folder of batch files under the configured storage."""

    def __init__(self, storage: Any) -> None:
        """`storage`: the SDK's StorageTarget of `batch_config`."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.folder_name = f"{RUN_FOLDER_PREFIX}{stamp}-{uuid.uuid4().hex[:8]}"
        self.root = UPath(storage.root, **storage.params)
        self.storage = dataclasses.replace(storage, root=(self.root / self.folder_name).as_uri())

    def take_over(self, stream_state: dict[str, Any]) -> TakeOver:
        """Delete the folders earlier runs named in the state (and week-old orphans), and name
        this run's instead."""
        deleted, refused = [], []
        named = stream_state.get(RUN_FOLDERS_KEY) or []
        for folder in named if isinstance(named, list) else [named]:
            if not isinstance(folder, str) or not _RUN_FOLDER.fullmatch(folder):
                refused.append(repr(folder))
            elif _remove(self.root / folder):
                deleted.append(folder)
        try:
            siblings = list(self.root.iterdir()) if self.root.exists() else []
        except OSError:
            siblings = []
        for path in siblings:
            orphan = path.name.startswith(RUN_FOLDER_PREFIX) and _older_than(path, ORPHAN_SECONDS)
            if orphan and _remove(path):
                deleted.append(path.name)
        stream_state[RUN_FOLDERS_KEY] = [self.folder_name]
        return TakeOver(deleted, refused)

    def write(
        self, records: Iterable[dict[str, Any]], *, name: str, batch_size: int
    ) -> Iterator[tuple[str, int]]:
        """Write the records as gzipped JSON lines, `batch_size` a file; (file URL, records)
        for each file written."""
        lines: list[bytes] = []
        number = 0
        local = self.root / self.folder_name if self.root.protocol in _LOCAL_PROTOCOLS else None
        if local is not None:
            os.makedirs(local.path, mode=_FOLDER_MODE, exist_ok=True)

        def flush() -> tuple[str, int]:
            nonlocal number, lines
            number += 1
            filename = f"{self.storage.prefix or ''}{name}-{number}.json.gz"
            with (
                self.storage.open(filename, "wb") as raw,
                gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as out,
            ):
                out.write(b"\n".join(lines) + b"\n")
            if local is not None:
                os.chmod((local / filename).path, _FILE_MODE)
            written = (self.storage.get_url(filename), len(lines))
            lines = []
            return written

        for record in records:
            lines.append(encoder.encode(record))
            if len(lines) >= batch_size:
                yield flush()
        if lines:
            yield flush()


def _remove(path: UPath) -> bool:
    try:
        if not path.exists():
            return False
        path.fs.rm(path.path, recursive=True)
    except OSError:
        return False
    return True


def _older_than(path: UPath, seconds: float) -> bool:
    try:
        modified = path.stat().st_mtime
    except (OSError, AttributeError):
        return False
    return time.time() - float(modified) > seconds
