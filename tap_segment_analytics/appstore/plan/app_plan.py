"""What an App Store run reads, decided in one place: per app its report requests, the wanted
reports, each partition's instances after its bookmark (partition_plan.py), their segments and
files.

Plain Python: it is made from the client's answers alone (`Api`: api/client.py over HTTP, a
fake in tests), with no stream and no SDK object, so it is testable without either. Fetch
(fetch/app_fetch.py) follows its order, ahead of the streams or as they need it; the streams
only emit what the two hand them. An app's listings and row counts are dropped once the app is
done (`finish`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any, Protocol

from tap_segment_analytics.appstore.api.values import (
    ONE_TIME_SNAPSHOT,
    ONGOING,
    Creation,
    NotServed,
)
from tap_segment_analytics.appstore.plan.partition_plan import (
    BookmarkMigration,
    BookmarkStore,
    PartitionPlan,
    snapshots_read,
)
from tap_segment_analytics.appstore.reports import describe_names, key_name
from tap_segment_analytics.errors import SourceError

Context = dict[str, Any]
Record = dict[str, Any]
# Report files downloaded at once: 8 made 2 apps x 3 reports x 10 days 6x faster than one
# request at a time with 100 ms a request (benchmarks/concurrency.py); 12 was no faster.
DEFAULT_CONCURRENCY = 8
# on_bad_value: a value or row of a report file that does not fit its columns is kept (counted,
# warned) or stops the source.
BAD_VALUES_KEEP = "keep"
BAD_VALUES_FAIL = "fail"


class Api(Protocol):
    """The App Store Connect calls a plan makes (api/client.py makes them over HTTP)."""

    def list_requests(self, app_id: str) -> list[Record]:
        """The app's report requests."""

    def create_request(self, app_id: str, access_type: str) -> Creation:
        """POST a report request: what Apple answered (a refusal is no error)."""

    def list_reports(self, app_id: str, request_id: str) -> list[Record]:
        """A request's reports."""

    def list_instances(self, partition: Context, report_id: str) -> list[Record]:
        """A report's instances of the partition's granularity."""

    def list_segments(self, instance: Context) -> list[Record]:
        """An instance's segments, each with its file as listed (`_file`) when it has a URL."""


@dataclass(frozen=True)
class Settings:
    """The settings a plan follows."""

    start_date: date
    granularities: tuple[str, ...] = ("DAILY",)
    report_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    backfill: bool = False
    create_requests: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    keep_bad_values: bool = True

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """The App Store settings of a tap config."""
        return cls(
            start_date=date.fromisoformat(str(config["start_date"])[:10]),
            granularities=tuple(config.get("appstore_granularities") or ["DAILY"]),
            report_names=tuple(config.get("appstore_report_names") or []),
            categories=tuple(config.get("appstore_report_categories") or []),
            backfill=bool(config.get("appstore_backfill")),
            create_requests=bool(config.get("appstore_create_report_requests")),
            concurrency=int(config.get("appstore_concurrency", DEFAULT_CONCURRENCY)),
            keep_bad_values=config.get("on_bad_value", BAD_VALUES_KEEP) != BAD_VALUES_FAIL,
        )

    @cached_property
    def report_keys(self) -> frozenset[str]:
        """`report_names` as compared with the names Apple lists (`key_name`)."""
        return frozenset(key_name(name) for name in self.report_names)


@dataclass(frozen=True)
class Loggers:
    """Where the plan's lines go: the logger of the stream whose records each concerns."""

    requests: logging.Logger
    reports: logging.Logger
    instances: logging.Logger


def _active_ongoing(records: list[Record]) -> bool:
    """Whether an ONGOING request that was not stopped is listed."""
    return any(
        r.get("access_type") == ONGOING and not r.get("stopped_due_to_inactivity") for r in records
    )


class AppStorePlan:
    """The plan of one run: an `AppPlan` per app, made when the sync reaches the app."""

    def __init__(
        self,
        settings: Settings,
        *,
        api: Api,
        bookmarks: BookmarkStore,
        loggers: Loggers,
        rows_selected: Callable[[str], bool],
        count_dates: bool,
        today: Callable[[], date],
        skipped: Callable[[str], None] = lambda what: None,
    ) -> None:
        """`rows_selected(report name)`: whether the report's rows are wanted; `count_dates`:
        whether rows are counted per Date; `bookmarks`: the partitions' states (the instances
        stream's, kept by the SDK); `skipped(what)`: counts what the run skipped with a warning
        (in the run summary)."""
        self.settings = settings
        self.skipped = skipped
        self.api = api
        self.bookmarks = bookmarks
        self.loggers = loggers
        self.rows_selected = rows_selected
        self.count_dates = count_dates
        self.today = today
        self.migration = BookmarkMigration(bookmarks)
        self._apps: dict[str, AppPlan] = {}
        self._backfilled_apps: set[str] | None = None

    def app(self, app_id: str) -> AppPlan:
        """The plan of the app (made the first time)."""
        if app_id not in self._apps:
            self._apps[app_id] = AppPlan(self, app_id)
        return self._apps[app_id]

    def finish(self, app_id: str) -> None:
        """The app is done: drop what the plan held for it."""
        app = self._apps.pop(app_id, None)
        if app is not None:
            app.close()

    def backfilled(self, app_id: str) -> bool:
        """Whether any partition of the app has read a snapshot (it needs no new one)."""
        if self._backfilled_apps is None:
            self._backfilled_apps = {
                p["context"].get("app_id")
                for p in self.bookmarks.stream_state().get("partitions", [])
                if snapshots_read(p)
            }
        return app_id in self._backfilled_apps


class AppPlan:
    """What the run reads of one app, in the order the sync emits it."""

    def __init__(self, run: AppStorePlan, app_id: str) -> None:
        self.run = run
        self.app_id = app_id
        self.requests: list[Record] = []
        # The wanted reports by name, in listing order (every request's).
        self.named: dict[str, list[Record]] = {}
        # The app's partitions by (report name, granularity), in the order the sync takes them.
        self._partitions: dict[tuple[str, str], PartitionPlan] = {}
        self._dates: dict[str, Counter[str | None]] = {}
        self._incomplete: set[str] = set()  # instances a listing or file of was not served
        self._lock = threading.Lock()

    # Requests

    def list_requests(self) -> list[Record]:
        """The app's requests; warns about stopped ones; creates an ONGOING one (and for a
        backfill a ONE_TIME_SNAPSHOT one) when needed and allowed, and confirms it is listed."""
        settings, api, logger = self.run.settings, self.run.api, self.run.loggers.requests
        app_id = self.app_id
        records = self._typed(api.list_requests(app_id))
        for record in records:
            if record.get("stopped_due_to_inactivity"):
                logger.warning(
                    "appstore: report request %s of app %s was stopped due to inactivity and "
                    "produces no new reports%s",
                    record["id"],
                    app_id,
                    ""
                    if settings.create_requests
                    else "; set appstore_create_report_requests to create a new one",
                )
        wanted = []
        if not _active_ongoing(records):
            wanted.append(ONGOING)
        if (
            settings.backfill
            and not any(r.get("access_type") == ONE_TIME_SNAPSHOT for r in records)
            and not self.run.backfilled(app_id)
        ):
            wanted.append(ONE_TIME_SNAPSHOT)
        if wanted and settings.create_requests:
            answers = {kind: api.create_request(app_id, kind) for kind in wanted}
            records = self._typed(api.list_requests(app_id))
            self._confirm(answers, records)
        elif ONGOING in wanted:
            logger.warning(
                "appstore: app %s has no active ONGOING report request; create one in App "
                "Store Connect or set appstore_create_report_requests (Admin role)",
                app_id,
            )
        elif wanted:
            logger.warning(
                "appstore_backfill: app %s has no ONE_TIME_SNAPSHOT report request; create one "
                "in App Store Connect or set appstore_create_report_requests (Admin role)",
                app_id,
            )
        self.requests = records
        return records

    def _typed(self, records: list[Record]) -> list[Record]:
        """The requests with an `accessType`: Apple's schema marks none of its attributes
        required. Without a backfill only ONGOING ones are asked for (`filter[accessType]`), so
        one without it is ONGOING; otherwise it cannot be placed, and is left out with a
        warning."""
        typed = []
        for record in records:
            if record.get("access_type") in (ONGOING, ONE_TIME_SNAPSHOT):
                typed.append(record)
            elif not self.run.settings.backfill and record.get("access_type") is None:
                typed.append({**record, "access_type": ONGOING})
            else:
                self.run.loggers.requests.warning(
                    "appstore: report request %s of app %s has accessType %s: not read",
                    record["id"],
                    self.app_id,
                    json.dumps(record.get("access_type")),
                )
                self.run.skipped("App Store report requests without an accessType")
        return typed

    def _confirm(self, answers: dict[str, Creation], records: list[Record]) -> None:
        """Say what creating each request did, once the listing confirms it (or does not)."""
        logger, app_id = self.run.loggers.requests, self.app_id
        if (ongoing := answers.get(ONGOING)) is not None:
            if not _active_ongoing(records):
                logger.warning(
                    "appstore: app %s has no active ONGOING report request: asked to create "
                    "one, Apple answered (%s) and lists none; nothing new of the app is read "
                    "this run",
                    app_id,
                    ongoing.answer,
                )
                self.run.skipped("App Store apps without an ONGOING report request")
            elif ongoing.created:
                logger.warning(
                    "appstore: created an ONGOING report request for app %s; Apple makes its "
                    "first reports within 24 to 48 hours",
                    app_id,
                )
            else:
                logger.info(
                    "appstore: app %s already has an ONGOING report request (%s)",
                    app_id,
                    ongoing.answer,
                )
        if (snapshot := answers.get(ONE_TIME_SNAPSHOT)) is not None:
            listed = any(r["access_type"] == ONE_TIME_SNAPSHOT for r in records)
            if listed and snapshot.created:
                logger.info(
                    "appstore_backfill: created a ONE_TIME_SNAPSHOT report request for app %s; "
                    "Apple prepares its history within 24 to 48 hours and a later run reads it",
                    app_id,
                )
            elif not listed:
                logger.warning(
                    "appstore_backfill: Apple refused a ONE_TIME_SNAPSHOT request for app %s "
                    "(%s)%s; the backfill waits until one can be made",
                    app_id,
                    snapshot.answer,
                    ": it allows one per app every 31 days, deleted ones included"
                    if snapshot.exists
                    else "",
                )

    def is_first_request(self, record: Record) -> bool:
        """Whether the record is the app's first request: the reports are read once per app,
        so that a report's instances can be ordered across requests."""
        return bool(self.requests) and record["id"] == self.requests[0]["id"]

    def requests_of(self, access_type: str) -> list[Record]:
        """The app's requests of that type (stopped ONGOING ones too: their instances stay
        35 days)."""
        return [r for r in self.requests if r["access_type"] == access_type]

    # Reports

    def reports_of(self, request: Record) -> list[Record]:
        """A request's reports, each with its request, app and access type; none of a request
        that is gone since it was listed, and no report without a name (it cannot be routed to
        a rows stream; Apple's schema marks no attribute required), each with a warning."""
        try:
            listed = self.run.api.list_reports(self.app_id, request["id"])
        except NotServed as exc:
            self.not_served({"app_id": self.app_id}, exc, "report request")
            return []
        reports = []
        for report in listed:
            if not isinstance(report.get("name"), str) or not report["name"]:
                self.run.loggers.reports.warning(
                    "appstore: report %s of app %s has no name: not read",
                    report["id"],
                    self.app_id,
                )
                self.run.skipped("App Store reports without a name")
                continue
            reports.append(
                {
                    **report,
                    "request_id": request["id"],
                    "app_id": self.app_id,
                    "access_type": request["access_type"],
                }
            )
        return reports

    def not_served(self, context: Context, problem: NotServed, what: str) -> None:
        """One WARNING for something listed that the API no longer serves (named by the
        problem's line: app, report, granularity, processing date, instance, segment as
        known); an instance that lost any of it is not what moves its partition's bookmark."""
        instance_id = context.get("instance_id")
        if instance_id is not None:
            with self._lock:
                self._incomplete.add(instance_id)
        self.run.loggers.instances.warning(
            "appstore: %s; %s skipped, the rest of the run goes on%s",
            problem,
            what,
            "; the partition's bookmark passes this instance only with a later one"
            if instance_id is not None
            else "",
        )
        self.run.skipped(f"App Store {what}s not served (404 or no file)")

    def complete(self, instance_id: str) -> bool:
        """Whether every listing and file of the instance was served."""
        with self._lock:
            return instance_id not in self._incomplete

    def wanted(self, report: Record) -> bool:
        """Whether the report is among the configured names and categories, and its rows
        stream is selected: a deselected report costs no request."""
        settings = self.run.settings
        return (
            (not settings.report_names or key_name(report["name"]) in settings.report_keys)
            and (not settings.categories or report.get("category") in settings.categories)
            and self.run.rows_selected(report["name"])
        )

    def list_reports(self) -> list[Record]:
        """The wanted reports of the app; a configured name the API does not list is an error.

        With a backfill, the reports of each snapshot request not yet read for every wanted
        report and granularity are listed too. Once listed, the app's partitions are known
        (`partitions`, in the order the sync takes them) and their bookmarks migrated.
        """
        settings, logger, app_id = self.run.settings, self.run.loggers.reports, self.app_id
        reports = []
        for request in self.requests_of(ONGOING):
            reports += self.reports_of(request)
        names = {r["name"] for r in reports}
        # A name the catalogue knows by an alias is listed under either spelling.
        listed = {key_name(name) for name in names}
        if not reports:
            logger.warning(
                "appstore: app %s lists no reports yet (new requests take 24 to 48 hours)",
                app_id,
            )
        elif missing := {n for n in settings.report_names if key_name(n) not in listed}:
            raise SourceError(
                f"appstore_report_names: {describe_names(missing)} not listed for app "
                f"{app_id}; the API lists {describe_names(names)}"
            )
        if settings.backfill:
            partitions = [
                {"app_id": app_id, "report_name": r["name"], "granularity": granularity}
                for r in reports
                if self.wanted(r)
                for granularity in settings.granularities
            ]
            for snapshot in self.requests_of(ONE_TIME_SNAPSHOT):
                if partitions and all(
                    snapshot["id"] in snapshots_read(self.run.bookmarks.state(p))
                    for p in partitions
                ):
                    continue
                snapshot_reports = self.reports_of(snapshot)
                if not snapshot_reports:
                    logger.info(
                        "appstore_backfill: snapshot request %s of app %s lists no reports "
                        "yet; a later run reads it once Apple has made them",
                        snapshot["id"],
                        app_id,
                    )
                reports += snapshot_reports
        wanted = [report for report in reports if self.wanted(report)]
        # Every report of a name is known before the first one's instances are synced.
        for report in wanted:
            self.named.setdefault(report["name"], []).append(report)
        for report in wanted:
            for context in self.partitions_of(report):
                self._plan_partition(context)
        return wanted

    def partitions_of(self, report: Record) -> list[Context]:
        """The partitions a report opens: one per configured granularity, on the first report
        of its name (the instances' state partition, so the SDK finalizes each bookmark as soon
        as that report and granularity are done)."""
        if report["id"] != self.named[report["name"]][0]["id"]:
            return []
        return [
            {"app_id": self.app_id, "report_name": report["name"], "granularity": granularity}
            for granularity in self.run.settings.granularities
        ]

    def _plan_partition(self, context: Context) -> None:
        run = self.run
        partition = PartitionPlan(
            context,
            reports=self.named[context["report_name"]],
            state=run.bookmarks.state(context),
            api=run.api,
            start_date=run.settings.start_date,
            logger=run.loggers.instances,
            not_served=lambda problem: self.not_served(context, problem, "report"),
        )
        run.migration.migrate(partition)
        self._partitions[(context["report_name"], context["granularity"])] = partition

    # Instances, segments, files

    @property
    def partitions(self) -> list[PartitionPlan]:
        """The app's partitions, in the order the sync takes them."""
        return list(self._partitions.values())

    def partition(self, context: Context) -> PartitionPlan:
        """The plan of a partition of this app."""
        return self._partitions[(context["report_name"], context["granularity"])]

    def list_segments(self, instance: Context) -> list[Record]:
        """An instance's segments from the API (any thread); none, with a warning, when the
        instance is gone since it was listed."""
        try:
            return self.run.api.list_segments(instance)
        except NotServed as exc:
            self.not_served(instance, exc, "report instance")
            return []

    def row_dates(self, instance_id: str) -> Counter[str | None] | None:
        """Where an instance's rows are counted per Date (None when no one wants them)."""
        if not self.run.count_dates:
            return None
        return self._dates.setdefault(instance_id, Counter())

    def take_row_dates(self, instance_id: str) -> Counter[str | None]:
        """An instance's rows per Date, once all of them are out (forgotten here)."""
        return self._dates.pop(instance_id, Counter())

    def close(self) -> None:
        """Drop the app's data."""
        self.requests, self.named = [], {}
        self._partitions.clear()
        self._dates.clear()
        self._incomplete.clear()
