"""The streams and keys the README promises, written out independently of the tap's code."""

from __future__ import annotations

ROWS_STREAMS = (
    "appstore_app_downloads_standard",
    "appstore_app_downloads_detailed",
    "appstore_app_store_discovery_and_engagement_standard",
    "appstore_app_store_discovery_and_engagement_detailed",
    "appstore_app_sessions_standard",
    "appstore_app_sessions_detailed",
    "appstore_app_store_installation_and_deletion_standard",
    "appstore_app_store_installation_and_deletion_detailed",
    "appstore_app_crashes",
    "appstore_app_crashes_expanded",
    "appstore_report_rows",
)
STREAM_KEYS: dict[str, list[str]] = {
    "braze_segments": ["id"],
    "braze_segment_details": ["segment_id"],
    "braze_segment_sizes": ["segment_id", "time"],
    "appstore_report_requests": ["id"],
    "appstore_reports": ["id"],
    "appstore_report_instances": ["id"],
    "appstore_report_segments": ["id"],
    "appstore_report_dates": ["app_id", "report_name", "granularity", "date"],
    **{name: ["row_key"] for name in ROWS_STREAMS},
}
