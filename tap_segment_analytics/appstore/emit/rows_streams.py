"""Rows of report files: a stream per catalogue report, plus a generic one for reports the
catalogue does not know. Each reads the segment file the plan hands it (downloaded ahead, or
now), verified whole before its first row."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_segment_analytics.appstore.api.values import NotServed
from tap_segment_analytics.appstore.emit.base import AppStoreStream
from tap_segment_analytics.appstore.emit.segments_stream import ReportSegments
from tap_segment_analytics.appstore.fetch.downloads import where
from tap_segment_analytics.appstore.fetch.report_files import (
    DownloadProblem,
    DownloadRefused,
    MalformedFile,
    ReportText,
    foreign_header,
)
from tap_segment_analytics.appstore.fetch.row_plan import (
    BadValues,
    Converter,
    OddRow,
    RowPlan,
    as_date,
    as_integer,
    as_number,
    as_text,
    row_key_of,
)
from tap_segment_analytics.appstore.plan.app_plan import BAD_VALUES_FAIL
from tap_segment_analytics.appstore.reports import (
    GENERIC_ROWS_STREAM,
    Report,
    catalogue,
    documented_header,
    header_matches,
    joins_key,
)
from tap_segment_analytics.batch_files import BatchRun
from tap_segment_analytics.errors import SourceError
from tap_segment_analytics.sdk.streams import BaseBatchFileEncoding, BatchConfig
from tap_segment_analytics.singer_output import SingerOutput

# Unknown columns logged one by one per rows stream and run: a header of a million columns
# must not log a million lines.
MAX_COLUMN_WARNINGS = 20


class ReportRows(AppStoreStream):
    """Rows of report files: one stream per known report, plus a generic one."""

    # The row plan already gives every value its schema type; the SDK's recursive conformance
    # pass took about a third of the time per row (benchmarks/report_rows.py).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    # Whether records the SDK would write unchanged go out through `SingerOutput.write_records`
    # (tests/test_row_fast_path.py turns it off to compare).
    FAST_PATH = True
    BATCHES = True

    primary_keys = ("row_key",)
    parent_stream_type = ReportSegments
    state_partitioning_keys: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Unknown columns (and reports) this stream has logged.
        self._reported: set[tuple[str, str]] = set()

    @override
    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        """The rows of the segment's file, once it has downloaded whole and verified."""
        with self.segment_records(context) as records:
            if self.writes_unchanged_records():
                # The fast path: the SDK's record path (a selection pass, a conformance pass,
                # a message object and a write per record) would write these very lines; it
                # took 45% of the CPU per row (benchmarks/report_rows.py).
                output = self.runtime.output
                assert isinstance(output, SingerOutput)
                if output.write_records(self.name, records, datetime.now(timezone.utc)):
                    self.records_written()
            else:
                yield from records

    @override
    def get_batches(
        self, batch_config: BatchConfig, context: Any = None
    ) -> Iterable[tuple[BaseBatchFileEncoding, list[str]]]:
        """The segment's rows in gzipped JSON-lines files of at most `batch_size` records, in
        this run's folder (batch_files.py); the SDK's batcher where a stream map changes records."""
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
        state = self.runtime.plan.bookmarks.stream_state()
        return self.runtime.batch_run(batch_config.storage, state)

    @contextlib.contextmanager
    def segment_records(self, context: dict[str, Any]) -> Iterator[Iterator[dict[str, Any]]]:
        """The records of the segment's file, once it has downloaded whole and verified; a
        problem with the file is one error line naming it."""
        app = self.runtime.plan.app(context["app_id"])
        try:
            path, size = self.runtime.fetch(context["app_id"]).file(context)
        except NotServed as exc:
            app.not_served(context, exc, "segment")
            yield iter(())
            return
        except DownloadProblem as exc:
            raise SourceError(
                f"appstore: download of {where(context)} failed: {exc}, still after "
                f"{self.runtime.client.policy.max_tries} tries"
            ) from None
        except (DownloadRefused, MalformedFile) as exc:
            raise SourceError(f"appstore: {where(context)}: {exc}") from None
        try:
            self.summary.count(self.name, files=1, bytes=size)
            yield self.file_records(path, context)
        except MalformedFile as exc:
            raise SourceError(f"appstore: {where(context)}: {exc}") from None
        except OddRow as exc:
            raise SourceError(
                f"appstore: {where(context)}: {exc} (on_bad_value is {BAD_VALUES_FAIL})"
            ) from None
        finally:
            path.unlink(missing_ok=True)

    @override
    def writes_unchanged_records(self, *, batching: bool = False) -> bool:
        """Whether the fast path may write this stream's records: the SDK would write them
        unchanged, to the tap's own output."""
        return (
            self.FAST_PATH
            and isinstance(self.runtime.output, SingerOutput)
            and super().writes_unchanged_records(batching=batching)
        )

    def file_records(self, path: Path, context: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The records of a verified file, each Date's rows counted for appstore_report_dates;
        then one warning line if any value or row did not fit (BadValues)."""
        with ReportText(path) as text:
            if not text.header:
                return
            keep = self.runtime.plan.settings.keep_bad_values
            bad = BadValues(lambda: text.line, keep=keep)
            plan = self.plan(text.header, context, bad=bad, delimiter=text.delimiter)
            dates = self.runtime.plan.app(context["app_id"]).row_dates(context["instance_id"])
            for values in self.runtime.progress.rows(self.logger, context, text.rows()):
                record = plan.record(values)
                if dates is not None:
                    dates[record.get("date")] += 1
                yield record
        if (warning := bad.warning()) is not None:
            self.summary.count(self.name, bad_values=bad.values_count, bad_rows=bad.rows_count)
            self.logger.warning("appstore: %s: %s", where(context), warning)

    def plan(
        self, header: list[str], context: dict[str, Any], *, bad: BadValues, delimiter: str
    ) -> RowPlan:
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


class KnownReportRows(ReportRows):
    """Typed rows of one catalogue report; columns it does not know are kept aside."""

    report: Report

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._converters: dict[str, Converter] = {
            field.column: converter(field.column, field.type) for field in self.report.fields
        }

    @override
    def plan(
        self, header: list[str], context: dict[str, Any], *, bad: BadValues, delimiter: str
    ) -> RowPlan:
        """Columns by header name (a live name the catalogue knows as an alias by the
        documented one), typed by the catalogue; unknown ones in `extra_columns`."""
        report = self.report
        if not header_matches(report, header):
            raise foreign_header(header)
        header = documented_header(report, header)
        plan = RowPlan(
            header,
            columns=self._converters,
            metadata=self.lineage(context),
            row_key=self.row_key(header, context),
            date=report.date_column,
            bad=bad,
            delimiter=delimiter,
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
    def plan(
        self, header: list[str], context: dict[str, Any], *, bad: BadValues, delimiter: str
    ) -> RowPlan:
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
            bad=bad,
            delimiter=delimiter,
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
