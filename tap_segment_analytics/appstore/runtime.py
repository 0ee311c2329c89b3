"""The App Store Connect source of one run, wired: client → plan → fetch → the streams that emit.

What every App Store stream of a run shares: the API client (one JWT signer, the hourly budget,
the calls in flight), the run's plan (what it reads), each app's fetch (ahead of the sync or as
it needs it), the scratch folder of downloads, the run's BATCH folder, and the report-files
progress line."""

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
from tap_segment_analytics.appstore.api.client import AppStoreClient
from tap_segment_analytics.appstore.api.rate_limit import (
    API_CALLS_AT_ONCE,
    DEFAULT_WAIT_SECONDS,
    CallLimit,
    RateBudget,
)
from tap_segment_analytics.appstore.fetch.app_fetch import AppFetch, InlineFetch, ReadAheadFetch
from tap_segment_analytics.appstore.fetch.downloads import Downloads
from tap_segment_analytics.appstore.plan.app_plan import AppStorePlan
from tap_segment_analytics.batch_files import RUN_FOLDERS_KEY, BatchRun
from tap_segment_analytics.errors import SourceError
from tap_segment_analytics.http_calls.retries import DEFAULT_TIMEOUT_SECONDS, RetryPolicy
from tap_segment_analytics.progress import ReportFilesProgress
from tap_segment_analytics.run_summary import RunSummary
from tap_segment_analytics.scratch import scratch_folder
from tap_segment_analytics.source_runtime import SourceRuntime

if TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.base import GenericSingerWriter

    from tap_segment_analytics.sdk.state import ClockedStateWriter


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
        self._fetches: dict[str, AppFetch] = {}
        self.rate_budget = RateBudget(
            wait_seconds=float(
                config.get("appstore_rate_limit_wait_seconds", DEFAULT_WAIT_SECONDS)
            ),
            logger=logger,
        )
        self.call_limit = CallLimit(API_CALLS_AT_ONCE)
        self.progress = ReportFilesProgress()

    def plan_with(self, make: Callable[[], AppStorePlan]) -> None:
        """How the run's plan is made, once a stream first asks for it (emit/streams.py wires
        it: the selection it follows is known once the catalog is applied)."""
        self._make_plan, self._plan = make, None

    @property
    def plan(self) -> AppStorePlan:
        """The run's plan: what it reads of each app, and in which order."""
        if self._plan is None:
            assert self._make_plan is not None, "streams.appstore_streams wires the plan"
            self._plan = self._make_plan()
        return self._plan

    @cached_property
    def client(self) -> AppStoreClient:
        """The App Store Connect API of the run."""
        return AppStoreClient(
            base_url=str(self.config["appstore_api_url"]),
            authenticator=self.authenticator,
            budget=self.rate_budget,
            calls=self.call_limit,
            policy=RetryPolicy.from_config(self.config),
            timeout=int(self.config.get("request_timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
            summary=self.summary,
            logger=self.logger,
            backfill=bool(self.config.get("appstore_backfill")),
        )

    @cached_property
    def downloads(self) -> Downloads:
        """The run's downloads of report files."""
        return Downloads(
            self.client,
            scratch=lambda: self.scratch,
            at_once=self.plan.settings.concurrency,
            summary=self.summary,
            logger=self.logger,
        )

    def fetch(self, app_id: str) -> AppFetch:
        """The app's fetch, made once its plan knows its partitions: ahead of the sync when
        `appstore_concurrency` allows more than one download at a time."""
        if app_id not in self._fetches:
            app, workers = self.plan.app(app_id), self.plan.settings.concurrency
            self._fetches[app_id] = (
                ReadAheadFetch(app, self.downloads, workers=workers)
                if workers > 1 and app.partitions
                else InlineFetch(app, self.downloads)
            )
        return self._fetches[app_id]

    def finish(self, app_id: str) -> None:
        """The app is done: its fetch stops (files nobody read are deleted) and what the plan
        held for it is dropped."""
        fetch = self._fetches.pop(app_id, None)
        if fetch is not None:
            fetch.close()
        if self._plan is not None:
            self._plan.finish(app_id)

    @override
    def stop_reading_ahead(self) -> None:
        """Close every app's fetch: its workers' retries and waits end at once (the failed
        sync's generators, which would close them, live on in its traceback)."""
        for app_id in list(self._fetches):
            self.finish(app_id)

    @cached_property
    def authenticator(self) -> AppStoreJWTAuthenticator:
        """One JWT signer for every App Store Connect call, so tokens are reused."""
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
