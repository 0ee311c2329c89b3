"""Errors the tap reports to its user as one line, and the redaction that keeps secrets out."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable
from urllib.parse import urlsplit

import requests
from typing_extensions import override

# Query parameters of presigned S3 URLs that act as credentials.
_PRESIGNED_PARAMS = re.compile(
    r"(X-Amz-(?:Signature|Security-Token|Credential))=[^&\s\"'<>]+", re.IGNORECASE
)
_JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)
_MIN_SECRET_LENGTH = 6
_URL = re.compile(r"https?://\S+")
_OBJECT_REPR = re.compile(r"(<[\w.]+ object at 0x[0-9a-f]+>|\w+\(host=[^)]*\)): ")


class SourceError(Exception):
    """A problem with a source (API answer, file, credentials) worth one clear line."""


def failure_line(exc: BaseException) -> str | None:
    """The one line that says why a run (or a connection test) failed; None for anything else,
    which is a bug and deserves its traceback."""
    # Imported here: the plans raise SourceError and import no singer-sdk module.
    from singer_sdk.exceptions import MappingError

    if isinstance(exc, SourceError):
        return str(exc)
    if isinstance(exc, MappingError):
        return redact(f"stream_maps: {exc}")
    if isinstance(exc, requests.RequestException):
        return redact(_unreachable(exc))
    return None


def _unreachable(exc: requests.RequestException) -> str:
    """`could not reach http://host/path: Connection refused`, without urllib3's wrappers."""
    url = urlsplit(exc.request.url or "") if exc.request is not None else None
    where = f"{url.scheme}://{url.netloc}{url.path}" if url and url.netloc else "the API"
    return f"could not reach {where}: {network_reason(exc)}"


def network_reason(exc: BaseException) -> str:
    """What went wrong on the network, in a few words: the error's type and its innermost
    reason, without urllib3's wrappers, the URL (which may carry a signature) or secrets."""
    reason: object = exc.args[0] if exc.args else exc
    # urllib3's MaxRetryError holds the actual problem in `reason`.
    reason = getattr(reason, "reason", None) or reason
    text = " ".join(_OBJECT_REPR.sub("", str(reason)).split())
    text = _URL.sub("<url>", redact(text))[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove known secret values, JWTs, PEM keys, bearer tokens and URL signatures."""
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET_LENGTH:
            text = text.replace(secret, "<redacted>")
    text = _PEM.sub("<redacted private key>", text)
    text = _JWT.sub("<redacted jwt>", text)
    text = _BEARER.sub(r"\1<redacted>", text)
    return _PRESIGNED_PARAMS.sub(r"\1=<redacted>", text)


class RedactingFilter(logging.Filter):
    """Redacts every log record (message and traceback) before any handler writes it."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        message = record.getMessage()
        if record.exc_info:
            record.exc_text = redact(
                "".join(traceback.format_exception(*record.exc_info)).rstrip(), self.secrets
            )
            record.exc_info = None
        record.msg, record.args = redact(message, self.secrets), None
        return True


def install_redaction(secrets: Iterable[str]) -> None:
    """Attach the redacting filter to every handler of the root logger (once per handler)."""
    secrets = list(secrets)
    for handler in logging.getLogger().handlers:
        existing = [f for f in handler.filters if isinstance(f, RedactingFilter)]
        if existing:
            existing[0].secrets = sorted({*existing[0].secrets, *secrets})
        else:
            handler.addFilter(RedactingFilter(secrets))
