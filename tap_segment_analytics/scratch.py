"""The scratch folder where report files wait between their download and their rows.

Each run makes its own in the system's temporary folder and removes it at exit. A run killed
with SIGKILL cannot, so each run also sweeps the folders of runs that are gone: a run holds an
exclusive lock (flock) on its folder's lock file while it lives, and the kernel releases it when
the process ends, however it ends. A lock file younger than a minute is never taken for a dead
run's: its run may not have locked it yet.
"""

from __future__ import annotations

import atexit
import fcntl
import shutil
import tempfile
import time
from pathlib import Path
from typing import IO

SCRATCH_PREFIX = "tap-segment-analytics-scratch-"
LOCK_NAME = ".lock"
_YOUNG_SECONDS = 60


def scratch_folder(parent: Path | None = None) -> tuple[Path, list[str]]:
    """This run's scratch folder (locked; removed at exit), and the names of the dead runs'
    folders swept from `parent` (the system's temporary folder by default)."""
    parent = parent or Path(tempfile.gettempdir())
    swept = [path.name for path in sorted(parent.glob(f"{SCRATCH_PREFIX}*")) if _sweep(path)]
    directory = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=parent))
    lock = (directory / LOCK_NAME).open("w")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    atexit.register(_remove, directory, lock)
    return directory, swept


def _sweep(path: Path) -> bool:
    """Remove the folder if its run is gone; whether it was removed."""
    try:
        if time.time() - (path / LOCK_NAME).stat().st_mtime < _YOUNG_SECONDS:
            return False
        with (path / LOCK_NAME).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            shutil.rmtree(path)
    except OSError:  # no lock file (not a run's folder), or locked by a live run
        return False
    return True


def _remove(directory: Path, lock: IO[str]) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    lock.close()
