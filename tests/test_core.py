"""The SDK's standard tap tests, against local fake Braze and App Store Connect servers.

They run on the streams that get records in the sandbox (tests/promised_streams.py's
STREAM_KEYS): on a stream without records the SDK's record tests pass whatever the tap does.
The catalogue's other report streams are read with rows in tests/test_catalogue_rows.py.
"""

from __future__ import annotations

from singer_sdk import Stream
from singer_sdk.testing import get_tap_test_class
from singer_sdk.testing.runners import TapTestRunner
from typing_extensions import override

from tap_segment_analytics.tap import TapSegmentAnalytics
from tests.promised_streams import STREAM_KEYS
from tests.sandboxes import started_sandbox

# The SDK's attribute tests that check each non-null value of an attribute (and pass on none).
VALUE_TESTS = (
    "test_tap_stream_attribute_is_boolean",
    "test_tap_stream_attribute_is_datetime",
    "test_tap_stream_attribute_is_integer",
    "test_tap_stream_attribute_is_numeric",
    "test_tap_stream_attribute_is_object",
)


class TapOfStreamsWithRecords(TapSegmentAnalytics):
    """The tap, discovering only the streams the sandbox gives records (tests only)."""

    @override
    def discover_streams(self) -> list[Stream]:
        return [stream for stream in super().discover_streams() if stream.name in STREAM_KEYS]


# The SDK builds its test class (and discovers streams) at import, so the fakes start here.
_SANDBOX = started_sandbox()

_SdkTests = get_tap_test_class(
    tap_class=TapOfStreamsWithRecords,
    config=_SANDBOX.tap_config(request_backoff_seconds=0.01),
)
# A typed report stream's `extra_columns` holds the columns its schema lacks: none in the
# sandbox's files, so the SDK's object test would see only nulls. test_report_streams.py and
# test_catalogue_rows.py check it instead.
_SdkTests.params["test_tap_stream_attribute_is_object"] = [
    param
    for param in _SdkTests.params["test_tap_stream_attribute_is_object"]
    if not param.id.endswith(".extra_columns")
]


class TestTapSegmentAnalytics(_SdkTests):  # type: ignore[misc,valid-type]
    """The SDK's suite, and what makes each of its tests able to fail."""

    def test_the_suite_covers_every_stream_that_lands_from_the_sandbox(self) -> None:
        tap = TapOfStreamsWithRecords(config=_SANDBOX.tap_config(), validate_config=False)
        assert set(tap.streams) == set(STREAM_KEYS)

    def test_every_stream_and_checked_attribute_of_the_suite_has_values(
        self, runner: TapTestRunner
    ) -> None:
        empty = [name for name in STREAM_KEYS if not runner.records[name]]
        assert not empty, f"streams without records: {empty}"
        valueless = [
            f"{test}[{param.id}]"
            for test in VALUE_TESTS
            for param in self.params.get(test, [])
            for stream, attribute in [param.values]
            if all(record.get(attribute) is None for record in runner.records[stream.name])
        ]
        assert not valueless, f"attribute tests that see no value: {valueless}"
