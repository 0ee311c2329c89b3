"""Report files as Apple writes them, and as a hostile or broken host serves them, over real
HTTP: each file that is not a report file is one error line naming report, instance, segment
and what is wrong (exit 1, no traceback); rows and STATE already out stand; no file is left
in the scratch folder; a host that misbehaves for one try costs a retry, not the run."""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from segment_analytics_sandbox import faults
from segment_analytics_sandbox.appstore import REPORT_COLUMNS, ReportFile
from tap_segment_analytics.appstore.fetch.report_files import (
    MAX_COLUMNS,
    MAX_LINE_BYTES,
    DownloadProblem,
    DownloadRefused,
    SegmentFile,
    download,
    download_verified,
)
from tap_segment_analytics.http_calls.retries import RetryPolicy
from tests.conftest import APP_ID, AppStore, StartAppStore, utc_today
from tests.tap_runner import TapRun, run_tap

REPORT = "App Crashes"
ROWS_STREAM = "appstore_app_crashes"
COLUMNS = REPORT_COLUMNS[REPORT]
EARLIER = utc_today() - timedelta(days=2)
LATER = utc_today() - timedelta(days=1)


def crash_row(day: date, n: int, **values: str) -> dict[str, str]:
    """A row of App Crashes with `n` crashes."""
    return {
        "Date": (day - timedelta(days=1)).isoformat(),
        "App Name": "Trail Notes",
        "App Apple Identifier": APP_ID,
        "App Version": "4.2.0",
        "Device": "iPhone",
        "Platform Version": f"iOS 18.{n}",
        "Crashes": str(n),
        "Unique Devices": "1",
        **values,
    }


def report_text(rows: list[dict[str, str]], delimiter: str = "\t") -> bytes:
    """A report file's text: the header, then the rows, each value as given."""
    lines = [delimiter.join(COLUMNS)] + [delimiter.join(r[c] for c in COLUMNS) for r in rows]
    return ("\n".join(lines) + "\n").encode()


@dataclass
class Served:
    """The fakes serving an earlier, good instance and a later one whose file is given."""

    store: AppStore
    earlier: str  # instance ids
    later: str
    segment: ReportFile  # the later instance's only segment
    scratch: Path  # the tap's TMPDIR

    def run(self, tmp_path: Path, state: dict[str, Any] | None = None, **settings: Any) -> TapRun:
        config = self.store.config(appstore_report_names=[REPORT], **settings)
        env = {**os.environ, "TMPDIR": str(self.scratch)}
        return run_tap(config, tmp_path, state=state, env=env)

    def serve(self, data: bytes) -> None:
        """Serve `data` (gzipped bytes) as the later segment's file, listed as it is."""
        self.store.s3.put(self.segment.key, data)
        self.segment.checksum = hashlib.md5(data).hexdigest()  # noqa: S324 - Apple's checksum
        self.segment.size_in_bytes = len(data)

    def where(self) -> str:
        """How an error line names the later segment's file."""
        return (
            f"appstore: report '{REPORT}' of app {APP_ID}, instance {self.later} (processed "
            f"{LATER.isoformat()}), segment {self.segment.id}: "
        )


@pytest.fixture
def served(start_appstore: StartAppStore, tmp_path: Path) -> Served:
    store = start_appstore()
    store.api.add_app(APP_ID)
    earlier = store.api.add_instance(
        APP_ID, REPORT, "DAILY", EARLIER, [[crash_row(EARLIER, n) for n in range(1, 4)]]
    )
    later = store.api.add_instance(
        APP_ID, REPORT, "DAILY", LATER, [[crash_row(LATER, n) for n in range(1, 4)]]
    )
    (segment,) = store.api.instance_segments(later)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return Served(store, earlier, later, segment, scratch)


def assert_fails_after_the_earlier_instance(served: Served, run: TapRun, problem: str) -> None:
    """One error line naming the later file and `problem`; the earlier instance's rows and
    its place in STATE stand; none of the later one's; nothing left on disk."""
    assert run.returncode == 1
    assert run.error_lines()[-1].endswith(
        f"| tap-segment-analytics          | {served.where()}{problem}"
    )
    assert "Traceback" not in run.stderr
    rows = run.records(ROWS_STREAM)
    assert {r["instance_id"] for r in rows} == {served.earlier}
    assert len(rows) == 3
    done = [i["id"] for i in run.records("appstore_report_instances")]
    assert done == [served.earlier], "an instance is done only with all of its rows"
    assert run.states, "STATE went out after the earlier instance"
    assert list(served.scratch.iterdir()) == [], "no file left behind"


def test_a_comma_separated_file_with_quoted_values_lands_as_apple_wrote_it(
    served: Served, tmp_path: Path
) -> None:
    rows = [
        crash_row(LATER, 1, **{"App Version": '""', "Unique Devices": '""'}),
        crash_row(LATER, 2, **{"App Name": '"Trail\nNotes, Pro"'}),
        crash_row(LATER, 3, **{"Device": 'iPad 11" Pro'}),
    ]
    served.serve(gzip.compress(report_text(rows, ",")))

    run = served.run(tmp_path)

    assert run.returncode == 0, run.stderr
    later = {r["crashes"]: r for r in run.records(ROWS_STREAM) if r["instance_id"] == served.later}
    assert sorted(later) == [1, 2, 3], "integer measures are integers"
    assert later[1]["app_version"] is None, '"" is an empty value: null'
    assert later[1]["unique_devices"] is None
    assert later[2]["app_name"] == "Trail\nNotes, Pro"
    assert later[2]["device"] == "iPhone", "a quoted newline shifts no column"
    assert later[3]["device"] == 'iPad 11" Pro'
    assert list(served.scratch.iterdir()) == []


def test_a_header_in_another_delimiter_fails_naming_the_file(
    served: Served, tmp_path: Path
) -> None:
    rows = [crash_row(LATER, n) for n in range(1, 4)]
    served.serve(gzip.compress(report_text(rows, ";")))

    run = served.run(tmp_path)

    assert_fails_after_the_earlier_instance(
        served, run, f"its header ({';'.join(COLUMNS)}) has none of the report's columns"
    )


def test_a_non_utf8_byte_fails_naming_its_line_and_the_next_run_resumes_at_the_file(
    served: Served, tmp_path: Path
) -> None:
    rows = [crash_row(LATER, n) for n in range(1, 4)]
    good = report_text(rows)
    latin1 = good.replace(b"iOS 18.2", b"iOS 18.2 \xe9t\xe9")
    served.serve(gzip.compress(latin1))

    failed = served.run(tmp_path)

    assert_fails_after_the_earlier_instance(served, failed, "line 3 is not UTF-8 text (byte 0xe9)")
    served.serve(gzip.compress(good))
    resumed = served.run(tmp_path, state=failed.final_state)
    assert resumed.returncode == 0, resumed.stderr
    assert {r["instance_id"] for r in resumed.records(ROWS_STREAM)} == {served.later}
    assert len(resumed.records(ROWS_STREAM)) == 3


def test_a_gzip_bomb_of_one_line_fails_at_the_line_limit(served: Served, tmp_path: Path) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    parts = [compressor.compress(report_text([])[:-1] + b"\t")]
    block = b"x" * (1 << 20)
    parts += [compressor.compress(block) for _ in range(256)]  # 256 MiB of one line
    served.serve(b"".join([*parts, compressor.flush()]))

    run = served.run(tmp_path)

    assert_fails_after_the_earlier_instance(
        served, run, f"line 1 is longer than {MAX_LINE_BYTES} bytes: not a report file"
    )


def test_a_header_of_a_hundred_thousand_columns_is_one_error_line(
    served: Served, tmp_path: Path
) -> None:
    header = "\t".join(f"c{n}" for n in range(100_000))
    served.serve(gzip.compress(f"{header}\n".encode()))

    run = served.run(tmp_path)

    assert_fails_after_the_earlier_instance(
        served, run, f"its header has 100000 columns, more than {MAX_COLUMNS}: not a report file"
    )
    assert len(run.stderr.splitlines()) < 20, "no warning per column"


def test_a_body_longer_than_its_listed_size_is_abandoned_and_retried(
    served: Served, tmp_path: Path
) -> None:
    size = served.segment.size_in_bytes
    served.store.s3.corrupt(served.segment.key, faults.OVERFLOW)

    run = served.run(tmp_path)

    assert run.returncode == 0, run.stderr
    assert f"more than {size} bytes arrived, expected sizeInBytes {size}, retry 1 of 5" in (
        run.stderr
    )
    assert len(run.records(ROWS_STREAM)) == 6
    # The host would have sent 1 GiB; the tap stopped reading at the listed size (what the
    # socket buffers took beyond it is all the host got rid of).
    assert served.store.s3.body_bytes_sent < 32 << 20
    assert list(served.scratch.iterdir()) == []


def test_a_trickling_body_is_a_failed_try_once_the_deadline_passes(
    served: Served, tmp_path: Path
) -> None:
    served.store.s3.corrupt(served.segment.key, faults.TRICKLE)

    run = served.run(tmp_path, request_timeout_seconds=1)

    assert run.returncode == 0, run.stderr
    retried = [m for m in run.log_messages() if "retry 1 of 5" in m]
    assert len(retried) == 1
    assert retried[0].startswith(served.where() + "only ")
    assert "bytes arrived within 1.0 s" in retried[0]
    assert len(run.records(ROWS_STREAM)) == 6


def test_no_more_than_the_listed_size_ever_sits_on_disk(served: Served, tmp_path: Path) -> None:
    store = served.store
    store.s3.corrupt(served.segment.key, faults.OVERFLOW, times=2)
    listed = SegmentFile(
        url=store.s3.presign(served.segment.key),
        checksum=served.segment.checksum,
        size_in_bytes=served.segment.size_in_bytes,
        fetched_at=float("inf"),  # never expires
    )
    path = tmp_path / "segment.gz"

    with requests.Session() as session:
        with pytest.raises(DownloadProblem):
            download(session, listed, 10, path)
        assert path.stat().st_size <= served.segment.size_in_bytes
        with pytest.raises(DownloadProblem):
            download_verified(
                session,
                segment=listed,
                refresh=lambda: listed,
                policy=RetryPolicy(max_tries=1, backoff_seconds=0),
                timeout=10,
                on_retry=lambda *_: None,
                path=path,
            )
    assert not path.exists()


def test_a_redirect_from_the_file_host_is_refused_not_followed(
    served: Served, tmp_path: Path
) -> None:
    store = served.store
    elsewhere = f"{store.api.base_url}/internal-admin"
    key_path = "/" + served.segment.key
    store.s3.inject(302, path=key_path, headers={"Location": elsewhere})
    listed = SegmentFile(
        url=store.s3.presign(served.segment.key),
        checksum=served.segment.checksum,
        size_in_bytes=served.segment.size_in_bytes,
        fetched_at=float("inf"),  # never expires
    )

    with requests.Session() as session, pytest.raises(DownloadRefused, match="HTTP 302"):
        download(session, listed, 10, tmp_path / "segment.gz")

    assert not [r for r in store.api.requests if r.path.startswith("/internal-admin")]
    assert not (tmp_path / "segment.gz").exists()
