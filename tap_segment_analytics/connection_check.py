"""`--test`: can each configured source be authenticated against and read?

Like the SDK's connection test, each source's streams are synced with a limit of one record per
stream and partition (so every level of the chain is read once: list, details, series; request,
report, instance, segment, a file's first row), but nothing is written to stdout, the limit's
aborts are not errors, and the outcome is one line per source: what it read, or why it could not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from singer_sdk import Stream
from singer_sdk.exceptions import AbortedSyncFailedException, AbortedSyncPausedException

from tap_segment_analytics import progress
from tap_segment_analytics.errors import failure_line
from tap_segment_analytics.run_summary import StreamTally

if TYPE_CHECKING:
    import logging

    from tap_segment_analytics.logs import SdkLines
    from tap_segment_analytics.run_summary import RunSummary
    from tap_segment_analytics.source_runtime import SourceRuntime

RECORDS_PER_STREAM = 1


class CheckedTap(Protocol):
    """What the connection test needs of the tap (tap.py)."""

    sdk_lines: SdkLines
    summary: RunSummary

    @property
    def streams(self) -> dict[str, Stream]:
        """The tap's streams by name."""

    @property
    def logger(self) -> logging.Logger:
        """The tap's logger."""

    def runtimes(self) -> dict[str, SourceRuntime]:
        """Each configured source's runtime."""


@dataclass(frozen=True)
class Source:
    """A configured source: its name, where it is, and the prefix of its stream names."""

    label: str
    url: str
    stream_prefix: str


def check_sources(tap: CheckedTap, sources: list[Source]) -> bool:
    """Log one line per source (INFO when it could be read, ERROR when not); True if all could."""
    for stream in tap.streams.values():
        stream.ABORT_AT_RECORD_COUNT = RECORDS_PER_STREAM
        stream.selected = True
    ok = True
    tap.sdk_lines.quiet_sync_errors = True  # the aborts above end every sync with one
    trackers = [runtime.progress for runtime in tap.runtimes().values()]
    try:
        with progress.muted(trackers):
            for source in sources:
                ok = _check(tap, source) and ok
    finally:
        tap.sdk_lines.quiet_sync_errors = False
    return ok


def _check(tap: CheckedTap, source: Source) -> bool:
    before = tap.summary.tallies()
    try:
        for stream, context in _top_level_syncs(tap, source):
            with contextlib.suppress(AbortedSyncFailedException, AbortedSyncPausedException):
                stream.sync(context)
    except Exception as exc:
        line = failure_line(exc)
        if line is None:
            raise
        tap.logger.error("%s (%s): cannot be read: %s", source.label, source.url, line)
        return False
    read = _streams_read(before, tap.summary.tallies(), source)
    requests = sum(tally.requests for tally in read.values())
    tap.logger.info(
        "%s (%s): authenticated and read %s (%d requests)",
        source.label,
        source.url,
        ", ".join(name for name, tally in read.items() if tally.records) or "nothing yet",
        requests,
    )
    return True


def _top_level_syncs(
    tap: CheckedTap, source: Source
) -> Iterator[tuple[Stream, dict | None]]:
    """Each top-level stream of the source, once per partition (e.g. per App Store app), so a
    record limit that ends one partition's sync leaves the next one to be read."""
    for stream in tap.streams.values():
        if stream.name.startswith(source.stream_prefix) and not stream.parent_stream_type:
            partitions = stream.partitions
            for context in partitions if partitions else [None]:
                yield stream, context


def _streams_read(
    before: dict[str, StreamTally], after: dict[str, StreamTally], source: Source
) -> dict[str, StreamTally]:
    """What each of the source's streams did during its check, in sync order."""
    read = {}
    for name, tally in after.items():
        if name.startswith(source.stream_prefix):
            earlier = before.get(name, StreamTally())
            read[name] = StreamTally(
                records=tally.records - earlier.records, requests=tally.requests - earlier.requests
            )
    return read
