"""How App Store Connect answers are read: Apple's `errors[].code`s and the refusals they make."""

from __future__ import annotations

from http import HTTPStatus

import requests

from tap_segment_analytics.appstore.api.values import NotServed
from tap_segment_analytics.errors import SourceError, redact
from tap_segment_analytics.http_calls.retries import response_json

# Apple's `errors[].code`s the client acts on (api-notes; Apple's "Interpreting and Handling
# Errors"): the code is meant for programs, the status only where no code is given.
NOT_FOUND = "NOT_FOUND"
RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
_HINTS: dict[int, str] = {
    HTTPStatus.UNAUTHORIZED: "check appstore_key_id, appstore_issuer_id and the private key",
    HTTPStatus.FORBIDDEN: "the API key's role lacks access to analytics reports",
}


def apple_errors(response: requests.Response) -> list[tuple[str, str]]:
    """(code, detail) of each error of a JSON:API error body (none when it is not one)."""
    try:
        errors = response_json(response).get("errors") or []
        return [
            (
                str(e.get("code") or e.get("status") or "?"),
                " ".join(str(e.get("detail") or e.get("title") or "").split()),
            )
            for e in errors
            if isinstance(e, dict)
        ]
    except (ValueError, AttributeError, TypeError, UnicodeDecodeError):
        return []


def joined_errors(errors: list[tuple[str, str]]) -> str:
    """`code: detail; ...` of Apple's errors ("" for none)."""
    return "; ".join(f"{code}: {detail}" for code, detail in errors)


def api_errors(response: requests.Response) -> str:
    """`code: detail` of each error in a JSON:API error body (or the start of the body)."""
    text = joined_errors(apple_errors(response))
    return " ".join((text or response.text[:200]).split())


class AppleRefusal(SourceError):
    """App Store Connect refused a request (a 4xx that no retry changes): its status and
    Apple's `errors[].code`s, for the caller that can skip what it was about."""

    def __init__(self, message: str, *, status: int, errors: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors

    @property
    def codes(self) -> set[str]:
        """Apple's codes of the refusal."""
        return {code for code, _ in self.errors}

    def explained(self) -> str:
        """`CODE: detail; ...` as Apple gave them (the status when it gave none)."""
        text = joined_errors(self.errors)
        return redact(text) if text else f"HTTP {self.status}"


class Vanished(AppleRefusal, NotServed):
    """A 404 `NOT_FOUND` for something the API listed: Apple removed it since (instances go
    after a retention period; api-notes)."""


def error_message(response: requests.Response, where: str) -> str:
    """`App Store Connect answered 404 on <path> (<ids>): NOT_FOUND: <detail>` plus a hint."""
    status = response.status_code
    hint = _HINTS.get(status)
    message = f"App Store Connect answered {status} on {where}: {api_errors(response)}" + (
        f" ({hint})" if hint else ""
    )
    return redact(message)
