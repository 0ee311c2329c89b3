"""The base of every stream of the tap: the shared retries and run summary, one SCHEMA
message per stream and run, BATCH messages only where they are worth it, and state found and
written in time linear in the partitions (sdk_state.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from tap_segment_analytics.http_calls.deadline import answers_within_timeout
from tap_segment_analytics.http_calls.retries import RetryingStream
from tap_segment_analytics.sdk.state import IndexedStateManager, indexed_state_manager

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers._batch import BatchConfig
    from singer_sdk.streams._state import StreamStateManager

    from tap_segment_analytics.source_runtime import SourceRuntime


class TapStream(RetryingStream):
    """A REST stream of this tap."""

    # Whether `batch_config` turns the stream's records into BATCH messages. Only the report
    # rows are many; batched, a parent stream's records would also wait in a file until its
    # partition ends, while the STATE after each instance had moved past them.
    BATCHES = False
    # Whether a stream partitioned by one key keeps its bookmarks as one object by that key
    # (sdk_state.KeyedStateManager) rather than the SDK's list of partition objects.
    KEYED_BOOKMARKS = False

    def __init__(self, tap: Tap, runtime: SourceRuntime) -> None:
        """`runtime`: what the streams of the source share in this run (made by the Tap)."""
        self.runtime = runtime
        self.summary = runtime.summary
        super().__init__(tap)
        self._schema_written = False
        # Made now: read-ahead threads look bookmarks up through it too.
        indexed_state_manager(self)
        answers_within_timeout(self.requests_session, self.calls_at_once())

    def calls_at_once(self) -> int:
        """How many threads may call the API through this stream's session at once."""
        return 1

    @property
    @override
    def state_manager(self) -> StreamStateManager:
        """The SDK's state manager, finding a partition's state in O(1); a top-level
        stream's STATE goes out at once when its sync ends."""
        return indexed_state_manager(self)

    def partition_state(self, partition_context: dict[str, Any]) -> dict[str, Any] | None:
        """A partition's state as it is now, if it has one (nothing is created; any thread)."""
        manager = self.state_manager
        assert isinstance(manager, IndexedStateManager)
        return manager.find(partition_context)

    @override
    def get_batch_config(self, config: Mapping[str, Any]) -> BatchConfig | None:
        """`batch_config`, for the streams that batch."""
        return super().get_batch_config(config) if self.BATCHES else None

    def run_batch_config(self) -> BatchConfig | None:
        """The run's `batch_config`, whether or not this stream batches."""
        return super().get_batch_config(self.config)

    @override
    def _write_schema_message(self) -> None:
        # Private SDK method, overridden because no public hook decides when SCHEMA goes out:
        # the SDK writes it at every sync of a context, so a child stream repeated it for each
        # parent record (434 SCHEMA messages for 4,200 records). The schema does not change
        # within a run: once is enough. tests/test_sdk_contracts.py pins the SDK's call.
        if not self._schema_written:
            self._schema_written = True
            super()._write_schema_message()
