"""App Store Connect streams: report requests → reports → instances → segments → rows.

The instances of one report (by name), granularity and app form one state partition, whatever
request they come from. They are applied oldest processing date first, and the partition's
bookmark moves past an instance only once every row of it has been emitted, so a run that dies
resumes at the instance it was in.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime, timezone
from functools import partial
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import requests
from singer_sdk.exceptions import AbortedSyncFailedException, AbortedSyncPausedException
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from typing_extensions import override

from tap_segment_analytics.appstore.batches import BatchRun
from tap_segment_analytics.appstore.client import AppStoreStream, api_errors
from tap_segment_analytics.appstore.instance_plan import (
    ONE_TIME_SNAPSHOT,
    ONGOING,
    Plan,
    Position,
    is_processing_date,
    lost_to_retention,
    plan_instances,
    snapshots_read,
)
from tap_segment_analytics.appstore.read_ahead import AppReadAhead
from tap_segment_analytics.appstore.report_files import (
    DownloadProblem,
    DownloadRefused,
    MalformedFile,
    SegmentFile,
    download_verified,
    foreign_header,
    read_rows,
)
from tap_segment_analytics.appstore.reports import (
    GENERIC_ROWS_STREAM,
    Report,
    catalogue,
    complete_from,
    describe_names,
    header_matches,
    joins_key,
    key_name,
    rows_stream_name,
)
from tap_segment_analytics.appstore.row_plan import (
    BadValue,
    Converter,
    RowPlan,
    as_date,
    as_integer,
    as_number,
    as_text,
    row_key_of,
)
from tap_segment_analytics.connection_pool import keep_connections
from tap_segment_analytics.errors import SourceError
from tap_segment_analytics.prefetch import for_context
from tap_segment_analytics.singer_output import SingerOutput

# Report files downloaded at once: 8 made 2 apps x 3 reports x 10 days 6x faster than one
# request at a time with 100 ms a request (benchmarks/concurrency.py); 12 was no faster.
DEFAULT_CONCURRENCY = 8
# Unknown columns logged one by one per rows stream and run: a header of a million columns
# must not log a million lines.
MAX_COLUMN_WARNINGS = 20

if TYPE_CHECKING:
    from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig


def files_at_once(config: Mapping[str, Any]) -> int:
    """`appstore_concurrency`: report files downloaded at once."""
    return int(config.get("appstore_concurrency", DEFAULT_CONCURRENCY))


def strip_query(url: str | None) -> str | None:
    """A presigned URL without its query string: the signature is a credential."""
    if not url:
        return url
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class ReportRequests(AppStoreStream):
    """Each app's analytics report requests; creates an ONGOING one when asked to."""

    name = "appstore_report_requests"
    path = "/v1/apps/{app_id}/analyticsReportRequests"
    primary_keys = ("id",)
    state_partitioning_keys: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every request of each app in this run, for the reports stream.
        self.listed: dict[str, list[dict[str, Any]]] = {}

    @property
    @override
    def partitions(self) -> list[dict[str, Any]]:
        """One partition per configured app."""
        return [{"app_id": str(app_id)} for app_id in self.config["appstore_app_ids"]]

    @override
    def post_process(self, row: dict, context: Any = None) -> dict:
        """Flat record with the app id."""
        return {**row, "app_id": context["app_id"]}

    @property
    def backfill(self) -> bool:
        """Whether `appstore_backfill` is on."""
        return bool(self.config.get("appstore_backfill"))

    @override
    def get_url_params(self, context: Any, next_page_token: Any) -> dict[str, Any]:
        """Without a backfill, snapshot requests are none of this run's business."""
        params = super().get_url_params(context, next_page_token)
        if not self.backfill:
            params["filter[accessType]"] = ONGOING
        return params

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The app's requests; warns about stopped ones; creates an ONGOING one (and for a
        backfill a ONE_TIME_SNAPSHOT one) when needed and allowed."""
        records = list(super().get_records(context))
        app_id = context["app_id"]
        create = bool(self.config.get("appstore_create_report_requests"))
        for record in records:
            if record.get("stopped_due_to_inactivity"):
                self.logger.warning(
                    "appstore: report request %s of app %s was stopped due to inactivity and "
                    "produces no new reports%s",
                    record["id"],
                    app_id,
                    "" if create else "; set appstore_create_report_requests to create a new one",
                )
        wanted = []
        if not any(
            r.get("access_type") == ONGOING and not r.get("stopped_due_to_inactivity")
            for r in records
        ):
            wanted.append(ONGOING)
        if (
            self.backfill
            and not any(r.get("access_type") == ONE_TIME_SNAPSHOT for r in records)
            and not self.sibling(ReportInstances).backfilled(app_id)
        ):
            wanted.append(ONE_TIME_SNAPSHOT)
        if wanted and create:
            for access_type in wanted:
                self.create_request(app_id, access_type)
            records = list(super().get_records(context))
        elif ONGOING in wanted:
            self.logger.warning(
                "appstore: app %s has no active ONGOING report request; create one in App "
                "Store Connect or set appstore_create_report_requests (Admin role)",
                app_id,
            )
        elif wanted:
            self.logger.warning(
                "appstore_backfill: app %s has no ONE_TIME_SNAPSHOT report request; create one "
                "in App Store Connect or set appstore_create_report_requests (Admin role)",
                app_id,
            )
        self.listed[app_id] = [{**r, "app_id": app_id} for r in records]
        yield from records

    def create_request(self, app_id: str, access_type: str) -> None:
        """POST a request; a 409 means one exists already (a race) or, for a snapshot, that
        Apple's one-a-month allowance is spent: either way, list again."""
        body = {
            "data": {
                "type": "analyticsReportRequests",
                "attributes": {"accessType": access_type},
                "relationships": {"app": {"data": {"type": "apps", "id": app_id}}},
            }
        }

        def send(prepared: requests.PreparedRequest, context: Any) -> requests.Response:
            response = self.requests_session.send(prepared, timeout=self.timeout)
            if response.status_code != HTTPStatus.CONFLICT:
                self.validate_response(response)
            return response

        prepared = self.build_prepared_request(
            method="POST", url=f"{self.url_base}/v1/analyticsReportRequests", json=body
        )
        response = self.request_decorator(send)(prepared, None)
        conflict = response.status_code == HTTPStatus.CONFLICT
        if access_type == ONGOING and conflict:
            self.logger.info(
                "appstore: app %s already has an ONGOING report request (409: %s)",
                app_id,
                api_errors(response),
            )
        elif access_type == ONGOING:
            self.logger.warning(
                "appstore: created an ONGOING report request for app %s; Apple makes its first "
                "reports within 24 to 48 hours",
                app_id,
            )
        elif conflict:
            self.logger.warning(
                "appstore_backfill: Apple refused a ONE_TIME_SNAPSHOT request for app %s (409: "
                "%s): it allows one per app every 31 days, deleted ones included; the backfill "
                "waits until one can be made",
                app_id,
                api_errors(response),
            )
        else:
            self.logger.info(
                "appstore_backfill: created a ONE_TIME_SNAPSHOT report request for app %s; "
                "Apple prepares its history within 24 to 48 hours and a later run reads it",
                app_id,
            )

    @override
    def generate_child_contexts(self, record: dict, context: Any) -> Iterable[dict[str, Any]]:
        """One context per app, on its first request: the reports stream reads every request
        of the app at once, so that a report's instances can be ordered across requests."""
        if record["id"] == self.listed[record["app_id"]][0]["id"]:
            yield {"app_id": record["app_id"]}


class Reports(AppStoreStream):
    """The reports of each app's requests, narrowed to the configured names and categories."""

    name = "appstore_reports"
    path = "/v1/analyticsReportRequests/{request_id}/reports"
    primary_keys = ("id",)
    parent_stream_type = ReportRequests
    state_partitioning_keys: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The wanted reports of this run by (app id, report name), for the instances stream.
        self.named: dict[tuple[str, str], list[dict[str, Any]]] = {}
        # The reads made ahead for the app being synced, by app id.
        self.read_aheads: dict[str, AppReadAhead | None] = {}

    def requests_of(self, app_id: str, access_type: str) -> list[dict[str, Any]]:
        """The app's requests of that type (stopped ONGOING ones too: their instances stay
        35 days)."""
        listed = self.sibling(ReportRequests).listed.get(app_id, [])
        return [r for r in listed if r["access_type"] == access_type]

    def reports_of(self, context: dict[str, Any], request: dict[str, Any]) -> list[dict[str, Any]]:
        """A request's reports, as records."""
        return [
            {
                **report,
                "request_id": request["id"],
                "app_id": context["app_id"],
                "access_type": request["access_type"],
            }
            for report in self.request_records({**context, "request_id": request["id"]})
        ]

    def wanted(self, report: dict[str, Any]) -> bool:
        """Whether the report is among the configured names and categories, and its rows
        stream is selected: a deselected report costs no request."""
        names = self.config.get("appstore_report_names")
        categories = self.config.get("appstore_report_categories")
        rows = self._tap.streams.get(rows_stream_name(report["name"]))
        return (
            (not names or key_name(report["name"]) in {key_name(n) for n in names})
            and (not categories or report.get("category") in categories)
            and isinstance(rows, ReportRows)
            and rows.selected
        )

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The wanted reports of the app; a configured name the API does not list is an error.

        With a backfill, the reports of each snapshot request not yet read for every wanted
        report and granularity are listed too.
        """
        app_id = context["app_id"]
        instances = self.sibling(ReportInstances)
        reports = []
        for request in self.requests_of(app_id, ONGOING):
            reports += self.reports_of(context, request)
        names = {r["name"] for r in reports}
        # A name the catalogue knows by an alias is listed under either spelling.
        listed = {key_name(name) for name in names}
        wanted_names = set(self.config.get("appstore_report_names") or [])
        if not reports:
            self.logger.warning(
                "appstore: app %s lists no reports yet (new requests take 24 to 48 hours)",
                app_id,
            )
        elif missing := {name for name in wanted_names if key_name(name) not in listed}:
            raise SourceError(
                f"appstore_report_names: {describe_names(missing)} not listed for app "
                f"{app_id}; the API lists {describe_names(names)}"
            )
        if self.config.get("appstore_backfill"):
            partitions = [
                {"app_id": app_id, "report_name": r["name"], "granularity": granularity}
                for r in reports
                if self.wanted(r)
                for granularity in self.granularities
            ]
            for snapshot in self.requests_of(app_id, ONE_TIME_SNAPSHOT):
                if partitions and instances.read_everywhere(snapshot["id"], partitions):
                    continue
                snapshot_reports = self.reports_of(context, snapshot)
                if not snapshot_reports:
                    self.logger.info(
                        "appstore_backfill: snapshot request %s of app %s lists no reports "
                        "yet; a later run reads it once Apple has made them",
                        snapshot["id"],
                        app_id,
                    )
                reports += snapshot_reports
        wanted = [report for report in reports if self.wanted(report)]
        # Every report of a name is known before the first one's instances are synced.
        for report in wanted:
            self.named.setdefault((app_id, report["name"]), []).append(report)
        partitions = [p for r in wanted for p in self.generate_child_contexts(r, context)]
        for partition in partitions:
            instances.migrate_bookmark(partition)
        self.read_aheads[app_id] = self.start_read_ahead(partitions)
        try:
            yield from wanted
        finally:
            read_ahead = self.read_aheads.pop(app_id, None)
            if read_ahead is not None:
                read_ahead.close()

    def start_read_ahead(self, partitions: list[dict[str, Any]]) -> AppReadAhead | None:
        """Read the app's instances, segments and files ahead of the sync, unless
        `appstore_concurrency` is 1."""
        workers = files_at_once(self.config)
        if workers <= 1 or not partitions:
            return None
        instances = self.sibling(ReportInstances)

        def rows_for(report_name: str) -> ReportRows | None:
            rows = self._tap.streams.get(rows_stream_name(report_name))
            return rows if isinstance(rows, ReportRows) and rows.selected else None

        return AppReadAhead(
            instances=instances,
            segments=self.sibling(ReportSegments),
            rows_for=rows_for,
            partitions=[(p, copy.deepcopy(instances.get_context_state(p))) for p in partitions],
            workers=workers,
        )

    @property
    def granularities(self) -> list[str]:
        """`appstore_granularities`."""
        return list(self.config.get("appstore_granularities") or ["DAILY"])

    @override
    def generate_child_contexts(self, record: dict, context: Any) -> Iterable[dict[str, Any]]:
        """One context per report name and configured granularity (on the first report of that
        name), exactly the instances' state partition, so the SDK finalizes each bookmark as
        soon as that report and granularity are done."""
        if record["id"] != self.named[(record["app_id"], record["name"])][0]["id"]:
            return
        for granularity in self.granularities:
            yield {
                "app_id": record["app_id"],
                "report_name": record["name"],
                "granularity": granularity,
            }


class ReportInstances(AppStoreStream):
    """Report instances, oldest processing date first; later runs read only the new ones."""

    name = "appstore_report_instances"
    path = "/v1/analyticsReports/{report_id}/instances"
    primary_keys = ("id",)
    replication_key = "processing_date"
    parent_stream_type = Reports
    state_partitioning_keys = ("app_id", "report_name", "granularity")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Read from the state once a run, when first asked.
        self._backfilled_apps: set[str] | None = None
        self._partitions_by_report_id: dict[tuple[str, Any], list[dict[str, Any]]] | None = None

    @property
    @override
    def is_sorted(self) -> bool:
        """Instances come in plan order, so the bookmark is resumable mid-partition."""
        return True

    @property
    @override
    def check_sorted(self) -> bool:
        """The bookmark is this stream's own (`Position`); the SDK need not police it."""
        return False

    def today(self) -> date:
        """The current UTC day."""
        return datetime.now(timezone.utc).date()

    @override
    def get_url_params(self, context: Any, next_page_token: Any) -> dict[str, Any]:
        """One granularity per partition."""
        return {
            **super().get_url_params(context, next_page_token),
            "filter[granularity]": context["granularity"],
        }

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The instances this run applies, in order; each one's bookmark once its rows are out."""
        state = self.get_context_state(context)
        read = snapshots_read(state)
        read_ahead = read_ahead_of(self, context)
        fetch = partial(self.list_instances, context)
        listed = fetch() if read_ahead is None else read_ahead.instances(context, fetch)
        plan = self.plan_for(context, listed, state)
        if plan.backfill is None:
            self.warn_about_retention(context, Position.from_state(state), listed)
        else:
            state["backfill"] = plan.backfill
            self.log_backfill(context, plan.instances, resuming=plan.resuming)
        for instance in self.runtime.progress.instances(plan.instances):
            yield instance
            # The SDK asks for the next instance only once it has synced this one's segments
            # and rows and written its record: only now may the bookmark move past it.
            position = Position.of(instance)
            position.save(state)
            if plan.backfill is not None:
                plan.backfill["done"] = position.as_list()
            self._tap.state_writer.write_state(self.tap_state)
        if plan.backfill is not None:
            state["snapshots_read"] = sorted(read | set(plan.backfill["requests"]))
            del state["backfill"]
            self._tap.state_writer.write_state(self.tap_state)

    def list_instances(self, context: dict[str, Any]) -> list[dict[str, Any]]:
        """The instances of the partition's reports (snapshots it read left out)."""
        read = snapshots_read(self.get_context_state(context))
        listed = []
        for report in self.reports_of(context):
            if report["request_id"] in read:
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
                for item in self.request_records({**context, "report_id": report["id"]})
            ]
            if not instances and report["access_type"] == ONE_TIME_SNAPSHOT:
                self.logger.info(
                    "appstore_backfill: snapshot request %s of app %s has no %s instances of "
                    "'%s' yet; a later run looks again",
                    report["request_id"],
                    context["app_id"],
                    context["granularity"],
                    context["report_name"],
                )
            listed += [i for i in instances if self.dated(i)]
        return listed

    def dated(self, instance: dict[str, Any]) -> bool:
        """Whether the instance has a processing date; one without is skipped with a warning,
        since it can be neither ordered nor bookmarked (the rest of the run goes on)."""
        if is_processing_date(instance.get("processing_date")):
            return True
        self.logger.warning(
            "appstore: app %s report '%s' (%s): instance %s skipped, its processingDate %s is "
            "not a date",
            instance["app_id"],
            instance["report_name"],
            instance["granularity"],
            instance["id"],
            json.dumps(instance.get("processing_date")),
        )
        return False

    def plan_for(
        self, context: dict[str, Any], listed: list[dict[str, Any]], state: dict[str, Any]
    ) -> Plan:
        """What the partition applies this run, from its listing and state."""
        start_date = date.fromisoformat(str(self.config["start_date"])[:10])
        return plan_instances(listed, state=state, start_date=start_date)

    def log_backfill(
        self, context: dict[str, Any], instances: list[dict[str, Any]], *, resuming: bool
    ) -> None:
        """One line saying what a backfill of the partition applies."""
        snapshot = [i for i in instances if i["access_type"] == ONE_TIME_SNAPSHOT]
        self.logger.info(
            "appstore_backfill: app %s report '%s' (%s): %s %d snapshot instances processed %s "
            "to %s, then %d ONGOING ones again so the newest values win",
            context["app_id"],
            context["report_name"],
            context["granularity"],
            "resuming," if resuming else "applying",
            len(snapshot),
            min((i["processing_date"] for i in snapshot), default="-"),
            max((i["processing_date"] for i in snapshot), default="-"),
            len(instances) - len(snapshot),
        )

    def read_everywhere(self, snapshot_id: str, partitions: list[dict[str, Any]]) -> bool:
        """Whether every one of these partitions has read the snapshot."""
        return all(snapshot_id in snapshots_read(self.get_context_state(p)) for p in partitions)

    def backfilled(self, app_id: str) -> bool:
        """Whether any partition of the app has read a snapshot (the app needs no new one)."""
        if self._backfilled_apps is None:
            self._backfilled_apps = {
                p["context"].get("app_id")
                for p in self.stream_state.get("partitions", [])
                if snapshots_read(p)
            }
        return app_id in self._backfilled_apps

    def reports_of(self, context: dict[str, Any]) -> list[dict[str, Any]]:
        """The wanted reports of the partition's app and name, from every readable request."""
        return self.sibling(Reports).named.get((context["app_id"], context["report_name"]), [])

    def migrate_bookmark(self, context: dict[str, Any]) -> None:
        """Take over the bookmark of a state written when partitions were per report id."""
        state = self.get_context_state(context)
        if self._partitions_by_report_id is None:
            self._partitions_by_report_id = {}
            for p in self.stream_state.get("partitions", []):
                if "report_id" in p["context"] and p.get("replication_key_value"):
                    key = (p["context"]["report_id"], p["context"].get("granularity"))
                    self._partitions_by_report_id.setdefault(key, []).append(p)
        if not self._partitions_by_report_id or Position.from_state(state) is not None:
            return
        old = [
            p
            for r in self.reports_of(context)
            for p in self._partitions_by_report_id.pop((r["id"], context["granularity"]), [])
        ]
        if old:
            Position.covering(max(str(p["replication_key_value"]) for p in old)).save(state)
            taken = {id(p) for p in old}
            partitions = self.stream_state["partitions"]
            partitions[:] = [p for p in partitions if id(p) not in taken]

    def warn_about_retention(
        self, context: dict[str, Any], done: Position | None, listed: list[dict[str, Any]]
    ) -> None:
        """Say loudly which days Apple deleted before this tap could read them."""
        if done is None:
            return
        oldest = min((i["processing_date"] for i in listed), default=None)
        lost = lost_to_retention(done, context["granularity"], self.today(), oldest)
        if lost:
            first, last = lost
            self.logger.warning(
                "appstore: DATA GAP in app %s report '%s' (%s): the last instance read was "
                "processed %s; Apple deletes instances after 35 days, so those processed %s to "
                "%s can no longer be fetched (%d days)",
                context["app_id"],
                context["report_name"],
                context["granularity"],
                done.processing_date,
                first.isoformat(),
                last.isoformat(),
                (last - first).days + 1,
            )

    @override
    def get_child_context(self, record: dict, context: Any) -> dict[str, Any]:
        """The instance whose segments to read."""
        return self.child_context(record)

    @staticmethod
    def child_context(record: dict[str, Any]) -> dict[str, Any]:
        """The context of an instance's segments."""
        return {
            "app_id": record["app_id"],
            "report_id": record["report_id"],
            "report_name": record["report_name"],
            "granularity": record["granularity"],
            "instance_id": record["id"],
            "processing_date": record["processing_date"],
        }


class ReportSegments(AppStoreStream):
    """The segments of each instance: checksum, size and file URL (without its signature)."""

    name = "appstore_report_segments"
    path = "/v1/analyticsReportInstances/{instance_id}/segments"
    primary_keys = ("id",)
    parent_stream_type = ReportInstances
    state_partitioning_keys: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The listing's presigned URL of each segment not read yet, for the rows streams.
        self.files: dict[str, SegmentFile] = {}

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """Each segment, with its file's URL as fresh as of this response (`_file`)."""
        listed_at = time.monotonic()
        for record in super().parse_response(response):
            if record.get("url"):
                record["url"] = self.download_url(record["url"])
                record["_file"] = segment_file(record, listed_at)
            yield record

    def list_segments(self, context: dict[str, Any]) -> list[dict[str, Any]]:
        """The instance's segments (a worker may call this ahead of the sync)."""
        return list(self.request_records(context))

    @override
    def post_process(self, row: dict, context: Any = None) -> dict:
        """Flat record with the ids of its instance, report and app; URL without credentials."""
        record = {**row, **context}
        record.pop("_file", None)
        record["url"] = strip_query(record.get("url"))
        return record

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The instance's segments (a few): how many there are is known to the progress line."""
        read_ahead = read_ahead_of(self, context)
        fetch = partial(self.list_segments, context)
        listing = fetch() if read_ahead is None else read_ahead.segments(context, fetch)
        for segment in listing:
            if "_file" in segment:
                self.files[segment["id"]] = segment["_file"]
        yield from self.runtime.progress.files(listing)

    @override
    def get_child_context(self, record: dict, context: Any) -> dict[str, Any]:
        """The segment whose file to read."""
        return {**context, "segment_id": record["id"]}

    @override
    def _sync_children(self, child_context: Any) -> None:
        # Overrides the SDK, which hands every child context to every child stream: a
        # segment's rows belong to exactly one report stream, and a sync of each of the
        # others would only emit an empty SCHEMA message per segment. No public hook chooses
        # which children get a context (tests/test_sdk_contracts.py pins this method).
        if child_context is None:
            return
        target = rows_stream_name(child_context["report_name"])
        for child in self.child_streams:
            if child.name == target and child.selected:
                try:
                    child.sync(context=child_context)
                except (AbortedSyncFailedException, AbortedSyncPausedException):
                    continue


class ReportDates(AppStoreStream):
    """For each app, report, granularity and Date: the newest instance that had rows of it.

    A newer instance is the whole truth for the Dates it restates, and Apple's noise and
    thresholds can leave a dimension combination out of it: upserts alone would keep the older
    row for ever. Instances are applied oldest first, so upserted by its key this stream names,
    for each Date, the instance whose rows are current; a view joining the rows on `instance_id`
    and `date` returns exactly Apple's newest data (README, "Current rows").
    """

    name = "appstore_report_dates"
    path = "/v1/analyticsReportInstances/{instance_id}"  # nothing is requested: rows count
    primary_keys = ("app_id", "report_name", "granularity", "date")
    parent_stream_type = ReportInstances
    state_partitioning_keys: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rows: dict[str, Counter[str | None]] = {}

    def counter(self, instance_id: str) -> Counter[str | None] | None:
        """Where the rows streams count an instance's rows per Date (None when not wanted)."""
        if not self.selected:
            return None
        return self._rows.setdefault(instance_id, Counter())

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """One record per Date of the instance, once all of its rows are out."""
        counts = self._rows.pop(context["instance_id"], Counter())
        for day, rows in sorted(counts.items(), key=lambda item: str(item[0])):
            if day is None:
                continue
            complete = complete_from(context["report_name"], context["granularity"], day)
            yield {
                "app_id": context["app_id"],
                "report_name": context["report_name"],
                "granularity": context["granularity"],
                "date": day,
                "instance_id": context["instance_id"],
                "processing_date": context["processing_date"],
                "rows": rows,
                "rows_stream": rows_stream_name(context["report_name"]),
                "expected_complete": complete,
                "final": None if complete is None else context["processing_date"] >= complete,
            }


def where(context: dict[str, Any]) -> str:
    """The file a context is about, for messages."""
    return (
        f"report '{context['report_name']}' of app {context['app_id']}, instance "
        f"{context['instance_id']} (processed {context['processing_date']}), segment "
        f"{context['segment_id']}"
    )


def read_ahead_of(stream: AppStoreStream, context: dict[str, Any]) -> AppReadAhead | None:
    """The reads made ahead for the context's app, if any."""
    return stream.sibling(Reports).read_aheads.get(context["app_id"])


def segment_file(record: dict[str, Any], fetched_at: float) -> SegmentFile:
    """What a segment resource says about its file."""
    size = record.get("size_in_bytes")
    return SegmentFile(
        url=record["url"],
        checksum=str(record.get("checksum") or ""),
        size_in_bytes=int(size) if size is not None else None,
        fetched_at=fetched_at,
    )


class ReportRows(AppStoreStream):
    """Rows of report files: one stream per known report, plus a generic one."""

    # The row plan already gives every value its schema type; the SDK's recursive conformance
    # pass took about a third of the time per row (benchmarks/report_rows.py).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    # Whether records the SDK would write unchanged go out through `SingerOutput.write_records`
    # (tests/test_row_fast_path.py turns it off to compare).
    FAST_PATH = True
    BATCHES = True

    path = "/v1/analyticsReportSegments/{segment_id}"
    primary_keys = ("row_key",)
    parent_stream_type = ReportSegments
    state_partitioning_keys: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Unknown columns (and reports) this stream has logged.
        self._reported: set[tuple[str, str]] = set()

    @functools.cached_property
    def download_session(self) -> requests.Session:
        """The session of this stream's downloads, made when the stream first downloads (of
        ~150 report streams a run syncs a few)."""
        session = keep_connections(requests.Session(), files_at_once(self.config))
        # No Authorization header ever goes to S3, not even one from ~/.netrc.
        session.auth = _without_authorization
        return session

    @override
    def get_new_paginator(self) -> None:  # type: ignore[override]
        """One segment per request."""
        return None

    @override
    def get_url_params(self, context: Any, next_page_token: Any) -> dict[str, Any]:
        """Only the fields needed to download."""
        return {"fields[analyticsReportSegments]": "checksum,sizeInBytes,url"}

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """The segment resource's file, with when its URL was handed out."""
        fetched_at = time.monotonic()
        for record in super().parse_response(response):
            if not record.get("url"):
                break
            record["url"] = self.download_url(record["url"])
            yield {"file": segment_file(record, fetched_at)}

    def fresh_file(self, context: dict[str, Any]) -> SegmentFile:
        """A fresh presigned URL from `GET /v1/analyticsReportSegments/{id}`."""
        for item in self.request_records(context):
            file: SegmentFile = item["file"]
            return file
        raise SourceError(f"App Store Connect sent no download url on {self.describe()}")

    @property
    def dates_stream(self) -> ReportDates:
        """Where each instance's rows per Date are counted."""
        return self.sibling(ReportDates)

    def listed_file(self, context: dict[str, Any]) -> SegmentFile:
        """The URL the segments listing handed out, or a fresh one."""
        listed = self.sibling(ReportSegments).files.pop(context["segment_id"], None)
        return listed or self.fresh_file(context)

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The rows of the segment's file, once it has downloaded whole and verified."""
        with self.segment_records(context) as records:
            if self.writes_unchanged_records():
                # The fast path: the SDK's record path (a selection pass, a conformance pass,
                # a message object and a write per record) would write these very lines; it
                # took 45% of the CPU per row (benchmarks/report_rows.py).
                output = self._tap.message_writer
                assert isinstance(output, SingerOutput)
                if output.write_records(self.name, records, datetime.now(timezone.utc)):
                    # As after the SDK writes a record: the sync's end writes the STATE.
                    self.state_manager.is_flushed = False
            else:
                yield from records

    @override
    def get_batches(
        self, batch_config: BatchConfig, context: Any = None
    ) -> Iterable[tuple[BaseBatchFileEncoding, list[str]]]:
        """The segment's rows in gzipped JSON-lines files of at most `batch_size` records, in
        this run's folder (batches.py); the SDK's batcher where a stream map changes records."""
        if not self.writes_unchanged_records(batching=True):
            yield from super().get_batches(batch_config, context)
            return
        run = self.batch_run(batch_config)
        with self.segment_records(context) as records:
            name = f"{self.name}-{context['segment_id']}"
            for url, count in run.write(records, name=name, batch_size=batch_config.batch_size):
                self.summary.count(self.name, records=count)
                yield batch_config.encoding, [url]

    def batch_run(self, batch_config: BatchConfig) -> BatchRun:
        """This run's folder of batch files; the first time, earlier runs' folders go."""
        state = self.sibling(ReportInstances).stream_state
        return self.runtime.batch_run(batch_config.storage, state)

    @contextlib.contextmanager
    def segment_records(self, context: dict[str, Any]) -> Iterator[Iterator[dict[str, Any]]]:
        """The records of the segment's file, once it has downloaded whole and verified; a
        problem with the file is one error line naming it."""
        read_ahead = read_ahead_of(self, context)

        def fetch() -> tuple[Path, int]:
            return self.download(context, self.listed_file(context))

        try:
            path, size = fetch() if read_ahead is None else read_ahead.file(context, fetch)
        except DownloadProblem as exc:
            raise SourceError(
                f"appstore: download of {where(context)} failed: {exc}, still after "
                f"{self.retry_policy.max_tries} tries"
            ) from None
        except (DownloadRefused, MalformedFile) as exc:
            raise SourceError(f"appstore: {where(context)}: {exc}") from None
        try:
            self.summary.count(self.name, files=1, bytes=size)
            yield self.file_records(path, context)
        except (MalformedFile, BadValue) as exc:
            raise SourceError(f"appstore: {where(context)}: {exc}") from None
        finally:
            path.unlink(missing_ok=True)

    def writes_unchanged_records(self, *, batching: bool = False) -> bool:
        """Whether the SDK would write (or batch) each record as it is: no stream map,
        flattening, deselected property, record limit or version changes it."""
        maps = self.stream_maps
        properties = self.schema.get("properties", {})
        return (
            self.FAST_PATH
            and isinstance(self._tap.message_writer, SingerOutput)
            and self.selected
            and self.ABORT_AT_RECORD_COUNT is None
            and not self.emit_activate_version_messages
            and (batching or self.get_batch_config(self.config) is None)
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and not maps[0].flattening_enabled
            and all(self.mask[("properties", name)] for name in properties)
        )

    def file_records(self, path: Path, context: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The records of a verified file, each Date's rows counted for appstore_report_dates."""
        rows = read_rows(path)
        header = next(rows, None)
        if header is None:
            return
        plan = self.plan(header, context)
        dates = self.dates_stream.counter(context["instance_id"])
        for values in self.runtime.progress.rows(self.logger, context, rows):
            record = plan.record(values)
            if dates is not None:
                dates[record.get("date")] += 1
            yield record

    def plan(self, header: list[str], context: dict[str, Any]) -> RowPlan:
        """How this file's rows become records of this stream."""
        raise NotImplementedError

    def warn_once(self, report_name: str, column: str, message: str, *args: Any) -> None:
        """Log a warning about a report's column (or the report, column "") once per run, and
        only the first MAX_COLUMN_WARNINGS of a stream one by one."""
        if (report_name, column) in self._reported:
            return
        self._reported.add((report_name, column))
        if len(self._reported) <= MAX_COLUMN_WARNINGS:
            self.logger.warning(message, *args)
        elif len(self._reported) == MAX_COLUMN_WARNINGS + 1:
            self.logger.warning(
                "%s: more unknown columns than %d; kept in extra_columns without a line each",
                self.name,
                MAX_COLUMN_WARNINGS,
            )

    def row_key(self, header: list[str], context: dict[str, Any]) -> Callable[[Any], str]:
        """The row key of this file's rows."""
        return row_key_of(
            header,
            app_id=context["app_id"],
            report_name=context["report_name"],
            granularity=context["granularity"],
        )

    def download(self, context: dict[str, Any], segment: SegmentFile) -> tuple[Path, int]:
        """The segment's file downloaded and verified: (path, bytes). A worker may call this
        ahead of the sync."""
        policy = self.retry_policy

        def on_retry(problem: str, number: int, wait: float) -> None:
            self.summary.count(self.name, retries=1)
            self.logger.warning(
                "appstore: %s: %s, retry %d of %d in %.1f s",
                where(context),
                problem,
                number,
                policy.max_tries - 1,
                wait,
            )

        path = self.runtime.scratch / f"{context['segment_id']}-{uuid.uuid4().hex}.gz"
        size = download_verified(
            self.download_session,
            segment=segment,
            refresh=for_context(context, partial(self.fresh_file, context)),
            policy=policy,
            timeout=self.timeout,
            on_retry=on_retry,
            path=path,
        )
        return path, size

    def lineage(self, context: dict[str, Any]) -> dict[str, Any]:
        """What every record of the file says about where it came from."""
        return {
            "app_id": context["app_id"],
            "report_id": context["report_id"],
            "granularity": context["granularity"],
            "processing_date": context["processing_date"],
            "instance_id": context["instance_id"],
            "segment_id": context["segment_id"],
        }


def _without_authorization(request: requests.PreparedRequest) -> requests.PreparedRequest:
    request.headers.pop("Authorization", None)
    return request


class KnownReportRows(ReportRows):
    """Typed rows of one catalogue report; columns it does not know are kept aside."""

    report: Report

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._converters: dict[str, Converter] = {
            field.column: converter(field.column, field.type) for field in self.report.fields
        }

    @override
    def plan(self, header: list[str], context: dict[str, Any]) -> RowPlan:
        """Columns by header name, typed by the catalogue; unknown ones in `extra_columns`."""
        report = self.report
        if not header_matches(report, header):
            raise foreign_header(header)
        plan = RowPlan(
            header,
            columns=self._converters,
            metadata=self.lineage(context),
            row_key=self.row_key(header, context),
            date=report.date_column,
        )
        for column in plan.unknown_columns:
            self.warn_once(
                report.name,
                column,
                "%s: report '%s' column '%s' is not in the schema; kept in extra_columns, %s",
                self.name,
                report.name,
                column[:80],
                "part of the row key" if joins_key(report, column) else "not part of the row key",
            )
        return plan


def converter(column: str, kind: str) -> Converter:
    """How a column of that catalogue type is read."""
    if kind == "integer":
        return as_integer(column)
    if kind == "number":
        return as_number(column)
    if kind == "date":
        return as_date(column)
    return as_text


class GenericReportRows(ReportRows):
    """Rows of any report the catalogue does not know, each kept whole as an object of its
    columns."""

    name = GENERIC_ROWS_STREAM

    @override
    def plan(self, header: list[str], context: dict[str, Any]) -> RowPlan:
        """The row's columns (snake case, as text) with its report and date."""
        self.warn_once(
            context["report_name"],
            "",
            "%s: report '%s' is not in the tap's catalogue; its rows land here untyped, keyed "
            "by every column that is not a known measure",
            self.name,
            context["report_name"],
        )
        return RowPlan(
            header,
            columns=None,
            metadata={**self.lineage(context), "report_name": context["report_name"]},
            row_key=self.row_key(header, context),
        )


def report_rows_streams() -> list[type[KnownReportRows]]:
    """One stream class per catalogue report."""
    return [
        type(
            f"{''.join(w.capitalize() for w in report.stream.split('_'))}Rows",
            (KnownReportRows,),
            {"name": report.stream, "report": report},
        )
        for report in catalogue()
    ]
