"""The throwaway PostgreSQL cluster used by the demo and the end-to-end tests."""

from __future__ import annotations

import pytest

from tap_segment_analytics.sandbox.postgres import (
    PostgresUnavailable,
    ThrowawayPostgres,
    find_pg_bindir,
)


@pytest.fixture(scope="module", autouse=True)
def _needs_postgres() -> None:
    try:
        find_pg_bindir()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


def test_start_create_insert_query() -> None:
    password = "s3cr'et"  # noqa: S105 - quoting check for a throwaway cluster
    with ThrowawayPostgres(user="tap", password=password, database="warehouse") as pg:
        assert pg.host == "127.0.0.1"
        assert pg.port > 0
        assert pg.env() == {
            "TARGET_POSTGRES_HOST": "127.0.0.1",
            "TARGET_POSTGRES_PORT": str(pg.port),
            "TARGET_POSTGRES_USER": "tap",
            "TARGET_POSTGRES_PASSWORD": password,
            "TARGET_POSTGRES_DATABASE": "warehouse",
        }
        # query() logs in over TCP with the password, as the role that owns the database.
        assert pg.query("select current_user, current_database()") == [("tap", "warehouse")]
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


def test_stop_removes_data_dir_and_instances_are_independent() -> None:
    first = ThrowawayPostgres().start()
    second = ThrowawayPostgres().start()
    try:
        assert first.tempdir is not None
        assert second.tempdir is not None
        assert first.tempdir != second.tempdir
        assert first.port != second.port
        tempdir = first.tempdir
        assert (first.data_dir / "PG_VERSION").is_file()
        first.stop()
        assert not tempdir.exists()
        with pytest.raises(RuntimeError):
            first.query("select 1")
        first.stop()  # idempotent
        assert second.query("select 1") == [("1",)]
    finally:
        first.stop()
        second.stop()
