"""A wall-clock limit on each API answer: `request_timeout_seconds` for the whole answer.

requests' timeout bounds each read from the socket, so a server that sends its answer a byte
at a time (each within the timeout) held a run for as long as it liked. The adapter here reads
each answer in pieces as they arrive and gives up (`AnswerTooSlow`, retried like any read
timeout) once the whole answer has taken longer than the timeout.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import requests
from requests.adapters import DEFAULT_POOLSIZE, HTTPAdapter
from typing_extensions import override
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError, SSLError

_PIECE_BYTES = 64 * 1024


class AnswerTooSlow(requests.exceptions.ReadTimeout):
    """An answer still arriving when its whole time was up (retried like a read timeout)."""


class DeadlineAdapter(HTTPAdapter):
    """Reads every answer whole within the request's timeout, measured on the clock."""

    @override
    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """The answer with its body read, or a ReadTimeout once the timeout is spent."""
        started = time.monotonic()
        response = super().send(
            request, stream=True, timeout=timeout, verify=verify, cert=cert, proxies=proxies
        )
        seconds = timeout[1] if isinstance(timeout, tuple) else timeout
        if stream or seconds is None:
            return response
        pieces = []
        try:
            while piece := response.raw.read1(_PIECE_BYTES, decode_content=True):
                pieces.append(piece)
                if time.monotonic() - started > seconds:
                    response.close()
                    raise AnswerTooSlow(
                        "sent an answer slower than request_timeout_seconds allows "
                        f"({seconds:g} s for the whole answer)",
                        request=request,
                    )
        except ProtocolError as exc:
            raise requests.exceptions.ChunkedEncodingError(exc) from None
        except DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc) from None
        except ReadTimeoutError as exc:
            raise requests.exceptions.ConnectionError(exc) from None
        except SSLError as exc:
            raise requests.exceptions.SSLError(exc) from None
        # requests keeps a read body in `_content` (what `Response.content` fills); there is no
        # public way to hand it a body read another way.
        response._content = b"".join(pieces)
        return response


def answers_within_timeout(session: requests.Session, at_once: int) -> requests.Session:
    """Mount DeadlineAdapter on `session`, with a connection kept for each of `at_once`
    threads (pools.py says why); returns the session."""
    for prefix in ("https://", "http://"):
        session.mount(
            prefix,
            DeadlineAdapter(
                pool_connections=DEFAULT_POOLSIZE, pool_maxsize=max(at_once, DEFAULT_POOLSIZE)
            ),
        )
    return session
