"""The Braze plan alone, no HTTP, no SDK object: which calls a run makes for each listed
segment, and in which order, made from a fake client's answers."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path
from typing import Any

from tap_segment_analytics.braze.plan.segment_plan import (
    DetailsCall,
    SegmentPlan,
    SegmentSettings,
    SizesCall,
    plan_segments,
)
from tap_segment_analytics.braze.plan.windows import Window, plan_windows
from tap_segment_analytics.braze.skips import DeletedSegments

RUN_DAY = date(2026, 12, 2)
SETTINGS = SegmentSettings(start_date=date(2026, 8, 1), run_day=RUN_DAY, lookback_days=3)
BRAZE = Path(__file__).resolve().parent.parent / "tap_segment_analytics" / "braze"


def listed(*ids: str, untracked: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """A page of `/segments/list` as Braze sends it."""
    return [
        {
            "id": segment_id,
            "name": f"Segment {segment_id}",
            "analytics_tracking_enabled": segment_id not in untracked,
            "tags": ["a tag"],
        }
        for segment_id in ids
    ]


class FakeLister:
    """A client whose `/segments/list` answers these pages, then an empty one."""

    def __init__(self, *pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.asked: list[int] = []

    def list_page(self, page: int) -> list[Any]:
        self.asked.append(page)
        return self.pages[page] if page < len(self.pages) else []


def plan_of(*pages: list[dict[str, Any]], **options: Any) -> SegmentPlan:
    options.setdefault("bookmarks", {})
    settings = options.pop("settings", SETTINGS)
    return plan_segments(FakeLister(*pages), settings, **options)


def test_each_segment_brings_its_details_then_its_windows_in_list_order() -> None:
    plan = plan_of(listed("s1", "s2"))

    first_run = [Window(date(2026, 8, 1), date(2026, 11, 8)), Window(date(2026, 11, 8), RUN_DAY)]
    assert list(plan.fetch_units()) == [
        DetailsCall("s1"),
        *(SizesCall("s1", window) for window in first_run),
        DetailsCall("s2"),
        *(SizesCall("s2", window) for window in first_run),
    ]


def test_a_bookmarked_segment_is_read_from_its_bookmark_less_the_lookback() -> None:
    plan = plan_of(listed("s1", "s2"), bookmarks={"s1": "2026-11-30"})

    assert plan.segment("s1").sizes == (SizesCall("s1", Window(date(2026, 11, 27), RUN_DAY)),)
    assert plan.segment("s1").sized_until == date(2026, 11, 30)
    assert plan.segment("s2").sizes[0].window.start == SETTINGS.start_date


def test_an_untracked_segment_has_details_and_size_calls() -> None:
    # Braze's docs tie analytics tracking to dashboard tools, not to the size series: asked.
    plan = plan_of(listed("s1", untracked=("s1",)))

    windows = plan_windows(SETTINGS.start_date, RUN_DAY)
    assert list(plan.fetch_units()) == [
        DetailsCall("s1"),
        *(SizesCall("s1", window) for window in windows),
    ]


def test_only_the_selected_streams_calls_are_planned() -> None:
    sizes_only = plan_of(listed("s1"), details=False)
    details_only = plan_of(listed("s1"), sizes=False)

    assert all(isinstance(unit, SizesCall) for unit in sizes_only.fetch_units())
    assert list(details_only.fetch_units()) == [DetailsCall("s1")]


def test_configured_ids_keep_only_their_segments_and_name_the_missing_ones() -> None:
    settings = SegmentSettings(
        start_date=SETTINGS.start_date, run_day=RUN_DAY, wanted_ids=frozenset({"s2", "gone"})
    )
    plan = plan_of(listed("s1", "s2"), listed("s3"), settings=settings, sizes=False)

    assert not settings.wanted("s1")
    assert [segment.id for segment in plan.segments()] == ["s2"]
    assert plan.missing_ids() == ["gone"]


def test_the_plan_holds_every_listed_page_before_anything_is_emitted() -> None:
    lister = FakeLister(listed("s1", "s2"), listed("s3"))

    plan = plan_segments(lister, SETTINGS, bookmarks={}, sizes=False)

    assert lister.asked == [0, 1, 2], "read to the empty page"
    assert plan.listed_whole
    assert [page.number for page in plan.pages] == [0, 1]
    assert list(plan.fetch_units()) == [DetailsCall("s1"), DetailsCall("s2"), DetailsCall("s3")]
    assert plan.segment("s1").listed == listed("s1")[0], "the list item, emitted as it came"


def test_a_segment_listed_again_is_planned_once() -> None:
    plan = plan_of(listed("s1", "s2"), listed("s2", "s3"), listed("s3"), sizes=False)

    assert plan.pages[1].repeated == (("s2", 0),)
    assert list(plan.fetch_units()) == [DetailsCall("s1"), DetailsCall("s2"), DetailsCall("s3")]
    # A page of only segments listed before: the listing stops there, the pages before stand.
    assert plan.listing_error is not None
    assert "ignore 'page'" in str(plan.listing_error)
    assert not plan.listed_whole
    assert plan.missing_ids() == []


def test_a_record_limit_lists_only_the_pages_it_needs() -> None:
    lister = FakeLister(listed("s1", "s2"), listed("s3"))

    plan = plan_segments(lister, SETTINGS, bookmarks={}, at_most=1)

    assert lister.asked == [0]
    assert [segment.id for segment in plan.segments()] == ["s1", "s2"]


def test_a_deleted_segment_is_reported_once() -> None:
    deleted = DeletedSegments()

    assert deleted.first_deletion("s1")
    assert not deleted.first_deletion("s1")


def test_settings_come_from_the_tap_config() -> None:
    config = {"start_date": "2026-08-01T00:00:00Z", "braze_segment_ids": ["s1"]}

    settings = SegmentSettings.from_config(config, RUN_DAY)

    assert settings == SegmentSettings(
        start_date=date(2026, 8, 1), run_day=RUN_DAY, lookback_days=3, wanted_ids=frozenset({"s1"})
    )


def _imports(module: Path) -> set[str]:
    """The modules a file imports, type-only imports included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _module_name(path: Path) -> str:
    parts = path.relative_to(BRAZE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_plan_imports_no_stream_no_fetch_and_no_sdk() -> None:
    for module in (BRAZE / "plan").glob("*.py"):
        imported = _imports(module)
        assert not {m for m in imported if m.startswith("singer_sdk")}, module.name
        assert not {
            m
            for m in imported
            if m.startswith("tap_segment_analytics.")
            and not m.startswith(
                ("tap_segment_analytics.braze.plan", "tap_segment_analytics.errors")
            )
        }, module.name


def test_no_import_circle_in_braze() -> None:
    graph = {
        _module_name(path): {
            m for m in _imports(path) if m.startswith("tap_segment_analytics.braze")
        }
        for path in BRAZE.rglob("*.py")
    }

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, " -> ".join((*path, name))
        for imported in graph.get(name, ()):
            visit(imported, (*path, name))

    for name in graph:
        visit(name, ())
