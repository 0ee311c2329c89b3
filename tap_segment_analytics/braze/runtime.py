"""The Braze source of one run, wiring its stages: the client (api/), the plan made from its
answers (plan/), the plan's calls read ahead (fetch/), and what the streams (emit/) share while
they emit: the segments skipped, the segment-sizes progress line."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from typing_extensions import override

from tap_segment_analytics.braze.api.client import LIST_PATH, BrazeClient
from tap_segment_analytics.braze.fetch.read_ahead import SegmentFetches
from tap_segment_analytics.braze.plan.segment_plan import (
    SegmentPlan,
    SegmentSettings,
    plan_segments,
)
from tap_segment_analytics.braze.skips import DeletedSegments, SegmentRefusals
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
        self.progress = SegmentSizesProgress()
        # The UTC day the run started: size series end before it (that day is not complete).
        # One day for the whole run, so the plan's windows hold when midnight passes.
        self.run_day = datetime.now(timezone.utc).date()
        self.refusals = SegmentRefusals()
        self.deleted = DeletedSegments()
        self._plan: SegmentPlan | None = None

    @cached_property
    def client(self) -> BrazeClient:
        """The run's Braze client (made when first asked for: `--about` needs none)."""
        return BrazeClient.from_config(self.config, summary=self.summary, logger=self.logger)

    @cached_property
    def fetches(self) -> SegmentFetches:
        """The plan's calls, read ahead once a plan is made."""
        return SegmentFetches(self.client)

    def make_plan(
        self,
        *,
        bookmarks: Mapping[str, Any],
        details: bool,
        sizes: bool,
        at_most: int | None = None,
    ) -> SegmentPlan:
        """The run's plan, made from the client's answers; its calls are read ahead from now on
        (`braze_concurrency` at a time). See `plan_segments` for the arguments."""
        self.stop_reading_ahead()
        plan = self._plan = plan_segments(
            self.client,
            SegmentSettings.from_config(self.config, self.run_day),
            bookmarks=bookmarks,
            details=details,
            sizes=sizes,
            at_most=at_most,
            where=LIST_PATH,
        )
        self.fetches.start(plan.fetch_units(), workers=self.client.at_once)
        return plan

    @property
    def plan(self) -> SegmentPlan:
        """The plan being emitted (the SDK syncs a segment's streams within the list's sync)."""
        if self._plan is None:
            raise RuntimeError("a Braze segment stream was synced outside its list's sync")
        return self._plan

    @override
    def stop_reading_ahead(self) -> None:
        """No read-ahead thread asks Braze any more."""
        if "fetches" in vars(self):
            self.fetches.close()
