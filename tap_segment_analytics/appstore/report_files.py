"""Downloads report segment files and reads their rows.

A file is streamed to a temporary file while its MD5 and size are computed, checked against
the segment's `checksum` and `sizeInBytes`, and only then parsed, so no row of a corrupt file
is ever emitted and no file is held in memory.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import requests

CHUNK_BYTES = 1 << 20
# Apple's files are tab-separated although their URLs end in .csv.gz (api-notes).
DELIMITER = "\t"
csv.field_size_limit(1 << 24)


class URLExpired(Exception):
    """S3 answered 403: the presigned URL (valid 5 minutes) has expired."""


class BadFile(Exception):
    """The download does not match its checksum or size, or is not a whole gzip file."""


class MalformedFile(Exception):
    """A verified file whose rows do not fit its header."""


@dataclass(frozen=True)
class SegmentFile:
    """Where a segment's file is and what it must look like."""

    url: str
    checksum: str
    size_in_bytes: int | None


@contextmanager
def downloaded(session: requests.Session, segment: SegmentFile, timeout: float) -> Iterator[Path]:
    """Download to a temporary file and verify it; yields the file's path.

    Never sends an Authorization header: S3 rejects presigned requests that carry one.
    """
    with tempfile.TemporaryDirectory(prefix="tap-segment-analytics-") as directory:
        path = Path(directory) / "segment.tsv.gz"
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        try:
            with session.get(segment.url, stream=True, timeout=timeout) as response:
                if response.status_code == HTTPStatus.FORBIDDEN:
                    raise URLExpired
                if response.status_code != HTTPStatus.OK:
                    raise BadFile(f"download answered HTTP {response.status_code}")
                with path.open("wb") as out:
                    for chunk in response.iter_content(CHUNK_BYTES):
                        md5.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
        except (requests.ConnectionError, requests.Timeout) as exc:
            # The exception text holds the URL and so its signature: keep only the type.
            raise BadFile(f"download failed ({type(exc).__name__})") from None
        if segment.size_in_bytes is not None and size != segment.size_in_bytes:
            raise BadFile(f"size {size} bytes, expected sizeInBytes {segment.size_in_bytes}")
        if segment.checksum and md5.hexdigest() != segment.checksum.lower():
            raise BadFile(f"MD5 {md5.hexdigest()}, expected checksum {segment.checksum}")
        verify_gzip(path)
        yield path


def verify_gzip(path: Path) -> None:
    """Read the whole gzip stream once, so a truncated file fails before any row is emitted."""
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(CHUNK_BYTES):
                pass
    except (EOFError, OSError, zlib.error) as exc:
        raise BadFile(f"not a whole gzip file ({exc})") from None


def read_rows(path: Path) -> Iterator[dict[str, str]]:
    """Rows as {header: value}, mapped by header name (column order changes between files)."""
    with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text, delimiter=DELIMITER, quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if not header:
            return
        header = [h.strip() for h in header]
        for line, values in enumerate(reader, start=2):
            if not values or values == [""]:
                continue
            if len(values) > len(header):
                raise MalformedFile(
                    f"line {line} has {len(values)} fields for {len(header)} columns"
                )
            # Trailing empty fields may be left out: they are empty values.
            values += [""] * (len(header) - len(values))
            yield dict(zip(header, values, strict=True))
