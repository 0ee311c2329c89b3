"""A segment's `/segments/data_series` points as one size per day.

`size` is an integer in the schema, and Braze documents integers. A fractional size is an
estimate like any other: it is rounded to the nearest integer (truncating turned 12.9 into 12)
and said once per segment. A day listed twice keeps its larger size: Braze documents no order
of the series, so neither value is the newer one, and the larger is the same whatever order
they came in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any


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

    def oddities(self) -> list[str]:
        """What to warn about, in a few words each."""
        said = []
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
