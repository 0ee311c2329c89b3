"""Which report instances a run applies, in what order, and where a run left off.

A partition (app, report name, granularity) can hold instances of several requests. They are
applied oldest processing date first, so that for a day two instances restate, the newest one's
rows land last and win the upsert. The bookmark is the `Position` of the last instance whose rows
were all emitted: exact even when two instances share a processing date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

ONGOING = "ONGOING"
ONE_TIME_SNAPSHOT = "ONE_TIME_SNAPSHOT"
# On the same processing date, an ongoing instance is applied after a snapshot's.
_ACCESS_RANK = {ONE_TIME_SNAPSHOT: 0, ONGOING: 1}
_LAST_RANK = max(_ACCESS_RANK.values())
_AFTER_EVERY_ID = "\uffff"
# Apple deletes report instances after 35 days (api-notes).
RETENTION_DAYS = 35
# Days from one instance to the next, per granularity (a month is at least 28 days).
_PERIOD_DAYS = {"DAILY": 1, "WEEKLY": 7, "MONTHLY": 28}


@dataclass(frozen=True, order=True)
class Position:
    """Where an instance falls in the order instances are applied."""

    processing_date: str
    rank: int
    instance_id: str

    @classmethod
    def of(cls, instance: dict[str, Any]) -> Position:
        """The position of an instance record."""
        return cls(
            str(instance["processing_date"]),
            _ACCESS_RANK.get(instance.get("access_type") or ONGOING, _LAST_RANK),
            str(instance["id"]),
        )

    @classmethod
    def covering(cls, processing_date: str) -> Position:
        """Just after every instance processed on `processing_date`."""
        return cls(processing_date[:10], _LAST_RANK, _AFTER_EVERY_ID)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Position | None:
        """The position a partition's state records (or its plain processing-date bookmark)."""
        raw = state.get("position")
        if isinstance(raw, list) and len(raw) == len(cls.__dataclass_fields__):
            return cls(str(raw[0]), int(raw[1]), str(raw[2]))
        value = state.get("replication_key_value")
        return cls.covering(str(value)) if value else None

    def save(self, state: dict[str, Any]) -> None:
        """Record this position (and the SDK's processing-date bookmark) in a partition state."""
        state["position"] = [self.processing_date, self.rank, self.instance_id]
        state["replication_key"] = "processing_date"
        state["replication_key_value"] = self.processing_date


def plan_instances(
    listed: Iterable[dict[str, Any]], *, after: Position | None, start_date: date
) -> list[dict[str, Any]]:
    """The instances to apply, in order: from `start_date`, after the bookmark."""
    first = start_date.isoformat()
    return sorted(
        (
            instance
            for instance in listed
            if instance["processing_date"] >= first
            and (after is None or Position.of(instance) > after)
        ),
        key=Position.of,
    )


def lost_to_retention(
    done: Position, granularity: str, today: date, oldest_listed: str | None
) -> tuple[date, date] | None:
    """The processing dates (first, last) deleted before a run could read them, if any.

    The next instance after the bookmark was due one period later; Apple keeps instances
    processed in the last 35 days.
    """
    due = date.fromisoformat(done.processing_date) + timedelta(
        days=_PERIOD_DAYS.get(granularity, 1)
    )
    last_lost = today - timedelta(days=RETENTION_DAYS + 1)
    if oldest_listed is not None:
        last_lost = min(last_lost, date.fromisoformat(oldest_listed[:10]) - timedelta(days=1))
    return (due, last_lost) if due <= last_lost else None
