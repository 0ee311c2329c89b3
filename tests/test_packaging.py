"""One version, `python -m tap_segment_analytics`, a changelog entry and the license."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tap_segment_analytics import __version__

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_python_dash_m_runs_the_tap_and_reports_the_package_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tap_segment_analytics", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"tap-segment-analytics v{__version__}, Meltano SDK v")


def test_changelog_has_an_entry_for_the_package_version() -> None:
    changelog = (PROJECT_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    versions = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", changelog, flags=re.MULTILINE)

    assert versions
    assert versions[0] == __version__  # the newest release comes first


def test_license_file_is_the_apache_license_pyproject_names() -> None:
    license_text = (PROJECT_ROOT / "LICENSE").read_text(encoding="utf-8")
    pyproject = (PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8")

    assert "Apache License" in license_text
    assert "Version 2.0, January 2004" in license_text
    assert 'license = "Apache-2.0"' in pyproject
