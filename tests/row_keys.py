"""The row key as the catalogue defines it, row by row: the reference the row plan's fast key
(tap_segment_analytics/appstore/fetch/row_plan.py) must equal byte for byte, and what tests
compute expected keys with."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from tap_segment_analytics.appstore.reports import (
    documented_header,
    joins_key,
    key_name,
    report_named,
)


def row_key(*, app_id: str, report_name: str, granularity: str, row: Mapping[str, str]) -> str:
    """A stable key for one row: app, report, granularity, `Date` and every dimension value.

    A newer instance that restates a day produces the same keys, so it upserts over the
    older rows instead of adding to them.
    """
    report = report_named(report_name)
    names = documented_header(report, list(row)) if report else list(row)
    dimensions = sorted(
        (name, value)
        for name, value in zip(names, row.values(), strict=True)
        if joins_key(report, name)
    )
    material = json.dumps(
        [app_id, key_name(report_name), granularity, dimensions], separators=(",", ":")
    )
    return hashlib.sha256(material.encode()).hexdigest()
