"""Starts the whole sandbox: fake Braze, fake App Store Connect and its fake S3, with
realistic sample data, plus the tap config that points at them."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from segment_analytics_sandbox.appstore import FakeAppStoreConnect, FakeS3, generate_key_pair
from segment_analytics_sandbox.braze import FakeBraze, sample_segments

KEY_ID = "SANDBOX123"
ISSUER_ID = "57246542-96fe-1a63-e053-0824d011072a"
APP_IDS = ("1234567890", "2345678901")
BRAZE_HISTORY_DAYS = 120
APPSTORE_DAYS = 8
BRAZE_SEGMENTS = 6
# The tap's settings as environment variables (read by Meltano, and by `--config ENV`).
TAP_ENV_PREFIX = "TAP_SEGMENT_ANALYTICS_"


@dataclass
class Sandbox:
    """The running fakes and what the tap needs to reach them."""

    braze: FakeBraze
    appstore: FakeAppStoreConnect
    s3: FakeS3
    private_key_path: Path
    today: date
    _tempdir: tempfile.TemporaryDirectory = field(repr=False)
    braze_days: int = BRAZE_HISTORY_DAYS

    @property
    def start_date(self) -> date:
        """The first day the sample data covers."""
        return self.today - timedelta(days=self.braze_days)

    def tap_config(self, **overrides: Any) -> dict[str, Any]:
        """Config for both sources, pointed at the fakes."""
        return {
            "start_date": self.start_date.isoformat(),
            "braze_api_key": self.braze.api_key,
            "braze_rest_endpoint": self.braze.base_url,
            "appstore_key_id": KEY_ID,
            "appstore_issuer_id": ISSUER_ID,
            "appstore_private_key_path": str(self.private_key_path),
            "appstore_app_ids": list(APP_IDS),
            "appstore_api_url": self.appstore.base_url,
            **overrides,
        }

    def tap_env(self) -> dict[str, str]:
        """The config as the tap's environment variables; arrays as JSON, as Meltano takes them."""
        return {
            TAP_ENV_PREFIX + name.upper(): value if isinstance(value, str) else json.dumps(value)
            for name, value in self.tap_config().items()
        }

    def write_config(self) -> Path:
        """A ready config.json beside the key (removed by `stop`); returns its path."""
        path = self.private_key_path.with_name("config.json")
        path.write_text(json.dumps(self.tap_config(), indent=2) + "\n")
        path.chmod(0o600)
        return path

    def env(self) -> dict[str, str]:
        """The settings meltano.yml's demo environment reads (SANDBOX_*)."""
        return {
            "SANDBOX_START_DATE": self.start_date.isoformat(),
            "SANDBOX_BRAZE_API_KEY": self.braze.api_key,
            "SANDBOX_BRAZE_URL": self.braze.base_url,
            "SANDBOX_APPSTORE_URL": self.appstore.base_url,
            "SANDBOX_APPSTORE_KEY_PATH": str(self.private_key_path),
        }

    def stop(self) -> None:
        """Stop the servers and delete the key file."""
        for fake in (self.braze, self.appstore, self.s3):
            fake.stop()
        self._tempdir.cleanup()


def start_sandbox(
    *,
    today: date | None = None,
    appstore_days: int = APPSTORE_DAYS,
    drop_share: float = 0.0,
    braze_segments: int = BRAZE_SEGMENTS,
    braze_days: int = BRAZE_HISTORY_DAYS,
    file_oddities: Iterable[str] = (),
) -> Sandbox:
    """Start every fake with sample data (restating instances dropping `drop_share` of the rows
    an earlier instance had; `braze_segments` segments, read from `braze_days` ago; report
    files holding `file_oddities`, see appstore.FILE_ODDITIES); the caller stops it."""
    today = today or datetime.now(timezone.utc).date()
    tempdir = tempfile.TemporaryDirectory(prefix="tap-segment-analytics-sandbox-")
    private_pem, public_pem = generate_key_pair()
    key_path = Path(tempdir.name) / f"AuthKey_{KEY_ID}.p8"
    key_path.write_text(private_pem)
    key_path.chmod(0o600)
    braze = FakeBraze(today=today, segments=sample_segments(braze_segments, today=today)).start()
    s3 = FakeS3().start()
    appstore = FakeAppStoreConnect(
        public_key_pem=public_pem,
        key_id=KEY_ID,
        issuer_id=ISSUER_ID,
        s3=s3,
        file_oddities=file_oddities,
    ).start()
    appstore.populate_sample(
        app_ids=list(APP_IDS), today=today, days=appstore_days, drop_share=drop_share
    )
    return Sandbox(braze, appstore, s3, key_path, today, tempdir, braze_days)
