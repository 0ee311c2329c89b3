"""No ACTIVATE_VERSION: `--about`, meltano.yml and the Hub definition list the same capabilities,
and the SDK setting that would send the message anyway is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import braze_config
from tests.fakes import FakeBraze
from tests.tap_runner import run_cli, run_tap

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def about() -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "tap_segment_analytics", "--about", "--format=json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(result.stdout))


def test_about_meltano_yml_and_hub_definition_list_the_same_capabilities() -> None:
    project = yaml.safe_load((PROJECT_ROOT / "meltano.yml").read_text(encoding="utf-8"))
    extractor = next(
        plugin
        for plugin in project["plugins"]["extractors"]
        if plugin["name"] == "tap-segment-analytics"
    )
    hub = yaml.safe_load(
        (PROJECT_ROOT / "meltano-hub" / "tap-segment-analytics.yml").read_text(encoding="utf-8")
    )

    capabilities = about()["capabilities"]

    assert "activate-version" not in capabilities
    assert {"catalog", "discover", "state"} <= set(capabilities)
    assert extractor["capabilities"] == capabilities
    assert hub["capabilities"] == capabilities


def test_emit_activate_version_messages_is_an_error_before_anything_is_sent(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    config = braze_config(fake_braze, emit_activate_version_messages=True)

    run = run_tap(config, tmp_path)

    assert run.returncode != 0
    assert "emit_activate_version_messages is not supported" in run.stderr
    assert "Traceback" not in run.stderr
    assert run.messages == []
    assert fake_braze.requests == []


def test_emit_activate_version_messages_false_is_accepted_from_json_and_from_the_environment(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    # Meltano sends the setting's default (false); singer-sdk 0.55 makes the setting built in.
    from_json = run_tap(braze_config(fake_braze, emit_activate_version_messages=False), tmp_path)
    env = {
        **os.environ,
        **{
            f"TAP_SEGMENT_ANALYTICS_{name.upper()}": str(value)
            for name, value in braze_config(fake_braze).items()
        },
        "TAP_SEGMENT_ANALYTICS_EMIT_ACTIVATE_VERSION_MESSAGES": "false",
    }
    from_env = run_cli("--config", "ENV", env=env)

    for run in (from_json, from_env):
        assert run.returncode == 0, run.stderr
        assert run.record_counts()["braze_segment_sizes"] > 0
        assert "ACTIVATE_VERSION" not in {message["type"] for message in run.messages}
