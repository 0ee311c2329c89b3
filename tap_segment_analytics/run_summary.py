"""What a run did, per stream: records, requests, retries, what it skipped (e.g. segments Braze
refused), files and bytes downloaded, time, and the values and rows of report files that did not
fit their columns.

Each run has one `RunSummary` (made by the Tap, handed to its streams through their source's
runtime); stream code adds to it (thread-safe): `summary.count(stream, retries=1)`,
`summary.count(stream, files=1, bytes=n)`. Records are counted where the Singer messages are
written (`singer_output.SingerOutput`), requests by each source's client
(http_calls/client.py), sync time by the streams' timer (sdk/streams.py). The tap logs
`summary.log_lines(...)` at the end of every run.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from singer_sdk import metrics
from typing_extensions import Self, override


@dataclass
class StreamTally:
    """One stream's figures."""

    records: int = 0
    requests: int = 0
    retries: int = 0
    skipped: int = 0
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    bad_values: int = 0  # values kept aside: not of their column's type
    bad_rows: int = 0  # rows shorter or longer than their file's header

    def add(self, other: StreamTally) -> None:
        """Add another tally to this one."""
        for field in fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


@dataclass
class _Timing:
    stream: str
    started: float
    children: float = 0.0


class RunSummary:
    """Per-stream figures of one run; safe to update from several threads."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._local = threading.local()
        self._tallies: dict[str, StreamTally] = {}
        self._records: Counter[str] = Counter()
        self._skipped: Counter[str] = Counter()
        self._started = clock()

    def record(self, stream: str) -> None:
        """One record of `stream` written: `count(stream, records=1)`, at a third of the cost
        (it runs once per record)."""
        with self._lock:
            self._records[stream] += 1

    def skipped(self, what: str) -> None:
        """One thing the run skipped, with a warning of its own: e.g. "App Store app without
        a report request", "App Store report instance gone (404)"."""
        with self._lock:
            self._skipped[what] += 1

    def count(self, stream: str, **amounts: int) -> None:
        """Add to a stream's figures, e.g. `count("appstore_app_crashes", files=1, bytes=n)`."""
        with self._lock:
            tally = self._tallies.setdefault(stream, StreamTally())
            for name, amount in amounts.items():
                setattr(tally, name, getattr(tally, name) + amount)

    def enter(self, stream: str) -> None:
        """A sync of `stream` starts (in this thread)."""
        self._syncs().append(_Timing(stream, self._clock()))

    def leave(self) -> None:
        """The innermost sync of this thread ends: its time without its children's counts."""
        syncs = self._syncs()
        timing = syncs.pop()
        elapsed = self._clock() - timing.started
        if syncs:
            syncs[-1].children += elapsed
        with self._lock:
            tally = self._tallies.setdefault(timing.stream, StreamTally())
            tally.seconds += elapsed - timing.children

    def _syncs(self) -> list[_Timing]:
        """This thread's syncs in progress, outermost first (a parent's include its children)."""
        if not hasattr(self._local, "syncs"):
            self._local.syncs = []
        return self._local.syncs

    def tallies(self) -> dict[str, StreamTally]:
        """A copy of every stream's figures, by stream name."""
        with self._lock:
            tallies = {name: StreamTally(**vars(t)) for name, t in self._tallies.items()}
            for name, records in self._records.items():
                tallies.setdefault(name, StreamTally()).records += records
        return tallies

    def log_lines(self, outcome: str) -> list[str]:
        """The summary as lines: a heading with the outcome, a table, a total (no lines when
        nothing was synced). The bad_values and bad_rows columns are there when a file held
        any."""
        tallies = self.tallies()
        if not tallies and not self._skipped:
            return []
        total = StreamTally()
        for tally in tallies.values():
            total.add(tally)
        width = max(len(name) for name in [*tallies, "stream"])
        elapsed = self._clock() - self._started
        bad = bool(total.bad_values or total.bad_rows)
        lines = [
            f"run summary: {outcome} after {elapsed:.1f} s",
            _row("stream", width, None, bad=bad),
        ]
        lines += [_row(name, width, tallies[name], bad=bad) for name in sorted(tallies)]
        lines.append(_row("total", width, total, bad=bad))
        with self._lock:
            skipped = sorted(self._skipped.items())
        if skipped:
            lines.append("skipped: " + "; ".join(f"{n:,} {what}" for what, n in skipped))
        return lines


def _row(name: str, width: int, tally: StreamTally | None, *, bad: bool) -> str:
    if tally is None:
        cells = ["records", "requests", "retries", "skipped", "files", "bytes", "time"]
        cells += ["bad_values", "bad_rows"] if bad else []
    else:
        cells = [
            f"{tally.records:,}",
            f"{tally.requests:,}",
            f"{tally.retries:,}",
            f"{tally.skipped:,}",
            f"{tally.files:,}",
            f"{tally.bytes:,}",
            f"{tally.seconds:.1f} s",
        ]
        cells += [f"{tally.bad_values:,}", f"{tally.bad_rows:,}"] if bad else []
    widths = (10, 9, 8, 8, 6, 14, 9, 11, 9)
    return f"  {name:<{width}}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=False))


class SyncTimer(metrics.Timer):
    """The SDK's sync timer; also adds each sync's own time (children excluded) to the summary."""

    def __init__(self, stream: str, summary: RunSummary) -> None:
        super().__init__(metrics.Metric.SYNC_DURATION, {metrics.Tag.STREAM: stream})
        self._stream = stream
        self._summary = summary

    @override
    def __enter__(self) -> Self:
        self._summary.enter(self._stream)
        return super().__enter__()

    @override
    def __exit__(self, *exc_info: Any) -> None:
        self._summary.leave()
        super().__exit__(*exc_info)
