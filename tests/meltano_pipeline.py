"""Meltano, target-postgres and an embedded PostgreSQL around the sandbox, for end-to-end tests:
one plugin directory per test process (each plugin installed once in it), a state database per
scenario, and what landed per table."""

# SQL here is built from this module's constants and the sandbox's ids, never from input.

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from segment_analytics_sandbox.demo import (
    ENVIRONMENT,
    EXTRACTOR,
    LOADER,
    TARGET_SCHEMA,
    TRANSFORMER,
    caller_env,
    find_meltano,
    landed,
    meltano_env,
)
from segment_analytics_sandbox.environment import Sandbox
from segment_analytics_sandbox.postgres import EmbeddedPostgres

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# meltano.yml's environment for a user's own sources: every setting from environment variables.
DEV = "dev"
DEV_SCHEMA = "tap_segment_analytics"  # SEGMENT_ANALYTICS_SCHEMA of meltano.yml's env
STATE_ID = f"{ENVIRONMENT}:{EXTRACTOR}-to-{LOADER}"
# Meltano's system folder (MELTANO_SYS_DIR_ROOT: the plugins' virtualenvs, BATCH and dbt files) of
# this test process, made at its first pipeline and removed when the process ends, and the
# plugins installed in it: installing target-postgres and dbt again for every test module took
# more of the suite's time than any test. State never lives there (MELTANO_DATABASE_URI is a
# pipeline's own).
_SYSTEM_FOLDER: list[tempfile.TemporaryDirectory[str]] = []
_INSTALLED: set[str] = set()


def system_folder() -> Path:
    """This test process's Meltano system folder."""
    if not _SYSTEM_FOLDER:
        _SYSTEM_FOLDER.append(tempfile.TemporaryDirectory(prefix="tap-segment-analytics-meltano-"))
    return Path(_SYSTEM_FOLDER[0].name)


def meltano_command(
    *args: str,
    environment: str,
    env: dict[str, str],
    state_db: Path,
    env_file: Path | None = None,
) -> tuple[list[str], dict[str, str]]:
    """argv and environment of `meltano --environment <environment> <args>` with its own
    system (state) database."""
    meltano = find_meltano()
    assert meltano, "meltano is not installed: it is part of the test extra"
    options = ["--env-file", str(env_file)] if env_file else []
    argv = [meltano, *options, "--environment", environment, *args]
    return argv, {**env, "MELTANO_DATABASE_URI": f"sqlite:///{state_db}"}


def run_captured(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    stdin: IO[bytes] | int = subprocess.DEVNULL,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run a command to its end, its output captured as text."""
    return subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Pipeline:
    """The sandbox, PostgreSQL and a Meltano setup sharing one plugin directory."""

    sandbox: Sandbox
    pg: EmbeddedPostgres
    env: dict[str, str]
    scratch: Path
    first_run_counts: dict[str, int]
    plugins: Path  # Meltano's system folder, shared by this process's pipelines

    def install(self, *plugins: str) -> None:
        """`meltano install` of the plugins this process has not installed yet."""
        missing = [plugin for plugin in plugins if plugin not in _INSTALLED]
        if missing:
            ok(self.meltano("install", *missing))
            _INSTALLED.update(missing)

    def dev_env(self) -> dict[str, str]:
        """The environment of the `dev` environment's runs as the docs give them: the caller's
        minus tap, target, Meltano and dbt settings, then the sandbox's settings as the tap's
        environment variables and the warehouse as libpq's (nothing else: no BATCH root, no dbt
        folders); only the plugins are this process's."""
        return {
            **caller_env(),
            **self.sandbox.tap_env(),
            **self.pg.connection_env(),
            "MELTANO_SYS_DIR_ROOT": str(self.plugins),
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        }

    def meltano(
        self,
        *args: str,
        state_db: str = "main",
        extra_env: dict[str, str] | None = None,
        environment: str = ENVIRONMENT,
    ) -> subprocess.CompletedProcess[str]:
        """`meltano --environment <environment> <args>` (demo unless told) with its own system
        (state) database."""
        base = self.dev_env() if environment == DEV else self.env
        argv, env = meltano_command(
            *args,
            environment=environment,
            env={**base, **(extra_env or {})},
            state_db=self.scratch / f"{state_db}.db",
            env_file=self.scratch / "empty.env",
        )
        return run_captured(argv, cwd=PROJECT_ROOT, env=env)

    def meltano_run(
        self,
        *,
        schema: str = TARGET_SCHEMA,
        state_db: str = "main",
        extra_env: dict[str, str] | None = None,
        transform: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """`meltano run tap-segment-analytics target-postgres` into `schema`; with `transform`,
        then `dbt-postgres:run` (the current-rows views, in the same schema)."""
        env = {
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
            "DBT_POSTGRES_SCHEMA": schema,  # the demo environment sets its own
            **(extra_env or {}),
        }
        if transform:
            self.install(TRANSFORMER)  # only where needed: dbt is large
        steps = [EXTRACTOR, LOADER, *([f"{TRANSFORMER}:run"] if transform else [])]
        return self.meltano("run", *steps, state_db=state_db, extra_env=env)

    def state(self, *, state_db: str = "main") -> dict:
        """`meltano state get` of the pipeline's state id."""
        result = self.meltano("state", "get", STATE_ID, state_db=state_db)
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout)

    def counts(self, schema: str = TARGET_SCHEMA) -> dict[str, int]:
        """Rows per table of the schema."""
        return landed(self.pg, schema)

    def clear_logs(self) -> None:
        for fake in (self.sandbox.braze, self.sandbox.appstore, self.sandbox.s3):
            fake.clear_log()


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """The result, after asserting meltano succeeded (showing its log's tail if not)."""
    assert result.returncode == 0, result.stderr[-5000:]
    return result


def bookmarked(bookmarks: dict, stream: str) -> dict[tuple[tuple[str, str], ...], str]:
    """A stream's partitions that hold a bookmark: {context items: replication key value (day)},
    from partition objects or from an object of bookmarks by id (braze_segment_sizes)."""
    entry = bookmarks.get(stream, {})
    found = {
        tuple(sorted(p["context"].items())): str(p["replication_key_value"])[:10]
        for p in entry.get("partitions", [])
        if "replication_key_value" in p
    }
    for field, by_id in entry.items():
        if field.startswith("replication_key_value_by_"):
            key = field.removeprefix("replication_key_value_by_")
            found.update({((key, i),): str(v)[:10] for i, v in by_id.items()})
    return found


def tracked_segment_ids(sandbox: Sandbox) -> list[str]:
    """The listed segments whose series the fake serves, in the sandbox's order."""
    braze = sandbox.braze
    return [s.id for s in braze.segments if braze.serves_series(s) and not s.archived]


@contextmanager
def meltano_pipeline(sandbox: Sandbox) -> Iterator[Pipeline]:
    """PostgreSQL and installed plugins around a running sandbox (stopped with it)."""
    pg = EmbeddedPostgres().start()
    scratch = tempfile.TemporaryDirectory(prefix="tap-segment-analytics-e2e-")
    try:
        root = Path(scratch.name)
        (root / "empty.env").write_text("")  # the project's .env must not leak in
        # As the demo runs it, but with plugins installed into this process's system folder.
        plugins = system_folder()
        env = {
            **meltano_env(PROJECT_ROOT, root, sandbox, pg),
            "MELTANO_SYS_DIR_ROOT": str(plugins),
        }
        pipeline = Pipeline(sandbox, pg, env, root, {}, plugins)
        pipeline.install(EXTRACTOR, LOADER)
        yield pipeline
    finally:
        sandbox.stop()
        pg.stop()
        scratch.cleanup()
