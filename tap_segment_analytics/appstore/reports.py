"""What the tap knows about Apple's analytics reports, from the packaged catalogue
(`report_catalogue.json`, made by the sandbox distribution's
`segment_analytics_sandbox/generators/report_catalogue.py`): names and aliases, streams, each
field's type and role, completeness lags, and the row key.

The row key of a row is a SHA-256 of its app, report (an alias gives the report's own name),
granularity and the values of its key columns: the report's Date and dimensions (identifiers
included), never a measure, `Processing Date` or `App Name`. A column the catalogue does not
know for the report joins the key unless the catalogue knows its name as a measure of some
report: Apple adding a dimension must not merge rows, and a restated measure must not make one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path

CATALOGUE_FILE = Path(__file__).with_name("report_catalogue.json")
# In the row but not its identity: the app's name can change, and a file's Processing Date
# (an older transcription listed it) changes with every restatement.
NOT_KEY_COLUMNS = frozenset({"App Name", "Processing Date"})
GENERIC_ROWS_STREAM = "appstore_report_rows"
DATE_COLUMN = "Date"
# Instances of these granularities are complete when Apple makes them (the catalogue's pages:
# "Weekly and monthly reports are complete by default").
COMPLETE_BY_DEFAULT = frozenset({"WEEKLY", "MONTHLY"})


@dataclass(frozen=True)
class Field:
    """One documented column of a report."""

    name: str
    column: str  # snake case: the record's property
    type: str  # integer, number, date or string
    role: str  # measure, dimension or identifier
    key: bool  # whether it joins the row key


@dataclass(frozen=True)
class Report:
    """One report (variant) of Apple's documentation."""

    name: str
    aliases: tuple[str, ...]
    stream: str
    category: str
    granularities: tuple[str, ...]
    completeness_lag_days: int | None
    date_column: str
    fields: tuple[Field, ...]
    # Names live files give documented columns: alias → the documented name.
    header_aliases: Mapping[str, str] = field(default_factory=dict)

    @property
    def fields_by_name(self) -> dict[str, Field]:
        """The fields by header name."""
        return {f.name: f for f in self.fields}

    @property
    def measures(self) -> list[Field]:
        """The report's measures."""
        return [f for f in self.fields if f.role == "measure"]

    @property
    def key_fields(self) -> list[Field]:
        """The fields whose values make a row's identity."""
        return [f for f in self.fields if f.key]


@cache
def snake_case(name: str) -> str:
    """`App Apple Identifier` → `app_apple_identifier`, `Pre-Order` → `pre_order`."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


@cache
def catalogue() -> tuple[Report, ...]:
    """Every report of the packaged catalogue."""
    document = json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))
    return tuple(
        Report(
            name=r["name"],
            aliases=tuple(r["aliases"]),
            stream=r["stream"],
            category=r["category"],
            granularities=tuple(r["granularities"]),
            completeness_lag_days=r["completeness_lag_days"],
            date_column=r["date_column"],
            fields=tuple(
                Field(f["name"], snake_case(f["name"]), f["type"], f["role"], f["key"])
                for f in r["fields"]
            ),
            header_aliases=r["header_aliases"],
        )
        for r in document["reports"]
    )


@cache
def _by_name() -> dict[str, Report]:
    return {name: r for r in catalogue() for name in (r.name, *r.aliases)}


@cache
def known_measures() -> frozenset[str]:
    """Every column name the catalogue knows as a measure of some report."""
    return frozenset(f.name for r in catalogue() for f in r.measures)


def report_named(name: str) -> Report | None:
    """The catalogue's report of that name or alias, if any."""
    return _by_name().get(name)


def rows_stream_name(report_name: str) -> str:
    """The stream a report's rows go to."""
    report = report_named(report_name)
    return report.stream if report else GENERIC_ROWS_STREAM


def joins_key(report: Report | None, column: str) -> bool:
    """Whether a header column's values join the row key (module docstring)."""
    field = report.fields_by_name.get(column) if report else None
    if field is not None:
        return field.key
    return column not in NOT_KEY_COLUMNS and column not in known_measures()


def key_name(report_name: str) -> str:
    """The report name a row key is made of: an alias gives the report's own name."""
    report = report_named(report_name)
    return report.name if report else report_name


def complete_from(report_name: str, granularity: str, day: str) -> str | None:
    """The first processing date whose instance holds the Date complete, by the report's
    completeness lag (None when Apple gives no bound)."""
    if granularity in COMPLETE_BY_DEFAULT:
        return day
    report = report_named(report_name)
    if report is None or report.completeness_lag_days is None:
        return None
    return (date.fromisoformat(day) + timedelta(days=report.completeness_lag_days)).isoformat()


def describe_names(names: Iterable[str]) -> str:
    """A sorted, quoted list for error messages."""
    return ", ".join(f"'{n}'" for n in sorted(names)) or "none"


def header_matches(report: Report, header: Sequence[str]) -> bool:
    """Whether a file's header holds any column the report documents (or an alias of one)."""
    known = report.fields_by_name
    return any(column in known or column in report.header_aliases for column in header)


def documented_header(report: Report, header: Sequence[str]) -> list[str]:
    """The header with each alias the catalogue knows for the report replaced by the
    documented name, unless the header has that name too: an aliased column is the same
    column, typed and keyed as documented."""
    aliases = report.header_aliases
    if not aliases:
        return list(header)
    present = set(header)
    return [
        aliases[name] if name in aliases and aliases[name] not in present else name
        for name in header
    ]
