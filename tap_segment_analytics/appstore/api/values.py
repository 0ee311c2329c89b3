"""The plain values App Store Connect's answers become, as the plan and fetch use them (no
HTTP, no singer-sdk): request kinds, what creating a request did, a segment's file, and what the
API listed but no longer serves."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tap_segment_analytics.errors import SourceError

ONGOING = "ONGOING"
ONE_TIME_SNAPSHOT = "ONE_TIME_SNAPSHOT"
# Presigned URLs are valid 5 minutes (X-Amz-Expires=300); one older than this may have expired
# by the time its download starts, so it is refreshed first.
URL_FRESH_SECONDS = 240.0


@dataclass(frozen=True)
class Creation:
    """What Apple answered to creating a report request: its status and `CODE: detail`."""

    answer: str
    created: bool = False
    exists: bool = False


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


class NotServed(SourceError):
    """Something the API listed that it does not serve: whoever can skip it says so (one
    WARNING) and goes on."""
