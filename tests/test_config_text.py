"""Numbers that arrive as text (from Meltano or `--config ENV`) reach the tap as numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tap_segment_analytics.config_text import numbers_from_text
from tap_segment_analytics.tap import TapSegmentAnalytics
from tests.conftest import braze_config
from tests.fakes import FakeBraze
from tests.tap_runner import run_tap

SCHEMA = TapSegmentAnalytics.config_jsonschema


@pytest.mark.parametrize(
    ("given", "read"),
    [
        ("1.5", {"request_backoff_seconds": 1.5}),
        ("2", {"request_backoff_seconds": 2.0}),
        (" 0.25 ", {"request_backoff_seconds": 0.25}),
        ("soon", {}),  # left for the schema check, which names the setting
        ("nan", {}),
        ("inf", {}),
        (1.5, {}),  # already a number
    ],
)
def test_number_settings_given_as_text_are_read_as_numbers(given: object, read: dict) -> None:
    assert numbers_from_text({"request_backoff_seconds": given}, SCHEMA) == read


def test_text_of_other_settings_stays_text() -> None:
    config = {"braze_rest_endpoint": "1.5", "request_max_tries": "3", "start_date": "2026-01-01"}

    assert numbers_from_text(config, SCHEMA) == {}


def test_tap_waits_the_backoff_given_as_text(fake_braze: FakeBraze, tmp_path: Path) -> None:
    fake_braze.inject(503, times=1, path="/segments/list")

    run = run_tap(braze_config(fake_braze, request_backoff_seconds="0.5"), tmp_path)

    assert run.returncode == 0, run.stderr
    (wait,) = re.findall(r" on /segments/list, retry 1 of \d+ in (\d+\.\d) s", run.stderr)
    assert 0.5 <= float(wait) <= 0.6  # 0.5 s plus up to 10% jitter


def test_backoff_text_that_is_no_number_is_an_error_naming_the_setting(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    run = run_tap(braze_config(fake_braze, request_backoff_seconds="soon"), tmp_path)

    assert run.returncode != 0
    assert "request_backoff_seconds" in run.stderr
    assert "Traceback" not in run.stderr
    assert fake_braze.requests == []
