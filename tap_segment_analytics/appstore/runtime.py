"""What every App Store Connect stream of a run shares: the run's plan (what it reads), one JWT
signer (tokens are reused), the hourly budget and the calls in flight, the scratch folder of
downloads, the run's BATCH folder, and the report-files progress line."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from tap_segment_analytics.appstore.api.auth import (
    AppStoreJWTAuthenticator,
    PrivateKeyError,
    load_private_key,
)
from tap_segment_analytics.appstore.api.rate_limit import (
    DEFAULT_WAIT_SECONDS,
    CallLimit,
    RateBudget,
)
from tap_segment_analytics.appstore.emit.batches import RUN_FOLDERS_KEY, BatchRun
from tap_segment_analytics.errors import SourceError
from tap_segment_analytics.progress import ReportFilesProgress
from tap_segment_analytics.run_summary import RunSummary
from tap_segment_analytics.scratch import scratch_folder
from tap_segment_analytics.source_runtime import SourceRuntime

if TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.base import GenericSingerWriter

    from tap_segment_analytics.appstore.plan.app_plan import AppStorePlan
    from tap_segment_analytics.sdk.state import ClockedStateWriter

# Apple answers bursts of parallel calls with 429 even with budget left: at most this many API
# calls are in flight (read-ahead and sync together), fewer after such a 429 (rate_limit.py).
API_CALLS_AT_ONCE = 3


class AppStoreRuntime(SourceRuntime):
    """The App Store Connect source of one run."""

    progress: ReportFilesProgress

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        summary: RunSummary,
        logger: logging.Logger,
        state_writer: ClockedStateWriter,
        output: GenericSingerWriter,
    ) -> None:
        """`state_writer`: the tap's STATE writer (STATE on a clock); `output`: the tap's
        message writer."""
        super().__init__(config, summary=summary, logger=logger)
        self.state_writer = state_writer
        self.output = output
        self._make_plan: Callable[[], AppStorePlan] | None = None
        self._plan: AppStorePlan | None = None
        self._batch_run: BatchRun | None = None
        self.rate_budget = RateBudget(
            wait_seconds=float(
                config.get("appstore_rate_limit_wait_seconds", DEFAULT_WAIT_SECONDS)
            ),
            logger=logger,
        )
        self.call_limit = CallLimit(API_CALLS_AT_ONCE)
        self.progress = ReportFilesProgress()

    def plan_with(self, make: Callable[[], AppStorePlan]) -> None:
        """How the run's plan is made, once a stream first asks for it (the streams wire it:
        streams.py)."""
        self._make_plan, self._plan = make, None

    @property
    def plan(self) -> AppStorePlan:
        """The run's plan: what it reads of each app, and in which order."""
        if self._plan is None:
            assert self._make_plan is not None, "streams.appstore_streams wires the plan"
            self._plan = self._make_plan()
        return self._plan

    @override
    def stop_reading_ahead(self) -> None:
        """Close every app's read-ahead: its workers' retries and waits end at once (the
        failed sync's generators, which would close them, live on in its traceback)."""
        if self._plan is not None:
            self._plan.close()

    @cached_property
    def authenticator(self) -> AppStoreJWTAuthenticator:
        """One JWT signer for every App Store Connect stream, so tokens are reused."""
        try:
            private_key = load_private_key(dict(self.config))
        except PrivateKeyError as exc:
            raise SourceError(str(exc)) from None
        return AppStoreJWTAuthenticator(
            key_id=self.config["appstore_key_id"],
            issuer_id=self.config.get("appstore_issuer_id") or None,
            private_key=private_key,
        )

    @cached_property
    def scratch(self) -> Path:
        """Where report files wait between their download and their rows (removed at exit;
        those of killed runs are swept)."""
        directory, swept = scratch_folder()
        if swept:
            self.logger.debug("scratch folders of killed runs deleted: %s", ", ".join(swept))
        return directory

    def batch_run(self, storage: Any, stream_state: dict[str, Any]) -> BatchRun:
        """This run's folder of BATCH files: made the first time, when the folders of earlier
        runs that `stream_state` (the instances stream's) names are deleted."""
        if self._batch_run is None:
            self._batch_run = BatchRun(storage)
            taken = self._batch_run.take_over(stream_state)
            # The next STATE names this run's folder, whatever the clock says.
            self.state_writer.write_next()
            if taken.deleted:
                self.logger.info(
                    "BATCH files of earlier runs deleted: %s", ", ".join(taken.deleted)
                )
            if taken.refused:
                self.logger.warning(
                    "%s in the state: not this tap's run folders under %s, left alone: %s",
                    RUN_FOLDERS_KEY,
                    self._batch_run.root,
                    ", ".join(taken.refused),
                )
        return self._batch_run
