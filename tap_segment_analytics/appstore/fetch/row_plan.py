"""How the rows of one report file become records: planned once per file from its header (the
column order changes between files), then applied to every row.

Per row, a plan does no name lookups, no sorting and no per-column decisions: each column's
record key and converter, and the row key's material around the key columns' values, are fixed
when the header is read. The row key is byte for byte `reports.row_key` of the same row
(tests/test_row_plan.py checks both on random rows).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

from tap_segment_analytics.appstore.reports import (
    DATE_COLUMN,
    documented_header,
    joins_key,
    key_name,
    report_named,
    snake_case,
)

Converter = Callable[[str], Any]


class BadValue(ValueError):
    """A column holds a value its type does not allow."""

    def __init__(self, column: str, value: str, expected: str) -> None:
        super().__init__(f"column '{column}' holds '{value[:SHOWN_CHARS]}', not {expected}")
        self.value = value
        self.expected = expected


class OddRow(ValueError):
    """A row (or a value) a file holds that the tap keeps only when told to (on_bad_value)."""


# How much of an odd value a message shows.
SHOWN_CHARS = 40
# Where a long row's surplus fields go in extra_columns (no header name is snake-cased to it).
EXTRA_FIELDS = "_extra_fields"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATES_REMEMBERED = 4096
_UNCHECKED = ""  # not a value `convert` returns (it returns None for an empty date)


def as_number(column: str) -> Converter:
    """A number measure: an int, else a float (thousands separators dropped); "" is null."""

    def convert(raw: str) -> Any:
        value = raw.strip()
        if not value:
            return None
        try:
            return int(value)
        except ValueError:
            try:
                return float(value.replace(",", ""))
            except ValueError:
                raise BadValue(column, value, "a number") from None

    return convert


def as_integer(column: str) -> Converter:
    """An integer measure (thousands separators dropped; `12.0` is 12); "" is null."""

    def convert(raw: str) -> Any:
        value = raw.strip()
        if not value:
            return None
        try:
            return int(value)
        except ValueError:
            try:
                number = float(value.replace(",", ""))
            except ValueError:
                number = float("nan")
            if not number.is_integer():
                raise BadValue(column, value, "an integer") from None
            return int(number)

    return convert


def as_date(column: str) -> Converter:
    """A date column: YYYY-MM-DD (a time after it is dropped); "" is null."""
    # A file holds few distinct dates: each is checked once.
    checked: dict[str, str | None] = {}

    def convert(raw: str) -> str | None:
        value = checked.get(raw, _UNCHECKED)
        if value is not _UNCHECKED:
            return value
        value = raw.strip()[:10] or None
        if value is not None and not _ISO_DATE.fullmatch(value):
            raise BadValue(column, raw.strip(), "a YYYY-MM-DD date")
        if len(checked) < _DATES_REMEMBERED:
            checked[raw] = value
        return value

    return convert


def as_text(raw: str) -> str | None:
    """A dimension: stripped; "" is null."""
    return raw.strip() or None


def row_key_of(
    header: Sequence[str], *, app_id: str, report_name: str, granularity: str
) -> Callable[[Sequence[str]], str]:
    """`reports.row_key` for rows of this header, given as lists of values."""
    report = report_named(report_name)
    if report is not None:
        header = documented_header(report, header)
    # A repeated column name keeps its last value, as a dict of the row would.
    last = {name: index for index, name in enumerate(header)}
    dimensions = sorted((name, index) for name, index in last.items() if joins_key(report, name))
    material = [app_id, key_name(report_name), granularity]
    prefix = json.dumps(material, separators=(",", ":"))[:-1] + ",["
    parts = [(index, f"[{encode_basestring_ascii(name)},") for name, index in dimensions]

    def key(values: Sequence[str]) -> str:
        material = ",".join(part + encode_basestring_ascii(values[i]) + "]" for i, part in parts)
        return hashlib.sha256(f"{prefix}{material}]]".encode()).hexdigest()

    return key


@dataclass
class Example:
    """How often a file held one kind of odd value or row, and where first."""

    count: int
    line: int
    shown: str


class BadValues:
    """The values and rows of one file that do not fit its columns: each value that is not its
    column's type (kept as written in extra_columns, the typed column null), each row shorter
    than the header (the missing fields null) or longer (the surplus kept in extra_columns),
    counted for one warning line. With `keep` off, the first is an OddRow naming its line and
    column instead.

    `line()` is the line the row in hand ends on.
    """

    def __init__(self, line: Callable[[], int] = lambda: 0, *, keep: bool = True) -> None:
        self.line = line
        self.keep = keep
        self.columns: dict[str, Example] = {}  # by header name
        self.rows: dict[str, Example] = {}  # "short" and "long"

    @property
    def values_count(self) -> int:
        """Values kept aside."""
        return sum(example.count for example in self.columns.values())

    @property
    def rows_count(self) -> int:
        """Rows shorter or longer than the header."""
        return sum(example.count for example in self.rows.values())

    def value(self, column: str, problem: BadValue) -> None:
        """A value of `column` (a header name) that is not its type."""
        shown = shown_value(problem.value)
        if not self.keep:
            raise OddRow(
                f"line {self.line()}, column '{column}' holds '{shown}', not {problem.expected}"
            )
        self._count(self.columns, column, shown)

    def row(self, fields: int, columns: Sequence[str]) -> None:
        """A row of `fields` fields under a header of these columns."""
        width = len(columns)
        shown = f"{fields} fields for {width} columns"
        if not self.keep:
            missing = f" (no '{columns[fields]}')" if fields < width else ""
            raise OddRow(f"line {self.line()} has {shown}{missing}")
        self._count(self.rows, "short" if fields < width else "long", shown)

    def _count(self, kinds: dict[str, Example], kind: str, shown: str) -> None:
        example = kinds.get(kind)
        if example is None:
            kinds[kind] = Example(1, self.line(), shown)
        else:
            example.count += 1

    def warning(self) -> str | None:
        """What the file held, in one line (None when nothing)."""
        parts = []
        if self.columns:
            described = ", ".join(
                f"'{column}' {e.count} (e.g. '{e.shown}' on line {e.line})"
                for column, e in self.columns.items()
            )
            parts.append(
                f"{counted(self.values_count, 'value')} not of the column's type, null in the "
                f"column and kept as written in extra_columns: {described}"
            )
        short, long = self.rows.get("short"), self.rows.get("long")
        if short:
            parts.append(
                f"{counted(short.count, 'row')} shorter than the header, the missing fields "
                f"null (e.g. line {short.line}: {short.shown})"
            )
        if long:
            parts.append(
                f"{counted(long.count, 'row')} longer than the header, the surplus fields kept "
                f"in extra_columns '{EXTRA_FIELDS}' (e.g. line {long.line}: {long.shown})"
            )
        return "; ".join(parts) or None


def counted(count: int, noun: str) -> str:
    """`1 value`, `2 values`."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def shown_value(value: str) -> str:
    """A value as a message shows it: at most SHOWN_CHARS characters, on one line."""
    shown = value[:SHOWN_CHARS] + ("..." if len(value) > SHOWN_CHARS else "")
    return shown.replace("\n", "\\n").replace("\t", "\\t")


class RowPlan:
    """Turns the value lists of one file's rows into records of one stream's shape.

    `columns` maps the stream's known columns (snake case) to converters; None keeps every
    column as text under `row` (the generic stream). `metadata` goes into every record, and
    `date` is the report's Date column (its value is also the record's `date`). Values and rows
    that do not fit go to `bad` (BadValues); the surplus of a long row is joined by `delimiter`.
    """

    def __init__(
        self,
        header: Sequence[str],
        *,
        columns: Mapping[str, Converter] | None,
        metadata: dict[str, Any],
        row_key: Callable[[Sequence[str]], str],
        date: str = DATE_COLUMN,
        bad: BadValues | None = None,
        delimiter: str = "\t",
    ) -> None:
        self.header = list(header)
        self.width = len(self.header)
        self.names = [snake_case(name) for name in header]
        self.columns = columns
        self.metadata = metadata
        self.row_key = row_key
        self.bad = bad or BadValues()
        self.delimiter = delimiter
        if columns is None:
            self.typed: list[tuple[int, str, Converter]] = []
            self.unknown: list[tuple[int, str]] = list(enumerate(self.names))
        else:
            self.typed = [(i, n, columns[n]) for i, n in enumerate(self.names) if n in columns]
            self.unknown = [(i, n) for i, n in enumerate(self.names) if n not in columns]
        date_index = [i for i, name in enumerate(header) if name == date]
        self.date_index = date_index[-1] if date_index else None
        # A report whose Date has another name also gets it as `date`.
        self.date_alias = snake_case(date) if date != DATE_COLUMN and columns else None

    @property
    def unknown_columns(self) -> list[str]:
        """Header names the stream's schema does not know (for a typed stream)."""
        return [] if self.columns is None else [self.header[i] for i, _ in self.unknown]

    def record(self, values: Sequence[str]) -> dict[str, Any]:
        """The record of one row."""
        if len(values) != self.width:
            return self.odd_record(values)
        key = {"row_key": self.row_key(values)}
        if self.columns is None:
            date = values[self.date_index][:10] if self.date_index is not None else ""
            return {
                **key,
                **self.metadata,
                "date": date or None,
                "row": {name: values[i] for i, name in self.unknown},
            }
        try:
            record = {name: convert(values[i]) for i, name, convert in self.typed}
        except BadValue:
            return self.kept_record(values)
        record |= key
        record |= self.metadata
        record["extra_columns"] = {n: values[i] for i, n in self.unknown} or None
        if self.date_alias is not None:
            record["date"] = record.get(self.date_alias)
        return record

    def odd_record(self, values: Sequence[str]) -> dict[str, Any]:
        """The record of a row shorter or longer than the header: the missing fields null, the
        surplus ones joined in extra_columns (or the generic row) under EXTRA_FIELDS."""
        self.bad.row(len(values), self.header)
        width = self.width
        fitted = [*values[:width], *[""] * (width - len(values))]
        if self.columns is None:
            record = self.record(fitted)
            kept = record["row"]
        else:
            record = self.kept_record(fitted)
            kept = record["extra_columns"] = record["extra_columns"] or {}
        kept.update((name, None) for i, name in self.unknown if i >= len(values))
        if len(values) > width:
            kept[EXTRA_FIELDS] = self.delimiter.join(values[width:])
        if self.columns is not None:
            record["extra_columns"] = kept or None
        return record

    def kept_record(self, values: Sequence[str]) -> dict[str, Any]:
        """The record of a typed row, each value that is not its column's type null and kept
        as written in extra_columns."""
        record: dict[str, Any] = {}
        kept: dict[str, str] = {}
        for i, name, convert in self.typed:
            try:
                record[name] = convert(values[i])
            except BadValue as problem:
                self.bad.value(self.header[i], problem)
                record[name] = None
                kept[name] = values[i]
        record["row_key"] = self.row_key(values)
        record |= self.metadata
        record["extra_columns"] = {n: values[i] for i, n in self.unknown} | kept or None
        if self.date_alias is not None:
            record["date"] = record.get(self.date_alias)
        return record
