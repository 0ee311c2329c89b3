"""Which report instances a run applies, in what order, and where a run left off.

A partition (app, report name, granularity) can hold instances of several requests. They are
applied oldest processing date first, so that for a day two instances restate, the newest one's
rows land last and win the upsert. The bookmark is the `Position` of the last instance whose rows
were all emitted: exact even when two instances share a processing date.

A backfill reads an unread ONE_TIME_SNAPSHOT's instances once. Its history may be older or newer
than what the partition already applied, so the ONGOING instances from the snapshot's oldest
processing date on are applied again after it, in processing-date order: the newest values win
whatever order the requests were read in. The partition state remembers the snapshots it read
and, while a backfill runs, where it started (`backfill`), so a killed backfill resumes too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tap_segment_analytics.appstore.api.values import ONE_TIME_SNAPSHOT, ONGOING

# On the same processing date, an ongoing instance is applied after a snapshot's.
_ACCESS_RANK = {ONE_TIME_SNAPSHOT: 0, ONGOING: 1}
_LAST_RANK = max(_ACCESS_RANK.values())
_AFTER_EVERY_ID = "\uffff"
# Apple deletes report instances after 35 days (api-notes).
RETENTION_DAYS = 35
# Days from one instance to the next, per granularity (a month is at least 28 days).
_PERIOD_DAYS = {"DAILY": 1, "WEEKLY": 7, "MONTHLY": 28}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def is_processing_date(value: Any) -> bool:
    """Whether an instance's `processingDate` is a date (YYYY-MM-DD), as ordering and
    bookmarks need: anything else would land in the state and break every later run."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


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
        if position := cls.from_list(state.get("position")):
            return position
        value = state.get("replication_key_value")
        return cls.covering(str(value)) if value else None

    def save(self, state: dict[str, Any]) -> None:
        """Record this position (and the SDK's processing-date bookmark) in a partition state."""
        state["position"] = self.as_list()
        state["replication_key"] = "processing_date"
        state["replication_key_value"] = self.processing_date

    def as_list(self) -> list[Any]:
        """The position as stored in a state."""
        return [self.processing_date, self.rank, self.instance_id]

    @classmethod
    def from_list(cls, raw: Any) -> Position | None:
        """A position stored by `as_list` (None stays None)."""
        return cls(str(raw[0]), int(raw[1]), str(raw[2])) if raw else None


@dataclass(frozen=True)
class Plan:
    """The instances a run applies to a partition, in order, and the backfill they make."""

    instances: list[dict[str, Any]]
    # While a backfill runs: {"requests": snapshot ids, "after": the bookmark it started from,
    # "done": the last instance of it applied}.
    backfill: dict[str, Any] | None = None
    resuming: bool = False


def snapshots_read(state: dict[str, Any]) -> set[str]:
    """The ONE_TIME_SNAPSHOT requests a partition has read."""
    return set(state.get("snapshots_read") or [])


def plan_instances(
    listed: Iterable[dict[str, Any]], *, state: dict[str, Any], start_date: date
) -> Plan:
    """The instances to apply, in order, from `start_date`: those after the bookmark, or for a
    backfill the unread snapshots' and every ONGOING one from their oldest processing date on."""
    first = start_date.isoformat()
    read = snapshots_read(state)
    listed = [
        i
        for i in listed
        if i["processing_date"] >= first
        and not (i.get("access_type") == ONE_TIME_SNAPSHOT and i["request_id"] in read)
    ]
    done = Position.from_state(state)
    unread = sorted({i["request_id"] for i in listed if i.get("access_type") == ONE_TIME_SNAPSHOT})
    if not unread:
        return Plan(sorted((i for i in listed if done is None or Position.of(i) > done),
                           key=Position.of))  # fmt: skip
    started: dict[str, Any] = state.get("backfill") or {}
    resuming = started.get("requests") == unread
    after = Position.from_list(started["after"]) if resuming else done
    snapshot_start = min(
        i["processing_date"] for i in listed if i.get("access_type") == ONE_TIME_SNAPSHOT
    )
    chosen = [
        i
        for i in listed
        if i.get("access_type") == ONE_TIME_SNAPSHOT
        or i["processing_date"] >= snapshot_start
        or after is None
        or Position.of(i) > after
    ]
    resume_after = Position.from_list(started.get("done")) if resuming else None
    return Plan(
        sorted(
            (i for i in chosen if resume_after is None or Position.of(i) > resume_after),
            key=Position.of,
        ),
        backfill=started
        if resuming
        else {"requests": unread, "after": after.as_list() if after else None, "done": None},
        resuming=resuming,
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
