"""The base of every stream of the tap, and the SDK internals it overrides: one SCHEMA message
per stream and run, state found and written in time linear in the partitions (state.py), BATCH
messages only where they are worth it, each sync's time in the run summary, and records written
past the SDK's record path when it would write them unchanged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk.exceptions import AbortedSyncFailedException, AbortedSyncPausedException

# Private SDK module: the batch types have no public home (the SDK's own streams import them
# from here too); the rows streams name them through this module.
from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig
from singer_sdk.mapper import SameRecordTransform
from typing_extensions import override

from tap_segment_analytics.run_summary import RunSummary, SyncTimer
from tap_segment_analytics.sdk.state import IndexedStateManager, indexed_state_manager

if TYPE_CHECKING:
    from singer_sdk import Tap, metrics
    from singer_sdk.streams._state import StreamStateManager

__all__ = ["BaseBatchFileEncoding", "BatchConfig", "ChildPerContext", "EmittingStream"]


class EmittingStream(Stream):
    """A stream of this tap: it emits what its source's plan and fetch hand it."""

    # Whether `batch_config` turns the stream's records into BATCH messages. Only the report
    # rows are many; batched, a parent stream's records would also wait in a file until its
    # partition ends, while the STATE after each instance had moved past them.
    BATCHES = False
    # Whether a stream partitioned by one key keeps its bookmarks as one object by that key
    # (state.KeyedStateManager) rather than the SDK's list of partition objects.
    KEYED_BOOKMARKS = False

    def __init__(self, tap: Tap, summary: RunSummary) -> None:
        """`summary`: the run's (made by the Tap)."""
        self.summary = summary
        super().__init__(tap)
        self._schema_written = False
        # Made now: read-ahead threads look bookmarks up through it too.
        indexed_state_manager(self)

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
    def get_sync_timer(self) -> metrics.Timer:
        """The SDK's sync timer, also adding each sync's own time to the run summary."""
        return SyncTimer(self.name, self.summary)

    @override
    def _write_schema_message(self) -> None:
        # Private SDK method, overridden because no public hook decides when SCHEMA goes out:
        # the SDK writes it at every sync of a context, so a child stream repeated it for each
        # parent record (434 SCHEMA messages for 4,200 records). The schema does not change
        # within a run: once is enough (tests/test_sdk_contracts.py).
        if not self._schema_written:
            self._schema_written = True
            super()._write_schema_message()

    def writes_unchanged_records(self, *, batching: bool = False) -> bool:
        """Whether the SDK would write (or batch) each record as it is: no stream map,
        flattening, deselected property, record limit or version changes it."""
        maps = self.stream_maps
        properties = self.schema.get("properties", {})
        return (
            self.selected
            and self.ABORT_AT_RECORD_COUNT is None
            and not self.emit_activate_version_messages
            and (batching or self.get_batch_config(self.config) is None)
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and not maps[0].flattening_enabled
            and all(self.mask[("properties", name)] for name in properties)
        )

    def records_written(self) -> None:
        """Records went out past the SDK's record path: as after the SDK writes one, the
        sync's end writes the STATE."""
        self.state_manager.is_flushed = False


class ChildPerContext(EmittingStream):
    """A parent stream that names, for each child context, the child streams it goes to and
    in which order (`children_for`)."""

    def children_for(self, child_context: Mapping[str, Any]) -> tuple[str, ...]:
        """The names of the child streams the context goes to, in the order they sync."""
        raise NotImplementedError

    @override
    def _sync_children(self, child_context: Any) -> None:
        # Overrides the SDK, which hands every child context to every child stream in the
        # order the streams happen to be listed: a segment's rows belong to exactly one report
        # stream (a sync of each of the others would only emit an empty SCHEMA message per
        # segment), and an instance's dates are counted from its rows, so they must follow its
        # segments. No public hook chooses which children get a context, or when
        # (tests/test_sdk_contracts.py).
        if child_context is None:
            return
        children = {child.name: child for child in self.child_streams}
        for name in self.children_for(child_context):
            child = children.get(name)
            if child is not None and (child.selected or child.has_selected_descendents):
                try:
                    child.sync(context=child_context)
                except (AbortedSyncFailedException, AbortedSyncPausedException):
                    continue
