"""App Store reads made ahead of the sync, for one app: instance listings, segment listings and
report files, in exactly the order the sync will take them.

A planning thread lists every partition's instances (a few API calls, no URLs in them) and plans
each partition as the sync will. A download thread follows the plans: it lists the segments of
the next few instances (their presigned URLs are fresh for five minutes, so listings stay close
to the downloads), then downloads and verifies their files, at most `appstore_concurrency` at a
time and a bounded number ahead of the sync. API calls go through a pool of `API_CALLS_AT_ONCE`
threads: Apple answers bursts of parallel calls with 429 even with budget left.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tap_segment_analytics.appstore.runtime import API_CALLS_AT_ONCE
from tap_segment_analytics.prefetch import ReadAhead, for_context

if TYPE_CHECKING:
    from tap_segment_analytics.appstore.instance_plan import Plan
    from tap_segment_analytics.appstore.streams import ReportInstances, ReportRows, ReportSegments

_T = TypeVar("_T")
_LOGGER = logging.getLogger(__name__)
FILES_AHEAD_PER_WORKER = 1  # files downloaded or in flight the sync has not read yet, per worker;
# twice as many were no faster (benchmarks/concurrency.py) and a SIGKILL wastes them all
LISTINGS_AHEAD = 4  # instances whose segments are listed before their files are downloaded

Context = dict[str, Any]


def partition_key(context: Context) -> tuple[str, str, str]:
    """A partition as a read-ahead key."""
    return (context["app_id"], context["report_name"], context["granularity"])


def _instances_key(context: Context) -> Hashable:
    return ("instances", partition_key(context))


def _segments_key(context: Context) -> Hashable:
    return ("segments", context["instance_id"])


def _discard_file(result: tuple[Path, int]) -> None:
    result[0].unlink(missing_ok=True)


class _Closed(Exception):
    """The read-ahead was closed: its threads stop."""


class AppReadAhead:
    """One app's App Store reads, made ahead of the sync in its order."""

    def __init__(
        self,
        *,
        instances: ReportInstances,
        segments: ReportSegments,
        rows_for: Callable[[str], ReportRows | None],
        partitions: list[tuple[Context, Context]],
        workers: int,
    ) -> None:
        """`partitions`: each partition's context with a copy of its state as the run began."""
        self._instances = instances
        self._segments = segments
        self._rows_for = rows_for
        self._partitions = partitions
        self._api = ReadAhead(name="appstore-api", workers=API_CALLS_AT_ONCE, keep=True)
        self._files = ReadAhead(
            name="appstore-files",
            workers=workers,
            ahead=FILES_AHEAD_PER_WORKER * workers,
            discard=_discard_file,
        )
        self._plans: queue.Queue[tuple[Context, Plan] | None] = queue.Queue()
        threading.Thread(target=self._plan, name="appstore-plan", daemon=True).start()
        threading.Thread(target=self._download, name="appstore-download", daemon=True).start()

    # What the sync takes

    def instances(self, context: Context, call: Callable[[], _T]) -> _T:
        """A partition's instance listing."""
        return self._api.take(_instances_key(context), call)

    def segments(self, context: Context, call: Callable[[], _T]) -> _T:
        """An instance's segment listing."""
        return self._api.take(_segments_key(context), call)

    def file(self, context: Context, call: Callable[[], _T]) -> _T:
        """A segment's verified file: (path, bytes)."""
        return self._files.take(("file", context["segment_id"]), call)

    def close(self) -> None:
        """Stop reading ahead; files nobody read are deleted."""
        self._api.close()
        self._files.close()

    # What the threads do

    def _list_instances(self, context: Context) -> Callable[[], Any]:
        """The call that lists a partition's instances, in a worker's thread."""
        return for_context(context, partial(self._instances.list_instances, context))

    def _list_segments(self, context: Context) -> Callable[[], Any]:
        """The call that lists an instance's segments, in a worker's thread."""
        return for_context(context, partial(self._segments.list_segments, context))

    def _taken(self, key: Hashable, call: Callable[[], _T]) -> _T:
        """A listing these threads need too (stopping once the read-ahead is closed)."""
        if self._api.closed:
            raise _Closed
        return self._api.take(key, call)

    def _plan(self) -> None:
        try:
            for context, _ in self._partitions:
                self._api.schedule(_instances_key(context), self._list_instances(context))
            for context, state in self._partitions:
                listed = self._taken(_instances_key(context), self._list_instances(context))
                self._plans.put((context, self._instances.plan_for(context, listed, state)))
        except Exception:  # the sync meets the same error when it gets there
            _LOGGER.debug("App Store read-ahead stopped planning", exc_info=True)
        finally:
            self._plans.put(None)

    def _planned_instances(self) -> Iterator[tuple[ReportRows, Context]]:
        while (planned := self._plans.get()) is not None:
            context, plan = planned
            rows = self._rows_for(context["report_name"])
            if rows is None:
                continue
            for instance in plan.instances:
                yield rows, self._instances.child_context(instance)

    def _download(self) -> None:
        try:
            upcoming = self._planned_instances()
            listed: deque[tuple[ReportRows, Context]] = deque()
            while True:
                while len(listed) < LISTINGS_AHEAD and (nxt := next(upcoming, None)):
                    rows, context = nxt
                    self._api.schedule(_segments_key(context), self._list_segments(context))
                    listed.append(nxt)
                if not listed:
                    return
                rows, context = listed.popleft()
                segments = self._taken(_segments_key(context), self._list_segments(context))
                for segment in segments:
                    file_context = {**context, "segment_id": segment["id"]}
                    download = partial(rows.download, file_context, segment["_file"])
                    if not self._files.schedule(
                        ("file", segment["id"]), for_context(file_context, download)
                    ):
                        return
        except Exception:  # the sync meets the same error when it gets there
            _LOGGER.debug("App Store read-ahead stopped downloading", exc_info=True)
