"""The SDK's standard tap tests, against local fake Braze and App Store Connect servers."""

from __future__ import annotations

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_segment_analytics.tap import TapSegmentAnalytics
from tests.promised_streams import CATALOGUE_STREAMS, ROWS_STREAMS
from tests.sandboxes import started_sandbox

# The SDK builds its test class (and discovers streams) at import, so the fakes start here.
_SANDBOX = started_sandbox()

TestTapSegmentAnalytics = get_tap_test_class(
    tap_class=TapSegmentAnalytics,
    config=_SANDBOX.tap_config(request_backoff_seconds=0.01),
    # The sandbox serves a few of the catalogue's reports: the others' streams have no records.
    suite_config=SuiteConfig(
        ignore_no_records_for_streams=[
            "appstore_report_rows",
            *(name for name in CATALOGUE_STREAMS if name not in ROWS_STREAMS),
        ]
    ),
)
