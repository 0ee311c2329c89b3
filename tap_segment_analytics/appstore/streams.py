"""App Store Connect streams: report requests → reports → instances → segments → rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from singer_sdk.exceptions import AbortedSyncFailedException, AbortedSyncPausedException
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_segment_analytics import progress
from tap_segment_analytics.appstore.client import AppStoreStream, api_errors
from tap_segment_analytics.appstore.report_files import (
    BadFile,
    MalformedFile,
    SegmentFile,
    URLExpired,
    downloaded,
    read_rows,
)
from tap_segment_analytics.appstore.reports import (
    DATE_COLUMN,
    GENERIC_ROWS_STREAM,
    KNOWN_REPORTS,
    describe_names,
    known_columns,
    row_key,
    rows_stream_name,
    snake_case,
)
from tap_segment_analytics.errors import SourceError
from tap_segment_analytics.run_summary import summary

ONGOING = "ONGOING"
DOWNLOAD_TRIES = 3


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

    @property
    def partitions(self) -> list[dict[str, Any]]:
        """One partition per configured app."""
        return [{"app_id": str(app_id)} for app_id in self.config["appstore_app_ids"]]

    def post_process(self, row: dict, context: Any = None) -> dict:
        """Flat record with the app id."""
        return {**row, "app_id": context["app_id"]}

    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The app's requests; warns about stopped ones and creates one when needed and allowed."""
        records = list(super().get_records(context))
        app_id = context["app_id"]
        for record in records:
            if record.get("stopped_due_to_inactivity"):
                self.logger.warning(
                    "appstore: report request %s of app %s was stopped due to inactivity and "
                    "produces no new reports%s",
                    record["id"],
                    app_id,
                    ""
                    if self.config.get("appstore_create_report_requests")
                    else "; set appstore_create_report_requests to create a new one",
                )
        active = [
            r
            for r in records
            if r.get("access_type") == ONGOING and not r.get("stopped_due_to_inactivity")
        ]
        if not active:
            if self.config.get("appstore_create_report_requests"):
                self.create_ongoing_request(app_id)
                records = list(super().get_records(context))
            else:
                self.logger.warning(
                    "appstore: app %s has no active ONGOING report request; create one in App "
                    "Store Connect or set appstore_create_report_requests (Admin role)",
                    app_id,
                )
        yield from records

    def create_ongoing_request(self, app_id: str) -> None:
        """POST an ONGOING request; a 409 means one exists already (a race): list again."""
        body = {
            "data": {
                "type": "analyticsReportRequests",
                "attributes": {"accessType": ONGOING},
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
        if response.status_code == HTTPStatus.CONFLICT:
            self.logger.info(
                "appstore: app %s already has an ONGOING report request (409: %s)",
                app_id,
                api_errors(response),
            )
        else:
            self.logger.warning(
                "appstore: created an ONGOING report request for app %s; Apple makes its first "
                "reports within 24 to 48 hours",
                app_id,
            )

    def get_child_context(self, record: dict, context: Any) -> dict[str, Any]:
        """The request whose reports to list."""
        return {"app_id": record["app_id"], "request_id": record["id"]}


class Reports(AppStoreStream):
    """The reports of each request, narrowed to the configured names and categories."""

    name = "appstore_reports"
    path = "/v1/analyticsReportRequests/{request_id}/reports"
    primary_keys = ("id",)
    parent_stream_type = ReportRequests
    state_partitioning_keys: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The reports of this run by id, for the instances stream (its context holds the id).
        self.listed: dict[str, dict[str, Any]] = {}

    def post_process(self, row: dict, context: Any = None) -> dict:
        """Flat record with the request and app ids."""
        record = {**row, "request_id": context["request_id"], "app_id": context["app_id"]}
        self.listed[record["id"]] = record
        return record

    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The wanted reports; a configured name the API does not list is an error."""
        reports = list(super().get_records(context))
        names = {r["name"] for r in reports}
        wanted_names = set(self.config.get("appstore_report_names") or [])
        categories = set(self.config.get("appstore_report_categories") or [])
        if not reports:
            self.logger.warning(
                "appstore: report request %s of app %s lists no reports yet (new requests "
                "take 24 to 48 hours)",
                context["request_id"],
                context["app_id"],
            )
        elif missing := wanted_names - names:
            raise SourceError(
                f"appstore_report_names: {describe_names(missing)} not listed for app "
                f"{context['app_id']}; the API lists {describe_names(names)}"
            )
        for report in reports:
            if wanted_names and report["name"] not in wanted_names:
                continue
            if categories and report.get("category") not in categories:
                continue
            yield report

    def generate_child_contexts(self, record: dict, context: Any) -> Iterable[dict[str, Any]]:
        """One context per configured granularity, exactly the instances' state partition, so
        the SDK finalizes each bookmark as soon as that report and granularity are done."""
        for granularity in self.config.get("appstore_granularities") or ["DAILY"]:
            yield {"report_id": record["id"], "granularity": granularity}


class ReportInstances(AppStoreStream):
    """Report instances, oldest first; later runs read only instances not read before."""

    name = "appstore_report_instances"
    path = "/v1/analyticsReports/{report_id}/instances"
    primary_keys = ("id",)
    replication_key = "processing_date"
    parent_stream_type = Reports
    state_partitioning_keys = ("report_id", "granularity")
    # The child context is exactly this partition, so the SDK finalizes the bookmark when a
    # report and granularity are done: an interrupted run keeps every partition it finished.

    def get_url_params(self, context: Any, next_page_token: Any) -> dict[str, Any]:
        """One granularity per partition."""
        return {
            **super().get_url_params(context, next_page_token),
            "filter[granularity]": context["granularity"],
        }

    def post_process(self, row: dict, context: Any = None) -> dict:
        """Flat record with report and app ids."""
        reports = self._tap.streams[Reports.name]
        assert isinstance(reports, Reports)
        report = reports.listed[context["report_id"]]
        return {
            **row,
            "app_id": report["app_id"],
            "report_id": report["id"],
            "report_name": report["name"],
            "granularity": context["granularity"],
        }

    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """New instances since the bookmark (and from `start_date`), oldest first."""
        bookmark = self.get_starting_replication_key_value(context)
        start_date = date.fromisoformat(str(self.config["start_date"])[:10]).isoformat()
        instances = [
            i
            for i in super().get_records(context)
            if i["processing_date"] >= start_date
            and (bookmark is None or i["processing_date"] > str(bookmark))
        ]
        # The API's order is not documented; oldest first makes the newest restatement win.
        ordered = sorted(instances, key=lambda i: (i["processing_date"], i["id"]))
        yield from progress.report_files.instances(ordered)

    def get_child_context(self, record: dict, context: Any) -> dict[str, Any]:
        """The instance whose segments to read."""
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

    def post_process(self, row: dict, context: Any = None) -> dict:
        """Flat record with the ids of its instance, report and app; URL without credentials."""
        record = {**row, **context}
        record["url"] = strip_query(record.get("url"))
        return record

    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The instance's segments (a few): how many there are is known to the progress line."""
        yield from progress.report_files.files(list(super().get_records(context)))

    def get_child_context(self, record: dict, context: Any) -> dict[str, Any]:
        """The segment whose file to read (its URL is fetched fresh by the rows stream)."""
        return {**context, "segment_id": record["id"]}

    def _sync_children(self, child_context: Any) -> None:
        # Overrides the SDK, which hands every child context to every child stream: a
        # segment's rows belong to exactly one report stream, and a sync of each of the
        # others would only emit an empty SCHEMA message per segment.
        if child_context is None:
            return
        target = rows_stream_name(child_context["report_name"])
        for child in self.child_streams:
            if child.name == target and child.selected:
                try:
                    child.sync(context=child_context)
                except (AbortedSyncFailedException, AbortedSyncPausedException):
                    continue


class ReportRows(AppStoreStream):
    """Rows of report files: one stream per known report, plus a generic one."""

    # `to_record` already gives every value its schema type; the SDK's recursive conformance
    # pass took about a third of the time per row (benchmarks/report_rows.py).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    path = "/v1/analyticsReportSegments/{segment_id}"
    primary_keys = ("row_key",)
    parent_stream_type = ReportSegments
    state_partitioning_keys: tuple[str, ...] = ()
    records_jsonpath = "$.data"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._download_session = requests.Session()
        # No Authorization header ever goes to S3, not even one from ~/.netrc.
        self._download_session.auth = _without_authorization
        self._reported_columns: set[str] = set()

    def get_new_paginator(self) -> None:  # type: ignore[override]
        """One segment per request."""
        return None

    def get_url_params(self, context: Any, next_page_token: Any) -> dict[str, Any]:
        """Only the fields needed to download."""
        return {"fields[analyticsReportSegments]": "checksum,sizeInBytes,url"}

    def segment_file(self, context: dict[str, Any]) -> SegmentFile:
        """A fresh presigned URL with the checksum and size to verify against."""
        for item in super().get_records(context):
            if not item.get("url"):
                break
            size = item.get("size_in_bytes")
            return SegmentFile(
                url=item["url"],
                checksum=str(item.get("checksum") or ""),
                size_in_bytes=int(size) if size is not None else None,
            )
        raise SourceError(f"App Store Connect sent no download url on {self.describe()}")

    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The segment file's rows; an expired URL is refreshed once, a bad file retried."""
        where = (
            f"report '{context['report_name']}' instance {context['instance_id']} "
            f"segment {context['segment_id']}"
        )
        expired = 0
        problem = ""
        for attempt in range(1, DOWNLOAD_TRIES + 1):
            segment = self.segment_file(context)
            try:
                with downloaded(self._download_session, segment, self.timeout) as path:
                    summary.count(self.name, files=1, bytes=path.stat().st_size)
                    for row in progress.report_files.rows(self.logger, context, read_rows(path)):
                        yield self.to_record(row, context)
                return
            except URLExpired:
                expired += 1
                if expired > 1:
                    raise SourceError(
                        f"{where}: the download URL was refused (403) again after a refresh"
                    ) from None
                self.logger.info("appstore: %s: download URL expired, fetching a fresh one", where)
            except MalformedFile as exc:
                raise SourceError(f"{where}: {exc}") from None
            except BadFile as exc:
                problem = str(exc)
                self.logger.warning(
                    "appstore: %s: %s (try %d of %d)", where, problem, attempt, DOWNLOAD_TRIES
                )
        raise SourceError(f"{where}: {problem} after {DOWNLOAD_TRIES} tries")

    def row_metadata(self, row: dict[str, str], context: dict[str, Any]) -> dict[str, Any]:
        """Where a row came from, and its key."""
        return {
            "row_key": row_key(
                app_id=context["app_id"],
                report_name=context["report_name"],
                granularity=context["granularity"],
                row=row,
            ),
            "app_id": context["app_id"],
            "report_id": context["report_id"],
            "granularity": context["granularity"],
            "processing_date": context["processing_date"],
            "instance_id": context["instance_id"],
            "segment_id": context["segment_id"],
        }

    def to_record(self, row: dict[str, str], context: dict[str, Any]) -> dict[str, Any]:
        """One record of this stream's shape."""
        raise NotImplementedError


def _without_authorization(request: requests.PreparedRequest) -> requests.PreparedRequest:
    request.headers.pop("Authorization", None)
    return request


class KnownReportRows(ReportRows):
    """Typed rows of a report whose columns the tap knows; unknown columns are kept aside."""

    report_name: str = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        properties = self.schema["properties"]
        self._columns = known_columns(self.schema)
        self._numbers = {
            name for name, prop in properties.items() if {"number", "integer"} & set(_types(prop))
        }
        self._dates = {n for n, p in properties.items() if p.get("format") == "date"}

    def to_record(self, row: dict[str, str], context: dict[str, Any]) -> dict[str, Any]:
        """Columns by header name, typed by the schema; unknown ones in `extra_columns`."""
        record: dict[str, Any] = {}
        extras: dict[str, str] = {}
        for header, raw in row.items():
            column = snake_case(header)
            if column not in self._columns:
                extras[column] = raw
                if column not in self._reported_columns:
                    self._reported_columns.add(column)
                    self.logger.warning(
                        "%s: column '%s' is not in the schema; kept in extra_columns",
                        self.name,
                        header,
                    )
                continue
            record[column] = self.typed(column, raw)
        record.update(self.row_metadata(row, context))
        record["extra_columns"] = extras or None
        return record

    def typed(self, column: str, raw: str) -> Any:
        """A value as its schema type: numbers as numbers, dates as dates, "" as null."""
        value = raw.strip()
        if value == "":
            return None
        if column in self._numbers:
            try:
                return int(value)
            except ValueError:
                try:
                    return float(value.replace(",", ""))
                except ValueError:
                    raise SourceError(
                        f"{self.name}: column '{column}' holds '{value}', not a number"
                    ) from None
        if column in self._dates:
            return value[:10]
        return value


def _types(prop: dict[str, Any]) -> list[str]:
    kind = prop.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)


class GenericReportRows(ReportRows):
    """Rows of any other report, each kept whole as an object of its columns."""

    name = GENERIC_ROWS_STREAM

    def to_record(self, row: dict[str, str], context: dict[str, Any]) -> dict[str, Any]:
        """The row's columns (snake case, as text) with its report and date."""
        return {
            **self.row_metadata(row, context),
            "report_name": context["report_name"],
            "date": (row.get(DATE_COLUMN) or "")[:10] or None,
            "row": {snake_case(k): v for k, v in row.items()},
        }


def known_report_streams() -> list[type[KnownReportRows]]:
    """One stream class per known report."""
    return [
        type(
            f"{''.join(w.capitalize() for w in snake_case(name).split('_'))}Rows",
            (KnownReportRows,),
            {"name": rows_stream_name(name), "report_name": name},
        )
        for name in KNOWN_REPORTS
    ]
