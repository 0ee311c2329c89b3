"""Where users wait: the tap at concurrency 1 and at its default, side by side, against local
fakes that answer every request after a set latency.

- Braze: 200 segments x 400 days, 50 ms a request (details and data_series windows).
- App Store: 2 apps x 3 reports x 10 days of DAILY instances of 2-3 files each, 100 ms a request
  (API and file host); the fake answers 429 to more than 4 API calls in flight.

Prints wall time, requests, API requests per downloaded file, and the ratio of requests x
latency (what one-at-a-time calls cost) to the wall time; checks that both runs emit the same
messages in the same order. Usage: python benchmarks/concurrency.py   (from the repository root)
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from segment_analytics_sandbox.appstore import FakeAppStoreConnect, FakeS3, generate_key_pair
from segment_analytics_sandbox.braze import FakeBraze, sample_segments
from tap_segment_analytics.appstore.emit import streams as appstore_streams
from tap_segment_analytics.braze.api import client as braze_client

BRAZE_SEGMENTS = 200
BRAZE_DAYS = 400
BRAZE_LATENCY = 0.05
APPSTORE_APPS = ("1234567890", "2345678901")
APPSTORE_REPORTS = ["App Downloads Standard", "App Sessions Standard", "App Crashes"]
APPSTORE_DAYS = 10
APPSTORE_LATENCY = 0.1
APPSTORE_MAX_PARALLEL = 4


def run_tap(config: dict[str, Any], scratch: Path) -> tuple[float, str, int]:
    """Wall time, SHA-256 of the messages (without RECORDs' time_extracted) and the final
    STATE, exit code. STATE messages go out on a clock (state_interval_seconds), so how many
    there are between records depends on timing: only the last one is compared."""
    path = scratch / "config.json"
    path.write_text(json.dumps(config))
    out = scratch / "out.jsonl"
    started = time.perf_counter()
    with out.open("wb") as stdout:
        code = subprocess.run(
            [sys.executable, "-m", "tap_segment_analytics.tap", "--config", str(path)],
            stdout=stdout,
            stderr=subprocess.DEVNULL,
            check=False,
        ).returncode
    elapsed = time.perf_counter() - started
    digest = hashlib.sha256()
    final_state = None
    with out.open("rb") as lines:
        for line in lines:
            message = json.loads(line)
            if message.get("type") == "STATE":
                final_state = message
                continue
            message.pop("time_extracted", None)
            digest.update(json.dumps(message, sort_keys=True).encode())
    digest.update(json.dumps(final_state, sort_keys=True).encode())
    return elapsed, digest.hexdigest(), code


def braze(today: date, scratch: Path) -> None:
    fake = FakeBraze(today=today, segments=sample_segments(BRAZE_SEGMENTS, today=today)).start()
    fake.latency = BRAZE_LATENCY
    base = {
        "start_date": (today - timedelta(days=BRAZE_DAYS)).isoformat(),
        "braze_api_key": fake.api_key,
        "braze_rest_endpoint": fake.base_url,
    }
    results = {}
    for concurrency in (1, braze_client.DEFAULT_CONCURRENCY):
        fake.clear_log()
        wall, digest, code = run_tap({**base, "braze_concurrency": concurrency}, scratch)
        results[concurrency] = (wall, digest, code, len(fake.requests))
    fake.stop()
    report("Braze", BRAZE_LATENCY, results)


def appstore(today: date, scratch: Path) -> None:
    private_pem, public_pem = generate_key_pair()
    key_path = scratch / "key.p8"
    key_path.write_text(private_pem)
    s3 = FakeS3().start()
    api = FakeAppStoreConnect(public_key_pem=public_pem, key_id="K", issuer_id="i", s3=s3).start()
    for app_id in APPSTORE_APPS:
        api.add_app(app_id)
        for name in APPSTORE_REPORTS:
            api.add_report(app_id, name)
    # Apple splits bigger reports into several files: 2 or 3 per instance here.
    for offset in range(APPSTORE_DAYS, 0, -1):
        api.publish_day(
            app_ids=list(APPSTORE_APPS),
            processing=today - timedelta(days=offset),
            rows_per_day=40,
            files=3 if offset % 3 == 0 else 2,
        )
    api.max_parallel = APPSTORE_MAX_PARALLEL
    api.latency = s3.latency = APPSTORE_LATENCY
    base = {
        "start_date": (today - timedelta(days=60)).isoformat(),
        "appstore_key_id": "K",
        "appstore_issuer_id": "i",
        "appstore_private_key_path": str(key_path),
        "appstore_app_ids": list(APPSTORE_APPS),
        "appstore_api_url": api.base_url,
        "appstore_report_names": APPSTORE_REPORTS,
    }
    results = {}
    for concurrency in (1, appstore_streams.DEFAULT_CONCURRENCY):
        api.clear_log()
        s3.clear_log()
        api.burst_refusals = 0
        wall, digest, code = run_tap({**base, "appstore_concurrency": concurrency}, scratch)
        requests = len(api.requests) + len(s3.requests)
        results[concurrency] = (wall, digest, code, requests)
        files = len(s3.requests)
        print(
            f"App Store at concurrency {concurrency}: {len(api.requests)} API requests, "
            f"{files} downloads, {len(api.requests) / files:.2f} API requests per file, "
            f"{api.burst_refusals} burst 429s"
        )
    api.stop()
    s3.stop()
    report("App Store", APPSTORE_LATENCY, results)


def report(source: str, latency: float, results: dict[int, tuple[float, str, int, int]]) -> None:
    (one, many), digests = sorted(results), {r[1] for r in results.values()}
    for concurrency, (wall, _, code, requests) in sorted(results.items()):
        floor = requests * latency
        print(
            f"{source} at concurrency {concurrency}: {wall:.2f} s wall (exit {code}), {requests} "
            f"requests x {latency * 1000:.0f} ms = {floor:.1f} s one after another: "
            f"{floor / wall:.1f}x faster than that"
        )
    print(
        f"{source}: concurrency {many} vs 1: {results[one][0] / results[many][0]:.1f}x; same "
        f"messages in the same order and the same final STATE: {len(digests) == 1}"
    )


def main() -> None:
    today = datetime.now(timezone.utc).date()
    with tempfile.TemporaryDirectory() as scratch:
        braze(today, Path(scratch))
        appstore(today, Path(scratch))


if __name__ == "__main__":
    main()
