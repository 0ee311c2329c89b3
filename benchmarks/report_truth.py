"""Rows a warehouse holds after upserting by `row_key`, against the true rows, for every report
of the catalogue: with the row key of tap 0.x (every column but 7 hard-coded measure names is a
dimension) and with the catalogue's (the report's own dimensions).

The fake serves each report with its headers exactly as Apple documents them, for APPS apps and
DAYS days of daily instances that restate each Date over the report's completeness window (as
Apple does, up to 8 days). Both keys are computed on the same files, read as the tap reads them.

Usage: python benchmarks/report_truth.py [DAYS] [APPS]   (from the repository root)
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path

from segment_analytics_sandbox.appstore import FakeAppStoreConnect, FakeS3, generate_key_pair
from tap_segment_analytics.appstore.fetch.report_files import read_rows
from tap_segment_analytics.appstore.fetch.row_plan import row_key_of
from tap_segment_analytics.appstore.reports import catalogue

TODAY = date(2026, 11, 30)
ROWS_PER_DAY = 6
# Tap 0.x: the only measures it knew, and the columns it left out of the key.
OLD_MEASURES = frozenset(
    {"Counts", "Unique Counts", "Sessions", "Total Session Duration", "Unique Devices", "Crashes",
     "Previews"}
)  # fmt: skip
OLD_NOT_KEY = frozenset({"Processing Date", "App Name"})
# The 8 reports of issue 14's measurement.
ISSUE_REPORTS = (
    "App Crashes Expanded",
    "App Store Purchases Standard",
    "App Store Purchases Detailed",
    "App Sessions Standard",
    "App Downloads Standard",
    "Home Screen Widget Installs",
    "Photos Picker",
    "App Store Installation and Deletion Standard",
)

Key = Callable[[Sequence[str]], str]


def old_row_key(header: Sequence[str], *, app_id: str, report_name: str) -> Key:
    """Tap 0.x's row key of rows of this header."""
    last = {name: index for index, name in enumerate(header)}
    dimensions = sorted(
        (n, i) for n, i in last.items() if n not in OLD_MEASURES and n not in OLD_NOT_KEY
    )

    def key(values: Sequence[str]) -> str:
        material = [app_id, report_name, "DAILY", [[n, values[i]] for n, i in dimensions]]
        return hashlib.sha256(json.dumps(material).encode()).hexdigest()

    return key


def counts(report_name: str, apps: list[str], days: int, scratch: Path) -> tuple[int, int, int]:
    """(true rows, rows after upsert by the old key, by the new key) of one report."""
    _, public_pem = KEYS
    api = FakeAppStoreConnect(public_key_pem=public_pem, key_id="K", issuer_id="i", s3=FakeS3())
    for app_id in apps:
        api.add_app(app_id)
        api.add_report(app_id, report_name)
    for back in range(days, 0, -1):
        api.publish_day(
            app_ids=apps, processing=TODAY - timedelta(days=back), rows_per_day=ROWS_PER_DAY
        )
    old: set[str] = set()
    new: set[str] = set()
    truth = 0
    path = scratch / "file.gz"
    for app_id in apps:
        truth += len(api.truth(app_id, report_name, "DAILY"))
        for instance_id in api.instance_ids(app_id, report_name, "DAILY"):
            for segment in api.instance_segments(instance_id):
                path.write_bytes(api.s3.object(segment.key))
                rows = read_rows(path)
                header = next(rows)
                old_key = old_row_key(header, app_id=app_id, report_name=report_name)
                new_key = row_key_of(
                    header, app_id=app_id, report_name=report_name, granularity="DAILY"
                )
                for values in rows:
                    old.add(old_key(values))
                    new.add(new_key(values))
    return truth, len(old), len(new)


def percent(rows: int, truth: int) -> str:
    return f"{(rows - truth) / truth:+.0%}" if truth else "-"


def main(days: int = 10, app_count: int = 2) -> None:
    apps = [str(1234567890 + n) for n in range(app_count)]
    by_category: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    results: dict[str, tuple[int, int, int]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for report in catalogue():
            results[report.name] = counts(report.name, apps, days, Path(scratch))
            totals = by_category[report.category]
            for index, value in enumerate(results[report.name]):
                totals[index] += value
    print(f"{len(results)} reports, {app_count} apps, {days} days of daily instances")
    print(f"{'':44} {'true rows':>10} {'0.x key':>10} {'':>6} {'catalogue':>10} {'':>6}")

    def line(label: str, rows: Sequence[int]) -> None:
        truth, old, new = rows
        print(
            f"{label[:44]:44} {truth:>10,} {old:>10,} {percent(old, truth):>6} {new:>10,} "
            f"{percent(new, truth):>6}"
        )

    for category, rows in sorted(by_category.items()):
        line(category, rows)
    line("all reports", [sum(v[i] for v in results.values()) for i in range(3)])
    print("issue 14's reports:")
    for name in ISSUE_REPORTS:
        line(f"  {name}", results[name])
    line("  together", [sum(results[r][i] for r in ISSUE_REPORTS) for i in range(3)])
    wrong = [name for name, (truth, _, new) in results.items() if new != truth]
    print(f"reports whose rows after upsert differ from the truth with the catalogue key: {wrong}")


KEYS = generate_key_pair()

if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
