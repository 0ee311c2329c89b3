"""How the tap's Singer messages reach stdout: msgspec-encoded lines, counted per stream.

The SDK's default writer encodes with simplejson and flushes stdout after every message; its
msgspec writer (the SDK's `msgspec` extra) encodes several times faster but still flushes every
line. Here lines are encoded with the SDK's own msgspec encoder and written through stdout's
buffer: RECORD lines are flushed with the next non-RECORD message (a STATE goes out at once,
after every record before it), or when the buffer fills.

`write_records` writes RECORD lines for many records in one call: the rows streams' fast path,
which produces the bytes the SDK's record path would (tests/test_row_fast_path.py).

When the target exits before the tap (`tap ... | head -1`, a loader that crashed), the next
write raises `TargetStoppedReading`, and nothing more is written.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from singer_sdk.contrib.msgspec import encoder
from singer_sdk.singerlib import Message, RecordMessage
from singer_sdk.singerlib.encoding.base import GenericSingerWriter
from typing_extensions import override

from tap_segment_analytics.run_summary import RunSummary
from tap_segment_analytics.stopping import STOP

TARGET_STOPPED = (
    "the target stopped reading the tap's output (broken pipe): it exited or crashed first, "
    "see its log"
)


class TargetStoppedReading(BaseException):
    """The target closed the tap's stdout.

    A BaseException, like KeyboardInterrupt: the SDK logs every `Exception` a stream raises as
    "An unhandled error occurred", and the tap's one line (TARGET_STOPPED) says it all.
    """


class SingerOutput(GenericSingerWriter[bytes, Message]):
    """Writes Singer messages to stdout; with `discard`, counts them but writes nothing."""

    def __init__(self, *, discard: bool = False) -> None:
        self.discard = discard
        # Where RECORDs are counted: the run's summary, handed over by the tap.
        self.summary = RunSummary()

    @override
    def serialize_message(self, message: Message) -> bytes:
        """A message as one line of JSON."""
        return encoder.encode(message.to_dict()) + b"\n"

    @override
    def write_message(self, message: Message) -> None:
        """Write one message; anything but a RECORD is flushed at once."""
        if isinstance(message, RecordMessage):
            self.summary.record(message.stream)
        if not self.discard:
            _write(self.serialize_message(message), flush=not isinstance(message, RecordMessage))

    def write_encoded_state(self, value: bytes) -> None:
        """A STATE message of a state already encoded (`encoder.encode(state)`): the line
        `serialize_message` makes of it, without a copy of the state's bytes (a large state's
        are megabytes)."""
        if not self.discard:
            _write((_STATE_HEAD, value, _STATE_TAIL), flush=True)

    def write_records(
        self, stream: str, records: Iterable[dict[str, Any]], time_extracted: datetime
    ) -> int:
        """RECORD messages for `records`, as the SDK would write them; how many."""
        head = {"type": "RECORD", "stream": stream}
        count = 0
        lines = []
        for record in records:
            lines.append(
                encoder.encode({**head, "record": record, "time_extracted": time_extracted})
            )
            count += 1
            if len(lines) == _LINES_PER_WRITE:
                self._write_lines(lines)
                lines = []
        self._write_lines(lines)
        self.summary.count(stream, records=count)
        return count

    def _write_lines(self, lines: list[bytes]) -> None:
        if lines and not self.discard:
            _write((b"\n".join(lines), b"\n"), flush=False)


_LINES_PER_WRITE = 1000
_STATE_HEAD = b'{"type":"STATE","value":'
_STATE_TAIL = b"}\n"


def _write(pieces: tuple[bytes, ...] | bytes, *, flush: bool) -> None:
    """The bytes of `pieces`, one after the other, to stdout's byte buffer, or as text where
    stdout has none (a test's StringIO); a stop signal that arrives meanwhile takes effect after
    the write (stopping.py)."""
    try:
        _write_stdout((pieces,) if isinstance(pieces, bytes) else pieces, flush=flush)
    except OSError as exc:
        if exc.errno not in (errno.EPIPE, errno.ECONNRESET):
            raise
        # What is still buffered, or written while the run unwinds, goes nowhere: nothing
        # else fails on the closed pipe (Python would print "Exception ignored" at exit).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        raise TargetStoppedReading(TARGET_STOPPED) from None


def _write_stdout(pieces: tuple[bytes, ...], *, flush: bool) -> None:
    out = sys.stdout
    buffer = getattr(out, "buffer", None)
    STOP.writing = True
    try:
        if buffer is not None:
            for piece in pieces:
                buffer.write(piece)
            if flush:
                buffer.flush()
        else:
            out.write(b"".join(pieces).decode())
            if flush:
                out.flush()
    finally:
        STOP.writing = False
    STOP.after_write()
