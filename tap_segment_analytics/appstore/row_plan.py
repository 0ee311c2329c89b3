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
from json.encoder import encode_basestring_ascii
from typing import Any

from tap_segment_analytics.appstore.reports import (
    DATE_COLUMN,
    joins_key,
    key_name,
    report_named,
    snake_case,
)

Converter = Callable[[str], Any]


class BadValue(ValueError):
    """A column holds a value its type does not allow."""

    def __init__(self, column: str, value: str, expected: str) -> None:
        super().__init__(f"column '{column}' holds '{value[:40]}', not {expected}")


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
    # A repeated column name keeps its last value, as a dict of the row would.
    last = {name: index for index, name in enumerate(header)}
    report = report_named(report_name)
    dimensions = sorted((name, index) for name, index in last.items() if joins_key(report, name))
    material = [app_id, key_name(report_name), granularity]
    prefix = json.dumps(material, separators=(",", ":"))[:-1] + ",["
    parts = [(index, f"[{encode_basestring_ascii(name)},") for name, index in dimensions]

    def key(values: Sequence[str]) -> str:
        material = ",".join(part + encode_basestring_ascii(values[i]) + "]" for i, part in parts)
        return hashlib.sha256(f"{prefix}{material}]]".encode()).hexdigest()

    return key


class RowPlan:
    """Turns the value lists of one file's rows into records of one stream's shape.

    `columns` maps the stream's known columns (snake case) to converters; None keeps every
    column as text under `row` (the generic stream). `metadata` goes into every record, and
    `date` is the report's Date column (its value is also the record's `date`).
    """

    def __init__(
        self,
        header: Sequence[str],
        *,
        columns: Mapping[str, Converter] | None,
        metadata: dict[str, Any],
        row_key: Callable[[Sequence[str]], str],
        date: str = DATE_COLUMN,
    ) -> None:
        self.header = list(header)
        self.names = [snake_case(name) for name in header]
        self.columns = columns
        self.metadata = metadata
        self.row_key = row_key
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
        key = {"row_key": self.row_key(values)}
        if self.columns is None:
            date = values[self.date_index][:10] if self.date_index is not None else ""
            return {
                **key,
                **self.metadata,
                "date": date or None,
                "row": {name: values[i] for i, name in self.unknown},
            }
        record = {name: convert(values[i]) for i, name, convert in self.typed}
        record |= key
        record |= self.metadata
        record["extra_columns"] = {n: values[i] for i, n in self.unknown} or None
        if self.date_alias is not None:
            record["date"] = record.get(self.date_alias)
        return record
