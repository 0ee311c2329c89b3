"""transform/'s reporting models: generated from the catalogue and the headline measures, and a
test that fails when they are stale."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from segment_analytics_sandbox.demo import DbtRun
from segment_analytics_sandbox.generators import reporting_models
from segment_analytics_sandbox.generators.reporting_models import (
    MODELS,
    SCHEMA,
    Measure,
    measures_by,
    report_of,
    stale_files,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_the_checked_in_reporting_models_are_what_the_catalogue_gives() -> None:
    assert stale_files(PROJECT_ROOT, write=False) == [], f"run {reporting_models.COMMAND}"


def test_a_dimension_model_holds_only_the_measures_of_reports_that_carry_it() -> None:
    overview = {m.name for m in measures_by(None)}
    by_territory = {m.name for m in measures_by("Territory")}
    by_app_version = {m.name for m in measures_by("App Version")}

    assert {"downloads_first_time", "crashes", "impressions", "proceeds_usd"} <= overview
    assert "crashes" not in by_territory, "App Crashes has no Territory"
    assert "impressions" not in by_app_version, "Discovery and Engagement has no App Version"
    assert "sessions" in by_territory & by_app_version


def test_each_model_is_described_and_keyed_at_its_grain() -> None:
    models = yaml.safe_load((PROJECT_ROOT / SCHEMA).read_text(encoding="utf-8"))["models"]
    by_name = {model["name"]: model for model in models}

    assert set(by_name) == {
        "app_store_overview_daily",
        *(f"app_store_{d}_daily" for d in
          ("territory", "source_type", "device", "platform_version", "app_version")),
    }  # fmt: skip
    territory = by_name["app_store_territory_daily"]
    grain = territory["tests"][0]["one_row_per"]["arguments"]["columns"]
    assert grain == ["app_id", "date", "territory"]
    described = {c["name"]: c["description"] for c in territory["columns"]}
    assert (
        "App Downloads Standard where Download Type is 'First-time download'"
        in described["downloads_first_time"]
    )
    assert all(described.values())


def test_a_measure_the_catalogue_does_not_have_is_refused() -> None:
    with pytest.raises(ValueError, match="no measure 'Downloads' in 'App Downloads Standard'"):
        report_of(Measure("downloads", "App Downloads Standard", "Downloads"))


def test_a_stale_or_left_over_model_is_named_then_fixed(tmp_path: Path) -> None:
    shutil.copytree(PROJECT_ROOT / "transform", tmp_path / "transform")
    models = tmp_path / MODELS
    (models / "app_store_overview_daily.sql").write_text("select 1\n")
    (models / "app_store_gone_daily.sql").write_text("select 1\n")

    assert reporting_models.main(["--check", "--root", str(tmp_path)]) == 1
    assert set(stale_files(tmp_path, write=True)) == {
        MODELS / "app_store_overview_daily.sql",
        MODELS / "app_store_gone_daily.sql",
    }
    assert stale_files(tmp_path, write=False) == []
    assert (models / "braze_segment_sizes_daily.sql").is_file(), "not generated: left alone"


def test_the_demo_counts_the_tests_that_passed_and_those_that_had_something_to_test(
    tmp_path: Path,
) -> None:
    model = "model.tap_segment_analytics."
    nodes = {
        f"{model}app_store_overview_daily": {
            "resource_type": "model",
            "alias": "app_store_overview_daily",
            "fqn": ["tap_segment_analytics", "reporting", "app_store_overview_daily"],
        },
        f"{model}appstore_photos_picker_current": {
            "resource_type": "model",
            "alias": "appstore_photos_picker_current",
            "fqn": ["tap_segment_analytics", "current_rows", "appstore_photos_picker_current"],
        },
        **{
            f"test.{name}": {
                "resource_type": "test",
                "depends_on": {"nodes": [f"{model}{tested}"]},
            }
            for name, tested in (
                ("overview", "app_store_overview_daily"),
                ("photos", "appstore_photos_picker_current"),
            )
        },
    }
    results = [
        {"unique_id": "test.overview", "status": "pass"},
        {"unique_id": "test.photos", "status": "pass"},
        {"unique_id": f"{model}app_store_overview_daily", "status": "success"},
    ]
    (tmp_path / "manifest.json").write_text(json.dumps({"nodes": nodes, "sources": {}}))
    (tmp_path / "run_results.json").write_text(json.dumps({"results": results}))

    run = DbtRun.read(tmp_path)

    assert run.reporting_models == ["app_store_overview_daily"]
    assert run.tests_line(built={"app_store_overview_daily"}) == (
        "dbt: 2 of 2 tests passed (1 on the views and tables this load made, 1 on views of "
        "reports it did not load: nothing to test)"
    )
    assert DbtRun.read(tmp_path / "missing").tests == []
