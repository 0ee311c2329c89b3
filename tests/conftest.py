"""Shared fixtures: local fake APIs over real HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import settings

from tests.fakes import FakeAppStoreConnect, FakeBraze, FakeS3, generate_key_pair

# Property tests check results, not speed: on two shared cores an example can take longer than
# hypothesis's 200 ms deadline (test_braze_windows failed so once under load).
settings.register_profile("shared_machine", deadline=None)
settings.load_profile("shared_machine")

# Days from start_date to yesterday on a first run: three windows of 100, 100 and 50 days.
FIRST_RUN_DAYS = 250

# The files that take longest (`--durations`), longest first: `./test` hands whole files to its
# workers in collection order (`--dist loadfile --no-loadscope-reorder`), so these start
# first and the short ones fill in around them, instead of one long file running alone at the
# end. Order only: no test depends on it.
LONGEST_FILES_FIRST = (
    "test_meltano_project.py",
    "test_dbt_project.py",
    "test_postgres_current_rows.py",
    "test_meltano_postgres.py",
    "test_kill_and_resume.py",
    "test_postgres_report_catalogue.py",
    "test_fault_kinds.py",
    "test_fault_campaign.py",
    "test_golden_output.py",
    "test_wheel.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files' tests first (a stable sort: each file's order is kept)."""
    rank = {name: index for index, name in enumerate(LONGEST_FILES_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def utc_today() -> date:
    """Today in UTC, as the tap sees it."""
    return datetime.now(timezone.utc).date()


@pytest.fixture
def fake_braze() -> Iterator[FakeBraze]:
    """A fake Braze whose 'today' is the real UTC today (the tap reads the real clock)."""
    fake = FakeBraze(today=utc_today()).start()
    yield fake
    fake.stop()


def segment_bookmarks(state: dict | None) -> dict[str, str]:
    """segment id → braze_segment_sizes bookmark, in a state (or Meltano's `singer_state`) of
    this release's layout or of 0.1.0's (a partition object per segment)."""
    state = (state or {}).get("singer_state", state) or {}
    sizes = state.get("bookmarks", {}).get("braze_segment_sizes", {})
    found = {
        p["context"]["segment_id"]: p["replication_key_value"]
        for p in sizes.get("partitions", [])
        if "replication_key_value" in p
    }
    return found | sizes.get("replication_key_value_by_segment_id", {})


def braze_config(fake: FakeBraze, **overrides: object) -> dict[str, object]:
    """Config pointing the tap at a fake Braze, with fast retries."""
    return {
        "start_date": (utc_today() - timedelta(days=FIRST_RUN_DAYS)).isoformat(),
        "braze_api_key": fake.api_key,
        "braze_rest_endpoint": fake.base_url,
        "request_backoff_seconds": 0.01,
        **overrides,
    }


@dataclass
class AppStore:
    """A fake App Store Connect with its S3, the key pair, and a config pointing at them."""

    api: FakeAppStoreConnect
    s3: FakeS3
    private_key_pem: str
    key_path: Path

    def config(self, **overrides: object) -> dict[str, object]:
        return {
            "start_date": (utc_today() - timedelta(days=60)).isoformat(),
            "appstore_key_id": APPSTORE_KEY_ID,
            "appstore_issuer_id": APPSTORE_ISSUER_ID,
            "appstore_private_key_path": str(self.key_path),
            "appstore_app_ids": [APP_ID],
            "appstore_api_url": self.api.base_url,
            "request_backoff_seconds": 0.01,
            **overrides,
        }

    def stop(self) -> None:
        self.api.stop()
        self.s3.stop()


APP_ID = "1234567890"
APPSTORE_KEY_ID = "TESTKEY123"
APPSTORE_ISSUER_ID = "69a6de7f-0000-47e3-e053-5b8c7c11a4d1"


@pytest.fixture(scope="session")
def key_pair() -> tuple[str, str]:
    """An EC P-256 key pair, like an App Store Connect .p8 and its public half."""
    return generate_key_pair()


StartAppStore = Callable[..., AppStore]


@pytest.fixture
def start_appstore(key_pair: tuple[str, str], tmp_path: Path) -> Iterator[StartAppStore]:
    """Starts fake App Store Connect + S3 servers (no data yet) with the .p8 written; each is
    stopped after the test. `issuer_id=None` makes the fake expect an individual key."""
    started: list[AppStore] = []

    def start(*, issuer_id: str | None = APPSTORE_ISSUER_ID) -> AppStore:
        private_pem, public_pem = key_pair
        key_path = tmp_path / f"AuthKey_{len(started)}.p8"
        key_path.write_text(private_pem)
        s3 = FakeS3().start()
        api = FakeAppStoreConnect(
            public_key_pem=public_pem, key_id=APPSTORE_KEY_ID, issuer_id=issuer_id, s3=s3
        ).start()
        started.append(AppStore(api, s3, private_pem, key_path))
        return started[-1]

    yield start
    for store in started:
        store.stop()


@pytest.fixture
def appstore(start_appstore: StartAppStore) -> AppStore:
    """A fake App Store Connect with one app and four days of every report."""
    store = start_appstore()
    store.api.populate_sample(app_ids=[APP_ID], today=utc_today(), days=4, rows_per_day=3)
    return store
