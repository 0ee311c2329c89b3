"""The segments of each report instance: one file each, read by exactly one rows stream."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from singer_sdk.exceptions import AbortedSyncFailedException, AbortedSyncPausedException
from typing_extensions import override

from tap_segment_analytics.appstore.api.answers import AppStoreStream
from tap_segment_analytics.appstore.emit.instances_stream import ReportInstances
from tap_segment_analytics.appstore.fetch.report_files import SegmentFile
from tap_segment_analytics.appstore.reports import rows_stream_name


def strip_query(url: str | None) -> str | None:
    """A presigned URL without its query string: the signature is a credential."""
    if not url:
        return url
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def segment_file(record: dict[str, Any], fetched_at: float) -> SegmentFile:
    """What a segment resource says about its file."""
    size = record.get("size_in_bytes")
    return SegmentFile(
        url=record["url"],
        checksum=str(record.get("checksum") or ""),
        size_in_bytes=int(size) if size is not None else None,
        fetched_at=fetched_at,
    )


class ReportSegments(AppStoreStream):
    """The segments of each instance: checksum, size and file URL (without its signature)."""

    name = "appstore_report_segments"
    path = "/v1/analyticsReportInstances/{instance_id}/segments"
    primary_keys = ("id",)
    parent_stream_type = ReportInstances
    state_partitioning_keys: tuple[str, ...] = ()

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """Each segment, with its file's URL as fresh as of this response (`_file`)."""
        listed_at = time.monotonic()
        for record in super().parse_response(response):
            if record.get("url"):
                record["url"] = self.download_url(record["url"])
                record["_file"] = segment_file(record, listed_at)
            yield record

    def list_segments(self, instance: dict[str, Any]) -> list[dict[str, Any]]:
        """GET an instance's segments (a worker may call this ahead of the sync)."""
        return list(self.request_records(instance))

    @override
    def post_process(self, row: dict, context: Any = None) -> dict:
        """Flat record with the ids of its instance, report and app; URL without credentials."""
        record = {**row, **context}
        record.pop("_file", None)
        record["url"] = strip_query(record.get("url"))
        return record

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The instance's segments (a few): how many there are is known to the progress line."""
        listing = self.runtime.plan.app(context["app_id"]).segments(context)
        yield from self.runtime.progress.files(listing)

    @override
    def get_child_context(self, record: dict, context: Any) -> dict[str, Any]:
        """The segment whose file to read."""
        return {**context, "segment_id": record["id"]}

    @override
    def _sync_children(self, child_context: Any) -> None:
        # Overrides the SDK, which hands every child context to every child stream: a
        # segment's rows belong to exactly one report stream, and a sync of each of the
        # others would only emit an empty SCHEMA message per segment. No public hook chooses
        # which children get a context (tests/test_sdk_contracts.py pins this method).
        if child_context is None:
            return
        target = rows_stream_name(child_context["report_name"])
        for child in self.child_streams:
            if child.name == target and child.selected:
                try:
                    child.sync(context=child_context)
                except (AbortedSyncFailedException, AbortedSyncPausedException):
                    continue
