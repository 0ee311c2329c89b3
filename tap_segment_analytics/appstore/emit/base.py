"""The base of every App Store Connect stream: it emits what the run's plan and fetch hand it
(runtime.py), with the tap's schemas."""

from __future__ import annotations

from typing import TYPE_CHECKING

from singer_sdk import StreamSchema

from tap_segment_analytics.schemas import SCHEMAS
from tap_segment_analytics.sdk.streams import EmittingStream

if TYPE_CHECKING:
    from singer_sdk import Tap

    from tap_segment_analytics.appstore.runtime import AppStoreRuntime


class AppStoreStream(EmittingStream):
    """An App Store Connect stream of one run."""

    schema = StreamSchema(SCHEMAS)

    def __init__(self, tap: Tap, runtime: AppStoreRuntime) -> None:
        """`runtime`: the App Store source of the run (made by the Tap)."""
        self.runtime = runtime
        super().__init__(tap, runtime.summary)
