"""Braze calls made ahead of the sync: each listed segment's details and size windows.

The sync takes them segment by segment in list order (`ReadAhead`); a scheduler thread starts
them in the same order as pages of `/segments/list` arrive, at most `braze_concurrency` at a
time. Braze's `X-RateLimit-*` headers and 429s are honoured by every call's own retries.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Hashable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from tap_segment_analytics.prefetch import ReadAhead, for_context

if TYPE_CHECKING:
    from tap_segment_analytics.braze.streams import SegmentDetails, SegmentSizes

_T = TypeVar("_T")
# Results waiting to be taken, per worker: enough to keep every worker busy while the sync
# emits one segment's records.
AHEAD_PER_WORKER = 4


class BrazeReadAhead:
    """Details and size windows of the listed segments, fetched ahead in list order."""

    def __init__(
        self, *, details: SegmentDetails | None, sizes: SegmentSizes | None, workers: int
    ) -> None:
        self._details = details
        self._sizes = sizes
        self._calls = ReadAhead(name="braze", workers=workers, ahead=AHEAD_PER_WORKER * workers)
        self._listed: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._schedule, name="braze-read-ahead", daemon=True).start()

    def add(self, segments: list[dict[str, Any]]) -> None:
        """Segments just listed, in list order."""
        for segment in segments:
            self._listed.put(segment)

    def take(self, key: Hashable, call: Callable[[], _T]) -> _T:
        """The result for `key`, read ahead or fetched now."""
        return self._calls.take(key, call)

    def close(self) -> None:
        """Stop reading ahead."""
        self._listed.put(None)
        self._calls.close()

    def _schedule(self) -> None:
        while (segment := self._listed.get()) is not None and not self._calls.closed:
            context = {"segment_id": segment["id"]}
            if self._details is not None:
                self._calls.schedule(
                    self._details.key(context),
                    for_context(context, partial(self._details.fetch, context)),
                )
            if self._sizes is None or not self._sizes.tracked(segment):
                continue
            for window in self._sizes.windows_for(context):
                self._calls.schedule(
                    self._sizes.key(context, window),
                    for_context(context, partial(self._sizes.fetch, context, window)),
                )
