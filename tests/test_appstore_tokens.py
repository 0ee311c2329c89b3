"""ES256 tokens: reused while fresh, renewed before their 20 minutes run out."""

from __future__ import annotations

import contextlib
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jwt
import pytest
import time_machine

from segment_analytics_sandbox.http import Request, Response
from tap_segment_analytics.appstore.api.auth import AppStoreJWTAuthenticator, load_private_key
from tap_segment_analytics.tap import TapSegmentAnalytics
from tests.conftest import APPSTORE_KEY_ID, AppStore


def test_tokens_renew_across_a_long_sync(appstore: AppStore) -> None:
    # Each API request arrives two minutes after the one before: the sync spans hours.
    with time_machine.travel(datetime.now(timezone.utc), tick=True) as traveller:
        answer = appstore.api.handle

        def later(request: Request) -> Response:
            traveller.shift(timedelta(minutes=2))
            return answer(request)

        appstore.api.handle = later  # type: ignore[method-assign]
        # One request at a time: the fake clock moves two minutes with each.
        tap = TapSegmentAnalytics(config=appstore.config(appstore_concurrency=1))
        with contextlib.redirect_stdout(io.StringIO()):
            tap.sync_all()

    seen = appstore.api.tokens_seen
    assert [r.status for r in appstore.api.requests if r.status == 401] == []
    span = seen[-1]["iat"] - seen[0]["iat"]
    assert span > 3600, "the sync outlived several token lifetimes"
    distinct = {t["token"] for t in seen}
    assert len(distinct) >= span // (15 * 60)
    assert len(distinct) < len(seen) / 5, "tokens are reused, not made per request"
    assert all(t["exp"] - t["iat"] <= 20 * 60 for t in seen)


def test_token_claims_follow_apples_rules(appstore: AppStore) -> None:
    key = load_private_key({"appstore_private_key_path": str(appstore.key_path)})
    auth = AppStoreJWTAuthenticator(key_id=APPSTORE_KEY_ID, issuer_id="issuer-1", private_key=key)

    token = auth.token()

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header == {"alg": "ES256", "kid": APPSTORE_KEY_ID, "typ": "JWT"}
    assert claims["aud"] == "appstoreconnect-v1"
    assert claims["iss"] == "issuer-1"
    assert 0 < claims["exp"] - claims["iat"] <= 20 * 60
    assert auth.token() == token, "reused while fresh"


def test_lifetime_over_twenty_minutes_is_refused(tmp_path: Path, appstore: AppStore) -> None:
    key = load_private_key({"appstore_private_key_path": str(appstore.key_path)})
    with pytest.raises(ValueError, match="lifetime"):
        AppStoreJWTAuthenticator(key_id="K", issuer_id=None, private_key=key, lifetime_seconds=1201)
