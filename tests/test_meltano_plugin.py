"""The Meltano plugin definition, meltano.yml's settings and README's table are generated from
the tap's settings: never stale, and a new setting needs no edit anywhere else."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from singer_sdk import typing as th

from segment_analytics_sandbox.generators import meltano_plugin
from tap_segment_analytics.settings import SECRET_SETTINGS
from tap_segment_analytics.tap import TapSegmentAnalytics

PROJECT_ROOT = Path(__file__).resolve().parents[1]
GENERATED = (
    meltano_plugin.HUB_DEFINITION,
    meltano_plugin.MELTANO_YML,
    meltano_plugin.README,
    *meltano_plugin.PLUGIN_COPIES,
)
# One of each JSON type: every setting there was when the generator was written.
KINDS_OF_THE_FIRST_SETTINGS = {
    "start_date": "date_iso8601",
    "braze_api_key": "string",
    "braze_rest_endpoint": "string",
    "braze_segment_ids": "array",
    "braze_lookback_days": "integer",
    "appstore_key_id": "string",
    "appstore_issuer_id": "string",
    "appstore_private_key": "string",
    "appstore_private_key_path": "string",
    "appstore_app_ids": "array",
    "appstore_report_names": "array",
    "appstore_report_categories": "array",
    "appstore_granularities": "array",
    "appstore_create_report_requests": "boolean",
    "appstore_api_url": "string",
    "request_max_tries": "integer",
    # Not `decimal`: Meltano 4.4.1 cannot write a decimal given as text (config_text.py).
    "request_backoff_seconds": "string",
    "request_timeout_seconds": "integer",
}
MELTANO_KINDS = {"string", "integer", "boolean", "date_iso8601", "array", "object", "options"}


def test_generated_files_are_up_to_date() -> None:
    stale = meltano_plugin.stale_files(PROJECT_ROOT, write=False)

    assert stale == [], f"run `{meltano_plugin.COMMAND}` to regenerate {stale}"


def test_check_command_exits_1_naming_a_stale_file(tmp_path: Path) -> None:
    for relative in GENERATED:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / relative, tmp_path / relative)
    readme = tmp_path / meltano_plugin.README
    readme.write_text(readme.read_text().replace("| `start_date` |", "| `start_day` |"))

    check = [sys.executable, "-m", meltano_plugin.__name__, "--root", str(tmp_path)]
    result = subprocess.run([*check, "--check"], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stdout.strip() == f"{meltano_plugin.README}: stale, run {meltano_plugin.COMMAND}"

    assert subprocess.run(check, capture_output=True, check=False).returncode == 0
    assert subprocess.run([*check, "--check"], capture_output=True, check=False).returncode == 0
    assert readme.read_text() == (PROJECT_ROOT / meltano_plugin.README).read_text()


def test_a_new_setting_reaches_every_generated_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for relative in GENERATED:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / relative, tmp_path / relative)
    schema = json.loads(json.dumps(TapSegmentAnalytics.config_jsonschema))
    schema["properties"]["appstore_backfill_days"] = th.Property(
        "appstore_backfill_days",
        th.IntegerType(minimum=0),
        default=0,
        description="Days of App Store history to request.",
    ).to_dict()["appstore_backfill_days"]
    monkeypatch.setattr(TapSegmentAnalytics, "config_jsonschema", schema)

    # Every file that lists the tap's settings (the loader's and transformer's copies do not).
    assert meltano_plugin.stale_files(tmp_path, write=True) == [
        meltano_plugin.HUB_DEFINITION,
        meltano_plugin.MELTANO_YML,
        meltano_plugin.README,
    ]

    new = {
        "name": "appstore_backfill_days",
        "kind": "integer",
        "label": "App Store backfill days",
        "description": "Days of App Store history to request.",
        "value": 0,
    }
    hub = yaml.safe_load((tmp_path / meltano_plugin.HUB_DEFINITION).read_text())
    assert new in hub["settings"]
    project = yaml.safe_load((tmp_path / meltano_plugin.MELTANO_YML).read_text())
    assert new in project["plugins"]["extractors"][0]["settings"]
    assert (
        "| `appstore_backfill_days` | integer | `0` | Days of App Store history to request. |"
        in (tmp_path / meltano_plugin.README).read_text()
    )


def test_each_setting_gets_the_meltano_kind_of_its_type() -> None:
    settings = {s["name"]: s for s in meltano_plugin.settings()}

    kinds = {name: setting["kind"] for name, setting in settings.items()}
    assert set(kinds.values()) <= MELTANO_KINDS
    assert {
        name: kinds[name] for name in KINDS_OF_THE_FIRST_SETTINGS
    } == KINDS_OF_THE_FIRST_SETTINGS


def test_secrets_defaults_options_and_groups() -> None:
    settings = {s["name"]: s for s in meltano_plugin.settings()}

    # Sensitive to Meltano exactly when the tap redacts it from its logs.
    assert {name for name, s in settings.items() if s.get("sensitive")} == set(SECRET_SETTINGS)
    assert settings["appstore_granularities"]["value"] == ["DAILY"]
    assert settings["request_backoff_seconds"]["value"] == 2.0
    assert settings["stream_maps"]["kind"] == "object"
    # Set whole (`batch_config: {...}` in meltano.yml, JSON in the environment) or by leaf.
    assert settings["batch_config"]["kind"] == "object"
    assert settings["faker_config"]["kind"] == "object"
    assert settings["emit_activate_version_messages"]["kind"] == "boolean"
    assert settings["emit_activate_version_messages"]["value"] is False
    assert settings["batch_config.encoding.format"]["options"] == [
        {"label": "jsonl", "value": "jsonl"},
        {"label": "parquet", "value": "parquet"},
    ]
    assert meltano_plugin.settings_group_validation() == [
        ["start_date", "braze_api_key", "braze_rest_endpoint"],
        ["start_date", "appstore_key_id", "appstore_app_ids", "appstore_private_key"],
        ["start_date", "appstore_key_id", "appstore_app_ids", "appstore_private_key_path"],
    ]


def test_the_settings_page_claims_the_python_versions_about_lists() -> None:
    about = subprocess.run(
        [sys.executable, "-m", "tap_segment_analytics", "--about", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    readme = (PROJECT_ROOT / meltano_plugin.README).read_text(encoding="utf-8")

    (claimed,) = re.findall(r"^Supported Python versions: (.*)\.$", readme, flags=re.MULTILINE)

    assert claimed.split(", ") == json.loads(about.stdout)["supported_python_versions"]
