"""The SDK's standard tap tests, against local fake Braze and App Store Connect servers."""

from __future__ import annotations

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_segment_analytics.tap import TapSegmentAnalytics
from tests.sandboxes import started_sandbox

# The SDK builds its test class (and discovers streams) at import, so the fakes start here.
_SANDBOX = started_sandbox()

TestTapSegmentAnalytics = get_tap_test_class(
    tap_class=TapSegmentAnalytics,
    config=_SANDBOX.tap_config(request_backoff_seconds=0.01),
    suite_config=SuiteConfig(ignore_no_records_for_streams=["appstore_report_rows"]),
)
