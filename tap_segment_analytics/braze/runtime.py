"""What every Braze stream of a run shares: Braze's quota as last reported, the 401s in a row,
and the segment-sizes progress line."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tap_segment_analytics.braze.client import BrazeRateGate
from tap_segment_analytics.progress import SegmentSizesProgress
from tap_segment_analytics.retries import RejectionGuard
from tap_segment_analytics.run_summary import RunSummary
from tap_segment_analytics.source_runtime import SourceRuntime


class BrazeRuntime(SourceRuntime):
    """The Braze source of one run."""

    progress: SegmentSizesProgress

    def __init__(
        self, config: Mapping[str, Any], *, summary: RunSummary, logger: logging.Logger
    ) -> None:
        super().__init__(config, summary=summary, logger=logger)
        self.rate_gate = BrazeRateGate()
        self.key_rejections = RejectionGuard()
        self.progress = SegmentSizesProgress()
