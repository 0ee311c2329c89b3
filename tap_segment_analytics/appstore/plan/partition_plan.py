"""One partition (app, report name, granularity) of an App Store run: its instances listed from
every request's report of that name, the ones this run applies (instance_plan.py decides the
order and positions), and its bookmark, which only `PartitionPlan` writes.

The bookmark moves past an instance only once the sync has emitted its rows, segments and
record (`applied`), so a run that dies resumes at the instance it was in.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from tap_segment_analytics.appstore.api.values import NotServed
from tap_segment_analytics.appstore.plan.instance_plan import (
    ONE_TIME_SNAPSHOT,
    Plan,
    Position,
    is_processing_date,
    lost_to_retention,
    plan_instances,
    snapshots_read,
)

if TYPE_CHECKING:
    from collections.abc import Callable


Context = dict[str, Any]
Record = dict[str, Any]

__all__ = [
    "BookmarkMigration",
    "BookmarkStore",
    "PartitionPlan",
    "instance_context",
    "snapshots_read",
]


def instance_context(instance: Record) -> Context:
    """The context of an instance's segments (and their files)."""
    return {
        "app_id": instance["app_id"],
        "report_id": instance["report_id"],
        "report_name": instance["report_name"],
        "granularity": instance["granularity"],
        "instance_id": instance["id"],
        "processing_date": instance["processing_date"],
    }


class InstanceListings(Protocol):
    """The one call a partition makes (app_plan.Api has it)."""

    def list_instances(self, partition: dict[str, Any], report_id: str) -> list[dict[str, Any]]:
        """A report's instances of the partition's granularity."""


class BookmarkStore(Protocol):
    """Where the partitions' states live (the instances stream's state in the tap state)."""

    def state(self, partition: Context) -> dict[str, Any]:
        """The partition's state (made when missing)."""

    def stream_state(self) -> dict[str, Any]:
        """The state of every partition: `{"partitions": [...]}`."""


class PartitionPlan:
    """What the run applies to one partition, and the partition's bookmark."""

    def __init__(
        self,
        context: Context,
        *,
        reports: list[Record],
        state: dict[str, Any],
        api: InstanceListings,
        start_date: date,
        logger: logging.Logger,
        not_served: Callable[[NotServed], None] | None = None,
    ) -> None:
        """`reports`: the wanted reports of the partition's name (every request's);
        `state`: the partition's live state, which only this object changes; `not_served`:
        says that a report is gone since it was listed (its instances are skipped)."""
        self.context = context
        self.reports = reports
        self.state = state
        self._api = api
        self._start_date = start_date
        self._logger = logger
        self._not_served = not_served
        self._lock = threading.Lock()
        self._plan: Plan | None = None
        self._read: set[str] = set()

    @property
    def key(self) -> tuple[str, str, str]:
        """The partition as a key: (app id, report name, granularity)."""
        c = self.context
        return (c["app_id"], c["report_name"], c["granularity"])

    def list_instances(self) -> list[Record]:
        """The instances of the partition's reports (snapshots it read left out); any thread."""
        context = self.context
        read = snapshots_read(self.state)
        listed = []
        for report in self.reports:
            if report["request_id"] in read:
                continue
            try:
                items = self._api.list_instances(context, report["id"])
            except NotServed as exc:
                if self._not_served is None:
                    raise
                self._not_served(exc)
                continue
            instances = [
                {
                    **item,
                    "app_id": context["app_id"],
                    "report_id": report["id"],
                    "report_name": context["report_name"],
                    "granularity": context["granularity"],
                    "request_id": report["request_id"],
                    "access_type": report["access_type"],
                }
                for item in items
            ]
            if not instances and report["access_type"] == ONE_TIME_SNAPSHOT:
                self._logger.info(
                    "appstore_backfill: snapshot request %s of app %s has no %s instances of "
                    "'%s' yet; a later run looks again",
                    report["request_id"],
                    context["app_id"],
                    context["granularity"],
                    context["report_name"],
                )
            listed += [i for i in instances if self._dated(i)]
        return listed

    def _dated(self, instance: Record) -> bool:
        """Whether the instance has a processing date; one without is skipped with a warning,
        since it can be neither ordered nor bookmarked (the rest of the run goes on)."""
        if is_processing_date(instance.get("processing_date")):
            return True
        self._logger.warning(
            "appstore: app %s report '%s' (%s): instance %s skipped, its processingDate %s is "
            "not a date",
            instance["app_id"],
            instance["report_name"],
            instance["granularity"],
            instance["id"],
            json.dumps(instance.get("processing_date")),
        )
        return False

    def plan(self, listed: list[Record]) -> Plan:
        """The instances applied this run, in order: decided once, from the state as the run
        found it (the read-ahead and the sync share it)."""
        with self._lock:
            if self._plan is None:
                self._plan = plan_instances(listed, state=self.state, start_date=self._start_date)
            return self._plan

    @property
    def planned(self) -> Plan:
        """The plan, once `plan` has decided it."""
        assert self._plan is not None, "plan() comes first"
        return self._plan

    # The bookmark: these three are its only writers.

    def begin(self, listed: list[Record], today: date) -> list[Record]:
        """The instances to apply, in order; a backfill is noted in the state, a gap Apple's
        retention left is logged."""
        plan = self.plan(listed)
        self._read = snapshots_read(self.state)
        if plan.backfill is None:
            self._warn_about_retention(Position.from_state(self.state), listed, today)
        else:
            self.state["backfill"] = plan.backfill
            self._log_backfill(plan.instances, resuming=plan.resuming)
        return plan.instances

    def applied(self, instance: Record, *, whole: bool = True) -> None:
        """Every row, segment and the record of `instance` are out: the bookmark moves past it.
        Not for an instance that was not `whole` (a listing or file of it was not served): the
        bookmark passes it with the next instance applied, or else the next run reads it again
        if Apple still lists it; a gone one is not listed, so nothing waits for it."""
        plan = self._plan
        assert plan is not None, "begin() comes first"
        if not whole:
            return
        position = Position.of(instance)
        position.save(self.state)
        if plan.backfill is not None:
            plan.backfill["done"] = position.as_list()

    def finished(self) -> bool:
        """Every planned instance is applied: a backfill's snapshots are read. Whether the
        state changed."""
        plan = self._plan
        assert plan is not None, "begin() comes first"
        if plan.backfill is None:
            return False
        self.state["snapshots_read"] = sorted(self._read | set(plan.backfill["requests"]))
        del self.state["backfill"]
        return True

    def _log_backfill(self, instances: list[Record], *, resuming: bool) -> None:
        """One line saying what a backfill of the partition applies."""
        snapshot = [i for i in instances if i["access_type"] == ONE_TIME_SNAPSHOT]
        self._logger.info(
            "appstore_backfill: app %s report '%s' (%s): %s %d snapshot instances processed %s "
            "to %s, then %d ONGOING ones again so the newest values win",
            *self.key,
            "resuming," if resuming else "applying",
            len(snapshot),
            min((i["processing_date"] for i in snapshot), default="-"),
            max((i["processing_date"] for i in snapshot), default="-"),
            len(instances) - len(snapshot),
        )

    def _warn_about_retention(
        self, done: Position | None, listed: list[Record], today: date
    ) -> None:
        """Say loudly which days Apple deleted before this tap could read them."""
        if done is None:
            return
        oldest = min((i["processing_date"] for i in listed), default=None)
        lost = lost_to_retention(done, self.context["granularity"], today, oldest)
        if lost:
            first, last = lost
            self._logger.warning(
                "appstore: DATA GAP in app %s report '%s' (%s): the last instance read was "
                "processed %s; Apple deletes instances after 35 days, so those processed %s to "
                "%s can no longer be fetched (%d days)",
                *self.key,
                done.processing_date,
                first.isoformat(),
                last.isoformat(),
                (last - first).days + 1,
            )


class BookmarkMigration:
    """Takes over the bookmarks of a state written when partitions were per report id."""

    def __init__(self, bookmarks: BookmarkStore) -> None:
        self._bookmarks = bookmarks
        self._by_report_id: dict[tuple[str, Any], list[dict[str, Any]]] | None = None

    def migrate(self, partition: PartitionPlan) -> None:
        """Give the partition the newest bookmark of its reports' old partitions, if it has
        none of its own; the old partitions go."""
        state = partition.state
        if self._by_report_id is None:
            self._by_report_id = {}
            for p in self._bookmarks.stream_state().get("partitions", []):
                if "report_id" in p["context"] and p.get("replication_key_value"):
                    key = (p["context"]["report_id"], p["context"].get("granularity"))
                    self._by_report_id.setdefault(key, []).append(p)
        if not self._by_report_id or Position.from_state(state) is not None:
            return
        granularity = partition.context["granularity"]
        old = [
            p for r in partition.reports for p in self._by_report_id.pop((r["id"], granularity), [])
        ]
        if old:
            Position.covering(max(str(p["replication_key_value"]) for p in old)).save(state)
            taken = {id(p) for p in old}
            partitions = self._bookmarks.stream_state()["partitions"]
            partitions[:] = [p for p in partitions if id(p) not in taken]
