"""How the SDK keeps and writes the tap's state, made linear in the number of partitions.

The SDK finds a partition's state by comparing its context with every partition's (once per
record), and its state writer compares the whole state with the last one written, deep-copies
it and serialises it after every partition. With a partition per Braze segment and per App
Store app, report and granularity, both made a run's cost quadratic (benchmarks/state_scaling.py).
Here partitions are found through an index, and STATE goes out on a clock: at most once per
`state_interval_seconds` (longer for a large state or a long run), plus when a top-level stream
ends, when a run fails, and when the next STATE must name a new BATCH folder; the state is
encoded once, for its change check and its line. A stream partitioned by one id (a Braze
segment's) keeps its bookmarks as one object by id rather than a list of partition objects: a
sixth of the memory, half the STATE bytes.

A STATE written later than the SDK asked is always exact: every change to the state is made after
the records it covers were written to the same stdout. It only costs re-reading: a SIGKILL loses
the work since the last STATE.

Every private SDK detail the tap touches about state is here; tests/test_sdk_contracts.py pins
them.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Hashable
from functools import partial
from typing import TYPE_CHECKING, Any

from singer_sdk.contrib.msgspec import encoder
from singer_sdk.helpers._state import StateWriter
from singer_sdk.singerlib import StateMessage
from singer_sdk.streams._state import StreamStateManager
from typing_extensions import override

from tap_segment_analytics.singer_output import SingerOutput

if TYPE_CHECKING:
    from singer_sdk import Stream
    from singer_sdk.helpers.types import TapState
    from singer_sdk.singerlib.encoding.base import GenericSingerWriter

# Seconds between two STATE messages at least (`state_interval_seconds`).
STATE_INTERVAL_SECONDS = 5.0
# STATE bytes a second at most: a large state goes out less often (a 1 MB state: every 10 s).
STATE_BYTES_PER_SECOND = 100_000
# Between two STATEs at least this share of the run so far: a run's STATE messages grow with
# the log of its length, not with its length, so its STATE bytes stay a small multiple of its
# final state (20,000 Braze segments: 1 MB, ~10x) however slow the API; a SIGKILL after an hour
# costs at most the last 7.5 minutes.
STATE_RUN_SHARE = 1 / 8

PartitionKey = tuple[tuple[str, Hashable], ...]
# A keyed stream state's bookmarks by id are under this prefix and the id's key.
KEYED_PREFIX = "replication_key_value_by_"


class UncopiedStateMessage(StateMessage):
    """A STATE message serialised from the state itself: the SDK's `to_dict`
    (`dataclasses.asdict`) deep-copies the whole state first, for 20,000 Braze segments 11 MiB
    of Python objects more at each STATE. The same line either way (tests/test_sdk_contracts.py).
    """

    @override
    def to_dict(self) -> dict[str, Any]:
        """`type` and `value`, the state not copied."""
        return {"type": self.type, "value": self.value}


class ClockedStateWriter(StateWriter):
    """Writes the state it is handed at most once per interval; `flush` writes what waits."""

    def __init__(
        self,
        message_writer: GenericSingerWriter,
        *,
        interval: float = STATE_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`interval`: seconds between STATE messages at least, or 0 for every state handed
        in (as the SDK writes them)."""
        super().__init__(message_writer)
        self._output = message_writer
        self._interval = interval
        self._clock = clock
        # The SDK's own writer writes the state the run starts from.
        self._started = clock()
        self._due = self._started + interval
        self._pending: TapState | None = None
        self._last_digest = b""

    @override
    def write_state(self, state: TapState) -> None:
        """Write the state if the interval has passed; else keep it for later."""
        self._pending = state
        if self._clock() >= self._due:
            self.flush()

    def write_next(self) -> None:
        """Let the next state handed in go out at once."""
        self._due = float("-inf")

    def flush(self) -> None:
        """Write the state waiting, unless it is the one last written."""
        state, self._pending = self._pending, None
        if state is None:
            return
        encoded = encoder.encode(state)
        digest, size = hashlib.sha256(encoded).digest(), len(encoded)
        if digest != self._last_digest:
            self._last_digest = digest
            if isinstance(self._output, SingerOutput):
                self._output.write_encoded_state(encoded)  # encoded once
            else:
                self._output.write_message(UncopiedStateMessage(value=state))
        del encoded  # a large state's bytes are not kept until the next one
        if self._interval:
            now = self._clock()
            self._due = now + max(
                self._interval,
                size / STATE_BYTES_PER_SECOND,
                (now - self._started) * STATE_RUN_SHARE,
            )


class IndexedStateManager(StreamStateManager):
    """The SDK's state manager, finding a partition's state by its context in a dict instead
    of comparing the context with every partition's. Safe to call from several threads."""

    def __init__(self, *, on_stream_end: Callable[[], None] | None = None, **kwargs: Any) -> None:
        """`on_stream_end`: called when the stream's own state is finalized, i.e. the sync of a
        stream without a context (a top-level one) ends, right before the SDK writes STATE."""
        super().__init__(**kwargs)
        self._on_stream_end = on_stream_end
        self._lock = threading.Lock()
        self._indexed: list[dict[str, Any]] | None = None
        self._count = 0
        self._index: dict[PartitionKey, dict[str, Any]] = {}

    @override
    def get_context_state(self, context: Any) -> dict:
        """The partition's state (created when missing), or the stream's."""
        partition_context = self.get_state_partition_context(context)
        if not partition_context:
            return self.stream_state
        key = _key(partition_context)
        if key is None:
            return super().get_context_state(context)
        with self._lock:
            partitions = self.stream_state.setdefault("partitions", [])
            found = self._lookup(partitions, key)
            if found is None:
                found = {"context": dict(partition_context)}
                partitions.append(found)
                self._index[key] = found
                self._count += 1
            return found

    @override
    def finalize_state(self, state: dict | None = None) -> None:
        """The SDK's; then `on_stream_end` when `state` is the stream's own."""
        super().finalize_state(state)
        if self._on_stream_end is not None and state is self.stream_state:
            self._on_stream_end()

    def find(self, partition_context: dict[str, Any]) -> dict[str, Any] | None:
        """The partition's state, if the state has one (nothing is created)."""
        key = _key(partition_context)
        bookmarks = self.tap_state.get("bookmarks", {}).get(self.stream_name, {})
        partitions = bookmarks.get("partitions")
        if key is None or not partitions:
            return None
        with self._lock:
            return self._lookup(partitions, key)

    def _lookup(self, partitions: list[dict[str, Any]], key: PartitionKey) -> dict[str, Any] | None:
        """The indexed partition (the index is rebuilt when the list changed under it)."""
        if self._indexed is not partitions or self._count != len(partitions):
            self._index = {}
            for partition in partitions:
                partition_key = _key(partition.get("context") or {})
                if partition_key is not None:
                    self._index.setdefault(partition_key, partition)
            self._indexed = partitions
            self._count = len(partitions)
        return self._index.get(key)


class KeyedStateManager(IndexedStateManager):
    """Bookmarks of a stream partitioned by one id, kept in its state as
    `{"replication_key": …, "replication_key_value_by_<id>": {id: value}}` in place of the SDK's
    list of partition objects (20,000 Braze segments: 2 MiB in place of 12, with the index).

    While a partition syncs, the SDK works on a partition object of its own as usual (progress
    markers); when it ends, the value it finalized goes into the object and the partition object
    is dropped. STATE written meanwhile holds the partition's value from before: exact, as the
    SDK only ever resumes from finalized values.
    """

    def __init__(self, *, partition_key: str, **kwargs: Any) -> None:
        """`partition_key`: the one context key the stream's state is partitioned by."""
        super().__init__(**kwargs)
        self._partition_key = partition_key
        self._field = keyed_field(partition_key)
        self._syncing: dict[str, dict[str, Any]] = {}
        # One str object per distinct value (days): 20,000 segments share a few dozen.
        self._values: dict[str, str] = {}

    @override
    def get_context_state(self, context: Any) -> dict:
        """The partition's object while it syncs (made from its value), or the stream's state."""
        partition_context = self.get_state_partition_context(context)
        if not partition_context:
            return self.stream_state
        partition_id = self._id(partition_context)
        with self._lock:
            found = self._syncing.get(partition_id)
            if found is None:
                found = self._syncing[partition_id] = self._partition(partition_id) or {
                    "context": {self._partition_key: partition_id}
                }
            return found

    @override
    def finalize_state(self, state: dict | None = None) -> None:
        """The SDK's; a partition's finalized value then goes into the object by id."""
        super().finalize_state(state)
        if not state or state is self.stream_state:
            return
        partition_id = (state.get("context") or {}).get(self._partition_key)
        with self._lock:
            if partition_id is None or self._syncing.get(partition_id) is not state:
                return
            del self._syncing[partition_id]
            value = state.get("replication_key_value")
            if value is not None:
                if isinstance(value, str):
                    value = self._values.setdefault(value, value)
                stream_state = self.stream_state
                stream_state["replication_key"] = state.get("replication_key")
                stream_state.setdefault(self._field, {})[partition_id] = value

    @override
    def find(self, partition_context: dict[str, Any]) -> dict[str, Any] | None:
        """The partition's last finalized bookmark as a partition object, if it has one."""
        with self._lock:
            return self._partition(self._id(partition_context))

    def _partition(self, partition_id: str) -> dict[str, Any] | None:
        bookmarks = self.tap_state.get("bookmarks", {}).get(self.stream_name, {})
        value = bookmarks.get(self._field, {}).get(partition_id)
        if value is None:
            return None
        return {
            "context": {self._partition_key: partition_id},
            "replication_key": bookmarks.get("replication_key"),
            "replication_key_value": value,
        }

    def _id(self, partition_context: dict[str, Any]) -> str:
        partition_id = partition_context.get(self._partition_key)
        if len(partition_context) != 1 or not isinstance(partition_id, str):
            msg = f"{self.stream_name}: a partition is one '{self._partition_key}' text"
            raise ValueError(f"{msg}, not {partition_context}")
        return partition_id


def keyed_field(partition_key: str) -> str:
    """The key of a keyed stream state's object of bookmarks by id."""
    return f"{KEYED_PREFIX}{partition_key}"


def keyed_from_partitions(stream_state: dict[str, Any], partition_key: str) -> None:
    """A stream state of the SDK's layout (as 0.1.0 wrote it) moved into the
    keyed one, in place: each partition of one `partition_key` text with a value becomes an
    entry, an entry already keyed wins (a state merged from both layouts), the rest is dropped:
    a partition with no value starts over either way."""
    field = keyed_field(partition_key)
    values: dict[str, Any] = {}
    for partition in stream_state.pop("partitions", None) or []:
        context = partition.get("context") or {}
        partition_id = context.get(partition_key)
        value = partition.get("replication_key_value")
        if len(context) == 1 and isinstance(partition_id, str) and value is not None:
            values[partition_id] = value
            stream_state.setdefault("replication_key", partition.get("replication_key"))
    values.update(stream_state.get(field) or {})
    if values:
        stream_state[field] = values


def _key(context: dict[str, Any]) -> PartitionKey | None:
    """A partition context as a dict key (None when a value cannot be one)."""
    key = tuple(sorted(context.items()))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def indexed_state_manager(stream: Stream) -> IndexedStateManager:
    """The stream's state manager: made as the SDK's `Stream.state_manager` makes it, indexed."""
    # The SDK keeps the manager in `_state_manager`, the tap's state in `_tap_state` and the
    # tap in `_tap`; no public hook chooses the manager's class (tests/test_sdk_contracts.py
    # pins them).
    manager = stream._state_manager
    if not isinstance(manager, IndexedStateManager):
        writer = stream._tap.state_writer
        top_level = stream.parent_stream_type is None
        keys = stream.state_partitioning_keys or ()
        keyed = getattr(stream, "KEYED_BOOKMARKS", False) and len(keys) == 1
        kind = partial(KeyedStateManager, partition_key=keys[0]) if keyed else IndexedStateManager
        manager = kind(
            on_stream_end=(
                writer.write_next if top_level and isinstance(writer, ClockedStateWriter) else None
            ),
            tap_name=stream.tap_name,
            stream_name=stream.name,
            tap_state=stream._tap_state,
            state_partitioning_keys=stream.state_partitioning_keys,
            is_sorted=stream.is_sorted,
            check_sorted=stream.check_sorted,
        )
        stream._state_manager = manager
    return manager


class PartitionStates:
    """A stream's partition states as a plain store (the App Store plan's bookmarks: the
    instances stream's, which the SDK writes in STATE)."""

    def __init__(self, manager: StreamStateManager) -> None:
        self._manager = manager

    def state(self, partition: dict[str, Any]) -> dict[str, Any]:
        """The partition's state (made when missing)."""
        return self._manager.get_context_state(partition)

    def stream_state(self) -> dict[str, Any]:
        """The stream's state."""
        return self._manager.stream_state
