"""BATCH folders under a `file://` root, as meltano.yml gives it: the owner's alone, and gone
with the next run even when that run writes no file."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import AppStore
from tests.tap_runner import run_tap


def test_a_file_url_root_gets_private_files_and_the_next_run_deletes_them_writing_none(
    appstore: AppStore, tmp_path: Path
) -> None:
    root = tmp_path / "batches"
    config = appstore.config(
        appstore_report_names=["App Crashes"],
        batch_config={
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": root.as_uri()},
        },
    )

    first = run_tap(config, tmp_path)

    assert first.returncode == 0, first.stderr[-2000:]
    (folder,) = root.iterdir()
    files = sorted(folder.iterdir())
    assert files
    assert folder.stat().st_mode & 0o777 == 0o700
    assert {path.stat().st_mode & 0o777 for path in files} == {0o600}

    # Same day, same instances: nothing new to read, no file to write.
    second = run_tap(config, tmp_path, state=first.final_state)

    assert second.returncode == 0, second.stderr[-2000:]
    assert [m for m in second.messages if m["type"] == "BATCH"] == []
    assert not folder.exists()
    assert list(root.iterdir()) == []
