"""A small threaded HTTP server base for the local fake APIs (sandbox and tests).

Each fake API subclasses `FakeAPI` and implements `handle`. The base keeps a request log the
tests assert on, a queue of injected faults (status codes, bodies, headers) that replace the
real answer for matching requests, and an optional seeded `FaultPlan` that fails requests the
way networks and APIs do (resets, bodies cut midway, stalls, malformed answers).
"""

from __future__ import annotations

import json
import select
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from typing_extensions import override

from segment_analytics_sandbox import faults
from segment_analytics_sandbox.faults import FaultPlan

OVERFLOW_WRITE_BYTES = 1 << 16


@dataclass(frozen=True)
class Request:
    """One request as the fake server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup."""
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body or b"null")


@dataclass
class Response:
    """What the fake server answers; `transport` makes the connection misbehave instead
    (faults.RESET, faults.CUT, faults.STALL, faults.TRICKLE or faults.OVERFLOW)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    transport: str | None = None


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return Response(
        status=status,
        body=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


@dataclass(frozen=True)
class RecordedRequest:
    """One entry of the request log: the request, the status it got and any fault injected
    by the fault plan (a transport fault means the status never reached the client)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int
    fault: str | None = None


@dataclass
class _Fault:
    response: Response
    path: str | None
    remaining: int | None  # None: until cleared
    skip: int = 0  # let this many matching requests through first


_Fake = TypeVar("_Fake", bound="FakeAPI")


class _QuietServer(ThreadingHTTPServer):
    """A client that goes away mid-request (killed, timed out) is no error of the fake's."""

    @override
    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class FakeAPI:
    """A fake HTTP API on 127.0.0.1, served from a daemon thread.

    The socket is bound and listening when `start()` returns, so callers never wait.
    """

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self.requests: list[RecordedRequest] = []
        self.fault_plan: FaultPlan | None = None
        self.latency = 0.0  # seconds each answer takes, as over a real network
        self.in_flight = 0  # requests being answered now
        self.body_bytes_sent = 0  # bytes of response bodies written to clients
        # `hold`: requests under a path wait for `release`; `held` is set once one waits.
        self.held = threading.Event()
        self._released = threading.Event()
        self._hold: list[Any] | None = None  # [path, requests still let through]

    # Lifecycle

    def start(self: _Fake) -> _Fake:
        """Bind and start serving; returns self."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without TCP_NODELAY the client's
            # delayed ACK stalls every response by ~40 ms.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    path=split.path,
                    query={k: v[-1] for k, v in parse_qs(split.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                with fake._lock:
                    fake.in_flight += 1
                try:
                    if fake.latency:
                        time.sleep(fake.latency)  # the network's round trip
                    response = fake._dispatch(request)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1
                if response.transport in (faults.RESET, faults.STALL):
                    self._drop(response.transport)
                    return
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if response.transport == faults.OVERFLOW:
                    self.send_header("Connection", "close")  # the body ends when it closes
                else:
                    self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                if response.transport == faults.CUT:
                    self._send(response.body[: len(response.body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if response.transport == faults.TRICKLE:
                    self._trickle(response.body)
                    return
                if response.transport == faults.OVERFLOW:
                    self._overflow(response.body)
                    return
                self._send(response.body)

            def _send(self, data: bytes) -> None:
                self.wfile.write(data)
                with fake._lock:
                    fake.body_bytes_sent += len(data)

            def _trickle(self, body: bytes) -> None:
                """The body a byte at a time, until it is out or the client hangs up."""
                try:
                    for index in range(len(body)):
                        self._send(body[index : index + 1])
                        self.wfile.flush()
                        time.sleep(faults.TRICKLE_SECONDS)  # the slow host's pace
                except ConnectionError:
                    self.close_connection = True

            def _overflow(self, body: bytes) -> None:
                """The body, then more and more, until the client hangs up."""
                filler = bytes(OVERFLOW_WRITE_BYTES)
                self.close_connection = True
                try:
                    self._send(body)
                    for _ in range(faults.OVERFLOW_BYTES // OVERFLOW_WRITE_BYTES):
                        self._send(filler)
                except ConnectionError:
                    return

            def _drop(self, how: str) -> None:
                """Close without an answer: at once with a reset, or once the client gives up
                waiting (or the stall is over)."""
                if how == faults.STALL:
                    stall = fake.fault_plan.stall_seconds if fake.fault_plan else 5.0
                    select.select([self.connection], [], [], stall)
                else:
                    linger = struct.pack("ii", 1, 0)  # close with RST, not FIN
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _serve

            @override
            def log_message(self, format: str, *args: Any) -> None:
                """Silence the default stderr access log."""

        self._server = _QuietServer(("127.0.0.1", self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self: _Fake) -> _Fake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port."""
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`."""
        return f"http://127.0.0.1:{self.port}"

    # Faults

    def inject(
        self,
        status: int,
        *,
        times: int | None = 1,
        path: str | None = None,
        body: bytes | dict | None = None,
        headers: dict[str, str] | None = None,
        after: int = 0,
        transport: str | None = None,
    ) -> None:
        """Answer matching requests with `status` instead of the real answer.

        `path` matches as a prefix; `times=None` keeps failing until `clear_faults()`;
        `after` lets that many matching requests through first; `transport` sends the answer
        the way a broken connection does (e.g. faults.TRICKLE).
        """
        if isinstance(body, dict):
            response = json_response(status, body, headers)
        else:
            response = Response(status=status, body=body or b"", headers=dict(headers or {}))
        response.transport = transport
        with self._lock:
            self._faults.append(_Fault(response, path, times, after))

    def hold(self, path: str, *, after: int = 0) -> None:
        """Keep requests under `path` (all but the first `after`) unanswered until `release()`:
        a server that hangs, or a moment a test can act in."""
        with self._lock:
            self._hold = [path, after]
            self._released.clear()
            self.held.clear()

    def release(self) -> None:
        """Answer the held requests, and hold no more."""
        with self._lock:
            self._hold = None
        self._released.set()

    def _holds(self, request: Request) -> bool:
        with self._lock:
            if self._hold is None or not request.path.startswith(self._hold[0]):
                return False
            self._hold[1] -= 1
            return self._hold[1] < 0

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self._lock:
            self._faults.clear()

    def _take_fault(self, request: Request) -> Response | None:
        with self._lock:
            for fault in self._faults:
                if fault.path is not None and not request.path.startswith(fault.path):
                    continue
                if fault.skip > 0:
                    fault.skip -= 1
                    return None
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                return fault.response
        return None

    # Dispatch

    def _dispatch(self, request: Request) -> Response:
        if self._holds(request):
            self.held.set()
            self._released.wait()
        response = self._take_fault(request)
        fault = None
        if response is None and self.fault_plan is not None:
            fault = self.fault_plan.choose(self.fault_identity(request))
            response = self.fault_answer(fault, request) if fault else None
        if response is None:
            try:
                response = self.handle(request)
            except Exception as exc:  # a bug in a fake must show up as a 500, not a hang
                response = json_response(500, {"message": f"fake server error: {exc!r}"})
            if fault:
                response = self.damaged(fault, response)
        response.headers = {**self.common_headers(request, response), **response.headers}
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    request.method,
                    request.path,
                    request.query,
                    request.headers,
                    response.status,
                    fault,
                )
            )
        return response

    # Seeded faults

    def fault_identity(self, request: Request) -> str:
        """What makes two requests "the same request" for the fault plan."""
        return f"{request.method} {request.path}?{sorted(request.query.items())}"

    def fault_answer(self, fault: str, request: Request) -> Response | None:
        """The answer a fault gives instead of the real one (None: damage the real one)."""
        if fault in (faults.RESET, faults.STALL):
            return Response(transport=fault)
        if fault == faults.HTML_5XX:
            return Response(503, faults.HTML_PAGE, {"Content-Type": "text/html"})
        if fault == faults.EMPTY_200:
            return Response(200, b"", {"Content-Type": "application/json"})
        if fault == faults.HTML_200:
            return Response(200, faults.HTML_PAGE, {"Content-Type": "text/html"})
        return None

    def damaged(self, fault: str, response: Response) -> Response:
        """The real answer, damaged by the fault."""
        if fault == faults.CUT:
            response.transport = faults.CUT if len(response.body) > 1 else faults.RESET
        elif fault == faults.TRUNCATED_JSON:
            response.body = response.body[: len(response.body) // 2]
        return response

    def common_headers(self, request: Request, response: Response) -> dict[str, str]:
        """Headers every response carries (e.g. rate-limit headers)."""
        return {}

    def handle(self, request: Request) -> Response:
        """Answer one request; subclasses implement the API."""
        raise NotImplementedError

    # Request log helpers

    def requests_to(self, path_prefix: str) -> list[RecordedRequest]:
        """Logged requests whose path starts with `path_prefix`."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    def clear_log(self) -> None:
        """Forget the request log."""
        with self._lock:
            self.requests.clear()
