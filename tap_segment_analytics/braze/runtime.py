"""What every Braze stream of a run shares: Braze's quota as last reported, the 401s in a row,
the segment-sizes progress line, the run's plan and the fetches made ahead for it, and the
segments Braze refused."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from tap_segment_analytics.braze.client import BrazeRateGate
from tap_segment_analytics.braze.fetch import SegmentFetches
from tap_segment_analytics.braze.plan import SegmentPlan
from tap_segment_analytics.braze.refusals import SegmentRefusals
from tap_segment_analytics.http_calls.retries import RejectionGuard
from tap_segment_analytics.progress import SegmentSizesProgress
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
        # The UTC day the run started: size series end before it (that day is not complete).
        # One day for the whole run, so the plan's windows hold when midnight passes.
        self.run_day = datetime.now(timezone.utc).date()
        # Made by the sync of `/segments/list`; its child streams emit what it planned.
        self.plan: SegmentPlan | None = None
        self.fetches = SegmentFetches()
        self.refusals = SegmentRefusals()

    def current_plan(self) -> SegmentPlan:
        """The plan of the list being synced (the SDK syncs a segment's streams within it)."""
        if self.plan is None:
            raise RuntimeError("a Braze segment stream was synced outside its list's sync")
        return self.plan
