"""What the streams of one app take from the API, in the plan's order: instance listings,
segment listings and report files, fetched as the sync needs them (`InlineFetch`,
`appstore_concurrency` 1) or ahead of it (`ReadAheadFetch`).

Reading ahead, one walk lists every partition's instances (a few API calls, no URLs in them)
and plans each partition (the plan is the sync's own, decided once). The other follows those
plans: it lists the segments of the next few instances (their presigned URLs are fresh for five
minutes, so listings stay close to the downloads), then downloads and verifies their files, at
most `appstore_concurrency` at a time and a bounded number ahead of the sync. API calls go
through a lane of `API_CALLS_AT_ONCE` threads: Apple answers bursts of parallel calls with 429
even with budget left.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from typing_extensions import override

from tap_segment_analytics.appstore.api.rate_limit import API_CALLS_AT_ONCE
from tap_segment_analytics.appstore.api.values import SegmentFile
from tap_segment_analytics.appstore.fetch.downloads import Downloads
from tap_segment_analytics.appstore.plan.app_plan import AppPlan
from tap_segment_analytics.appstore.plan.partition_plan import PartitionPlan, instance_context
from tap_segment_analytics.prefetch import Prefetcher, ReadAhead

_T = TypeVar("_T")
FILES_AHEAD_PER_WORKER = 1  # files downloaded or in flight the sync has not read yet, per worker;
# twice as many were no faster (benchmarks/concurrency.py) and a SIGKILL wastes them all
LISTINGS_AHEAD = 4  # instances whose segments are listed before their files are downloaded
API = "api"
FILES = "files"

Context = dict[str, Any]


def _instances_key(partition: PartitionPlan) -> Hashable:
    return ("instances", partition.key)


def _segments_key(instance: Context) -> Hashable:
    return ("segments", instance["instance_id"])


def _file_key(file: Context) -> Hashable:
    return ("file", file["segment_id"])


def _discard_file(result: tuple[Path, int]) -> None:
    result[0].unlink(missing_ok=True)


class AppFetch:
    """One app's listings and files, as the sync takes them; the URL each segment listing
    gave is kept until its file is read."""

    def __init__(self, app: AppPlan, downloads: Downloads) -> None:
        self._app = app
        self._downloads = downloads
        self._files: dict[str, SegmentFile] = {}
        self._lock = threading.Lock()

    def instances(self, partition: PartitionPlan) -> list[dict[str, Any]]:
        """A partition's instance listing."""
        return self._take_instances(partition)

    def segments(self, instance: Context) -> list[dict[str, Any]]:
        """An instance's segments."""
        listing = self._take_segments(instance, partial(self._app.list_segments, instance))
        with self._lock:
            for segment in listing:
                if "_file" in segment:
                    self._files[segment["id"]] = segment["_file"]
        return listing

    def file(self, file: Context) -> tuple[Path, int]:
        """A segment's verified file: (path, bytes)."""
        with self._lock:
            listed = self._files.pop(file["segment_id"], None)
        return self._take_file(file, partial(self._downloads.download, file, listed))

    def close(self) -> None:
        """Stop fetching; files nobody read are deleted."""
        with self._lock:
            self._files.clear()

    def _take_instances(self, partition: PartitionPlan) -> list[dict[str, Any]]:
        return partition.list_instances()

    def _take_segments(self, instance: Context, call: Callable[[], _T]) -> _T:
        return call()

    def _take_file(self, file: Context, call: Callable[[], _T]) -> _T:
        return call()


class InlineFetch(AppFetch):
    """Every listing and file fetched when the sync needs it."""


class ReadAheadFetch(AppFetch):
    """One app's App Store reads, made ahead of the sync in its order."""

    def __init__(self, app: AppPlan, downloads: Downloads, *, workers: int) -> None:
        super().__init__(app, downloads)
        self._prefetch = Prefetcher(
            {
                API: ReadAhead(name="appstore-api", workers=API_CALLS_AT_ONCE, keep=True),
                FILES: ReadAhead(
                    name="appstore-files",
                    workers=workers,
                    ahead=FILES_AHEAD_PER_WORKER * workers,
                    discard=_discard_file,
                ),
            },
            name="appstore-read-ahead",
        )
        self._planned: queue.Queue[PartitionPlan | None] = queue.Queue()
        self._prefetch.start([self._plan, self._download])

    # What the sync takes

    @override
    def _take_instances(self, partition: PartitionPlan) -> list[dict[str, Any]]:
        return self._prefetch.take(API, _instances_key(partition), partition.list_instances)

    @override
    def _take_segments(self, instance: Context, call: Callable[[], _T]) -> _T:
        return self._prefetch.take(API, _segments_key(instance), call)

    @override
    def _take_file(self, file: Context, call: Callable[[], _T]) -> _T:
        return self._prefetch.take(FILES, _file_key(file), call)

    @override
    def close(self) -> None:
        """Stop reading ahead; files nobody read are deleted."""
        self._prefetch.close()
        super().close()

    # The walks

    def _plan(self, ahead: Prefetcher) -> None:
        partitions = list(self._app.partitions)
        try:
            for partition in partitions:
                ahead.schedule(API, _instances_key(partition), partition.list_instances)
            for partition in partitions:
                listed = ahead.needs(API, _instances_key(partition), partition.list_instances)
                partition.plan(listed)
                self._planned.put(partition)
        finally:
            self._planned.put(None)

    def _planned_instances(self) -> Iterator[Context]:
        while (partition := self._planned.get()) is not None:
            for instance in partition.planned.instances:
                yield instance_context(instance)

    def _download(self, ahead: Prefetcher) -> None:
        app = self._app
        upcoming = self._planned_instances()
        listed: deque[Context] = deque()
        while True:
            while len(listed) < LISTINGS_AHEAD and (instance := next(upcoming, None)):
                ahead.schedule(API, _segments_key(instance), partial(app.list_segments, instance))
                listed.append(instance)
            if not listed:
                return
            instance = listed.popleft()
            segments = ahead.needs(
                API, _segments_key(instance), partial(app.list_segments, instance)
            )
            for segment in segments:
                file = {**instance, "segment_id": segment["id"]}
                ahead.schedule(
                    FILES,
                    _file_key(file),
                    partial(self._downloads.download, file, segment.get("_file")),
                )
