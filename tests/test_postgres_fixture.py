"""The throwaway PostgreSQL of the demo and the end-to-end tests: from a wheel, not from PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from segment_analytics_sandbox.postgres import EmbeddedPostgres

pytestmark = pytest.mark.e2e


def test_start_create_insert_query() -> None:
    with EmbeddedPostgres(database="warehouse") as pg:
        assert pg.env() == {"TARGET_POSTGRES_SQLALCHEMY_URL": pg.url}
        assert pg.url.startswith("postgresql+psycopg://postgres:@/warehouse?host=")
        assert pg.query("select current_database(), current_setting('listen_addresses')") == [
            ("warehouse", "")  # unix socket only: nothing listens on TCP
        ]
        pg.query("create schema analytics")
        pg.query(
            "create table analytics.sizes (id int primary key, name text);"
            "insert into analytics.sizes values (1, 'a'), (2, null), (3, 'tab\\there');"
        )
        assert pg.query("select count(*) from analytics.sizes") == [("3",)]
        assert pg.query("select id, name from analytics.sizes where id < 3 order by id") == [
            ("1", "a"),
            ("2", ""),
        ]
        with pytest.raises(RuntimeError, match="psql failed"):
            pg.query("select * from no_such_table")


def test_stop_removes_the_cluster_and_instances_are_independent() -> None:
    first = EmbeddedPostgres().start()
    second = EmbeddedPostgres().start()
    try:
        assert first.socket_dir != second.socket_dir
        first_dir = first.socket_dir
        first.query("create table only_in_first (id int)")
        assert second.query(
            "select count(*) from information_schema.tables where table_name = 'only_in_first'"
        ) == [("0",)]
        first.stop()
        assert not first_dir.exists()
        with pytest.raises(RuntimeError, match="not started"):
            first.query("select 1")
        first.stop()  # idempotent
        assert second.query("select 1") == [("1",)]
    finally:
        first.stop()
        second.stop()


def test_needs_no_postgresql_on_path() -> None:
    """With a PATH that holds no PostgreSQL program, the server starts and answers."""
    path = os.pathsep.join(["/usr/sbin", "/sbin"])  # useradd, which the library needs as root
    for program in ("initdb", "pg_ctl", "postgres", "psql"):
        assert shutil.which(program, path=path) is None
    script = (
        "from segment_analytics_sandbox.postgres import EmbeddedPostgres\n"
        "with EmbeddedPostgres() as pg:\n"
        "    print(pg.query('select 6 * 7')[0][0])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "42"


def test_a_lock_file_another_account_left_does_not_stop_the_server(tmp_path: Path) -> None:
    # The library's machine-wide lock is `<runtime folder>/python_PostgresServer/.lockfile`:
    # here one that cannot be opened, as another account's would be.
    (tmp_path / "python_PostgresServer" / ".lockfile").mkdir(parents=True)
    script = (
        "from segment_analytics_sandbox.postgres import EmbeddedPostgres\n"
        "with EmbeddedPostgres() as pg:\n"
        "    print(pg.query('select 1'))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "[('1',)]\n"
    assert "Traceback" not in result.stderr
