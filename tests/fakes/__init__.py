"""The local fake APIs the tests talk to over real HTTP.

They live in the sandbox distribution (`sandbox/`, package `segment_analytics_sandbox`, not in
the tap's wheel) so that the README's demo serves the same data; this package is where the
tests import them from.
"""

from segment_analytics_sandbox.appstore import (
    DEFAULT_REPORTS,
    REPORT_COLUMNS,
    FakeAppStoreConnect,
    FakeS3,
    generate_key_pair,
)
from segment_analytics_sandbox.braze import BrazeSegment, FakeBraze, sample_segments
from segment_analytics_sandbox.http import FakeAPI

__all__ = [
    "DEFAULT_REPORTS",
    "REPORT_COLUMNS",
    "BrazeSegment",
    "FakeAPI",
    "FakeAppStoreConnect",
    "FakeBraze",
    "FakeS3",
    "generate_key_pair",
    "sample_segments",
]
