"""transform/'s current-rows models: one per report rows stream of the tap, generated, and a
test that fails when they are stale."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from segment_analytics_sandbox.generators import current_rows_models
from segment_analytics_sandbox.generators.current_rows_models import (
    MAX_IDENTIFIER,
    MODELS,
    SCHEMA,
    SOURCES,
    model_name,
    stale_files,
)
from tests.promised_streams import ROWS_STREAMS

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_the_checked_in_models_are_what_the_tap_s_streams_give() -> None:
    assert stale_files(PROJECT_ROOT, write=False) == [], f"run {current_rows_models.COMMAND}"


def test_one_model_per_report_rows_stream_and_each_table_a_source() -> None:
    tables = current_rows_models.report_rows_tables()
    models = {path.stem for path in (PROJECT_ROOT / MODELS).glob("*.sql")}
    sources = yaml.safe_load((PROJECT_ROOT / SOURCES).read_text(encoding="utf-8"))["sources"]

    assert set(ROWS_STREAMS) <= set(tables)
    assert "appstore_report_rows" in tables
    assert models == {model_name(table) for table in tables}
    assert all(len(model) <= MAX_IDENTIFIER for model in models)
    assert [t["name"] for t in sources[0]["tables"]] == [
        "appstore_report_dates",
        *tables,
        "braze_segments",
        "braze_segment_sizes",
    ]


def test_each_view_is_tested_for_what_the_catalogue_documents() -> None:
    views = yaml.safe_load((PROJECT_ROOT / SCHEMA).read_text(encoding="utf-8"))["models"]
    tests = {view["name"]: view["tests"][0]["current_rows_valid"]["arguments"] for view in views}

    assert set(tests) == {model_name(t) for t in current_rows_models.report_rows_tables()}
    downloads = tests["appstore_app_downloads_standard_current"]
    assert downloads["granularities"] == ["DAILY", "WEEKLY", "MONTHLY"]
    assert downloads["key_columns"] == [
        "app_id", "granularity", "date", "app_apple_identifier", "download_type", "app_version",
        "device", "platform_version", "source_type", "page_type", "pre_order", "territory",
        "extra_columns",
    ]  # fmt: skip
    assert tests["appstore_app_store_subscription_state_standard_current"]["granularities"] == [
        "DAILY"
    ]
    assert "key_columns" not in tests["appstore_report_rows_current"]
    crashes = next(v for v in views if v["name"] == "appstore_app_crashes_current")
    assert {c["name"]: c.get("description") for c in crashes["columns"]}["crashes"]


def test_a_stale_changed_or_left_over_model_is_named_then_fixed(tmp_path: Path) -> None:
    shutil.copytree(PROJECT_ROOT / "transform", tmp_path / "transform")
    models = tmp_path / MODELS
    (models / "appstore_app_crashes_current.sql").write_text("select 1\n")
    (models / "appstore_app_sessions_standard_current.sql").unlink()
    (models / "appstore_gone_report_current.sql").write_text("select 1\n")

    assert current_rows_models.main(["--check", "--root", str(tmp_path)]) == 1
    assert set(stale_files(tmp_path, write=True)) == {
        MODELS / "appstore_app_crashes_current.sql",
        MODELS / "appstore_app_sessions_standard_current.sql",
        MODELS / "appstore_gone_report_current.sql",
    }
    assert stale_files(tmp_path, write=False) == []
    assert not (models / "appstore_gone_report_current.sql").exists()
