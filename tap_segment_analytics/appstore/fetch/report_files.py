"""Downloads report segment files, verifies them, and reads their rows as Apple writes them.

A file is streamed to a temporary file while its MD5 and size are computed, checked against the
segment's `checksum` and `sizeInBytes` and gunzipped once, and only then parsed: no row of a file
that has not verified is ever emitted, and no file is held in memory. Every transient failure of
a download (a body cut off midway, a reset, a timeout, a body that trickles past the try's
deadline, a 5xx, a bad checksum, size or gzip, an expired URL) is retried with backoff, with a
fresh URL whenever the old one may have expired.

What a file may hold is bounded before any row is read: no more bytes than `sizeInBytes` ever
reach the disk, the gunzipped text is valid UTF-8 in lines of at most MAX_LINE_BYTES and at most
MAX_EXPANSION times the file's size, and a header has at most MAX_COLUMNS columns. A file outside
these bounds is not a report file: a MalformedFile naming what and where, never a retry.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import itertools
import re
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from http import HTTPStatus
from pathlib import Path

import requests
import urllib3

from tap_segment_analytics.appstore.api.values import SegmentFile
from tap_segment_analytics.errors import network_reason
from tap_segment_analytics.http_calls.retries import (
    TRANSIENT_NETWORK_ERRORS,
    RetryPolicy,
    call_with_retries,
)

CHUNK_BYTES = 1 << 20
# Reading the raw body (to see each socket read) meets urllib3's errors unwrapped.
DOWNLOAD_ERRORS: tuple[type[BaseException], ...] = (
    *TRANSIENT_NETWORK_ERRORS,
    urllib3.exceptions.HTTPError,
)
# Apple's help says tab-separated ("compressed, tab-delimited text files") although URLs end in
# .csv.gz, and two open-source parsers read App Crashes Expanded as comma-separated (api-notes):
# each file's header line decides.
TAB = "\t"
COMMA = ","
QUOTE = '"'
LINE_END = "\r\n"
NEWLINE = b"\n"
# A download try ends at the request timeout plus the time its listed size takes at this rate:
# a body that trickles in (each read within the timeout, the whole never) is a failed try.
SLOWEST_BYTES_PER_SECOND = 256 * 1024
# A listing without sizeInBytes still bounds the bytes a download may write to disk.
UNLISTED_MAX_BYTES = 1 << 30
# Apple's rows are a few hundred bytes and its widest report has 33 columns (catalogue.json):
# bounds far beyond any real file that keep a hostile one from filling memory or the log.
MAX_LINE_BYTES = 1 << 20
MAX_COLUMNS = 1000
# Tab-separated reports gunzip to 5 to 50 times their size; a gzip bomb to about 1000 times.
MAX_EXPANSION = 200
EXPANSION_FLOOR_BYTES = 64 << 20
# Process-global, so set once here: no field is longer than a line of a verified file, except
# a quoted one spanning lines, which this bounds too.
csv.field_size_limit(MAX_LINE_BYTES)
# How much of a refused header a message shows.
HEADER_SHOWN_CHARS = 100


class DownloadProblem(Exception):
    """A transient failure of one download: worth another try."""


class URLExpired(DownloadProblem):
    """S3 refused the presigned URL (403: it has expired, valid 5 minutes) or has no file
    there (404): the next try asks the API for a fresh one."""


class DownloadRefused(Exception):
    """S3 answered in a way no retry changes (e.g. 400)."""


class MalformedFile(Exception):
    """A file that is not a report file, or whose rows do not fit its header."""


def foreign_header(header: list[str]) -> MalformedFile:
    """The problem of a header that has none of the report's columns (e.g. read in the wrong
    delimiter): shown as far as HEADER_SHOWN_CHARS."""
    shown = ", ".join(header)
    if len(shown) > HEADER_SHOWN_CHARS:
        shown = shown[:HEADER_SHOWN_CHARS] + "..."
    return MalformedFile(f"its header ({shown}) has none of the report's columns")


def download(session: requests.Session, segment: SegmentFile, timeout: float, path: Path) -> int:
    """Stream the file to `path` and verify it; the number of bytes downloaded.

    Never sends an Authorization header: S3 rejects presigned requests that carry one. Never
    writes more than the listed size: the body is abandoned as soon as it would exceed it.
    """
    listed = segment.size_in_bytes
    limit = UNLISTED_MAX_BYTES if listed is None else listed
    deadline = time.monotonic() + timeout + limit / SLOWEST_BYTES_PER_SECOND
    md5 = hashlib.md5(usedforsecurity=False)
    size = 0
    try:
        # A redirect is not followed: url_policy checked this URL's host, not the next one's.
        with session.get(
            segment.url, stream=True, timeout=timeout, allow_redirects=False
        ) as response:
            status = response.status_code
            if status == HTTPStatus.FORBIDDEN:
                raise URLExpired("the download URL was refused (403)")
            if status == HTTPStatus.NOT_FOUND:
                # The file may be gone with its segment: the fresh URL's request says so (404,
                # and the segment is skipped) or hands out where it is now.
                raise URLExpired("the file host answered HTTP 404")
            if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
                raise DownloadProblem(f"the file host answered HTTP {status}")
            if status != HTTPStatus.OK:
                raise DownloadRefused(f"the file host answered HTTP {status}")
            announced = response.headers.get("Content-Length", "")
            if announced.isdigit() and int(announced) > limit:
                raise DownloadProblem(f"the file host sends {announced} bytes, {over(segment)}")
            with path.open("wb") as out:
                # read1 returns what one read of the socket gives, so the deadline is checked
                # however slowly bytes arrive; the bytes are the file's, never decoded.
                while chunk := response.raw.read1(CHUNK_BYTES, decode_content=False):
                    size += len(chunk)
                    if size > limit:
                        raise DownloadProblem(f"more than {limit} bytes arrived, {over(segment)}")
                    md5.update(chunk)
                    out.write(chunk)
                    if time.monotonic() > deadline:
                        raise DownloadProblem(
                            f"only {size} bytes arrived within {deadline_text(timeout, limit)}"
                        )
    except DOWNLOAD_ERRORS as exc:
        # The exception text holds the URL and so its signature: network_reason redacts it.
        raise DownloadProblem(f"download failed ({network_reason(exc)})") from None
    if listed is not None and size != listed:
        raise DownloadProblem(f"size {size} bytes, expected sizeInBytes {listed}")
    if segment.checksum and md5.hexdigest() != segment.checksum.lower():
        raise DownloadProblem(f"MD5 {md5.hexdigest()}, expected checksum {segment.checksum}")
    verify_contents(path, size)
    return size


def over(segment: SegmentFile) -> str:
    """What a body longer than the listing allows is longer than, for messages."""
    if segment.size_in_bytes is None:
        return f"no sizeInBytes listed and {UNLISTED_MAX_BYTES} the most taken"
    return f"expected sizeInBytes {segment.size_in_bytes}"


def deadline_text(timeout: float, limit: int) -> str:
    """A try's time limit, for messages."""
    return f"{timeout + limit / SLOWEST_BYTES_PER_SECOND:.1f} s"


def verify_contents(path: Path, size: int) -> None:
    """Gunzip the whole file once before any row is emitted: a truncated gzip is a
    DownloadProblem; text that is not UTF-8, a line longer than MAX_LINE_BYTES or an
    expansion beyond MAX_EXPANSION times `size` is a MalformedFile naming the line.

    Memory stays flat: the file is read MAX_LINE_BYTES at a time.
    """
    most = max(EXPANSION_FLOOR_BYTES, MAX_EXPANSION * size)
    text = TextCheck()
    expanded = 0
    try:
        with gzip.open(path, "rb") as stream:
            # Chunks no longer than a line may be: only a line spanning chunks can be too long.
            while chunk := stream.read(MAX_LINE_BYTES):
                expanded += len(chunk)
                if expanded > most:
                    raise MalformedFile(
                        f"it gunzips to more than {most} bytes ({MAX_EXPANSION} times its "
                        f"{size} bytes): not a report file"
                    )
                text.check(chunk)
            text.finish()
    except (EOFError, OSError, zlib.error) as exc:
        raise DownloadProblem(f"not a whole gzip file ({exc})") from None


class TextCheck:
    """Checks gunzipped text chunk by chunk: UTF-8, and lines of at most MAX_LINE_BYTES."""

    def __init__(self) -> None:
        # A non-UTF-8 byte fails the file rather than being replaced: a dimension value
        # silently altered would be wrong data (and a row key no other file matches).
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.lines = 0  # newlines before the current chunk
        self.open_line = 0  # bytes of the line still open at the end of the last chunk

    def check(self, chunk: bytes) -> None:
        """Check the next chunk (at most MAX_LINE_BYTES long)."""
        pending = self.decoder.getstate()[0]
        if pending or not chunk.isascii():
            try:
                self.decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                at = max(exc.start - len(pending), 0)
                raise MalformedFile(
                    f"line {self.lines + chunk.count(NEWLINE, 0, at) + 1} is not UTF-8 text "
                    f"(byte 0x{exc.object[exc.start]:02x})"
                ) from None
        first = chunk.find(NEWLINE)
        if first < 0:
            self.open_line += len(chunk)
        else:
            self.long_line(self.open_line + first)
            self.open_line = len(chunk) - chunk.rfind(NEWLINE) - 1
        self.long_line(self.open_line)
        self.lines += chunk.count(NEWLINE)

    def finish(self) -> None:
        """The end of the text: a character cut short there is not UTF-8 either."""
        try:
            self.decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise MalformedFile(
                f"line {self.lines + 1} ends in a cut-off UTF-8 character"
            ) from None

    def long_line(self, length: int) -> None:
        if length > MAX_LINE_BYTES:
            raise MalformedFile(
                f"line {self.lines + 1} is longer than {MAX_LINE_BYTES} bytes: not a report file"
            )


def download_verified(
    session: requests.Session,
    *,
    segment: SegmentFile,
    refresh: Callable[[], SegmentFile],
    policy: RetryPolicy,
    timeout: float,
    on_retry: Callable[[str, int, float], None],
    path: Path,
) -> int:
    """Download the segment's file to `path` and verify it, retried as `policy` allows; the
    number of bytes. `path` is removed when it fails.

    `refresh` asks the API for a fresh URL: used before a try whose URL was refused or may have
    expired. Raises DownloadProblem when every try failed, DownloadRefused at once.
    """
    current = segment
    refused = False

    def attempt() -> int:
        nonlocal current, refused
        if refused or current.may_have_expired():
            current, refused = refresh(), False
        try:
            return download(session, current, timeout, path)
        except URLExpired:
            refused = True
            raise

    try:
        size = call_with_retries(
            attempt,
            policy=policy,
            transient=(DownloadProblem,),
            on_retry=lambda exc, number, wait: on_retry(str(exc), number, wait),
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return size


def read_rows(path: Path) -> Iterator[list[str]]:
    """The header, then each row as a list of values (see ReportText)."""
    with ReportText(path) as text:
        if text.header:
            yield text.header
            yield from text.rows()


class ReportText:
    """The header and rows of a verified file, as Apple's writer writes them.

    Columns are mapped by header name by the caller: their order changes between files. The
    delimiter is the header line's (tab, else comma: a one-column header stays one column, for
    the caller to refuse). A row is its fields as written, however many there are (the caller
    counts a short or long row): a line without a quote is split at its delimiters; one with a
    quote is read with standard quoting (`""` is an empty value, a quoted value may hold the
    delimiter, a newline or a doubled quote) and, where that fails, as Apple's Spark-style
    writer writes it (split_as_written). No line fails the file. Blank lines are skipped. The
    file has passed verify_contents: UTF-8, in lines of at most MAX_LINE_BYTES.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.header: list[str] = []
        self.delimiter = TAB
        self.line = 0  # the line the row last read ends on (the header is line 1)
        self._after_header: list[tuple[int, list[str]]] = []

    def __enter__(self) -> ReportText:
        self._text = gzip.open(self.path, "rt", encoding="utf-8-sig", newline="")
        try:
            self._read_header()
        except BaseException:
            self._text.close()
            raise
        return self

    def _read_header(self) -> None:
        first = self._text.readline(MAX_LINE_BYTES)
        self.delimiter = TAB if TAB in first else COMMA if COMMA in first else TAB
        rows, self.line = self._quoted(first) if QUOTE in first else ([(1, self._split(first))], 1)
        if rows and rows[0][1] != [""]:
            (_, header), *self._after_header = rows
            if len(header) > MAX_COLUMNS:
                raise MalformedFile(
                    f"its header has {len(header)} columns, more than {MAX_COLUMNS}: "
                    "not a report file"
                )
            self.header = [h.strip() for h in header]

    def __exit__(self, *exc_info: object) -> None:
        self._text.close()

    def rows(self) -> Iterator[list[str]]:
        """Every row after the header; `line` is the line each ends on while it is handled."""
        yield from self._numbered(self._after_header, self.line)
        delimiter = self.delimiter
        # One reader of standard quoting for the lines that hold a quote (Apple writes every
        # empty value as `""`), fed one line at a time: a line it cannot read alone (not
        # standard quoting, or a quoted value carried on to the next line) is read again whole.
        pending: deque[str] = deque()
        read_quoted = csv.reader(iter(pending.popleft, None), delimiter=delimiter, strict=True)
        for line in self._text:
            stripped = line.rstrip(LINE_END)
            if QUOTE in stripped:
                pending.append(line)
                try:
                    values = next(read_quoted)
                except (csv.Error, IndexError):
                    pending.clear()
                    yield from self._numbered(*self._quoted(line))
                    continue
                self.line += 1
                if values != [""]:
                    yield values
                continue
            self.line += 1
            if stripped:
                yield stripped.split(delimiter)

    def _split(self, line: str) -> list[str]:
        return line.rstrip(LINE_END).split(self.delimiter)

    def _numbered(self, rows: list[tuple[int, list[str]]], last: int) -> Iterator[list[str]]:
        """Rows with the line each ends on, `line` kept up to date; then the last line taken."""
        for number, values in rows:
            self.line = number
            yield values
        self.line = last

    def _quoted(self, line: str) -> tuple[list[tuple[int, list[str]]], int]:
        """The rows, each with the line it ends on, of a line holding a quote and of the lines a
        quoted value carries it on to; and the last line taken."""
        delimiter = self.delimiter
        first = self.line + 1
        taken = [line]

        def more() -> Iterator[str]:
            for following in self._text:
                taken.append(following)
                yield following

        reader = csv.reader(itertools.chain([line], more()), delimiter=delimiter, strict=True)
        try:
            values = next(reader, [])
        except csv.Error:
            # Not standard quoting (or a quote left open up to the field limit): the lines
            # taken are read as Apple's writer writes them.
            rows = [
                (first + newlines, row)
                for newlines, row in split_as_written("".join(taken), delimiter)
                if row != [""]
            ]
            return rows, first + len(taken) - 1
        last = first + len(taken) - 1
        return ([(last, values)] if values and values != [""] else []), last


def split_as_written(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """The rows of `text` (whole lines), each with the number of newlines before its last
    line, read as Spark's CSV writer (Apple's) writes them, never failing.

    A field that begins with a quote is a quoted value when its quote closes right before a
    delimiter or a line end: inside it, a backslash-escaped quote (Spark's escape) or a doubled
    quote is a quote, and a delimiter or newline is part of the value. Any other field, as one
    that begins with a quote closing elsewhere (`"Back to School" custom product page`), is its
    text as written up to the next delimiter or line end.
    """
    bare_end = re.compile(f"[{re.escape(delimiter)}\r\n]")
    end = len(text)
    position = 0
    newlines = 0
    while position < end:
        started = position
        fields: list[str] = []
        while True:
            value, after = None, position
            if text.startswith(QUOTE, position):
                value, after = _quoted_value(text, position + 1, delimiter)
            if value is None:
                found = bare_end.search(text, position)
                after = found.start() if found else end
                value = text[position:after]
            fields.append(value)
            if after < end and text[after] == delimiter:
                position = after + 1
                continue
            if text.startswith("\r\n", after):
                after += 1
            position = after + 1
            break
        # The newlines inside the row (in quoted values) before the one that ends it.
        newlines += text.count("\n", started, max(position - 1, started))
        yield newlines, fields
        newlines += text.startswith("\n", position - 1)


def _quoted_value(text: str, start: int, delimiter: str) -> tuple[str | None, int]:
    """The value of a field quoted whole from `start` (after its opening quote), and where the
    field ends; None when its quote does not close right before a delimiter or line end."""
    parts = []
    position = start
    while (quote := text.find(QUOTE, position)) >= 0:
        if quote > position and text[quote - 1] == "\\":
            parts += [text[position : quote - 1], QUOTE]  # Spark's escaped quote
            position = quote + 1
        elif text.startswith(QUOTE, quote + 1):
            parts += [text[position:quote], QUOTE]  # a doubled quote
            position = quote + 2
        else:
            after = quote + 1
            if after == len(text) or text[after] in (delimiter, "\r", "\n"):
                return "".join([*parts, text[position:quote]]), after
            return None, start
    return None, start
