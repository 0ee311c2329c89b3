"""Downloads report segment files, verifies them, and reads their rows.

A file is streamed to a temporary file while its MD5 and size are computed, checked against the
segment's `checksum` and `sizeInBytes` and gunzipped once, and only then parsed: no row of a file
that has not verified is ever emitted, and no file is held in memory. Every transient failure of
a download (a body cut off midway, a reset, a timeout, a 5xx, a bad checksum, size or gzip, an
expired URL) is retried with backoff, with a fresh URL whenever the old one may have expired.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import requests

from tap_segment_analytics.errors import network_reason
from tap_segment_analytics.retries import (
    TRANSIENT_NETWORK_ERRORS,
    RetryPolicy,
    call_with_retries,
)

CHUNK_BYTES = 1 << 20
# Apple's files are tab-separated although their URLs end in .csv.gz (api-notes).
DELIMITER = "\t"
# Presigned URLs are valid 5 minutes (X-Amz-Expires=300); one older than this may have expired
# by the time its download starts, so it is refreshed first.
URL_FRESH_SECONDS = 240.0
csv.field_size_limit(1 << 24)


class DownloadProblem(Exception):
    """A transient failure of one download: worth another try."""


class URLExpired(DownloadProblem):
    """S3 refused the presigned URL (403): it has expired (valid 5 minutes)."""


class DownloadRefused(Exception):
    """S3 answered in a way no retry changes (e.g. 400)."""


class MalformedFile(Exception):
    """A verified file whose rows do not fit its header."""


@dataclass(frozen=True)
class SegmentFile:
    """Where a segment's file is and what it must look like."""

    url: str
    checksum: str
    size_in_bytes: int | None
    fetched_at: float  # time.monotonic() when the API handed the URL out

    def may_have_expired(self) -> bool:
        """Whether the presigned URL is old enough to need refreshing before use."""
        return time.monotonic() - self.fetched_at > URL_FRESH_SECONDS


def download(session: requests.Session, segment: SegmentFile, timeout: float, path: Path) -> int:
    """Stream the file to `path` and verify it; the number of bytes downloaded.

    Never sends an Authorization header: S3 rejects presigned requests that carry one.
    """
    md5 = hashlib.md5(usedforsecurity=False)
    size = 0
    try:
        with session.get(segment.url, stream=True, timeout=timeout) as response:
            status = response.status_code
            if status == HTTPStatus.FORBIDDEN:
                raise URLExpired("the download URL was refused (403)")
            if status == HTTPStatus.NOT_FOUND or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
                raise DownloadProblem(f"the file host answered HTTP {status}")
            if status != HTTPStatus.OK:
                raise DownloadRefused(f"the file host answered HTTP {status}")
            with path.open("wb") as out:
                for chunk in response.iter_content(CHUNK_BYTES):
                    md5.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
    except TRANSIENT_NETWORK_ERRORS as exc:
        # The exception text holds the URL and so its signature: network_reason redacts it.
        raise DownloadProblem(f"download failed ({network_reason(exc)})") from None
    if segment.size_in_bytes is not None and size != segment.size_in_bytes:
        raise DownloadProblem(f"size {size} bytes, expected sizeInBytes {segment.size_in_bytes}")
    if segment.checksum and md5.hexdigest() != segment.checksum.lower():
        raise DownloadProblem(f"MD5 {md5.hexdigest()}, expected checksum {segment.checksum}")
    verify_gzip(path)
    return size


def verify_gzip(path: Path) -> None:
    """Read the whole gzip stream once, so a truncated file fails before any row is emitted."""
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(CHUNK_BYTES):
                pass
    except (EOFError, OSError, zlib.error) as exc:
        raise DownloadProblem(f"not a whole gzip file ({exc})") from None


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
    """The header, then each row, as lists of values (a row's missing trailing fields as "").

    Columns are mapped by header name by the caller: their order changes between files.
    """
    with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text, delimiter=DELIMITER, quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if not header:
            return
        header = [h.strip() for h in header]
        yield header
        width = len(header)
        for line, values in enumerate(reader, start=2):
            if len(values) != width:
                if not values or values == [""]:
                    continue
                if len(values) > width:
                    raise MalformedFile(f"line {line} has {len(values)} fields for {width} columns")
                # Trailing empty fields may be left out: they are empty values.
                values += [""] * (width - len(values))
            yield values
