"""`python -m tap_segment_analytics`: the tap's command line, as `tap-segment-analytics`."""

from tap_segment_analytics.tap import TapSegmentAnalytics

TapSegmentAnalytics.cli()
