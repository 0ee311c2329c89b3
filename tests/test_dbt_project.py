"""End to end: the main job as the docs give it (`meltano run segment-analytics` in the `dev`
environment: the tap, target-postgres, then `dbt build`), settings from environment variables
only, on a fresh database and a sandbox whose App Store instances restate Dates and drop rows.
Every loaded report table gets its current-rows view; the reporting tables equal the sums of the
fake's own truth per app and Date, Braze's daily sizes equal the fake's; the project builds the
same tables when another dbt project installs it as a package; a row loaded twice (the same fact
under a second row key) fails the job's dbt block, naming the test of its view and the rows that
break it; and dbt fails naming a schema that holds no table of the tap."""

# SQL here is built from this module's constants and the models' names, never from input.
# ruff: noqa: S608

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from segment_analytics_sandbox.demo import JOB, TRANSFORMER, landed
from segment_analytics_sandbox.environment import APP_IDS, start_sandbox
from segment_analytics_sandbox.generators.current_rows_models import MODELS
from segment_analytics_sandbox.generators.reporting_models import (
    Measure,
    measures_by,
    report_of,
    reporting_model,
    sql_type,
)
from tap_segment_analytics.appstore.reports import snake_case
from tests.meltano_pipeline import (
    DEV,
    DEV_SCHEMA,
    PROJECT_ROOT,
    Pipeline,
    meltano_pipeline,
    ok,
    run_captured,
)
from tests.promised_streams import STREAM_KEYS
from tests.warehouse import braze_truth, compare

pytestmark = pytest.mark.e2e

BRAZE_DAYS = 20
PACKAGE_SCHEMA = "from_package"
# The row the duplicate test loads twice.
DUPLICATED_TABLE = "appstore_app_downloads_standard"

Key = tuple[Any, ...]
# A report file's processing date, in the fake's S3 keys (.../DAILY/ONGOING/20261204/...).
PROCESSED = re.compile(r"/(\d{8})/")


@pytest.fixture(scope="module")
def job() -> Iterator[Pipeline]:
    """The `dev` main job, run once on a fresh database, on a sandbox whose instances drop a
    third of the rows they restate."""
    sandbox = start_sandbox(drop_share=0.3, braze_segments=3, braze_days=BRAZE_DAYS)
    with meltano_pipeline(sandbox) as pipeline:
        pipeline.install(TRANSFORMER)
        ok(pipeline.meltano("run", JOB, environment=DEV))
        yield pipeline


def test_the_dev_main_job_ends_with_a_current_rows_view_per_loaded_report_table(
    job: Pipeline,
) -> None:
    tables = landed(job.pg, DEV_SCHEMA)
    views = landed(job.pg, DEV_SCHEMA, views=True)
    schemas = job.pg.query(
        "select schema_name from information_schema.schemata "
        "where schema_name like 'tap_segment_analytics%'"
    )

    report_tables = [t for t in tables if (PROJECT_ROOT / MODELS / f"{t}_current.sql").exists()]
    reporting = {path.stem for path in (PROJECT_ROOT / "transform/models/reporting").glob("*.sql")}
    assert set(tables) == set(STREAM_KEYS) | reporting
    assert report_tables
    assert set(views) == {f"{table}_current" for table in report_tables}
    # Restatements dropped rows: those rows stay in the tables, not in the views.
    assert all(0 < views[f"{t}_current"] <= tables[t] for t in report_tables)
    assert any(views[f"{t}_current"] < tables[t] for t in report_tables)
    # The BATCH extractor loaded into the base's schema, not one named after itself.
    assert schemas == [(DEV_SCHEMA,)]


def rows(pipeline: Pipeline, relation: str, schema: str = DEV_SCHEMA) -> list[dict[str, Any]]:
    """A table's rows, as JSON objects."""
    found = pipeline.pg.query(f"select row_to_json(t) from {schema}.{relation} t")
    return [json.loads(row) for (row,) in found]


def value(measure: Measure, text: str) -> float | int:
    """A report's measure as the model sums it: money to the cent, counts whole."""
    return round(float(text), 2) if sql_type(measure) == "numeric" else int(text)


def truth_sums(pipeline: Pipeline, dimension: str | None) -> dict[Key, dict[str, float | int]]:
    """(app, Date[, dimension value]) → each measure summed over the fake's truth: the rows of
    each Date's newest instance, nothing an earlier instance had and a newer one dropped."""
    api = pipeline.sandbox.appstore
    sums: dict[Key, dict[str, float | int]] = {}
    for measure in measures_by(dimension):
        for app_id in APP_IDS:
            for row in api.truth(app_id, measure.report, "DAILY"):
                if measure.where and row[measure.where[0]] != measure.where[1]:
                    continue
                if row[measure.column] == "":
                    continue
                key = (app_id, row["Date"], *([row[dimension] or None] if dimension else []))
                measures = sums.setdefault(key, {})
                measures[measure.name] = measures.get(measure.name, 0) + value(
                    measure, row[measure.column]
                )
    return {key: {m: round(v, 2) for m, v in ms.items()} for key, ms in sums.items()}


def model_sums(
    pipeline: Pipeline, dimension: str | None, schema: str = DEV_SCHEMA
) -> dict[Key, dict[str, float | int]]:
    """The same, from the reporting table."""
    measures = [m.name for m in measures_by(dimension)]
    dimension_column = [snake_case(dimension)] if dimension else []
    return {
        (row["app_id"], row["date"], *[row[c] for c in dimension_column]): {
            m: round(row[m], 2) for m in measures if row[m] is not None
        }
        for row in rows(pipeline, reporting_model(dimension), schema)
    }


@pytest.mark.parametrize("dimension", [None, "Territory"])
def test_reporting_tables_equal_the_sums_of_the_fake_s_truth(
    job: Pipeline, dimension: str | None
) -> None:
    truth = truth_sums(job, dimension)
    assert len(truth) > 20

    differences = compare(model_sums(job, dimension), truth)

    assert not differences, differences


def final_truth(pipeline: Pipeline) -> dict[Key, bool]:
    """(app, Date) → whether, of every report with rows the overview sums, the newest instance
    holding the Date was processed once the report's completeness lag had passed."""
    api = pipeline.sandbox.appstore
    final: dict[Key, bool] = {}
    for measure in measures_by(None):
        lag = timedelta(days=report_of(measure).completeness_lag_days or 0)
        for app_id in APP_IDS:
            newest: dict[str, date] = {}
            for instance in api.instance_ids(app_id, measure.report, "DAILY"):  # oldest first
                for segment in api.instance_segments(instance):
                    processed = date.fromisoformat(PROCESSED.search(segment.key)[1])  # type: ignore[index]
                    newest.update({row["Date"]: processed for row in segment.rows})
            for row in api.truth(app_id, measure.report, "DAILY"):
                if measure.where and row[measure.where[0]] != measure.where[1]:
                    continue
                day = row["Date"]
                complete = newest[day] >= date.fromisoformat(day) + lag
                final[app_id, day] = final.get((app_id, day), True) and complete
    return final


def test_a_date_is_final_once_every_report_it_draws_on_is_complete(job: Pipeline) -> None:
    overview = {
        (r["app_id"], r["date"]): r["is_final"] for r in rows(job, "app_store_overview_daily")
    }
    truth = final_truth(job)

    assert not compare(overview, truth)
    assert set(truth.values()) == {True, False}


def test_braze_daily_sizes_equal_the_fake_s_with_the_change_from_the_day_before(
    job: Pipeline,
) -> None:
    braze = job.sandbox.braze
    daily = {(r["segment_id"], r["day"]): r for r in rows(job, "braze_segment_sizes_daily")}
    names = {s.id: s.name for s in braze.segments}

    assert not compare(
        {key: row["size"] for key, row in daily.items()},
        braze_truth(braze, job.sandbox.start_date),
    )
    for (segment_id, day), row in daily.items():
        before = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
        expected = (
            row["size"] - daily[segment_id, before]["size"]
            if (segment_id, before) in daily
            else None
        )
        assert (row["segment_name"], row["size_change"]) == (names[segment_id], expected)


def test_another_dbt_project_installs_the_package_builds_the_same_tables_and_documents_them(
    job: Pipeline, tmp_path: Path
) -> None:
    project = tmp_path / "analytics"
    project.mkdir()
    (project / "dbt_project.yml").write_text(
        yaml.safe_dump(
            {
                "name": "analytics",
                "version": "1.0",
                "config-version": 2,
                "profile": "tap_segment_analytics",
                "flags": {"send_anonymous_usage_stats": False},
                # Where target-postgres loaded: the package's sources read it from this var.
                "vars": {"tap_segment_analytics_schema": DEV_SCHEMA},
            }
        )
    )
    (project / "packages.yml").write_text(
        yaml.safe_dump({"packages": [{"local": str(PROJECT_ROOT / "transform")}]})
    )
    dbt = str(job.plugins / "utilities" / TRANSFORMER / "venv" / "bin" / "dbt")
    # The project's profile (target-postgres's variables), copied: dbt writes beside it.
    shutil.copy(PROJECT_ROOT / "transform" / "profiles" / "postgres" / "profiles.yml", project)
    env = {
        **job.env,
        "DBT_PROFILES_DIR": str(project),
        "DBT_POSTGRES_SCHEMA": PACKAGE_SCHEMA,  # the models go to a schema of their own
    }

    # The tables this test compares, and the views and tests they need; then the dictionary.
    build = ["build", "--select", "+app_store_overview_daily", "+braze_segment_sizes_daily"]
    for command in (["deps"], build, ["docs", "generate", "--no-compile"]):
        result = run_captured([dbt, *command], cwd=project, env=env)
        assert result.returncode == 0, result.stdout[-3000:]

    assert model_sums(job, None, PACKAGE_SCHEMA) == model_sums(job, None)
    assert rows(job, "braze_segment_sizes_daily", PACKAGE_SCHEMA)
    catalog = json.loads((project / "target" / "catalog.json").read_text(encoding="utf-8"))
    overview = catalog["nodes"]["model.tap_segment_analytics.app_store_overview_daily"]
    assert "crashes" in overview["columns"]


def test_a_fact_loaded_twice_fails_the_job_naming_the_test_and_its_rows(job: Pipeline) -> None:
    columns = [
        name
        for (name,) in job.pg.query(
            "select column_name from information_schema.columns "
            f"where table_schema = '{DEV_SCHEMA}' and table_name = '{DUPLICATED_TABLE}' "
            "order by ordinal_position"
        )
    ]
    copied = ", ".join("md5(row_key)" if c == "row_key" else c for c in columns)
    job.pg.query(
        f"insert into {DEV_SCHEMA}.{DUPLICATED_TABLE} "
        f"select {copied} from {DEV_SCHEMA}.{DUPLICATED_TABLE}_current "
        "where granularity = 'DAILY' limit 1"
    )

    # The job's last block: `meltano run` stops a job at the block that fails.
    result = job.meltano("run", f"{TRANSFORMER}:build", environment=DEV)

    assert result.returncode != 0
    assert f"Failure in test {DUPLICATED_TABLE}_current_valid" in result.stderr
    assert "Got 1 result, configured to fail if != 0" in result.stderr
    # dbt skipped the tables over that view: they keep the last good run's sums.
    assert not compare(model_sums(job, None), truth_sums(job, None))


def test_dbt_fails_naming_a_schema_that_holds_no_table_of_the_tap(job: Pipeline) -> None:
    run = job.meltano(
        "invoke",
        TRANSFORMER,
        "run",
        "--select",
        "appstore_app_crashes_current",
        environment=DEV,
        extra_env={"DBT_POSTGRES_SCHEMA": "nothing_loaded"},
    )

    assert run.returncode != 0
    assert (
        "schema nothing_loaded holds no table of tap-segment-analytics: the load wrote to "
        "another schema" in run.stdout + run.stderr
    )
