"""What the streams of one source share in a run, made by the Tap and handed to each stream.

A run's state lives here, not in module globals: its summary (shared by both sources) and each
source's own collaborators (braze/runtime.py, appstore/runtime.py): auth, rate gates, progress.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tap_segment_analytics.progress import ReportFilesProgress, SegmentSizesProgress
from tap_segment_analytics.run_summary import RunSummary


class SourceRuntime:
    """The run's settings, summary and logger, as every stream of a source sees them."""

    progress: SegmentSizesProgress | ReportFilesProgress  # the source's progress line

    def __init__(
        self, config: Mapping[str, Any], *, summary: RunSummary, logger: logging.Logger
    ) -> None:
        self.config = config
        self.summary = summary
        self.logger = logger

    def stop_reading_ahead(self) -> None:
        """A run that fails or stops: no thread of the source asks its API any more (none
        reads ahead by default)."""
