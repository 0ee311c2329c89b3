"""The bookmarks of a --state, checked as a run reads them.

A bookmark that is not a date, or is in the future (after tomorrow, UTC: a clock that was wrong,
a hand-edited state), would stop its partition for good: nothing is ever after it. Such a
bookmark is dropped with a warning naming it, and its partition is read again from `start_date`
(keys make the rows upsert). A state written by earlier releases needs nothing else: the layout
is the SDK's own.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from tap_segment_analytics.appstore.instance_plan import Position
from tap_segment_analytics.appstore.streams import ReportInstances
from tap_segment_analytics.braze.streams import SegmentSizes

if TYPE_CHECKING:
    from singer_sdk.helpers.types import TapState

_BOOKMARK_KEYS = ("replication_key", "replication_key_value", "position")
# Days a bookmark may lie after today's UTC date: a date of a time zone ahead of UTC.
_FUTURE_MARGIN_DAYS = 1


def repair_bookmarks(state: TapState, today: date | None = None) -> list[str]:
    """Drop the bookmarks of `state` that cannot be right; a warning for each."""
    today = today or datetime.now(timezone.utc).date()
    warnings = []
    bookmarks = state.get("bookmarks", {})
    for stream, day_of in (
        (SegmentSizes.name, _braze_day),
        (ReportInstances.name, _appstore_day),
    ):
        for partition in bookmarks.get(stream, {}).get("partitions", []):
            problem = _problem(partition, day_of, today)
            if problem:
                for key in _BOOKMARK_KEYS:
                    partition.pop(key, None)
                warnings.append(
                    f"--state: the {stream} bookmark of {partition.get('context')} {problem}; "
                    "it is ignored and the partition is read again from start_date"
                )
    return warnings


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
