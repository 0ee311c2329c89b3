"""The bookmarks of a --state, checked as a run reads them.

A bookmark that is not a date, or is in the future (after tomorrow, UTC: a clock that was wrong,
a hand-edited state), would stop its partition for good: nothing is ever after it. Such a
bookmark is dropped with a warning naming it, and its partition is read again from `start_date`
(keys make the rows upsert). Braze's bookmarks, a partition object per segment as 0.1.0 wrote
them, move into the keyed layout (sdk/state.py, KeyedStateManager) as they are read.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from tap_segment_analytics.appstore.emit.streams import ReportInstances
from tap_segment_analytics.appstore.plan.instance_plan import Position
from tap_segment_analytics.braze.emit.streams import SegmentSizes
from tap_segment_analytics.sdk.state import keyed_field, keyed_from_partitions

if TYPE_CHECKING:
    from singer_sdk.helpers.types import TapState

_BOOKMARK_KEYS = ("replication_key", "replication_key_value", "position")
# Days a bookmark may lie after today's UTC date: a date of a time zone ahead of UTC.
_FUTURE_MARGIN_DAYS = 1


def read_bookmarks(state: TapState, today: date | None = None) -> list[str]:
    """`state`'s bookmarks in the layout this release keeps, those that cannot be right
    dropped; a warning for each."""
    bookmarks = state.get("bookmarks", {})
    sizes = bookmarks.get(SegmentSizes.name)
    if sizes:
        (partition_key,) = SegmentSizes.state_partitioning_keys
        keyed_from_partitions(sizes, partition_key)
    return repair_bookmarks(state, today)


def repair_bookmarks(state: TapState, today: date | None = None) -> list[str]:
    """Drop the bookmarks of `state` that cannot be right; a warning for each."""
    today = today or datetime.now(timezone.utc).date()
    warnings = []
    bookmarks = state.get("bookmarks", {})
    for partition in bookmarks.get(ReportInstances.name, {}).get("partitions", []):
        problem = _problem(partition, _appstore_day, today)
        if problem:
            for key in _BOOKMARK_KEYS:
                partition.pop(key, None)
            warnings.append(_ignored(ReportInstances.name, partition.get("context"), problem))
    (partition_key,) = SegmentSizes.state_partitioning_keys
    by_id = bookmarks.get(SegmentSizes.name, {}).get(keyed_field(partition_key), {})
    for partition_id, value in list(by_id.items()):
        problem = _problem({"replication_key_value": value}, _braze_day, today)
        if problem:
            del by_id[partition_id]
            warnings.append(_ignored(SegmentSizes.name, {partition_key: partition_id}, problem))
    return warnings


def _ignored(stream: str, context: Any, problem: str) -> str:
    return (
        f"--state: the {stream} bookmark of {context} {problem}; "
        "it is ignored and the partition is read again from start_date"
    )


def _problem(partition: dict[str, Any], day_of: Any, today: date) -> str | None:
    try:
        day = day_of(partition)
    except (TypeError, ValueError, IndexError, KeyError):
        value = partition.get("position") or partition.get("replication_key_value")
        return f"is {value!r}, not a date"
    if day is not None and day > today + timedelta(days=_FUTURE_MARGIN_DAYS):
        return f"is in the future ({day.isoformat()})"
    return None


def _braze_day(partition: dict[str, Any]) -> date | None:
    value = partition.get("replication_key_value")
    return _day(value) if value is not None else None


def _appstore_day(partition: dict[str, Any]) -> date | None:
    position = Position.from_state(partition)
    return _day(position.processing_date) if position else None


def _day(value: Any) -> date:
    if not isinstance(value, str):
        raise TypeError(value)
    return date.fromisoformat(value[:10])
