"""The built wheel works on its own: installed into a clean venv, away from the source tree."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

from segment_analytics_sandbox.environment import start_sandbox
from tap_segment_analytics import __version__
from tests.promised_streams import ALL_STREAM_KEYS

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class InstalledWheel:
    """A clean venv with only the wheel (and its dependencies) installed."""

    bin: Path
    workdir: Path  # outside the source tree, so nothing is imported from it

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run one of the venv's programs in the work folder."""
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def run_checked(command: list[str], *, timeout: float = 600) -> None:
    """Run a build/install step; fail with the tail of its output."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{command[:4]}:\n{(result.stdout + result.stderr)[-4000:]}"


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> InstalledWheel:
    """`python -m build --wheel`, then a fresh venv with the wheel pip-installed (deps: PyPI)."""
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    run_checked(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(PROJECT_ROOT)],
        timeout=600,
    )
    (wheel,) = dist.glob("tap_segment_analytics-*.whl")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    run_checked(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)], timeout=600
    )
    workdir = root / "work"
    workdir.mkdir()
    return InstalledWheel(bin_dir, workdir)


def test_discover_lists_every_stream_with_its_keys_and_schemas_ship(
    installed_wheel: InstalledWheel,
) -> None:
    sandbox = start_sandbox()
    try:
        config = installed_wheel.workdir / "config.json"
        config.write_text(json.dumps(sandbox.tap_config()))
        result = installed_wheel.run("tap-segment-analytics", "--config", str(config), "--discover")
    finally:
        sandbox.stop()

    assert result.returncode == 0, result.stderr[-3000:]
    catalog = json.loads(result.stdout)
    assert {s["tap_stream_id"]: s["key_properties"] for s in catalog["streams"]} == ALL_STREAM_KEYS

    located = installed_wheel.run(
        "python", "-c", "import tap_segment_analytics as p; print(p.__file__)"
    )
    package = Path(located.stdout.strip()).parent
    assert installed_wheel.workdir.parent in package.parents  # the venv's copy, not the source
    shipped = {path.name for path in (package / "schemas").glob("*.json")}
    assert shipped == {f"{name}.json" for name in ALL_STREAM_KEYS}


def test_wheel_carries_the_version_and_license_and_runs_as_a_module(
    installed_wheel: InstalledWheel,
) -> None:
    metadata = installed_wheel.run(
        "python",
        "-c",
        "import importlib.metadata as m; d = m.distribution('tap-segment-analytics'); "
        "print(d.version, d.metadata['License-Expression'], "
        "sorted(f.name for f in d.files if f.name == 'LICENSE'))",
    )
    assert metadata.stdout.strip().split(maxsplit=2) == [__version__, "Apache-2.0", "['LICENSE']"]

    result = installed_wheel.run("python", "-m", "tap_segment_analytics", "--version")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith(f"tap-segment-analytics v{__version__},")


def test_sandbox_run_from_the_wheel_emits_records(installed_wheel: InstalledWheel) -> None:
    result = installed_wheel.run("tap-segment-analytics-sandbox", "run")

    assert result.returncode == 0, result.stderr[-3000:]
    counts = {
        line.split()[0]: int(line.split()[1])
        for line in result.stdout.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    }
    assert counts["braze_segment_sizes"] > 0
    assert counts["appstore_app_downloads_standard"] > 0


def test_demo_from_the_wheel_without_meltano_yml_falls_back_to_jsonl(
    installed_wheel: InstalledWheel,
) -> None:
    result = installed_wheel.run("tap-segment-analytics-sandbox", "demo", "--output", "out")

    assert result.returncode == 0, result.stderr[-3000:]
    reason = result.stdout.splitlines()[0]
    assert reason.startswith("demo: no meltano.yml")
    assert reason.endswith("instead")
    assert (installed_wheel.workdir / "out" / "braze_segment_sizes.jsonl").stat().st_size > 0
