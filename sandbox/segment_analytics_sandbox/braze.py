"""A fake of the Braze REST segments API: list, details and data_series.

Serves the tests and the sandbox demo. Sizes are deterministic ("the truth", `size_for`) and can be
restated per day, as Braze restates its size estimates for recent days.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from typing_extensions import override

from segment_analytics_sandbox import faults
from segment_analytics_sandbox.http import FakeAPI, Request, Response, json_response

PAGE_SIZE = 100  # segments per /segments/list page
MAX_LENGTH = 100  # largest `length` /segments/data_series accepts
RATE_LIMIT = 250_000  # requests an hour per workspace, shared by all endpoints
_RATE_LIMITED = (  # the message of every 429
    "Rate limit exceeded. Please retry after the time in X-RateLimit-Reset."
)
RATE_LIMIT_WINDOW = 3600  # seconds; X-RateLimit-Reset is the next full hour
# Unconfirmed statuses and bodies: Braze's docs allow an answer whose `message` is not "success"
# and that carries `errors`, and refusals of a segment's series, without giving their words.
SERIES_UNAVAILABLE = "Segment data series is temporarily unavailable"
SERIES_REFUSED = "Data series is not available for this segment"
UNTRACKED_REFUSED = "Analytics tracking is not enabled for this segment"

ALL_PERMISSIONS = frozenset({"segments.list", "segments.details", "segments.data_series"})

LIST_PATH = "/segments/list"
DETAILS_PATH = "/segments/details"
DATA_SERIES_PATH = "/segments/data_series"
PERMISSION_BY_PATH = {
    LIST_PATH: "segments.list",
    DETAILS_PATH: "segments.details",
    DATA_SERIES_PATH: "segments.data_series",
}

_ID_NAMESPACE = uuid.UUID("6f1c2a4e-9b0d-4c53-8e7a-2d5f0b9c1e37")
_HISTORY_DAYS = 730  # sample segments are created over the two years before `today`
_TREND_EPOCH = date(2024, 1, 1)  # sizes grow or shrink exponentially around this day

# ISO 8601 as Braze's own example writes it (`2018-06-27T23:59:59-5:00`) and as clients send it:
# a date alone, or a date and time with an optional `Z` or `±H[H][[:]MM]` offset.
_ISO_8601 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?)?"
    r"(?P<offset>Z|(?P<sign>[+-])(?P<off_h>\d{1,2})(?::?(?P<off_m>\d{2}))?)?)?"
)

# (name, tags, teams, description, text_description)
_SAMPLE_SEGMENTS: list[tuple[str, list[str], list[str], str, str]] = [
    (
        "Active Users - Last 30 Days",
        ["engagement"],
        ["Growth"],
        "Everyone who opened the app in the last month.",
        "Last used app less than 30 days ago",
    ),
    (
        "Lapsed Purchasers",
        ["retention", "revenue"],
        ["CRM"],
        "Bought before, but not in the last quarter.",
        "Has made any purchase more than 90 days ago AND last used app more than 30 days ago",
    ),
    (
        "iOS Push Opt-In",
        ["push", "ios"],
        ["Lifecycle"],
        "iOS users reachable by push.",
        "Push Enabled for iOS is true",
    ),
    (
        "VIP Customers",
        ["revenue", "vip"],
        ["CRM"],
        "Top spenders, for concierge campaigns.",
        "Total revenue more than 500",
    ),
    (
        "Cart Abandoners",
        ["ecommerce"],
        ["Growth"],
        "Left items in the cart this week without checking out.",
        "Performed custom event cart_abandoned in the last 7 days AND "
        "has not made any purchase in the last 7 days",
    ),
    (
        "New Users - First Week",
        ["onboarding"],
        ["Lifecycle"],
        "Onboarding audience.",
        "First used app less than 7 days ago",
    ),
    (
        "Android Push Opt-In",
        ["push", "android"],
        ["Lifecycle"],
        "Android users reachable by push.",
        "Push Enabled for Android is true",
    ),
    (
        "Email Subscribers",
        ["email"],
        ["CRM"],
        "Opted in to marketing email.",
        "Email Subscription Status is opted in",
    ),
    (
        "Churn Risk - High",
        ["retention", "predictive"],
        ["Growth"],
        "High churn-risk score from Predictive Churn.",
        "Churn Risk Score more than 80",
    ),
    (
        "Free Trial Users",
        ["subscription"],
        ["Growth"],
        "In an active free trial.",
        "Custom attribute trial_status equals active",
    ),
    (
        "Loyalty Members - Gold Tier",
        ["loyalty", "vip"],
        ["CRM"],
        "Gold tier of the loyalty programme.",
        "Custom attribute loyalty_tier equals gold",
    ),
    (
        "Dormant Users - 90+ Days",
        ["retention"],
        ["Lifecycle"],
        "No session for three months.",
        "Last used app more than 90 days ago",
    ),
]


@dataclass
class BrazeSegment:
    """One segment of the fake workspace."""

    id: str
    name: str
    created_at: datetime  # tz-aware UTC
    analytics_tracking_enabled: bool = True
    tags: list[str] = field(default_factory=list)
    description: str = ""
    archived: bool = False  # not listed, but details and data_series still answer
    teams: list[str] = field(default_factory=list)
    text_description: str = ""
    updated_at: datetime | None = None  # None: same as created_at


def sample_segments(count: int = 6, *, today: date) -> list[BrazeSegment]:
    """Realistic, deterministic segments created over the two years before `today`.

    The last one has analytics tracking disabled; past the named ones they are "Segment 0013" etc.
    """
    start = datetime.combine(today - timedelta(days=_HISTORY_DAYS), datetime.min.time())
    start = start.replace(hour=9, tzinfo=timezone.utc)
    span = (_HISTORY_DAYS - 10) * 86_400  # the newest is at least ten days old
    segments = []
    for i in range(count):
        named = i < len(_SAMPLE_SEGMENTS)
        row = _SAMPLE_SEGMENTS[i] if named else (f"Segment {i + 1:04d}", [], [], "", "")
        name, tags, teams, description, text_description = row
        created_at = start + timedelta(seconds=i * span // count)
        edited_after = timedelta(days=_unit(name, "updated") * 9)  # still before `today`
        segments.append(
            BrazeSegment(
                id=str(uuid.uuid5(_ID_NAMESPACE, f"segment-{i}")),
                name=name,
                created_at=created_at,
                analytics_tracking_enabled=i != count - 1,
                tags=list(tags),
                description=description,
                teams=list(teams),
                text_description=text_description,
                updated_at=created_at + edited_after,
            )
        )
    return segments


class FakeBraze(FakeAPI):
    """The Braze REST segments endpoints, with API-key permissions and rate-limit headers."""

    def __init__(
        self,
        *,
        api_key: str = "sandbox-braze-rest-key",
        segments: list[BrazeSegment] | None = None,
        today: date | None = None,
        permissions: frozenset[str] = ALL_PERMISSIONS,
        ending_at_included: bool = False,
        port: int = 0,
    ) -> None:
        super().__init__(port=port)
        # Braze does not document whether a midnight `ending_at` day is in the series; the
        # observed behaviour leaves it out. True serves the other reading.
        self.ending_at_included = ending_at_included
        self.api_key = api_key
        self.today = today or datetime.now(timezone.utc).date()
        self.segments = sample_segments(today=self.today) if segments is None else segments
        self.permissions = permissions
        self._state_lock = threading.Lock()
        self._restated: dict[tuple[str, date], int] = {}
        self._served: list[tuple[str, list[date]]] = []
        # Braze's quota: 250,000 requests an hour per workspace; tests make it smaller.
        self.rate_limit_per_window = RATE_LIMIT
        self.rate_window_seconds = RATE_LIMIT_WINDOW
        self._window = 0  # the rate-limit window, as epoch seconds // rate_window_seconds
        self._used = 0  # requests counted in that window
        # Misbehaviour on purpose: a list that ignores `page`; segments deleted after they were
        # listed (their details or data_series answer 404); every day of a series listed twice
        # (the second time one larger); a fraction added to every size.
        self.list_ignores_page = False
        self.deleted_after_listing: dict[str, set[str]] = {
            DETAILS_PATH: set(),
            DATA_SERIES_PATH: set(),
        }
        self.repeat_days = False
        self.size_fraction = 0.0
        # Answers Braze's docs allow, all off by default: a 200 whose `message` is not
        # "success", with an `errors` array and no points, for the windows of a segment's series
        # that ask for a given day (None: every window); details without `name`; the series of
        # segments with analytics tracking off served like any other (else refused, 400); a
        # segment's series refused (400) whatever its tracking.
        self.series_error_answers: dict[str, date | None] = {}
        self.details_without_name: set[str] = set()
        self.untracked_series_served = False
        self.series_refused: set[str] = set()

    # The truth

    def size_for(self, segment_id: str, day: date) -> int:
        """The size on `day`: a hash-based base, slow trend and weekly wobble, or a restatement."""
        with self._state_lock:
            restated = self._restated.get((segment_id, day))
        if restated is not None:
            return restated
        base = 10 ** (3 + 3.3 * _unit(segment_id, "base"))  # 1,000 to 2,000,000 users
        yearly_growth = -0.25 + 0.85 * _unit(segment_id, "trend")
        years = (day - _TREND_EPOCH).days / 365
        phase = 2 * math.pi * _unit(segment_id, "phase")
        weekly = 1 + 0.04 * math.sin(2 * math.pi * day.weekday() / 7 + phase)
        noise = 1 + 0.03 * (_unit(segment_id, day.isoformat()) - 0.5)
        return max(0, round(base * math.exp(yearly_growth * years) * weekly * noise))

    def serves_series(self, segment: BrazeSegment) -> bool:
        """Whether data_series answers the segment's sizes (switches as they are now)."""
        if segment.id in self.series_refused or segment.id in self.series_error_answers:
            return False
        return segment.analytics_tracking_enabled or self.untracked_series_served

    def restate(self, segment_id: str, day: date, size: int) -> None:
        """Change the truth for one day, as Braze does when it restates recent estimates."""
        with self._state_lock:
            self._restated[(segment_id, day)] = size

    # Faults and evidence

    def rate_limit(
        self,
        *,
        times: int = 1,
        reset_in: float = 1.0,
        retry_after: int | None = None,
        path: str | None = None,
        after: int = 0,
    ) -> None:
        """Answer the next `times` matching requests 429: quota spent for `reset_in` seconds."""
        headers = {
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(math.ceil(time.time() + reset_in)),
        }
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        body = {
            "message": _RATE_LIMITED,
            "errors": [f"rate limit of {RATE_LIMIT} requests per hour exceeded"],
        }
        self.inject(429, times=times, path=path, body=body, headers=headers, after=after)

    def data_series_calls(self) -> list[tuple[str, int, str]]:
        """(segment_id, length, ending_at) of every logged data_series request, any status.

        A missing or non-integer `length` shows as 0, a missing `segment_id`/`ending_at` as "".
        """
        logged = [r.query for r in self.requests_to(DATA_SERIES_PATH) if r.path == DATA_SERIES_PATH]
        return [
            (q.get("segment_id", ""), _int_or_zero(q.get("length")), q.get("ending_at", ""))
            for q in logged
        ]

    def days_served(self, segment_id: str) -> list[date]:
        """Every day successful data_series responses gave for the segment, ascending, once each."""
        with self._state_lock:
            return sorted({d for sid, days in self._served if sid == segment_id for d in days})

    @override
    def clear_log(self) -> None:
        """Forget the request log and the days served."""
        super().clear_log()
        with self._state_lock:
            self._served.clear()

    # HTTP

    @override
    def common_headers(self, request: Request, response: Response) -> dict[str, str]:
        """Braze's rate-limit headers, on every response: the quota counts every request."""
        now = int(time.time())
        window = now // self.rate_window_seconds
        with self._state_lock:
            if window != self._window:
                self._window, self._used = window, 0
            self._used += 1
            remaining = max(0, self.rate_limit_per_window - self._used)
        return {
            "X-RateLimit-Limit": str(self.rate_limit_per_window),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str((window + 1) * self.rate_window_seconds),
        }

    def quota_spent(self) -> bool:
        """Whether this window's quota is used up (the next request gets a 429)."""
        window = int(time.time()) // self.rate_window_seconds
        with self._state_lock:
            return window == self._window and self._used >= self.rate_limit_per_window

    @override
    def fault_answer(self, fault: str, request: Request) -> Response | None:
        """A 429 without Retry-After (quota back within the second) and a refused key."""
        if fault == faults.TOO_MANY_REQUESTS:
            return _error(
                429,
                _RATE_LIMITED,
                headers={
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(math.ceil(time.time())),
                },
            )
        if fault == faults.CREDENTIALS_REJECTED:
            return json_response(401, {"message": "Invalid API key"})
        return super().fault_answer(fault, request)

    @override
    def handle(self, request: Request) -> Response:
        """Route, meter, authenticate, check the key's permission, answer."""
        if self.quota_spent():
            return _error(
                429,
                _RATE_LIMITED,
                f"rate limit of {self.rate_limit_per_window} requests exceeded",
            )
        permission = PERMISSION_BY_PATH.get(request.path)
        if permission is None:
            return json_response(404, {"message": "Not Found"})
        if request.method != "GET":
            return json_response(405, {"message": "Method Not Allowed"}, {"Allow": "GET"})
        authorization = request.header("Authorization") or ""
        if authorization != f"Bearer {self.api_key}":
            # Echoes the key it was sent, as some APIs do: the tap must never log this body as is.
            sent = authorization.removeprefix("Bearer ")
            return json_response(401, {"message": f"Invalid API key: {sent}"})
        if permission not in self.permissions:
            return _error(
                403,
                "Provided API key does not have access to this endpoint",
                f"missing permission {permission}",
            )
        if request.path == LIST_PATH:
            return self._list(request)
        if request.path == DETAILS_PATH:
            return self._details(request)
        return self._data_series(request)

    def _list(self, request: Request) -> Response:
        page = request.query.get("page", "0")
        if not page.isdigit() or not page.isascii():
            return _error(400, "'page' must be a non-negative integer", f"invalid page: {page}")
        direction = request.query.get("sort_direction", "asc")
        if direction not in ("asc", "desc"):
            return _error(
                400,
                "'sort_direction' must be 'asc' or 'desc'",
                f"invalid sort_direction: {direction}",
            )
        listed = sorted(
            (s for s in self.segments if not s.archived),
            key=lambda s: (s.created_at, s.id),
            reverse=direction == "desc",
        )
        first = 0 if self.list_ignores_page else int(page) * PAGE_SIZE
        return json_response(
            200,
            {
                "message": "success",
                "segments": [
                    {
                        "id": s.id,
                        "name": s.name,
                        "analytics_tracking_enabled": s.analytics_tracking_enabled,
                        "tags": list(s.tags),
                    }
                    for s in listed[first : first + PAGE_SIZE]
                ],
            },
        )

    def _details(self, request: Request) -> Response:
        segment_id = request.query.get("segment_id")
        if not segment_id:
            return _error(400, "'segment_id' is required", "missing parameter segment_id")
        segment = self._segment(segment_id)
        if segment is None or segment_id in self.deleted_after_listing[DETAILS_PATH]:
            return _not_found(segment_id)
        details = {
            "message": "success",
            "name": segment.name,
            "description": segment.description,
            "text_description": segment.text_description,
            "tags": list(segment.tags),
            "created_at": _iso_z(segment.created_at),
            "updated_at": _iso_z(segment.updated_at or segment.created_at),
            "teams": list(segment.teams),
        }
        if segment_id in self.details_without_name:
            del details["name"]  # Braze marks only `message` required
        return json_response(200, details)

    def _data_series(self, request: Request) -> Response:
        segment_id = request.query.get("segment_id")
        if not segment_id:
            return _error(400, "'segment_id' is required", "missing parameter segment_id")
        length = request.query.get("length", "")
        if not (length.isascii() and length.isdigit() and 1 <= int(length) <= MAX_LENGTH):
            return _error(
                400,
                f"'length' must be an integer between 1 and {MAX_LENGTH}",
                f"invalid length: {length or '(missing)'}",
            )
        raw_ending_at = request.query.get("ending_at")
        if raw_ending_at is None:
            now = datetime.now(timezone.utc)
            ending_at = datetime.combine(self.today, now.time(), tzinfo=timezone.utc)
        else:
            try:
                ending_at = _parse_iso8601(raw_ending_at)
            except ValueError:
                return _error(
                    400,
                    "'ending_at' must be an ISO 8601 datetime",
                    f"invalid ending_at: {raw_ending_at}",
                )
        segment = self._segment(segment_id)
        if segment is None or segment_id in self.deleted_after_listing[DATA_SERIES_PATH]:
            return _not_found(segment_id)
        if segment_id in self.series_refused:
            return _error(400, SERIES_REFUSED, f"segment {segment_id} has no data series")
        if not segment.analytics_tracking_enabled and not self.untracked_series_served:
            # Unconfirmed: Braze's docs do not say that the series needs tracking.
            return _error(
                400,
                UNTRACKED_REFUSED,
                f"segment {segment_id} has analytics_tracking_enabled false",
            )
        first, last = _asked_days(ending_at, int(length), self.ending_at_included)
        if segment_id in self.series_error_answers:
            day = self.series_error_answers[segment_id]
            if day is None or first <= day <= last:
                return json_response(
                    200,
                    {
                        "message": SERIES_UNAVAILABLE,
                        "errors": [f"data series of segment {segment_id} is being recomputed"],
                        "data": [],
                    },
                )
        days = self._series_days(segment, ending_at, int(length))
        with self._state_lock:
            self._served.append((segment_id, days))
        # Newest first, as observed; the docs give no order, so the tap must not rely on it.
        points: list[dict[str, object]] = []
        for d in days:
            size: float = self.size_for(segment_id, d)
            if self.size_fraction:
                size += self.size_fraction
            points.append({"time": d.isoformat(), "size": size})
            if self.repeat_days:
                points.append({"time": d.isoformat(), "size": size + 1})
        return json_response(200, {"message": "success", "data": points})

    def _series_days(self, segment: BrazeSegment, ending_at: datetime, length: int) -> list[date]:
        """The days a data_series answer covers, newest first.

        Observed, unconfirmed: a UTC-midnight `ending_at` ends the series the day before (the date
        itself left out), unless `ending_at_included`; any other time includes its UTC date. Days
        before the segment existed and days after `today` are left out; today (a partial day) only
        when `ending_at` is today and not midnight.
        """
        _, last = _asked_days(ending_at, length, self.ending_at_included)
        newest = self.today if last == self.today else self.today - timedelta(days=1)
        created = _as_utc(segment.created_at).date()
        days = (last - timedelta(days=i) for i in range(length))
        return [d for d in days if created <= d <= newest]

    def _segment(self, segment_id: str) -> BrazeSegment | None:
        return next((s for s in self.segments if s.id == segment_id), None)


def _asked_days(ending_at: datetime, length: int, ending_at_included: bool) -> tuple[date, date]:
    """The first and last day a data_series request asks for, before the segment's life and
    `today` cut them (see `FakeBraze._series_days`)."""
    ending_utc = ending_at.astimezone(timezone.utc)
    last = ending_utc.date()
    if ending_utc.time() == datetime.min.time() and not ending_at_included:
        last -= timedelta(days=1)
    return last - timedelta(days=length - 1), last


def _error(
    status: int, message: str, *errors: str, headers: dict[str, str] | None = None
) -> Response:
    return json_response(status, {"message": message, "errors": list(errors)}, headers)


def _not_found(segment_id: str) -> Response:
    # Unconfirmed: the public docs do not say what an unknown segment_id gets; 404 is assumed.
    return _error(404, "Segment not found", f"no segment with id {segment_id}")


def _unit(key: str, salt: str) -> float:
    """A deterministic number in [0, 1) from `key` and `salt`."""
    digest = hashlib.sha256(f"{key}|{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _int_or_zero(value: str | None) -> int:
    return int(value) if value is not None and value.isascii() and value.isdigit() else 0


def _as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _iso_z(moment: datetime) -> str:
    return _as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso8601(value: str) -> datetime:
    """A date or datetime in ISO 8601 as a tz-aware datetime; no offset means UTC.

    Raises ValueError when `value` is not one.
    """
    match = _ISO_8601.fullmatch(value)
    if match is None:
        raise ValueError(f"not ISO 8601: {value!r}")
    day = date.fromisoformat(match["date"])
    tz = timezone.utc
    if match["sign"]:
        minutes = int(match["off_m"] or 0)
        if minutes >= 60:
            raise ValueError(f"bad UTC offset: {value!r}")
        offset = timedelta(hours=int(match["off_h"]), minutes=minutes)
        tz = timezone(-offset if match["sign"] == "-" else offset)  # ValueError past ±24 h
    if match["hour"] is None:
        return datetime.combine(day, datetime.min.time(), tzinfo=tz)
    fraction = (match["fraction"] or "0")[:6].ljust(6, "0")
    return datetime(
        day.year,
        day.month,
        day.day,
        int(match["hour"]),
        int(match["minute"]),
        int(match["second"] or 0),
        int(fraction),
        tzinfo=tz,
    )
