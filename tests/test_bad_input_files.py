"""Bad --config, --state and --catalog files: one line naming the file and what is wrong,
exit code 2, no traceback, nothing asked of any source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import braze_config
from tests.fakes import FakeBraze
from tests.tap_runner import run_cli, run_tap

BAD_INPUT = 2
OPTIONS = ("--config", "--state", "--catalog")
# (file content or None for no file, what the line says after "<option> <path>")
NOT_JSON = '{"bookmarks": {},}'


def json_error(text: str) -> str:
    """What this Python's json module says of `text` (3.13 words a trailing comma otherwise)."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return str(exc)
    raise AssertionError(f"{text!r} is JSON")


COMMON_PROBLEMS = {
    "missing": (None, ": no such file"),
    "empty": ("\n", " is empty"),
    "not JSON": (NOT_JSON, f" is not JSON: {json_error(NOT_JSON)}"),
    "an array": ("[]", " holds an array, not a JSON object"),
    "null": ("null", " holds null, not a JSON object"),
    "latin-1": ('{"name": "caf\xe9"}'.encode("latin-1"), " is not UTF-8 text"),
}
SHAPE_PROBLEMS = {
    "--state": ('{"bookmarks": []}', ": 'bookmarks' is not an object"),
    "--catalog": (
        '{"streams": [{"stream": "braze_segments"}]}',
        ": streams[0] has no 'tap_stream_id'",
    ),
}


def write(path: Path, content: str | bytes | None) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    return path


def assert_one_line(stderr: str, expected: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].endswith(f"| ERROR    | tap-segment-analytics          | {expected}")


@pytest.mark.parametrize(
    ("option", "problem"),
    [
        *((option, problem) for option in OPTIONS for problem in COMMON_PROBLEMS),
        *((option, "shape") for option in SHAPE_PROBLEMS),
    ],
)
def test_a_bad_file_is_one_line_naming_it(
    fake_braze: FakeBraze, tmp_path: Path, option: str, problem: str
) -> None:
    content, says = SHAPE_PROBLEMS[option] if problem == "shape" else COMMON_PROBLEMS[problem]
    bad = write(tmp_path / f"bad{option}.json", content)
    config = write(tmp_path / "config.json", json.dumps(braze_config(fake_braze)))
    args = ["--config", str(config), option, str(bad)]
    if option == "--config":
        args = ["--config", str(bad)]

    run = run_cli(*args, secrets=(fake_braze.api_key,))

    assert run.returncode == BAD_INPUT
    assert_one_line(run.stderr, f"{option} {bad}{says}")
    assert run.stdout == ""
    assert fake_braze.requests == []


def test_state_from_stdin_is_read_like_a_file(fake_braze: FakeBraze, tmp_path: Path) -> None:
    config = write(tmp_path / "config.json", json.dumps(braze_config(fake_braze)))

    run = run_cli("--config", str(config), "--state", "-", stdin="not json")

    assert run.returncode == BAD_INPUT
    assert_one_line(run.stderr, "--state - is not JSON: Expecting value: line 1 column 1 (char 0)")


def test_settings_that_fail_validation_get_one_line_each(
    fake_braze: FakeBraze, tmp_path: Path
) -> None:
    config = braze_config(fake_braze, braze_lookback_days=-1, request_max_tries="six")

    run = run_tap(config, tmp_path)  # run_tap asserts the API key is printed nowhere

    assert run.returncode == 1
    errors = [line.split(" | ", 3)[-1] for line in run.error_lines()]
    assert errors == [
        "-1 is less than the minimum of 0 in config['braze_lookback_days']",
        "'six' is not of type 'integer', 'null' in config['request_max_tries']",
        "Config validation failed",
    ]
    assert "Traceback" not in run.stderr
    assert fake_braze.requests == []


@pytest.mark.parametrize("test_mode", ["--test", "--test=schema"])
def test_a_connection_test_with_bad_settings_names_them_without_a_traceback(
    fake_braze: FakeBraze, tmp_path: Path, test_mode: str
) -> None:
    config = braze_config(fake_braze, braze_rest_endpoint="zz-99")

    run = run_tap(config, tmp_path, args=(test_mode,))

    assert run.returncode == 1
    assert "braze_rest_endpoint: unknown Braze instance" in run.error_lines()[0]
    assert "Traceback" not in run.stderr
    assert fake_braze.requests == []
