"""Runs the tap's real CLI in a process of its own and reads its Singer messages."""

from __future__ import annotations

import atexit
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import time_machine

SECRET_KEYS = ("braze_api_key", "appstore_private_key")
# Credentials that are never configured but must never be printed either.
JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")
URL_SIGNATURE = re.compile(r"X-Amz-(?:Signature|Security-Token|Credential)=(?!<redacted>)")


@dataclass
class TapRun:
    """What one tap run printed."""

    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    def records(self, stream: str) -> list[dict[str, Any]]:
        """RECORD payloads of one stream, in order."""
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    def record_counts(self) -> Counter[str]:
        """Records per stream."""
        return Counter(m["stream"] for m in self.messages if m["type"] == "RECORD")

    @property
    def states(self) -> list[dict[str, Any]]:
        """Every STATE value, in order."""
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def final_state(self) -> dict[str, Any]:
        """The last STATE value."""
        return self.states[-1]

    def error_lines(self) -> list[str]:
        """stderr lines logged at ERROR level."""
        return [line for line in self.stderr.splitlines() if "ERROR" in line]

    def log_lines(self) -> list[str]:
        """The stderr lines of the run's loggers (`time | level | logger | message`), Python's
        own warnings left out: on Python 3.10 the SDK warns that it reached its end of life."""
        return [
            line
            for line in self.stderr.splitlines()
            if len(fields := line.split(" | ", 3)) == 4 and fields[2].strip() != "py.warnings"
        ]

    def log_messages(self) -> list[str]:
        """The message part of each stderr line (after the SDK's `time | level | logger |`)."""
        return [line.split(" | ", 3)[-1] for line in self.stderr.splitlines()]

    def summary(self) -> dict[str, dict[str, float]]:
        """The run summary's table: {stream or 'total': {records, requests, retries, skipped,
        files, bytes, seconds}, and bad_values and bad_rows when the run met any}."""
        messages = self.log_messages()
        start = next(i for i, m in enumerate(messages) if m.startswith("run summary:"))
        header = messages[start + 1].split()
        columns = ["stream", "records", "requests", "retries", "skipped", "files", "bytes", "time"]
        assert header in (columns, [*columns, "bad_values", "bad_rows"]), header
        table = {}
        for message in messages[start + 2 :]:
            name, *cells = message.split()
            assert cells.pop(7) == "s", message  # the time's unit
            numbers = [float(cell.replace(",", "")) for cell in cells]
            names = [*header[1:7], "seconds", *header[8:]]
            table[name] = dict(zip(names, numbers, strict=True))
            if name == "total":
                break
        return table


def run_tap(
    config: dict[str, Any],
    tmp_path: Path,
    *,
    state: dict[str, Any] | None = None,
    args: tuple[str, ...] = (),
    secrets: tuple[str, ...] = (),
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> TapRun:
    """Run `tap-segment-analytics` with this config (and state); assert no secret is printed."""
    command = config_arguments(config, tmp_path, state=state)
    secrets = (*secrets, *config_secrets(config))
    return run_cli(*command, *args, secrets=secrets, timeout=timeout, env=env)


def config_arguments(
    config: dict[str, Any], directory: Path, *, state: dict[str, Any] | None = None
) -> list[str]:
    """`--config` (and `--state`) of files written into `directory`."""
    config_path = directory / "config.json"
    config_path.write_text(json.dumps(config))
    arguments = ["--config", str(config_path)]
    if state is not None:
        state_path = directory / "state.json"
        state_path.write_text(json.dumps(state))
        arguments += ["--state", str(state_path)]
    return arguments


def config_secrets(config: dict[str, Any]) -> tuple[str, ...]:
    """The secrets a config holds, which no output may print."""
    return tuple(str(config.get(key) or "") for key in SECRET_KEYS)


def run_cli(
    *args: str,
    secrets: tuple[str, ...] = (),
    timeout: float = 300,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> TapRun:
    """Run `tap-segment-analytics <args>` in a process of its own; assert none of `secrets`,
    no JWT and no presigned URL credential is printed."""
    with tempfile.TemporaryDirectory(prefix="tap-run-") as folder:
        files = {name: Path(folder) / name for name in ("stdin", "stdout", "stderr")}
        files["stdin"].write_text(stdin or "", encoding="utf-8")
        process = start_tap(
            args, env=env, stdin=files["stdin"], stdout=files["stdout"], stderr=files["stderr"]
        )
        process.join(timeout)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(["tap-segment-analytics", *args], timeout)
        stdout, stderr = (files[name].read_text(encoding="utf-8") for name in ("stdout", "stderr"))
    run = TapRun(process.exitcode, stdout, stderr)
    for line in stdout.splitlines():
        if line.startswith("{"):
            run.messages.append(json.loads(line))
    assert_no_secret((stdout, stderr), secrets)
    return run


# Each run is a process forked from a server that has imported the tap once (per test worker):
# a run of its own, as from the command line, without a second of imports every time.
_TAP_PROCESSES = multiprocessing.get_context("forkserver")
_TAP_PROCESSES.set_forkserver_preload(["tap_segment_analytics.tap", "tests.tap_runner"])


def start_tap(
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    stdin: Path,
    stdout: Path,
    stderr: Path,
    frozen_at: float | None = None,
) -> BaseProcess:
    """Start `tap-segment-analytics <args>` in a process of its own, reading `stdin` and
    writing `stdout` and `stderr` (files, or a FIFO the caller reads), in `env` (by default
    this process's environment), its clock moved to `frozen_at` (ticking) if given."""
    files = {"stdin": str(stdin), "stdout": str(stdout), "stderr": str(stderr)}
    # As a subprocess would: this process's environment and folder now, not the server's.
    env = dict(os.environ) if env is None else env
    process = _TAP_PROCESSES.Process(
        target=_tap_process,
        args=(list(args), env, os.getcwd(), files, frozen_at),
        name="tap-segment-analytics",
    )
    process.start()
    return process


def _tap_process(
    args: list[str],
    env: dict[str, str],
    folder: str,
    files: dict[str, str],
    frozen_at: float | None,
) -> None:
    """The tap's command line in a forked process: its environment, stdin and output files
    in place of the server's, then its exit (atexit handlers included, as at a real exit)."""
    for descriptor, name, mode in (
        (1, "stdout", os.O_WRONLY | os.O_CREAT),  # first: a FIFO's reader waits for it
        (2, "stderr", os.O_WRONLY | os.O_CREAT),
        (0, "stdin", os.O_RDONLY),
    ):
        opened = os.open(files[name], mode, 0o600)
        os.dup2(opened, descriptor)
        os.close(opened)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    os.environ.clear()
    os.environ.update(env)
    time.tzset()  # a TZ in `env` applies, as at an interpreter's start
    os.chdir(folder)
    if frozen_at is not None:
        time_machine.travel(frozen_at, tick=True).start()
    from tap_segment_analytics.tap import TapSegmentAnalytics

    try:
        TapSegmentAnalytics.cli.main(args=args, prog_name="tap-segment-analytics")
    finally:
        atexit._run_exitfuncs()


def assert_no_secret(texts: tuple[str, ...], secrets: tuple[str, ...] = ()) -> None:
    """None of `secrets`, no JWT and no presigned URL credential appears in any of the texts."""
    for text in texts:
        for secret in secrets:
            assert not secret or secret not in text, "a secret was printed"
        assert not JWT.search(text), "a JWT was printed"
        assert not URL_SIGNATURE.search(text), "a presigned URL's credentials were printed"
