"""The local fake APIs the tests talk to over real HTTP.

They live in `tap_segment_analytics.sandbox` so that the README's demo can serve the same data
from an installed wheel; this package is where the tests import them from.
"""

from tap_segment_analytics.sandbox.braze import BrazeSegment, FakeBraze, sample_segments
from tap_segment_analytics.sandbox.http import FakeAPI

__all__ = ["BrazeSegment", "FakeAPI", "FakeBraze", "sample_segments"]
