"""A segment's `/segments/data_series` points as one size per day.

`size` is an integer in the schema, and Braze documents integers. A fractional size is an
estimate like any other: it is rounded to the nearest integer (truncating turned 12.9 into 12)
and said once per segment. A day listed twice keeps its larger size: Braze documents no order
of the series, so neither value is the newer one, and the larger is the same whatever order
they came in.

Braze marks neither `time` nor `size` of a point required: a point without a day or a size the
tap can read is left out and counted (the `size` column is an integer), never a stopped source.
A day missing between two days sized (this run, or the bookmark's day of an earlier run) is
counted too: Braze answered without it. Days missing before a segment's first size are not: Braze
leaves out the days before a segment existed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from tap_segment_analytics.errors import redact

_SHOWN_CHARACTERS = 80  # of a point left out, in its warning


class BadPoint(ValueError):
    """A data point that is not a day and a size."""


@dataclass(frozen=True)
class Point:
    """One data point: the day, its size, and the size as Braze sent it when it was fractional."""

    day: date
    size: int
    fractional: float | None = None


def parse_point(point: Any) -> Point:
    """`{"time": "2026-11-01", "size": 123}` as a Point; BadPoint for anything else."""
    try:
        day = date.fromisoformat(str(point["time"])[:10])
        size = point["size"]
    except (KeyError, TypeError, ValueError):
        raise BadPoint from None
    if isinstance(size, str) and size.isascii() and size.isdigit():
        return Point(day, int(size))
    if isinstance(size, bool) or not isinstance(size, int | float):
        raise BadPoint
    if not math.isfinite(size) or size < 0:
        raise BadPoint
    if size == int(size):
        return Point(day, int(size))
    return Point(day, math.floor(size + 0.5), fractional=size)


@dataclass
class DailySizes:
    """The sizes of one segment's series, one per day, and what was odd about them."""

    sizes: dict[date, int] = field(default_factory=dict)
    fractional: list[Point] = field(default_factory=list)
    repeated: dict[date, list[int]] = field(default_factory=dict)
    unread: list[Any] = field(default_factory=list)  # points without a day or a size
    without_data: int = 0  # success answers without `data`

    def add(self, point: Point) -> None:
        """Keep the point; a day seen before keeps the larger size."""
        if point.fractional is not None:
            self.fractional.append(point)
        earlier = self.sizes.get(point.day)
        if earlier is not None:
            self.repeated.setdefault(point.day, [earlier]).append(point.size)
            self.sizes[point.day] = max(earlier, point.size)
        else:
            self.sizes[point.day] = point.size

    def leave_out(self, point: Any) -> None:
        """A point without a day or a size the tap can read."""
        self.unread.append(point)

    def gaps(self, since: date | None = None) -> list[date]:
        """The days no point gave between the first day kept (or the day after `since`, a day
        sized before) and the last day kept."""
        if not self.sizes:
            return []
        first, last = min(self.sizes), max(self.sizes)
        if since is not None:
            first = min(first, since + timedelta(days=1))
        days = (first + timedelta(days=n) for n in range((last - first).days))
        return [day for day in days if day not in self.sizes]

    def oddities(self, since: date | None = None) -> list[str]:
        """What to warn about, in a few words each (`since`: the last day sized before)."""
        said = []
        if self.unread:
            shown = redact(repr(self.unread[0]))[:_SHOWN_CHARACTERS]
            said.append(
                f"{len(self.unread)} data point(s) without a day or a size it could read "
                f"(e.g. {shown}), left out"
            )
        if self.without_data:
            said.append(
                f"{self.without_data} answer(s) without 'data', read as no size for their days"
            )
        gaps = self.gaps(since)
        if gaps:
            said.append(
                f"no size for {len(gaps)} days between days it sized (e.g. "
                f"{gaps[0].isoformat()}): nothing to land for them"
            )
        if self.fractional:
            first = self.fractional[0]
            said.append(
                f"{len(self.fractional)} fractional sizes (e.g. {first.fractional} on "
                f"{first.day.isoformat()}), rounded to the nearest integer"
            )
        if self.repeated:
            day, sizes = next(iter(self.repeated.items()))
            said.append(
                f"{len(self.repeated)} days listed more than once (e.g. {day.isoformat()} with "
                f"sizes {', '.join(map(str, sizes))}), each kept once with its largest size"
            )
        return said
