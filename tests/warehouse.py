"""What a warehouse that upserts by key ends up with, and what it should hold: the fakes' truth.

`Warehouse` loads Singer messages the way target-postgres applies them (one row per stream and
key, the last record wins). The `*_truth` functions say what a correct run lands; the
`*_differences` functions list what is missing, extra or stale, so a failing test says which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from typing_extensions import override

from tap_segment_analytics.appstore.reports import (
    known_measures,
    rows_stream_name,
    snake_case,
)
from tests.fakes import FakeAppStoreConnect, FakeBraze
from tests.row_keys import row_key

Key = tuple[Any, ...]

# Every measure's column name in the report tables.
MEASURES = known_measures()
MEASURE_COLUMNS = frozenset(snake_case(m) for m in MEASURES)


@dataclass
class Warehouse:
    """Tables of records upserted by each stream's key properties."""

    keys: dict[str, list[str]] = field(default_factory=dict)
    tables: dict[str, dict[Key, dict[str, Any]]] = field(default_factory=dict)

    def load(self, messages: Iterable[dict[str, Any]]) -> None:
        """Apply SCHEMA and RECORD messages in order."""
        for message in messages:
            if message["type"] == "SCHEMA":
                self.keys[message["stream"]] = list(message["key_properties"])
            elif message["type"] == "RECORD":
                stream, record = message["stream"], message["record"]
                key = tuple(record[k] for k in self.keys[stream])
                self.tables.setdefault(stream, {})[key] = record

    def table(self, stream: str) -> dict[Key, dict[str, Any]]:
        """A stream's rows by key."""
        return self.tables.get(stream, {})


@dataclass
class Differences:
    """Keys a table lacks, holds in excess, or holds with values other than the truth's."""

    missing: list[Any] = field(default_factory=list)
    extra: list[Any] = field(default_factory=list)
    stale: list[Any] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.extra or self.stale)

    @override
    def __str__(self) -> str:
        return (
            f"{len(self.missing)} missing, {len(self.extra)} extra, {len(self.stale)} stale "
            f"(e.g. {(self.missing + self.extra + self.stale)[:3]})"
        )


def compare(landed: dict[Any, Any], truth: dict[Any, Any]) -> Differences:
    """How `landed` differs from `truth`."""
    return Differences(
        missing=sorted(set(truth) - set(landed), key=str),
        extra=sorted(set(landed) - set(truth), key=str),
        stale=sorted((k for k in truth if k in landed and landed[k] != truth[k]), key=str),
    )


def braze_truth(fake: FakeBraze, start: date) -> dict[Key, int]:
    """(segment, day) → size for every segment whose series the fake serves, from `start` (or
    its creation) to yesterday."""
    truth = {}
    for segment in fake.segments:
        if not fake.serves_series(segment) or segment.archived:
            continue
        day = max(start, segment.created_at.date())
        while day < fake.today:
            truth[segment.id, day.isoformat()] = fake.size_for(segment.id, day)
            day += timedelta(days=1)
    return truth


def braze_differences(warehouse: Warehouse, fake: FakeBraze, start: date) -> Differences:
    """How the landed segment sizes differ from the fake's."""
    landed = {key: r["size"] for key, r in warehouse.table("braze_segment_sizes").items()}
    return compare(landed, braze_truth(fake, start))


def _measures(row: dict[str, str]) -> dict[str, float]:
    return {snake_case(c): float(v) for c, v in row.items() if c in MEASURES and v != ""}


def appstore_truth(
    api: FakeAppStoreConnect,
    app_ids: Iterable[str],
    granularity: str = "DAILY",
    reports: Iterable[str] | None = None,
) -> dict[Key, dict[str, float]]:
    """(stream, row_key) → measures of every row a correct reader keeps (of every report, or
    of `reports`)."""
    truth = {}
    for app_id in app_ids:
        for report in reports or api.report_names(app_id):
            for row in api.truth(app_id, report, granularity):
                key = row_key(app_id=app_id, report_name=report, granularity=granularity, row=row)
                truth[rows_stream_name(report), key] = _measures(row)
    return truth


def is_current(warehouse: Warehouse) -> Callable[[dict[str, Any]], bool]:
    """README's "current rows" view: a row is current when it comes from the newest instance
    that had rows of its Date (appstore_report_dates)."""
    current = {
        (r["instance_id"], r["date"]) for r in warehouse.table("appstore_report_dates").values()
    }
    return lambda record: (record["instance_id"], record.get("date")) in current


def appstore_differences(
    warehouse: Warehouse,
    api: FakeAppStoreConnect,
    app_ids: Iterable[str],
    granularity: str = "DAILY",
    *,
    current_only: bool = False,
    reports: Iterable[str] | None = None,
) -> Differences:
    """How the landed report rows (or only the current ones) differ from the fake's truth."""
    truth = appstore_truth(api, app_ids, granularity, reports)
    current = is_current(warehouse) if current_only else None
    landed = {}
    for stream in {stream for stream, _ in truth}:
        for (key,), record in warehouse.table(stream).items():
            if record["granularity"] != granularity or (current and not current(record)):
                continue
            if "row" in record:
                measures = {
                    c: float(v)
                    for c, v in record["row"].items()
                    if v != "" and c in MEASURE_COLUMNS
                }
            else:
                measures = {
                    c: float(record[c]) for c in MEASURE_COLUMNS if record.get(c) is not None
                }
            landed[stream, key] = measures
    return compare(landed, truth)
