"""A throwaway PostgreSQL cluster for the demo and the end-to-end tests (stdlib only).

`ThrowawayPostgres` runs `initdb` into a fresh temporary directory, starts the server with
`pg_ctl` on a free 127.0.0.1 port (unix socket inside the temporary directory), creates a
login role with a password and a database owned by it, and removes everything on `stop()`.

PostgreSQL refuses to run as root: when this process is root, `initdb`/`pg_ctl` run as the
unprivileged `postgres` user (or `nobody` if there is none) and the temporary directory is
chowned to it. Several instances may run side by side: each has its own directory and port.

    with ThrowawayPostgres() as pg:
        pg.query("select 1")          # -> [("1",)]
        os.environ.update(pg.env())   # TARGET_POSTGRES_HOST/PORT/USER/PASSWORD/DATABASE
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any

from typing_extensions import override

__all__ = ["PostgresUnavailable", "ThrowawayPostgres", "find_pg_bindir"]

_INSTALL_HINT = "install Debian's postgresql package"
_SUPERUSER = "postgres"  # bootstrap superuser of the private cluster (unix-socket trust only)
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be started here; the message is a one-line reason."""


def _version_key(path: str) -> tuple[int, ...]:
    """Sort key for /usr/lib/postgresql/<version>/bin (numeric, highest last)."""
    version = Path(path).parent.name
    return tuple(int(part) for part in re.findall(r"\d+", version)) or (0,)


def find_pg_bindir() -> Path:
    """The directory holding `initdb`, `pg_ctl` and `postgres`.

    `initdb` on PATH wins (symlinks resolved, so /usr/local/bin/initdb -> .../15/bin works);
    otherwise the highest /usr/lib/postgresql/*/bin that has `initdb`.
    """
    on_path = shutil.which("initdb")
    if on_path:
        bindir = Path(os.path.realpath(on_path)).parent
        if (bindir / "pg_ctl").exists():
            return bindir
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    for candidate in candidates:
        if os.access(os.path.join(candidate, "initdb"), os.X_OK):
            return Path(candidate)
    raise PostgresUnavailable(f"initdb not found ({_INSTALL_HINT})")


def _tool(bindir: Path, name: str) -> str:
    """A PostgreSQL client/server program: from `bindir` first, then PATH."""
    candidate = bindir / name
    if os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise PostgresUnavailable(f"{name} not found ({_INSTALL_HINT})")


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _world_traversable(path: str) -> bool:
    """True if every directory from / down to `path` can be entered by other users."""
    current = Path(path).resolve()
    for directory in (current, *current.parents):
        try:
            if not os.stat(directory).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class ThrowawayPostgres:
    """initdb + pg_ctl start a private cluster on a free 127.0.0.1 port; stop() removes it."""

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        user: str = "tap",
        password: str = "tap",  # noqa: S107 - a throwaway local cluster's default
        database: str = "warehouse",
        start_timeout: float = 60.0,
    ) -> None:
        for label, value in (("user", user), ("database", database)):
            if not _NAME_RE.match(value):
                raise ValueError(f"{label} must be a plain SQL identifier, got {value!r}")
        self.user = user
        self.password = password
        self.database = database
        self.start_timeout = start_timeout
        self.port: int = 0
        self.tempdir: Path | None = None
        self._bindir: Path | None = None
        self._run_as: tuple[int, int] | None = None  # (uid, gid) when dropping root
        self._started = False

    # -- paths ------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self._require_tempdir() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._require_tempdir() / "sock"

    @property
    def log_file(self) -> Path:
        return self._require_tempdir() / "postgres.log"

    @property
    def url(self) -> str:
        """A libpq/SQLAlchemy-style URL for the application role."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    def _require_tempdir(self) -> Path:
        if self.tempdir is None:
            raise RuntimeError("ThrowawayPostgres is not started")
        return self.tempdir

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> ThrowawayPostgres:
        """Create and start the cluster; raises PostgresUnavailable with a clear reason."""
        if self._started:
            return self
        self._bindir = find_pg_bindir()
        for name in ("pg_ctl", "postgres", "psql", "pg_isready"):
            _tool(self._bindir, name)  # fail early with a clear reason
        self._run_as = self._pick_unprivileged_user()
        self.tempdir = self._make_tempdir()
        try:
            self._initdb()
            self._start_server()
            self._create_role_and_database()
        except BaseException:
            self.stop()
            raise
        self._started = True
        _LIVE.add(self)
        return self

    def stop(self) -> None:
        """`pg_ctl stop -m fast`, then remove the temporary directory. Idempotent."""
        tempdir, self.tempdir = self.tempdir, None
        _LIVE.discard(self)
        self._started = False
        if tempdir is None:
            return
        data_dir = tempdir / "data"
        if (data_dir / "postmaster.pid").exists() and self._bindir is not None:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                self._run(
                    [
                        _tool(self._bindir, "pg_ctl"),
                        "stop",
                        "-D",
                        str(data_dir),
                        "-m",
                        "fast",
                        "-w",
                        "-t",
                        "30",
                    ],
                    as_server=True,
                    check=False,
                    timeout=60,
                )
        shutil.rmtree(tempdir, ignore_errors=True)

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort; stop() is the real interface
        if getattr(self, "tempdir", None) is not None:
            with contextlib.suppress(Exception):
                self.stop()

    # -- public helpers ---------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """Settings for meltano's target-postgres (MeltanoLabs variant) as env vars."""
        return {
            "TARGET_POSTGRES_HOST": self.host,
            "TARGET_POSTGRES_PORT": str(self.port),
            "TARGET_POSTGRES_USER": self.user,
            "TARGET_POSTGRES_PASSWORD": self.password,
            "TARGET_POSTGRES_DATABASE": self.database,
        }

    def query(self, sql: str) -> list[tuple[str, ...]]:
        """Run SQL through psql as the application role over TCP; rows as tuples of strings.

        Several statements may be given; the rows of all row-returning statements come back
        concatenated. NULL comes back as "". Raises RuntimeError when psql reports an error.
        """
        if not self._started or self._bindir is None:
            raise RuntimeError("ThrowawayPostgres is not started")
        result = self._run(
            [
                _tool(self._bindir, "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-F",
                "\t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                self.database,
                "-f",
                "-",
            ],
            as_server=False,
            input_text=sql,
            env_extra={"PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"},
            check=False,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip() or result.stdout.strip()}")
        return [tuple(line.split("\t")) for line in result.stdout.splitlines() if line != ""]

    # -- internals --------------------------------------------------------------------------

    def _pick_unprivileged_user(self) -> tuple[int, int] | None:
        if os.geteuid() != 0:
            return None
        import pwd

        for name in ("postgres", "nobody"):
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            if entry.pw_uid != 0:
                return entry.pw_uid, entry.pw_gid
        raise PostgresUnavailable(
            "running as root and no unprivileged 'postgres' user to run the server as "
            f"({_INSTALL_HINT})"
        )

    def _make_tempdir(self) -> Path:
        base = tempfile.gettempdir()
        # The server user must reach the directory, and the socket path must stay < 108 bytes.
        if (self._run_as is not None and not _world_traversable(base)) or len(base) > 60:
            base = "/tmp"  # noqa: S108 - mkdtemp below makes a private directory in it
        path = Path(tempfile.mkdtemp(prefix="tap-pg-", dir=base))
        (path / "sock").mkdir()
        if self._run_as is not None:
            uid, gid = self._run_as
            for item in (path, path / "sock"):
                os.chown(item, uid, gid)
        return path

    def _run(
        self,
        argv: list[str],
        *,
        as_server: bool,
        check: bool = True,
        timeout: float = 120,
        input_text: str | None = None,
        env_extra: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({"LC_ALL": "C", "LANG": "C", "TZ": "UTC"})
        kwargs: dict[str, Any] = {}
        if as_server and self._run_as is not None:
            uid, gid = self._run_as
            kwargs.update(user=uid, group=gid, extra_groups=[])
            env["HOME"] = str(self.tempdir or "/")
        env.update(env_extra or {})
        try:
            result = subprocess.run(
                argv,
                input=input_text,
                capture_output=True,
                text=True,
                env=env,
                cwd=str(self.tempdir or "/"),
                timeout=timeout,
                **kwargs,
            )
        except FileNotFoundError as exc:
            raise PostgresUnavailable(f"{argv[0]} not found ({_INSTALL_HINT})") from exc
        if check and result.returncode != 0:
            name = os.path.basename(argv[0])
            detail = _last_line(result.stderr) or _last_line(result.stdout) or "no output"
            raise PostgresUnavailable(f"{name} failed (exit {result.returncode}): {detail}")
        return result

    def _initdb(self) -> None:
        assert self._bindir is not None
        self._run(
            [
                _tool(self._bindir, "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                _SUPERUSER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            as_server=True,
            timeout=180,
        )
        overrides = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": _quote_literal(str(self.socket_dir)),
            "password_encryption": "'scram-sha-256'",
            "max_connections": "50",
            "shared_buffers": "'32MB'",
            # A throwaway cluster: durability is not wanted, speed is.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "logging_collector": "off",
            "timezone": "'UTC'",
        }
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as handle:
            handle.write("\n# ThrowawayPostgres\n")
            for key, value in overrides.items():
                handle.write(f"{key} = {value}\n")

    def _start_server(self) -> None:
        assert self._bindir is not None
        pg_ctl = _tool(self._bindir, "pg_ctl")
        deadline = time.monotonic() + self.start_timeout
        last_error = ""
        for _attempt in range(5):  # another process may grab the port between pick and bind
            self.port = _free_port()
            remaining = max(5, int(deadline - time.monotonic()))
            result = self._run(
                [
                    pg_ctl,
                    "start",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    str(remaining),
                    "-o",
                    f"-p {self.port}",
                ],
                as_server=True,
                check=False,
                timeout=remaining + 30,
            )
            if result.returncode == 0:
                self._wait_ready(deadline)
                return
            log = self._read_log()
            last_error = _last_line(log) or _last_line(result.stderr) or "no output"
            port_taken = "could not bind" in log or "Address already in use" in log
            if port_taken and time.monotonic() < deadline:
                self.log_file.unlink(missing_ok=True)
                continue
            break
        raise PostgresUnavailable(f"postgres did not start: {last_error}")

    def _wait_ready(self, deadline: float) -> None:
        """Poll pg_isready over TCP until the server accepts connections or the deadline."""
        assert self._bindir is not None
        pg_isready = _tool(self._bindir, "pg_isready")
        delay = 0.05
        while True:
            result = self._run(
                [pg_isready, "-q", "-h", self.host, "-p", str(self.port), "-t", "2"],
                as_server=False,
                check=False,
                timeout=30,
            )
            if result.returncode == 0:
                return
            if time.monotonic() >= deadline:
                raise PostgresUnavailable(
                    f"postgres on {self.host}:{self.port} not ready within "
                    f"{self.start_timeout:.0f}s: {_last_line(self._read_log()) or 'no log'}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _create_role_and_database(self) -> None:
        assert self._bindir is not None
        psql = _tool(self._bindir, "psql")
        common = [
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(self.socket_dir),
            "-p",
            str(self.port),
            "-U",
            _SUPERUSER,
        ]
        role_sql = (
            f"CREATE ROLE {_quote_ident(self.user)} LOGIN CREATEDB "
            f"PASSWORD {_quote_literal(self.password)};\n"
        )
        if self.user == _SUPERUSER:
            role_sql = (
                f"ALTER ROLE {_quote_ident(self.user)} PASSWORD {_quote_literal(self.password)};\n"
            )
        self._run([psql, *common, "-d", "postgres", "-f", "-"], as_server=True, input_text=role_sql)
        if self.database != "postgres":
            create_db = (
                f"CREATE DATABASE {_quote_ident(self.database)} OWNER {_quote_ident(self.user)}"
            )
            self._run(
                [
                    psql,
                    *common,
                    "-d",
                    "postgres",
                    "-c",
                    create_db,
                ],
                as_server=True,
            )
        # PostgreSQL 15 no longer lets every role create in schema public: give it to the owner.
        self._run(
            [
                psql,
                *common,
                "-d",
                self.database,
                "-c",
                f"ALTER SCHEMA public OWNER TO {_quote_ident(self.user)}",
            ],
            as_server=True,
        )

    def _read_log(self) -> str:
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace")
        except (OSError, RuntimeError):
            return ""

    @override
    def __repr__(self) -> str:
        state = f"{self.host}:{self.port}" if self._started else "stopped"
        return f"<ThrowawayPostgres {self.user}@{self.database} {state}>"


_LIVE: weakref.WeakSet[ThrowawayPostgres] = weakref.WeakSet()


@atexit.register
def _stop_all_at_exit() -> None:
    """Do not leave servers or directories behind when the interpreter exits."""
    for instance in list(_LIVE):
        with contextlib.suppress(Exception):
            instance.stop()


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""
