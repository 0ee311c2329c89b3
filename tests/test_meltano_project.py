"""A Meltano project as a user builds it from docs/meltano-project.md, end to end into PostgreSQL.

The page's recipe runs as it is (`meltano init`, the tap added from meltano-hub/ with pip_url
pointed at this checkout, `meltano config set`, the main job), with the sandbox's values in the
environment variables it names; then every setting from environment variables, and the
scale-out recipe's shards (their arrays from `meltano config set`) run in parallel in the project
it made. One project per module (plugins installed once); the sandbox as the sources; MeltanoLabs
target-postgres into an EmbeddedPostgres. Each scenario has its own Meltano environment, target
schema and system (state) database.
"""

# SQL here is built from this module's constants and the sandbox's ids, never from input.
# ruff: noqa: S608

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from segment_analytics_sandbox.demo import caller_env, find_meltano, landed
from segment_analytics_sandbox.environment import (
    APP_IDS,
    ISSUER_ID,
    KEY_ID,
    Sandbox,
    start_sandbox,
)
from segment_analytics_sandbox.generators import meltano_plugin
from segment_analytics_sandbox.generators.current_rows_models import MODELS
from segment_analytics_sandbox.postgres import EmbeddedPostgres
from tests.conftest import segment_bookmarks
from tests.meltano_pipeline import bookmarked, meltano_command, run_captured
from tests.promised_streams import ALL_STREAM_KEYS, STREAM_KEYS

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parents[1]
HUB_DEFINITION = PROJECT_ROOT / "meltano-hub" / "tap-segment-analytics.yml"
DOC = PROJECT_ROOT / "docs" / "meltano-project.md"
RECIPE_MARKER = "<!-- recipe:"
RECIPE_SCHEMA = "tap_segment_analytics"  # the recipe's SEGMENT_ANALYTICS_SCHEMA
EXTRACTOR = "tap-segment-analytics"
LOADER = "target-postgres"
TRANSFORMER = "dbt-postgres"
SHARDS = ("tap-segment-analytics--shard-1", "tap-segment-analytics--shard-2")
DATA_SERIES = "/segments/data_series"


@dataclass
class Project:
    """A fresh Meltano project with the tap and target-postgres installed."""

    root: Path
    env: dict[str, str]
    sandbox: Sandbox
    pg: EmbeddedPostgres

    def command(
        self, *args: str, environment: str, state_db: str, extra_env: dict[str, str] | None
    ) -> tuple[list[str], dict[str, str]]:
        return meltano_command(
            *args,
            environment=environment,
            env={**self.env, **(extra_env or {})},
            state_db=self.root.parent / f"{state_db}.db",
        )

    def meltano(
        self,
        *args: str,
        environment: str,
        state_db: str = "main",
        extra_env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """One meltano command in the project; fails the test (with its log) if it fails."""
        argv, env = self.command(
            *args, environment=environment, state_db=state_db, extra_env=extra_env
        )
        result = run_captured(argv, cwd=self.root, env=env)
        assert result.returncode == 0, f"{argv[1:]}:\n{result.stderr[-5000:]}"
        return result

    def config_set(self, plugin: str, setting: str, value: Any, *, environment: str) -> None:
        """`meltano config set`, with JSON for arrays as the README shows."""
        text = value if isinstance(value, str) else json.dumps(value)
        self.meltano("config", "set", plugin, setting, text, environment=environment)

    def tap_config(self, plugin: str, *, environment: str, **kwargs: Any) -> dict[str, Any]:
        """The config file Meltano writes for the tap (`meltano invoke --dump=config`)."""
        result = self.meltano("invoke", "--dump=config", plugin, environment=environment, **kwargs)
        return dict(json.loads(result.stdout))

    def table_rows(self, schema: str) -> dict[str, list[str]]:
        """Every table's rows as sorted JSON, without the target's _sdc_ columns."""
        rows: dict[str, list[str]] = {}
        for table in landed(self.pg, schema):
            rows[table] = sorted(
                json.dumps(
                    {k: v for k, v in json.loads(text).items() if not k.startswith("_sdc_")},
                    sort_keys=True,
                )
                for (text,) in self.pg.query(f'select to_jsonb(t)::text from {schema}."{table}" t')
            )
        return rows


def listed_segment_ids(sandbox: Sandbox) -> list[str]:
    """The segments Braze lists (not archived), in the sandbox's order."""
    return [s.id for s in sandbox.braze.segments if not s.archived]


def sandbox_settings(sandbox: Sandbox) -> dict[str, Any]:
    """Every non-secret setting a project needs for the sandbox."""
    return {
        "start_date": sandbox.start_date.isoformat(),
        "braze_rest_endpoint": sandbox.braze.base_url,
        "appstore_api_url": sandbox.appstore.base_url,
        "appstore_key_id": KEY_ID,
        "appstore_issuer_id": ISSUER_ID,
        "appstore_private_key_path": str(sandbox.private_key_path),
        "appstore_app_ids": list(APP_IDS),
    }


def environment_variables(settings: dict[str, Any]) -> dict[str, str]:
    """Settings as the extractor's environment variables: text as is, the rest as JSON."""
    return {
        f"TAP_SEGMENT_ANALYTICS_{name.upper()}": value
        if isinstance(value, str)
        else json.dumps(value)
        for name, value in settings.items()
    }


def recipe() -> str:
    """The shell block of docs/meltano-project.md that follows its recipe marker."""
    page = DOC.read_text(encoding="utf-8")
    after = page.split(RECIPE_MARKER, 1)[1]
    block = re.search(r"```bash\n(.*?)```", after, flags=re.S)
    assert block, f"{DOC}: no bash block after {RECIPE_MARKER!r}"
    return block[1]


def sandbox_overrides(sandbox: Sandbox) -> dict[str, str]:
    """The sandbox's values for what the recipe configures, as the environment variables that
    win over meltano.yml."""
    return environment_variables(sandbox_settings(sandbox))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The project docs/meltano-project.md's recipe makes, after its run."""
    pg = EmbeddedPostgres().start()
    sandbox = start_sandbox()
    try:
        scratch = tmp_path_factory.mktemp("meltano-project")
        meltano = find_meltano()
        assert meltano
        env = caller_env()
        env.update(
            {
                **pg.connection_env(),
                "TAP_SEGMENT_ANALYTICS_BRAZE_API_KEY": sandbox.braze.api_key,
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                "NO_COLOR": "1",
                "PATH": f"{Path(meltano).parent}{os.pathsep}{env.get('PATH', '')}",
            }
        )
        ran = subprocess.run(
            ["bash", "-euc", recipe()],
            cwd=scratch,
            env={**env, **sandbox_overrides(sandbox), "CLONE": str(PROJECT_ROOT)},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr[-5000:]
        yield Project(scratch / "my-project", env, sandbox, pg)
    finally:
        sandbox.stop()
        pg.stop()


def test_the_recipe_ends_with_a_current_rows_view_per_loaded_report_table(
    project: Project,
) -> None:
    tables = landed(project.pg, RECIPE_SCHEMA)
    views = landed(project.pg, RECIPE_SCHEMA, views=True)

    model_files = {path.name for path in (PROJECT_ROOT / MODELS).glob("*.sql")}
    report_tables = [t for t in tables if f"{t}_current.sql" in model_files]
    reporting = {path.stem for path in (PROJECT_ROOT / "transform/models/reporting").glob("*.sql")}
    # The recipe's dbt build: the loaded tables, then the reporting tables beside them.
    assert set(tables) == set(STREAM_KEYS) | reporting
    assert report_tables
    assert set(views) == {f"{table}_current" for table in report_tables}
    # The sandbox restates nothing: every row is current.
    assert {t: views[f"{t}_current"] for t in report_tables} == {
        t: tables[t] for t in report_tables
    }
    # The BATCH extractor loaded into the base's schema, not into one named after itself.
    assert project.pg.query(
        "select schema_name from information_schema.schemata "
        "where schema_name like 'tap_segment_analytics%' order by 1"
    ) == [(RECIPE_SCHEMA,)]


def test_the_recipe_adds_the_definition_with_the_clone_as_pip_url(project: Project) -> None:
    added = yaml.safe_load((project.root / "meltano.yml").read_text(encoding="utf-8"))
    (extractor,) = [p for p in added["plugins"]["extractors"] if p["name"] == EXTRACTOR]
    definition = yaml.safe_load(HUB_DEFINITION.read_text(encoding="utf-8"))

    for field in ("namespace", "executable", "capabilities", "settings"):
        assert extractor[field] == definition[field], field
    assert extractor["settings_group_validation"] == definition["settings_group_validation"]
    assert extractor["pip_url"] == f"-e {PROJECT_ROOT}"
    # Meltano 4's form of `meltano add`: no spurious plugin (Meltano 3's form added a utility).
    assert [p["name"] for p in added["plugins"]["utilities"]] == [TRANSFORMER]
    assert "meltano add extractor" not in HUB_DEFINITION.read_text(encoding="utf-8")


def test_the_recipes_batch_folder_and_files_are_the_owners_alone(project: Project) -> None:
    """Under the `file://` root the recipe configures."""
    (folder,) = (project.root / ".meltano" / "batches").iterdir()
    files = list(folder.iterdir())

    assert files
    assert folder.stat().st_mode & 0o777 == 0o700
    assert {path.stat().st_mode & 0o777 for path in files} == {0o600}


def test_every_setting_from_an_environment_variable(project: Project) -> None:
    """Each kind from the environment: string, password, array, integer, boolean, date, number
    (which crashed Meltano as a `decimal`), object."""
    sandbox = project.sandbox
    values: dict[str, Any] = {
        # A setting added later comes with its default.
        **{s["name"]: s["value"] for s in meltano_plugin.settings() if "value" in s},
        **sandbox_settings(sandbox),
        "braze_api_key": sandbox.braze.api_key,
        "braze_segment_ids": listed_segment_ids(sandbox),
        "braze_lookback_days": 2,
        "appstore_private_key": sandbox.private_key_path.read_text(),
        "appstore_report_names": [],
        "appstore_report_categories": [],
        "appstore_granularities": ["DAILY"],
        "appstore_create_report_requests": False,
        "request_max_tries": 3,
        "request_backoff_seconds": 1.5,
        "request_timeout_seconds": 30,
        "state_interval_seconds": 2.5,
        "appstore_rate_limit_wait_seconds": 90.5,
    }
    values = {
        name: value for name, value in values.items() if name in meltano_plugin.tap_setting_names()
    }
    assert set(values) == set(meltano_plugin.tap_setting_names()), (
        "give the new setting a value here"
    )
    env = environment_variables({**values, "stream_map_config": {"shard": "env"}})

    # "prod" has no config of its own: every value below comes from the environment.
    config = project.tap_config(EXTRACTOR, environment="prod", extra_env=env)

    # Typed by the kind in the plugin definition; the number stays text for the tap to read.
    expected = {
        **values,
        "request_backoff_seconds": "1.5",
        "state_interval_seconds": "2.5",
        "appstore_rate_limit_wait_seconds": "90.5",
        "stream_map_config": {"shard": "env"},
    }
    assert {name: config.get(name) for name in expected} == expected

    del env["TAP_SEGMENT_ANALYTICS_APPSTORE_PRIVATE_KEY"]  # one key only, the path
    sandbox.braze.clear_log()
    sandbox.braze.inject(503, times=1, path=DATA_SERIES)
    run = project.meltano(
        "run",
        EXTRACTOR,
        LOADER,
        environment="prod",
        state_db="from-env",
        extra_env={**env, "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": "from_env"},
    )

    # The text "1.5" reached the tap as the number 1.5: the one retry waited 1.5 s (+ jitter).
    (retry,) = re.findall(r"retry 1 of 2 in (\d+\.\d) s", run.stderr)
    assert 1.5 <= float(retry) <= 1.7
    assert set(landed(project.pg, "from_env")) == set(STREAM_KEYS)


def test_two_shards_in_parallel_land_the_same_tables_as_one_unsharded_run(
    project: Project,
) -> None:
    """The scale-out recipe: shards inherit from the extractor with their own app and segment
    ids (arrays, by `meltano config set`) and state; the tables are created first, then the
    shards run in parallel."""
    environment = "staging"
    segments = listed_segment_ids(project.sandbox)
    shard_ids = {
        SHARDS[0]: {"appstore_app_ids": [APP_IDS[0]], "braze_segment_ids": segments[:3]},
        SHARDS[1]: {"appstore_app_ids": [APP_IDS[1]], "braze_segment_ids": segments[3:]},
    }
    for shard, settings in shard_ids.items():
        project.meltano("add", shard, "--inherit-from", EXTRACTOR, environment=environment)
        for name, value in settings.items():
            project.config_set(shard, name, value, environment=environment)
    # Each shard inherits the base's load_schema: target-postgres would load it where dbt reads.
    for shard in SHARDS:
        listed = project.meltano(
            "config", "list", shard, "--extras", "--all", environment=environment
        )
        load_schema = re.search(
            r"^_load_schema .*current value: '(\w+)'", listed.stdout + listed.stderr, re.M
        )
        assert load_schema, listed.stdout[-2000:]
        assert load_schema[1] == RECIPE_SCHEMA
    # What every shard shares comes from the base plugin's environment variables.
    shared = environment_variables(sandbox_settings(project.sandbox))
    sharded = {**shared, "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": "sharded"}
    # Meltano creates its system database on first use: not in two processes at once.
    project.meltano("state", "list", environment=environment, state_db="sharded")

    # 1. Every table, no rows and no state: no two loaders race to create one.
    tap_argv, tap_env = project.command(
        "invoke",
        SHARDS[0],
        "--test=schema",
        environment=environment,
        state_db="sharded",
        extra_env=sharded,
    )
    target_argv, target_env = project.command(
        "invoke", LOADER, environment=environment, state_db="sharded", extra_env=sharded
    )
    tap = subprocess.Popen(
        tap_argv, cwd=project.root, env=tap_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert tap.stdout is not None
    target = run_captured(
        target_argv, cwd=project.root, env=target_env, stdin=tap.stdout, timeout=300
    )
    tap.stdout.close()
    assert tap.wait(timeout=300) == 0
    assert target.returncode == 0, target.stderr[-3000:]
    assert landed(project.pg, "sharded") == dict.fromkeys(ALL_STREAM_KEYS, 0)

    # 2. The shards, in parallel.
    runs = []
    for shard in SHARDS:
        argv, env = project.command(
            "run", shard, LOADER, environment=environment, state_db="sharded", extra_env=sharded
        )
        runs.append(
            subprocess.Popen(
                argv,
                cwd=project.root,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for shard, run in zip(SHARDS, runs, strict=True):
        _, stderr = run.communicate(timeout=600)
        assert run.returncode == 0, f"{shard}:\n{stderr[-5000:]}"

    # Step 1 made a table of every stream: those of reports the sandbox does not serve stay empty.
    sharded_rows = {table: rows for table, rows in project.table_rows("sharded").items() if rows}
    assert set(sharded_rows) == set(STREAM_KEYS)
    # The unsharded run: the recipe's own, with the same settings (its schema also holds dbt's
    # reporting tables). Running the extractor once more for this took as long as the shards.
    unsharded = project.table_rows(RECIPE_SCHEMA)
    assert sharded_rows == {table: unsharded[table] for table in STREAM_KEYS}

    # Each shard has its own state, holding bookmarks of its own segments only.
    for shard, settings in shard_ids.items():
        state_id = f"{environment}:{shard}-to-{LOADER}"
        state = json.loads(
            project.meltano(
                "state", "get", state_id, environment=environment, state_db="sharded"
            ).stdout
        )
        # The arrays `meltano config set` stored reached the shard: its own apps and segments.
        braze = project.sandbox.braze
        served = {s.id for s in braze.segments if braze.serves_series(s)}
        assert set(segment_bookmarks(state)) == set(settings["braze_segment_ids"]) & served
        instances = bookmarked(state["singer_state"]["bookmarks"], "appstore_report_instances")
        assert instances
        assert {dict(context)["app_id"] for context in instances} == set(
            settings["appstore_app_ids"]
        )
