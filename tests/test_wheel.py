"""The built wheels: the tap's holds the tap and nothing else (the fake APIs, the PostgreSQL helper,
the demo and the generators are the sandbox distribution's), and both work installed into a
clean venv, away from the source tree."""

from __future__ import annotations

import email
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from segment_analytics_sandbox.environment import start_sandbox
from tap_segment_analytics import __version__
from tests.promised_streams import ALL_STREAM_KEYS

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SANDBOX_ROOT = PROJECT_ROOT / "sandbox"
TAP_PACKAGE = "tap_segment_analytics"
SANDBOX_PACKAGE = "segment_analytics_sandbox"
# What must never reach a production install, by module name (the sandbox's and the generators').
NOT_THE_TAP = (
    "sandbox",
    "fake",
    "faults",
    "postgres",
    "demo",
    "meltano_plugin",
    "current_rows_models",
    "report_catalogue.py",
    "generated_files",
    "generators",
)


@dataclass
class BuiltWheels:
    """The two distributions of the checkout, built as wheels."""

    tap: Path
    sandbox: Path

    @staticmethod
    def files(wheel: Path) -> set[str]:
        """The paths inside a wheel."""
        with zipfile.ZipFile(wheel) as archive:
            return set(archive.namelist())

    @staticmethod
    def metadata(wheel: Path, name: str) -> str:
        """A file of the wheel's .dist-info folder."""
        with zipfile.ZipFile(wheel) as archive:
            (path,) = [p for p in archive.namelist() if p.endswith(f".dist-info/{name}")]
            return archive.read(path).decode("utf-8")


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
            # uv installed the venv without bytecode: let the first run write it.
            env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
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
def built_wheels(tmp_path_factory: pytest.TempPathFactory) -> BuiltWheels:
    """`python -m build --wheel` of the tap (the checkout) and of the sandbox (sandbox/)."""
    dist = tmp_path_factory.mktemp("wheels")
    for source in (PROJECT_ROOT, SANDBOX_ROOT):
        run_checked(
            # uv (Meltano's dependency) makes the isolated build environment in a fraction of
            # the time pip takes; the build itself is the same (hatchling).
            [
                *(sys.executable, "-m", "build", "--wheel", "--installer", "uv"),
                *("--outdir", str(dist), str(source)),
            ],
            timeout=600,
        )
    (tap,) = dist.glob("tap_segment_analytics-*.whl")
    (sandbox,) = dist.glob("tap_segment_analytics_sandbox-*.whl")
    return BuiltWheels(tap, sandbox)


@pytest.fixture(scope="module")
def installed_wheel(
    built_wheels: BuiltWheels, tmp_path_factory: pytest.TempPathFactory
) -> InstalledWheel:
    """A fresh venv with both wheels installed (their other dependencies: PyPI), by uv: the
    same install as pip's in a second instead of ten (ensurepip, then pip resolving)."""
    from uv import find_uv_bin  # a [dev] package: the units-only CI venvs do not have it

    root = tmp_path_factory.mktemp("wheel")
    env_dir = root / "venv"
    uv = find_uv_bin()
    run_checked([uv, "venv", "--quiet", "--python", sys.executable, str(env_dir)])
    bin_dir = env_dir / "bin"
    wheels = [str(built_wheels.tap), str(built_wheels.sandbox)]
    run_checked(
        [uv, "pip", "install", "--quiet", "--python", str(bin_dir / "python"), *wheels],
        timeout=600,
    )
    workdir = root / "work"
    workdir.mkdir()
    return InstalledWheel(bin_dir, workdir)


def test_tap_wheel_holds_the_tap_its_schemas_and_catalogue_and_no_sandbox(
    built_wheels: BuiltWheels,
) -> None:
    files = built_wheels.files(built_wheels.tap)
    dist_info = f"{TAP_PACKAGE}-{__version__}.dist-info/"
    modules = {path for path in files if path.endswith(".py")}
    source_modules = {
        path.relative_to(PROJECT_ROOT).as_posix()
        for path in (PROJECT_ROOT / TAP_PACKAGE).rglob("*.py")
    }

    assert {path for path in files if not path.startswith(dist_info)} == {
        *source_modules,
        f"{TAP_PACKAGE}/appstore/report_catalogue.json",
        *(f"{TAP_PACKAGE}/schemas/{name}.json" for name in ALL_STREAM_KEYS),
    }
    assert modules == source_modules
    assert not [path for path in files if any(word in path for word in NOT_THE_TAP)]
    scripts = built_wheels.metadata(built_wheels.tap, "entry_points.txt")
    assert "tap-segment-analytics-sandbox" not in scripts
    metadata = email.message_from_string(built_wheels.metadata(built_wheels.tap, "METADATA"))
    assert sorted(metadata.get_all("Provides-Extra") or []) == ["dev", "test"]  # no demo
    requires = " ".join(metadata.get_all("Requires-Dist") or [])
    assert "meltano" not in requires
    assert "pgserver" not in requires


def test_sandbox_wheel_holds_the_fakes_the_demo_and_the_generators(
    built_wheels: BuiltWheels,
) -> None:
    files = built_wheels.files(built_wheels.sandbox)
    package = {path for path in files if path.startswith(f"{SANDBOX_PACKAGE}/")}
    source = {
        path.relative_to(SANDBOX_ROOT).as_posix()
        for pattern in ("*.py", "*.json")  # the generators' data files too
        for path in (SANDBOX_ROOT / SANDBOX_PACKAGE).rglob(pattern)
    }

    assert package == source
    assert {
        f"{SANDBOX_PACKAGE}/{module}.py"
        for module in (
            "appstore",
            "braze",
            "http",
            "faults",
            "postgres",
            "demo",
            "generators/meltano_plugin",
            "generators/current_rows_models",
            "generators/report_catalogue",
        )
    } <= package
    assert not [path for path in files if path.startswith(f"{TAP_PACKAGE}/")]
    scripts = built_wheels.metadata(built_wheels.sandbox, "entry_points.txt")
    assert f"tap-segment-analytics-sandbox = {SANDBOX_PACKAGE}.__main__:main" in scripts
    metadata = email.message_from_string(built_wheels.metadata(built_wheels.sandbox, "METADATA"))
    assert metadata["Version"] == __version__
    assert "tap-segment-analytics" in (metadata.get_all("Requires-Dist") or [])


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
