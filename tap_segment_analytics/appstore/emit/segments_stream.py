"""The segments of each report instance: one file each, read by exactly one rows stream."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from typing_extensions import override

from tap_segment_analytics.appstore.emit.base import AppStoreStream
from tap_segment_analytics.appstore.emit.instances_stream import ReportInstances
from tap_segment_analytics.appstore.reports import rows_stream_name
from tap_segment_analytics.sdk.streams import ChildPerContext


def strip_query(url: str | None) -> str | None:
    """A presigned URL without its query string: the signature is a credential."""
    if not url:
        return url
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class ReportSegments(AppStoreStream, ChildPerContext):
    """The segments of each instance: checksum, size and file URL (without its signature)."""

    name = "appstore_report_segments"
    primary_keys = ("id",)
    parent_stream_type = ReportInstances
    state_partitioning_keys: tuple[str, ...] = ()

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
        listing = self.runtime.fetch(context["app_id"]).segments(context)
        yield from self.runtime.progress.files(listing)

    @override
    def get_child_context(self, record: dict, context: Any) -> dict[str, Any]:
        """The segment whose file to read."""
        return {**context, "segment_id": record["id"]}

    @override
    def children_for(self, child_context: Mapping[str, Any]) -> tuple[str, ...]:
        """A segment's rows belong to exactly one rows stream: its report's."""
        return (rows_stream_name(child_context["report_name"]),)
