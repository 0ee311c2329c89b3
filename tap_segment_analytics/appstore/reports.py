"""What the tap knows about Apple's analytics reports: names, streams, measures and row keys."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from functools import cache

# Reports with a typed stream of their own; any other report lands in `appstore_report_rows`.
KNOWN_REPORTS = (
    "App Downloads Standard",
    "App Downloads Detailed",
    "App Store Discovery and Engagement Standard",
    "App Store Discovery and Engagement Detailed",
    "App Sessions Standard",
    "App Sessions Detailed",
    "App Store Installation and Deletion Standard",
    "App Store Installation and Deletion Detailed",
    "App Crashes",
    "App Crashes Expanded",
)
GENERIC_ROWS_STREAM = "appstore_report_rows"

# Columns that are measures (numbers); every other column is a dimension.
MEASURES = frozenset(
    {
        "Counts",
        "Unique Counts",
        "Sessions",
        "Total Session Duration",
        "Unique Devices",
        "Crashes",
        "Previews",
    }
)
# Dimensions left out of the row key: they describe the file or the app, not the row. A
# restated day comes in a file with a newer Processing Date, and an app can be renamed.
NOT_KEY_COLUMNS = frozenset({"Processing Date", "App Name"})
DATE_COLUMN = "Date"


@cache
def snake_case(name: str) -> str:
    """`App Apple Identifier` → `app_apple_identifier`, `Pre-Order` → `pre_order`."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def rows_stream_name(report_name: str) -> str:
    """The stream a report's rows go to."""
    if report_name in KNOWN_REPORTS:
        return f"appstore_{snake_case(report_name)}"
    return GENERIC_ROWS_STREAM


def is_measure(column: str) -> bool:
    """Whether a column holds a number (by its header name)."""
    return column in MEASURES


def row_key(*, app_id: str, report_name: str, granularity: str, row: Mapping[str, str]) -> str:
    """A stable key for one row: app, report, granularity, `Date` and every dimension value.

    A newer instance that restates a day produces the same keys, so it upserts over the
    older rows instead of adding to them.
    """
    dimensions = sorted(
        (column, value)
        for column, value in row.items()
        if not is_measure(column) and column not in NOT_KEY_COLUMNS
    )
    material = json.dumps([app_id, report_name, granularity, dimensions], separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()


def describe_names(names: Iterable[str]) -> str:
    """A sorted, quoted list for error messages."""
    return ", ".join(f"'{n}'" for n in sorted(names)) or "none"
