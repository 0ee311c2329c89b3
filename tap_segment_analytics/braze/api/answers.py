"""What Braze's answers say went wrong: a refusal of what was asked, a segment deleted since it
was listed, or a 200 that carries an error.

A 200 without `message` counts as success when it has no `errors`: Braze marks `message`
required, but a missing status is not a refusal, and what the body holds is checked where it is
read (client.py).
"""

from __future__ import annotations

from typing import Any

from tap_segment_analytics.errors import SourceError

SUCCESS = "success"  # the `message` of every answer Braze completed without errors
_SHOWN_ERRORS = 3  # of an answer's `errors`, in its one line


class BrazeRefused(SourceError):
    """Braze answered a request with an error about what was asked: fatal on `/segments/list`,
    the segment skipped for the run on a segment's call. `reason` is Braze's own message, the
    same for every segment refused alike."""

    def __init__(self, line: str, reason: str) -> None:
        super().__init__(line)
        self.reason = reason


class SegmentGone(SourceError):
    """Braze answered 404 for a segment it had listed: deleted since (an ordinary event)."""


def answer_error(body: Any) -> tuple[str, str] | None:
    """What a 200 body says went wrong, as (reason, detail): its `message` when not "success",
    and its `errors`; None for a success. The reason leaves the errors out: they may name the
    segment, and refusals are counted by reason."""
    if not isinstance(body, dict):
        return None
    message = body.get("message")
    errors = body.get("errors")
    if (message is None or message == SUCCESS) and not errors:
        return None
    said = [f"message {message!r}"] if message is not None else []
    if errors:
        shown = errors[:_SHOWN_ERRORS] if isinstance(errors, list) else [errors]
        more = len(errors) - len(shown) if isinstance(errors, list) else 0
        said.append(f"errors {', '.join(map(repr, shown))}" + (f" and {more} more" if more else ""))
    reason = "200 with errors" if message in (None, SUCCESS) else f"200 with message {message!r}"
    return reason, " and ".join(said)
