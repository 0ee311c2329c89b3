"""The streams and keys the README promises, written out independently of the tap's code."""

from __future__ import annotations

import json
from pathlib import Path

# The report streams users have tables of since the tap's first release.
FIRST_ROWS_STREAMS = (
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
)
# The report rows streams that land from the sandbox's reports.
ROWS_STREAMS = (
    *FIRST_ROWS_STREAMS,
    "appstore_app_store_purchases_standard",
    "appstore_home_screen_widget_installs",
    "appstore_photos_picker",
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

# Every report of the packaged catalogue (the data file, not the tap's code) has a stream.
CATALOGUE_FILE = (
    Path(__file__).resolve().parents[1] / "tap_segment_analytics/appstore/report_catalogue.json"
)
CATALOGUE_STREAMS = tuple(
    report["stream"] for report in json.loads(CATALOGUE_FILE.read_text("utf-8"))["reports"]
)
# The streams discovery lists: those that land from the sandbox and every catalogue report's.
ALL_STREAM_KEYS = {**STREAM_KEYS, **{name: ["row_key"] for name in CATALOGUE_STREAMS}}
