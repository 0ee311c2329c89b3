"""ES256 JWTs for the App Store Connect API, signed with the team's .p8 key."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from singer_sdk.authenticators import APIAuthenticatorBase
from typing_extensions import override

from tap_segment_analytics.http_calls.retries import RejectionGuard

AUDIENCE = "appstoreconnect-v1"
# Apple rejects tokens whose exp - iat exceeds 20 minutes.
MAX_LIFETIME_SECONDS = 20 * 60
TOKEN_LIFETIME_SECONDS = 15 * 60
# A new token is made this long before the current one expires, so a request in flight
# (or one delayed by a retry) never carries an expired token.
RENEW_MARGIN_SECONDS = 2 * 60


class PrivateKeyError(ValueError):
    """The configured key cannot be used; the message names the setting, never the key."""


def load_private_key(config: dict[str, Any]) -> ec.EllipticCurvePrivateKey:
    """The EC P-256 key from `appstore_private_key` (PEM text) or `appstore_private_key_path`."""
    if config.get("appstore_private_key"):
        setting, pem = "appstore_private_key", str(config["appstore_private_key"]).encode()
    else:
        setting = "appstore_private_key_path"
        path = Path(str(config.get("appstore_private_key_path") or "")).expanduser()
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise PrivateKeyError(f"{setting}: cannot read {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(pem.strip() + b"\n", password=None)
    except (ValueError, TypeError):
        raise PrivateKeyError(
            f"{setting}: not a PEM private key (expected the .p8 file's text, "
            "'-----BEGIN PRIVATE KEY-----' ...)"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise PrivateKeyError(f"{setting}: ES256 needs an EC P-256 key (an App Store Connect .p8)")
    return key


class AppStoreJWTAuthenticator(APIAuthenticatorBase):
    """Signs `Authorization: Bearer <JWT>`; reuses a token until shortly before it expires."""

    def __init__(
        self,
        *,
        key_id: str,
        issuer_id: str | None,
        private_key: ec.EllipticCurvePrivateKey,
        lifetime_seconds: int = TOKEN_LIFETIME_SECONDS,
    ) -> None:
        super().__init__()
        if not 0 < lifetime_seconds <= MAX_LIFETIME_SECONDS:
            raise ValueError(f"token lifetime must be 1..{MAX_LIFETIME_SECONDS} seconds")
        self._key_id = key_id
        self._issuer_id = issuer_id
        self._private_key = private_key
        self._lifetime = lifetime_seconds
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self._rejections = RejectionGuard()

    def token(self) -> str:
        """The current token, or a new one when it is near its expiry."""
        with self._lock:
            now = time.time()
            if self._token is None or now >= self._expires_at - RENEW_MARGIN_SECONDS:
                issued = int(now)
                payload: dict[str, Any] = {
                    "iat": issued,
                    "exp": issued + self._lifetime,
                    "aud": AUDIENCE,
                }
                # Team keys name their issuer; individual keys say "sub": "user" instead.
                if self._issuer_id:
                    payload["iss"] = self._issuer_id
                else:
                    payload["sub"] = "user"
                self._token = jwt.encode(
                    payload,
                    self._private_key,
                    algorithm="ES256",
                    headers={"kid": self._key_id, "typ": "JWT"},
                )
                self._expires_at = issued + self._lifetime
            return self._token

    def rejected(self) -> bool:
        """Apple answered 401: True (and a new token next time) when worth one more try.

        A token can be refused once mid-sync (clock skew, a glitch); refused twice in a row,
        the key itself is wrong.
        """
        if not self._rejections.rejected():
            return False
        with self._lock:
            self._token = None
        return True

    def accepted(self) -> None:
        """Apple accepted the token."""
        self._rejections.accepted()

    @override
    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add the bearer token."""
        request.headers["Authorization"] = f"Bearer {self.token()}"
        return request
