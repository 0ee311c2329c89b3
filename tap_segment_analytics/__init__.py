"""tap-segment-analytics: Braze segment sizes and App Store Connect analytics reports for Singer."""

__version__ = "0.1.0"
