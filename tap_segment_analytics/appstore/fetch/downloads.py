"""Report files downloaded and verified (report_files.py) into the run's scratch folder, from
the URL a listing gave or a fresh one (api/client.py); each retry one line naming the file."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import requests

from tap_segment_analytics.appstore.api.client import AppStoreClient
from tap_segment_analytics.appstore.api.values import SegmentFile
from tap_segment_analytics.appstore.fetch.report_files import download_verified
from tap_segment_analytics.appstore.reports import rows_stream_name
from tap_segment_analytics.http_calls.pools import keep_connections
from tap_segment_analytics.run_summary import RunSummary

Context = Mapping[str, Any]


def where(context: Context) -> str:
    """The file a context is about, for messages."""
    return (
        f"report '{context['report_name']}' of app {context['app_id']}, instance "
        f"{context['instance_id']} (processed {context['processing_date']}), segment "
        f"{context['segment_id']}"
    )


def _without_authorization(request: requests.PreparedRequest) -> requests.PreparedRequest:
    request.headers.pop("Authorization", None)
    return request


class Downloads:
    """The run's downloads of report files, any thread."""

    def __init__(
        self,
        client: AppStoreClient,
        *,
        scratch: Callable[[], Path],
        at_once: int,
        summary: RunSummary,
        logger: logging.Logger,
    ) -> None:
        """`scratch()`: the folder files wait in (made at the first download); `logger`: the
        tap's (a file's lines go to its rows stream's logger)."""
        self.client = client
        self.scratch = scratch
        self.summary = summary
        self.logger = logger
        self.session = keep_connections(requests.Session(), at_once)
        # No Authorization header ever goes to S3, not even one from ~/.netrc.
        self.session.auth = _without_authorization

    def download(self, file: Context, listed: SegmentFile | None) -> tuple[Path, int]:
        """The segment's file downloaded and verified: (path, bytes), from the URL its listing
        gave (a fresh one when none was listed or it may have expired)."""
        stream = rows_stream_name(file["report_name"])
        policy = self.client.policy
        logger = self.logger.getChild(stream)

        def on_retry(problem: str, number: int, wait: float) -> None:
            self.summary.count(stream, retries=1)
            logger.warning(
                "appstore: %s: %s, retry %d of %d in %.1f s",
                where(file),
                problem,
                number,
                policy.max_tries - 1,
                wait,
            )

        refresh = partial(self.client.fresh_file, file, stream)
        path = self.scratch() / f"{file['segment_id']}-{uuid.uuid4().hex}.gz"
        size = download_verified(
            self.session,
            segment=listed or refresh(),
            refresh=refresh,
            policy=policy,
            timeout=self.client.timeout,
            on_retry=on_retry,
            path=path,
        )
        return path, size
