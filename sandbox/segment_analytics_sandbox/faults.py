"""Seeded fault injection for the fake APIs: the trouble real networks and APIs make.

A `FaultPlan` decides, for each request a fake receives, whether it fails and how. The decision
depends only on the seed, the request's identity (method, path and stable query) and how many
times that identity was asked before, so a campaign replays the same faults whatever order
concurrent requests arrive in, and a retry of a faulted request draws again. (A kind injected at
most once per plan goes to the first request that draws it.)
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field

# On the wire (any fake): the connection is reset before an answer; the status line and headers
# arrive, then half the body and the connection closes (IncompleteRead); nothing arrives until
# the client's read timeout.
RESET = "reset"
CUT = "cut"
STALL = "stall"
# Answers an API gives now and then: a proxy's HTML 5xx page, a 200 whose body is empty, HTML
# or JSON cut off; 429 without Retry-After; credentials refused once mid-sync.
HTML_5XX = "html_5xx"
EMPTY_200 = "empty_200"
HTML_200 = "html_200"
TRUNCATED_JSON = "truncated_json"
TOO_MANY_REQUESTS = "429"
CREDENTIALS_REJECTED = "401"
# What the file host does to a download: an expired presigned URL (403), bytes flipped (MD5
# mismatch), the gzip cut short, bytes appended (size mismatch).
EXPIRED_URL = "expired_url"
FLIPPED_BYTES = "flipped_bytes"
TRUNCATED_GZIP = "truncated_gzip"
EXTRA_BYTES = "extra_bytes"

# How a hostile or broken server (API or file host) can misbehave beyond that (served on
# request, not drawn by plans: each costs the client its whole deadline): the body a byte every
# TRICKLE_SECONDS, each read well within any per-read timeout, the whole never in time; a body
# without Content-Length that goes on far past the object, up to OVERFLOW_BYTES, until the
# client hangs up.
TRICKLE = "trickle"
OVERFLOW = "overflow"
TRICKLE_SECONDS = 0.05
OVERFLOW_BYTES = 1 << 30

TRANSPORT_FAULTS = (RESET, CUT, STALL)
API_FAULTS = (
    *TRANSPORT_FAULTS,
    HTML_5XX,
    EMPTY_200,
    HTML_200,
    TRUNCATED_JSON,
    TOO_MANY_REQUESTS,
    CREDENTIALS_REJECTED,
)
FILE_FAULTS = (*TRANSPORT_FAULTS, HTML_5XX, EXPIRED_URL, FLIPPED_BYTES, TRUNCATED_GZIP, EXTRA_BYTES)
# Kinds injected at most once per plan: a second refusal in a row means wrong credentials.
ONCE_PER_PLAN = frozenset({CREDENTIALS_REJECTED})

HTML_PAGE = (
    b"<html><head><title>503 Service Temporarily Unavailable</title></head><body>"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center></body></html>"
)


@dataclass
class FaultPlan:
    """Which requests fail, and how: `rate` of them, with a kind drawn from `kinds`."""

    seed: int
    rate: float
    kinds: tuple[str, ...]
    stall_seconds: float = 5.0
    only_first_try: bool = False  # True: a retry of a faulted request always succeeds
    limit: int | None = None  # at most this many faults in all
    injected: Counter[str] = field(default_factory=Counter)
    _asked: Counter[str] = field(default_factory=Counter, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def choose(self, identity: str) -> str | None:
        """The fault for this request, or None to answer it normally."""
        with self._lock:
            attempt = self._asked[identity]
            self._asked[identity] += 1
            if (attempt and self.only_first_try) or (
                self.limit is not None and sum(self.injected.values()) >= self.limit
            ):
                return None
            rng = random.Random(f"{self.seed}|{identity}|{attempt}")
            if rng.random() >= self.rate:
                return None
            kind = rng.choice(self.kinds)
            if kind in ONCE_PER_PLAN and self.injected[kind]:
                return None
            self.injected[kind] += 1
            return kind

    @property
    def total(self) -> int:
        """Faults injected so far."""
        with self._lock:
            return sum(self.injected.values())
