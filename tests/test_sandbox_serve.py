"""`tap-segment-analytics-sandbox serve`: every setting a config needs, and a ready config.json."""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from segment_analytics_sandbox.__main__ import READY
from tests.promised_streams import STREAM_KEYS
from tests.tap_runner import run_cli

READY_TIMEOUT_SECONDS = 60
TAP_SETTINGS = {
    "start_date",
    "braze_api_key",
    "braze_rest_endpoint",
    "appstore_key_id",
    "appstore_issuer_id",
    "appstore_private_key_path",
    "appstore_app_ids",
    "appstore_api_url",
}
# What meltano.yml's demo environment reads.
SANDBOX_VARIABLES = {
    "SANDBOX_START_DATE",
    "SANDBOX_BRAZE_API_KEY",
    "SANDBOX_BRAZE_URL",
    "SANDBOX_APPSTORE_URL",
    "SANDBOX_APPSTORE_KEY_PATH",
}


class Served:
    """A running `serve` and what it printed up to its ready line."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "segment_analytics_sandbox", "serve"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        printed: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(printed,), daemon=True).start()
        while not self.lines or not self.lines[-1].startswith(READY):
            line = printed.get(timeout=READY_TIMEOUT_SECONDS)
            assert line is not None, f"serve ended before it was ready: {self.lines}"
            self.lines.append(line.rstrip("\n"))

    def _read(self, printed: queue.Queue[str | None]) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            printed.put(line)
        printed.put(None)

    @property
    def exports(self) -> dict[str, str]:
        """The `export NAME=value` lines, as the shell would set them."""
        pairs = (shlex.split(line)[1] for line in self.lines if line.startswith("export "))
        return dict(pair.split("=", 1) for pair in pairs)

    @property
    def config_path(self) -> Path:
        line = next(line for line in self.lines if line.startswith("# config.json: "))
        return Path(line.removeprefix("# config.json: "))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture
def served() -> Iterator[Served]:
    serve = Served()
    yield serve
    serve.stop()


def test_serve_prints_every_setting_and_writes_a_config_the_tap_runs_with(
    served: Served,
) -> None:
    config = json.loads(served.config_path.read_text())
    assert set(config) == TAP_SETTINGS
    exports = served.exports
    assert {f"TAP_SEGMENT_ANALYTICS_{name.upper()}" for name in TAP_SETTINGS} | (
        SANDBOX_VARIABLES
    ) == set(exports)
    assert (
        json.loads(exports["TAP_SEGMENT_ANALYTICS_APPSTORE_APP_IDS"]) == config["appstore_app_ids"]
    )
    assert exports["SANDBOX_APPSTORE_KEY_PATH"] == config["appstore_private_key_path"]
    assert Path(config["appstore_private_key_path"]).is_file()

    from_file = run_cli("--config", str(served.config_path), secrets=(config["braze_api_key"],))

    assert from_file.returncode == 0, from_file.stderr
    assert set(from_file.record_counts()) == set(STREAM_KEYS)

    tap_env = {k: v for k, v in exports.items() if k.startswith("TAP_SEGMENT_ANALYTICS_")}
    from_env = run_cli("--config", "ENV", env={**os.environ, **tap_env})

    assert from_env.returncode == 0, from_env.stderr
    assert from_env.record_counts() == from_file.record_counts()


def test_stopping_serve_removes_the_config_and_key(served: Served) -> None:
    config = json.loads(served.config_path.read_text())

    assert served.stop() == 0
    assert not served.config_path.exists()
    assert not Path(config["appstore_private_key_path"]).exists()
