"""A fake of the App Store Connect Analytics Reports API, and of the S3 host serving its files.

Serves the tests and the sandbox demo. It checks the ES256 bearer token like Apple does, pages every
list JSON:API style, meters a per-key hourly quota (`X-Rate-Limit`), and hands out presigned S3 URLs
that expire after 5 minutes. Report files are gzipped TSV with columns in a per-file order; a newer
DAILY instance restates earlier Dates, and `truth()` says what a correct reader ends up with.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import csv
import gzip
import hashlib
import hmac
import io
import json
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typing_extensions import override

from segment_analytics_sandbox import faults
from segment_analytics_sandbox.http import FakeAPI, Request, Response, json_response
from tap_segment_analytics.appstore.reports import catalogue

AUDIENCE = "appstoreconnect-v1"
JWT_ALGORITHM = "ES256"
MAX_TOKEN_LIFETIME = 20 * 60  # seconds; Apple rejects tokens whose exp - iat is longer
IAT_CLOCK_SKEW = 60  # seconds an `iat` may lie in the future
DEFAULT_PAGE_LIMIT = 50
MAX_PAGE_LIMIT = 200
MAX_INCLUDED_REPORTS = 50  # `limit[reports]` maximum in Apple's OpenAPI document
HOUR_LIMIT = 3600  # requests per key per rolling hour
RATE_LIMIT_WINDOW = 3600  # seconds
URL_LIFETIME = 300  # seconds a presigned report-file URL stays valid (X-Amz-Expires)
SNAPSHOT_INTERVAL_DAYS = 31  # Apple allows one ONE_TIME_SNAPSHOT request per app this often
# On the same processing date, an ONGOING instance is newer than a snapshot's.
_ACCESS_ORDER = {"ONE_TIME_SNAPSHOT": 0, "ONGOING": 1}

ACCESS_TYPES = ("ONGOING", "ONE_TIME_SNAPSHOT")
GRANULARITIES = ("DAILY", "WEEKLY", "MONTHLY")
CATEGORIES = ("APP_USAGE", "APP_STORE_ENGAGEMENT", "COMMERCE", "FRAMEWORK_USAGE", "PERFORMANCE")

# Every report of the tap's catalogue (made from Apple's documentation), with its headers exactly
# as documented: the fake serves what Apple describes, and `truth()` identifies a row by the
# catalogue's key fields.
_CATALOGUE = {report.name: report for report in catalogue()}
REPORT_COLUMNS: dict[str, list[str]] = {
    name: [f.name for f in report.fields] for name, report in _CATALOGUE.items()
}
REPORT_CATEGORIES: dict[str, str] = {name: r.category for name, r in _CATALOGUE.items()}
# What populate_sample serves by default: the reports most apps use, and a few of the ~115
# Framework Usage and Performance reports of the event-count shape.
DEFAULT_REPORTS = (
    "App Downloads Standard",
    "App Downloads Detailed",
    "App Store Discovery and Engagement Standard",
    "App Store Discovery and Engagement Detailed",
    "App Sessions Standard",
    "App Sessions Detailed",
    "App Store Installation and Deletion Standard",
    "App Store Installation and Deletion Detailed",
    "App Crashes",
    "App Crashes Expanded",
    "App Store Purchases Standard",
    "Home Screen Widget Installs",
    "Photos Picker",
)
# Apple quirks served with `file_quirks`: one report comma-separated (two open-source parsers
# read App Crashes Expanded so), and Detailed reports' empty fields written as `""` (a
# third-party fixture copied from a real file).
COMMA_SEPARATED_REPORTS = frozenset({"App Crashes Expanded"})
# What live files hold beyond Apple's pages (issue 24), served with `file_oddities` (none by
# default, so the golden output stays as it is), each in the first row of every file it fits
# (a short row: the second, a long row: the last, where the file has them, so that a file can
# hold every one):
SUPPRESSED_COUNT = "suppressed_count"  # an integer measure written `-`
LEADING_QUOTE = "leading_quote"  # a free-text value beginning with a quote, written bare
SPARK_ESCAPED = "spark_escaped"  # that value quoted as Spark's CSV writer escapes it
SHORT_ROW = "short_row"  # a row without its last field
LONG_ROW = "long_row"  # a row with one field more than the header
LIVE_HEADERS = "live_headers"  # the header names live files use (the catalogue's aliases)
FILE_ODDITIES = (SUPPRESSED_COUNT, LEADING_QUOTE, SPARK_ESCAPED, SHORT_ROW, LONG_ROW, LIVE_HEADERS)
SUPPRESSED = "-"
ODD_TITLE = '"Back to School" custom product page'
ODD_SURPLUS = "surplus"
# A column live Subscription Event files have beside the aliased ones, undocumented.
LIVE_EXTRA_COLUMNS = {"App Store Subscription Event": {"Churn Tenure": "1 Month"}}

# A report the catalogue does not know (the tap's generic stream reads it).
WEB_PREVIEWS_REPORT = "App Store Web Previews"
WEB_PREVIEWS_COLUMNS = [
    "Date",
    "App Apple Identifier",
    "App Name",
    "Territory",
    "Device",
    "Counts",
]
WEB_PREVIEWS_CATEGORY = "APP_STORE_ENGAGEMENT"
# Its measures, by the names the catalogue knows as measures.
_WEB_PREVIEWS_MEASURES = frozenset({"Counts"})
# How long a report restates a Date when the catalogue gives no bound.
_UNBOUNDED_RESTATEMENT = 3

_T = TypeVar("_T")
_ID_NAMESPACE = uuid.UUID("0d6f3c1a-5e2b-4f8e-9a71-3b4c2d1e0f99")
_S3_SECRET = b"fake-s3-signing-secret"
_S3_ACCESS_KEY = "ASIAFAKEANALYTICS0001"
_S3_REGION = "us-west-2"
_S3_SECURITY_TOKEN = base64.b64encode(b"fake-session-token-for-analytics-reports").decode()
_CORRUPT_MODES = ("bytes", "truncate", "size", faults.TRICKLE, faults.OVERFLOW)
_FAULT_CORRUPTIONS = {
    faults.FLIPPED_BYTES: "bytes",
    faults.TRUNCATED_GZIP: "truncate",
    faults.EXTRA_BYTES: "size",
}

_APP_NAMES = ("Pocket Planner", "Trail Notes", "Tiny Tasks", "Sky Journal")
_POOLS: dict[str, tuple[str, ...]] = {
    "Territory": ("US", "GB", "DE", "FR", "JP"),
    "Device": ("iPhone", "iPad", "Mac"),
    "Source Type": ("App Store Search", "App Store Browse", "Web Referrer", "App Referrer"),
    "Download Type": ("First-time download", "Redownload", "Manual update", "Auto-update"),
    "App Version": ("4.2.0", "4.2.1", "4.3.0"),
    "Build": ("4200", "4211", "4305"),
    "Page Type": ("Product page", "Store sheet", "In-app event", "No page"),
    "Page Title": ("Default product page", "Spring custom page", ""),
    "Pre-Order": ("No", "No", "No", "Yes"),
    "Campaign": ("", "", "", "spring_launch", "newsletter"),
    "Engagement Type": ("", "Get", "Open"),
    "Release Type": ("Release", "Beta"),
    "Purchase Type": ("App", "In-App Purchase", "Auto-Renewable Subscription"),
    "Payment Method": ("Credit card", "Store credit", "Carrier billing"),
    "Content Name": ("Pocket Planner Pro", "Coin pack", "Monthly plan"),
}
_PLATFORM_VERSIONS = {
    "iPhone": ("iOS 18.1", "iOS 18.2", "iOS 17.6"),
    "iPad": ("iPadOS 18.1", "iPadOS 17.7"),
    "Mac": ("macOS 15.1", "macOS 14.7"),
}
_SOURCE_INFO = {
    "Web Referrer": ("www.example.com", "news.example.org"),
    "App Referrer": ("com.example.social", "com.example.chat"),
}
_EVENTS = {
    "App Store Discovery and Engagement": ("Impression", "Page view", "Tap"),
    "App Store Installation and Deletion": ("Install", "Delete"),
}


def generate_key_pair() -> tuple[str, str]:
    """A new EC P-256 key pair: (PKCS#8 private PEM, like Apple's .p8 file; public PEM)."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


# Model


@dataclass
class ReportFile:
    """One segment of a report instance: a gzipped TSV object in the fake S3 bucket."""

    id: str
    key: str
    checksum: str  # md5 hex of the gzipped bytes
    size_in_bytes: int
    rows: list[dict[str, str]]  # every column of the report, "" where a row had none


@dataclass
class _Instance:
    id: str
    report_id: str
    granularity: str
    processing_date: date
    segments: list[ReportFile]


@dataclass
class _Report:
    id: str
    request_id: str
    name: str
    category: str
    instances: list[_Instance] = field(default_factory=list)


@dataclass
class _ReportRequest:
    id: str
    app_id: str
    access_type: str
    stopped_due_to_inactivity: bool = False
    reports: list[_Report] = field(default_factory=list)


@dataclass
class _App:
    id: str
    name: str
    requests: list[_ReportRequest] = field(default_factory=list)
    snapshots_created: list[date] = field(default_factory=list)  # deleted ones count too


# Responses


def _apple_error(
    status: int, code: str, title: str, detail: str, *, parameter: str | None = None
) -> Response:
    error: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "status": str(status),
        "code": code,
        "title": title,
        "detail": detail,
    }
    if parameter is not None:
        error["source"] = {"parameter": parameter}
    return json_response(status, {"errors": [error]})


def _not_authorized() -> Response:
    return _apple_error(
        401,
        "NOT_AUTHORIZED",
        "Authentication credentials are missing or invalid.",
        "Provide a properly configured and signed bearer token, and make sure that it has not "
        "expired. Learn more about Generating Tokens for API Requests "
        "https://developer.apple.com/go/?id=api-generating-tokens",
    )


def _rate_limit_exceeded() -> Response:
    """Apple's 429: no Retry-After."""
    return _apple_error(
        429,
        "RATE_LIMIT_EXCEEDED",
        "The API request rate limit has been reached.",
        "We've received too many requests for this API. Please wait and try again or slow down "
        "your request rate.",
    )


def _not_found(resource_type: str, resource_id: str) -> Response:
    return _apple_error(
        404,
        "NOT_FOUND",
        "The specified resource does not exist",
        f"There is no resource of type '{resource_type}' with id '{resource_id}'",
    )


def _invalid_parameter(parameter: str, detail: str) -> Response:
    return _apple_error(
        400,
        "PARAMETER_ERROR.INVALID",
        "A parameter has an invalid value",
        detail,
        parameter=parameter,
    )


def _unprocessable(code: str, detail: str) -> Response:
    return _apple_error(422, code, "The request entity is not valid.", detail)


def _rate_limit_header(limit: int, remaining: int) -> str:
    return f"user-hour-lim:{limit};user-hour-rem:{remaining};"


def _s3_error(status: int, code: str, message: str, **extra: str) -> Response:
    request_id = uuid.uuid4().hex[:16].upper()
    parts = [f"<Code>{code}</Code>", f"<Message>{message}</Message>"]
    parts += [f"<{name}>{value}</{name}>" for name, value in extra.items()]
    parts += [f"<RequestId>{request_id}</RequestId>", "<HostId>fake-s3</HostId>"]
    body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>"
    return Response(status, body.encode(), {"Content-Type": "application/xml"})


def _encode_cursor(offset: int) -> str:
    document = json.dumps({"offset": str(offset)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(document).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int | None:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        offset = int(json.loads(base64.urlsafe_b64decode(padded.encode()))["offset"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    return offset if offset >= 0 else None


def _gzip_tsv(
    columns: list[str], rows: list[dict[str, str]], *, quote_empty: bool = False
) -> bytes:
    empty = '""' if quote_empty else ""
    lines = ["\t".join(columns)] + [
        "\t".join(row.get(c, "") or empty for c in columns) for row in rows
    ]
    return _gzipped(("\n".join(lines) + "\n").encode())


def _gzip_csv(columns: list[str], rows: list[dict[str, str]]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([row.get(c, "") for c in columns] for row in rows)
    return _gzipped(text.getvalue().encode())


def _gzip_odd(
    report_name: str,
    columns: list[str],
    rows: list[dict[str, str]],
    oddities: frozenset[str],
    *,
    delimiter: str,
    quote_empty: bool,
) -> bytes:
    """A file written as _gzip_tsv or _gzip_csv would, then with each of `oddities` that fits
    the report in its first row (a short row: the second, a long row: the last; live names: the
    header)."""
    report = _CATALOGUE.get(report_name)

    def written(value: str) -> str:
        if not value:
            return '""' if quote_empty else ""
        if delimiter == "," and any(c in value for c in ',"\r\n'):
            return '"' + value.replace('"', '""') + '"'
        return value

    lines = [[written(row.get(c, "")) for c in columns] for row in rows]
    header = list(columns)
    if report is not None and LIVE_HEADERS in oddities and report.header_aliases:
        documented = {name: alias for alias, name in report.header_aliases.items()}
        header = [documented.get(name, name) for name in header]
        for name, value in LIVE_EXTRA_COLUMNS.get(report_name.rsplit(" ", 1)[0], {}).items():
            header.append(name)
            for line in lines:
                line.append(value)
    if lines:
        first = lines[0]
        counts = [f.name for f in report.measures if f.type == "integer"] if report else []
        if SUPPRESSED_COUNT in oddities and counts:
            first[columns.index(counts[0])] = SUPPRESSED
        text = "Page Title" if "Page Title" in columns else "App Name"
        if LEADING_QUOTE in oddities and text in columns:
            first[columns.index(text)] = ODD_TITLE
        if SPARK_ESCAPED in oddities and text in columns:
            first[columns.index(text)] = '"' + ODD_TITLE.replace('"', '\\"') + '"'
        if SHORT_ROW in oddities:
            lines[1 if len(lines) > 2 else 0].pop()
        if LONG_ROW in oddities:
            lines[-1].append(ODD_SURPLUS)
    text_lines = [delimiter.join(header)] + [delimiter.join(line) for line in lines]
    return _gzipped(("\n".join(text_lines) + "\n").encode())


def _gzipped(data: bytes) -> bytes:
    """Gzip bytes that are the same on every Python: `gzip.compress` writes a header whose OS
    byte differs by version (3.11 and 3.12 say Unix, 3.10 and 3.13 unknown), which would change
    every file's checksum."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as out:
        out.write(data)
    return buffer.getvalue()


# S3


class FakeS3(FakeAPI):
    """Serves presigned report-file URLs like Apple's S3 bucket."""

    def __init__(self, *, port: int = 0) -> None:
        super().__init__(port)
        self._objects: dict[str, bytes] = {}
        self._corruptions: dict[str, list[str]] = {}
        self._state = threading.Lock()
        self.downloads: list[str] = []  # keys served with 200, corrupted or not

    def put(self, key: str, data: bytes) -> None:
        """Store an object."""
        with self._state:
            self._objects[key] = data

    def object(self, key: str) -> bytes:
        """A stored object's bytes."""
        with self._state:
            return self._objects[key]

    def presign(self, key: str, *, expired: bool = False) -> str:
        """An absolute presigned GET URL for `key`, valid URL_LIFETIME seconds (or already not)."""
        signed_at = time.time() - (2 * URL_LIFETIME if expired else 0)
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(signed_at))
        expires = str(URL_LIFETIME)
        query = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"{_S3_ACCESS_KEY}/{amz_date[:8]}/{_S3_REGION}/s3/aws4_request",
            "X-Amz-Date": amz_date,
            "X-Amz-Expires": expires,
            "X-Amz-SignedHeaders": "host",
            "X-Amz-Security-Token": _S3_SECURITY_TOKEN,
            "X-Amz-Signature": self._signature(key, amz_date, expires),
        }
        return f"{self.base_url}/{quote(key)}?{urlencode(query)}"

    def corrupt(self, key: str, mode: str, *, times: int = 1) -> None:
        """Serve the next `times` downloads of `key` damaged.

        "bytes": bytes flipped, same size (checksum mismatch); "truncate": the gzip cut short;
        "size": extra bytes appended; faults.TRICKLE: a byte at a time; faults.OVERFLOW: no
        Content-Length, and more bytes than the object until the client hangs up.
        """
        if mode not in _CORRUPT_MODES:
            raise ValueError(f"unknown corruption {mode!r}; use one of {_CORRUPT_MODES}")
        with self._state:
            self._corruptions.setdefault(key, []).extend([mode] * times)

    @staticmethod
    def _signature(key: str, amz_date: str, expires: str) -> str:
        message = f"{key}\n{amz_date}\n{expires}".encode()
        return hmac.new(_S3_SECRET, message, hashlib.sha256).hexdigest()

    @override
    def fault_identity(self, request: Request) -> str:
        """The object: every try of a download carries a new signature."""
        return f"{request.method} {request.path}"

    @override
    def fault_answer(self, fault: str, request: Request) -> Response | None:
        """S3's own words for a busy host and an expired URL."""
        if fault == faults.HTML_5XX:
            return _s3_error(503, "SlowDown", "Please reduce your request rate.")
        if fault == faults.EXPIRED_URL:
            return _s3_error(403, "AccessDenied", "Request has expired")
        return super().fault_answer(fault, request)

    @override
    def damaged(self, fault: str, response: Response) -> Response:
        """A file served damaged: bytes flipped, cut short, or with bytes appended."""
        mode = _FAULT_CORRUPTIONS.get(fault)
        if mode is None or response.status != 200:
            return super().damaged(fault, response)
        response.body = _damage(response.body, mode)
        return response

    @override
    def handle(self, request: Request) -> Response:
        """Answer a GET of a presigned object URL."""
        if request.method not in ("GET", "HEAD"):
            return _s3_error(
                405,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            )
        if request.header("authorization") is not None:
            return _s3_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be specified",
                ArgumentName="Authorization",
            )
        key = unquote(request.path.lstrip("/"))
        query = request.query
        amz_date = query.get("X-Amz-Date", "")
        expires = query.get("X-Amz-Expires", "")
        if "X-Amz-Signature" not in query:
            return _s3_error(403, "AccessDenied", "Access Denied")
        if not hmac.compare_digest(
            query["X-Amz-Signature"], self._signature(key, amz_date, expires)
        ):
            return _s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
                AWSAccessKeyId=_S3_ACCESS_KEY,
            )
        signed_at = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        if signed_at + int(expires) < time.time():
            return _s3_error(
                403,
                "AccessDenied",
                "Request has expired",
                **{"X-Amz-Expires": expires},
                Expires=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(signed_at + int(expires))),
                ServerTime=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            )
        with self._state:
            data = self._objects.get(key)
            if data is None:
                return _s3_error(404, "NoSuchKey", "The specified key does not exist.", Key=key)
            pending = self._corruptions.get(key)
            mode = pending.pop(0) if pending else None
            self.downloads.append(key)
        transport = mode if mode in (faults.TRICKLE, faults.OVERFLOW) else None
        body = data if mode is None or transport else _damage(data, mode)
        return Response(
            200,
            body,
            {
                "Content-Type": "binary/octet-stream",
                "ETag": f'"{hashlib.md5(data).hexdigest()}"',  # noqa: S324 - S3's ETag is md5
                "Accept-Ranges": "bytes",
                "x-amz-server-side-encryption": "AES256",
            },
            transport=transport,
        )


def _damage(data: bytes, mode: str) -> bytes:
    if mode == "bytes":
        middle = len(data) // 2
        return (
            data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 4]) + data[middle + 4 :]
        )
    if mode == "truncate":
        return data[: len(data) // 2]
    return data + b"\x1f\x8b extra bytes"


# App Store Connect


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[Request, str], Response]
    params: frozenset[str]


class FakeAppStoreConnect(FakeAPI):
    """The Analytics Reports endpoints of the App Store Connect API, for one API key."""

    def __init__(
        self,
        *,
        public_key_pem: str,
        key_id: str,
        issuer_id: str | None,
        s3: FakeS3,
        hour_limit: int = HOUR_LIMIT,
        port: int = 0,
        file_quirks: bool = True,
        file_oddities: Iterable[str] = (),
    ) -> None:
        super().__init__(port)
        self.public_key_pem = public_key_pem
        # Serve COMMA_SEPARATED_REPORTS comma-separated and Detailed reports' empty fields as "" (as
        # Apple does, by default; off, every file is tab-separated with bare empty fields).
        self.file_quirks = file_quirks
        # What live files hold beyond Apple's pages, in every file written from now on (see
        # FILE_ODDITIES; add_instance can give its own).
        self.file_oddities = frozenset(file_oddities)
        self.key_id = key_id
        self.issuer_id = issuer_id  # None: an individual key (payload "sub": "user", no "iss")
        self.s3 = s3
        self.hour_limit = hour_limit
        self.tokens_seen: list[dict[str, Any]] = []
        self.created_requests: list[str] = []
        # Apple answers 429 to bursts of parallel calls even with hourly budget left (api-notes);
        # how many it tolerates is unconfirmed: more than `max_parallel` in flight get a 429.
        self.max_parallel: int | None = None
        self.burst_refusals = 0
        # Answers wrong on purpose: instance id -> the `processingDate` listed for it instead.
        self.garbled_processing_dates: dict[str, Any] = {}
        self._state = threading.Lock()
        self._spent: deque[float] = deque()
        self._expire_next = 0
        self._counter = 0
        self._apps: dict[str, _App] = {}
        self._requests: dict[str, _ReportRequest] = {}
        self._reports: dict[str, _Report] = {}
        self._instances: dict[str, _Instance] = {}
        self._segments: dict[str, ReportFile] = {}
        # Paging that misbehaves on purpose: pages of at most `page_size` items whatever the
        # `limit`; `links.next` back to the first page after `next_loops_after` pages; on
        # another host (`next_link_base`); or never ending (`endless_pages`: the items again).
        self.page_size: int | None = None
        self.next_loops_after: int | None = None
        self.next_link_base: str | None = None
        self.endless_pages = False
        # A download URL handed out instead of the presigned one (e.g. file:///etc/passwd).
        self.download_url: str | None = None
        # Answers the documents allow, off by default. `creation_conflict`: every POST of a
        # report request answered 409 with this (code, detail) and nothing created. `gone`: ids
        # of reports, instances and segments that answer 404 NOT_FOUND on their own endpoints
        # while still listed. `missing_attributes` / `null_attributes`: attributes (by their
        # JSON name) left out of, or null in, every resource (Apple's schema requires none).
        self.creation_conflict: tuple[str, str] | None = None
        self.gone: set[str] = set()
        self.missing_attributes: set[str] = set()
        self.null_attributes: set[str] = set()
        self._exhaust_after: int | None = None
        fields = "fields[{}]".format
        paging = ("limit", "cursor")
        # Apple's OpenAPI document lists these for the request endpoints: reports included.
        with_reports = ("include", fields("analyticsReports"), "limit[reports]")
        self._routes = [
            _Route("GET", re.compile(r"/v1/apps/([^/]+)/analyticsReportRequests"),
                   self._list_requests,
                   frozenset({"filter[accessType]", fields("analyticsReportRequests"),
                              *with_reports, *paging})),
            _Route("POST", re.compile(r"/v1/analyticsReportRequests"), self._create_request,
                   frozenset()),
            _Route("GET", re.compile(r"/v1/analyticsReportRequests/([^/]+)"), self._read_request,
                   frozenset({fields("analyticsReportRequests"), *with_reports})),
            _Route("GET", re.compile(r"/v1/analyticsReportRequests/([^/]+)/reports"),
                   self._list_reports,
                   frozenset({"filter[category]", "filter[name]", fields("analyticsReports"),
                              *paging})),
            _Route("GET", re.compile(r"/v1/analyticsReports/([^/]+)"), self._read_report,
                   frozenset({fields("analyticsReports")})),
            _Route("GET", re.compile(r"/v1/analyticsReports/([^/]+)/instances"),
                   self._list_instances,
                   frozenset({"filter[granularity]", "filter[processingDate]",
                              fields("analyticsReportInstances"), *paging})),
            _Route("GET", re.compile(r"/v1/analyticsReportInstances/([^/]+)"),
                   self._read_instance, frozenset({fields("analyticsReportInstances")})),
            _Route("GET", re.compile(r"/v1/analyticsReportInstances/([^/]+)/segments"),
                   self._list_segments, frozenset({fields("analyticsReportSegments"), *paging})),
            _Route("GET", re.compile(r"/v1/analyticsReportSegments/([^/]+)"), self._read_segment,
                   frozenset({fields("analyticsReportSegments")})),
        ]  # fmt: skip

    # Test and demo controls

    def add_app(
        self, app_id: str, *, ongoing_request: bool = True, stopped_due_to_inactivity: bool = False
    ) -> None:
        """Register an app, by default with an ONGOING report request."""
        with self._state:
            if app_id in self._apps:
                raise ValueError(f"app {app_id!r} already exists")
            app = _App(app_id, _APP_NAMES[len(self._apps) % len(_APP_NAMES)])
            self._apps[app_id] = app
            if ongoing_request:
                self._new_request(app, "ONGOING", stopped_due_to_inactivity)

    def add_report(self, app_id: str, name: str, *, category: str | None = None) -> str:
        """Add a report to the app's (latest) ONGOING request; returns its id."""
        with self._state:
            return self._report_for(app_id, name, category).id

    def add_instance(
        self,
        app_id: str,
        report_name: str,
        granularity: str,
        processing_date: date,
        rows_by_segment: list[list[dict[str, str]]],
        *,
        access_type: str = "ONGOING",
        oddities: Iterable[str] | None = None,
    ) -> str:
        """Publish one instance, one gzip TSV segment per inner list of rows, in the app's
        (latest) request of `access_type`, its files with `oddities` (by default the fake's
        `file_oddities`); returns its id."""
        odd = self.file_oddities if oddities is None else frozenset(oddities)
        unknown_oddities = odd - set(FILE_ODDITIES)
        if unknown_oddities:
            raise ValueError(f"oddities {sorted(unknown_oddities)} not among {FILE_ODDITIES}")
        if granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}")
        with self._state:
            report = self._report_for(app_id, report_name, None, access_type)
            known = REPORT_COLUMNS.get(report_name) or (
                WEB_PREVIEWS_COLUMNS if report_name == WEB_PREVIEWS_REPORT else None
            )
            columns = list(
                known or dict.fromkeys(c for seg in rows_by_segment for r in seg for c in r)
            )
            unknown = {c for seg in rows_by_segment for r in seg for c in r} - set(columns)
            if unknown:
                raise ValueError(f"columns {sorted(unknown)} are not in {report_name!r}")
            instance = _Instance(self._new_id("instance"), report.id, granularity,
                                 processing_date, [])  # fmt: skip
            stamp = processing_date.strftime("%Y%m%d")
            code = re.sub(r"\W+", "_", report_name).upper()
            for index, rows in enumerate(rows_by_segment):
                key = (
                    f"reports/{app_id}/{code}/{granularity}/{access_type}/{stamp}/"
                    f"{instance.id}/{index}.csv.gz"
                )
                shuffled = list(columns)
                random.Random(key).shuffle(shuffled)  # Apple's column order varies by file
                comma = self.file_quirks and report_name in COMMA_SEPARATED_REPORTS
                quote = self.file_quirks and report_name.endswith(" Detailed")
                if odd:
                    data = _gzip_odd(
                        report_name, shuffled, rows, odd,
                        delimiter="," if comma else "\t", quote_empty=quote and not comma,
                    )  # fmt: skip
                elif comma:
                    data = _gzip_csv(shuffled, rows)
                else:
                    data = _gzip_tsv(shuffled, rows, quote_empty=quote)
                self.s3.put(key, data)
                segment = ReportFile(
                    id=self._new_id("segment"),
                    key=key,
                    checksum=hashlib.md5(data).hexdigest(),  # noqa: S324 - Apple's checksum
                    size_in_bytes=len(data),
                    rows=[{c: row.get(c, "") for c in columns} for row in rows],
                )
                instance.segments.append(segment)
                self._segments[segment.id] = segment
            report.instances.append(instance)
            self._instances[instance.id] = instance
            return instance.id

    def populate_sample(
        self,
        *,
        app_ids: list[str],
        today: date,
        days: int = 8,
        reports: list[str] | None = None,
        rows_per_day: int = 6,
        restate_window: int | None = None,
        seed: int = 7,
        drop_share: float = 0.0,
    ) -> None:
        """Realistic, deterministic demo data: DAILY instances for today-days .. today-1 that
        each restate the previous `restate_window` Dates (by default each report's
        completeness lag; dropping `drop_share` of the rows an earlier instance had), a few
        2-segment instances, and one WEEKLY instance per report (of DEFAULT_REPORTS by default,
        plus the App Store Web Previews report, which the catalogue does not know)."""
        names = list(dict.fromkeys([*(reports or DEFAULT_REPORTS), WEB_PREVIEWS_REPORT]))
        for app_id in app_ids:
            if app_id not in self._apps:
                self.add_app(app_id)
            for name in names:
                category = WEB_PREVIEWS_CATEGORY if name == WEB_PREVIEWS_REPORT else None
                self.add_report(app_id, name, category=category)
        for offset in range(days, 0, -1):
            self.publish_day(
                app_ids=app_ids,
                processing=today - timedelta(days=offset),
                rows_per_day=rows_per_day,
                restate_window=restate_window,
                seed=seed,
                drop_share=drop_share,
            )
        last_sunday = today - timedelta(days=today.weekday() + 1)
        week_start = last_sunday - timedelta(days=6)
        for app_id in app_ids:
            for name in names:
                weekly = self._sample_rows(
                    app_id, name, "WEEKLY", week_start, last_sunday + timedelta(days=1),
                    rows_per_day, seed,
                )  # fmt: skip
                self.add_instance(app_id, name, "WEEKLY", last_sunday + timedelta(days=1), [weekly])

    def publish_day(
        self,
        *,
        app_ids: list[str],
        processing: date,
        rows_per_day: int = 6,
        restate_window: int | None = None,
        seed: int = 7,
        drop_share: float = 0.0,
        access_type: str = "ONGOING",
        files: int | None = None,
    ) -> None:
        """One DAILY instance per report of each app, processed on `processing`: the rows of
        the `restate_window` Dates before it (by default the report's completeness lag, as
        Apple restates), without `drop_share` of the rows of Dates an earlier instance already
        had (Apple's noise and thresholds drop them), in `files` segments (by default one, or
        two for a quarter of the instances)."""
        for app_id in app_ids:
            names = self.report_names(app_id)
            for report_index, name in enumerate(names):
                window = restate_window or restatement_days(name)
                rows = [
                    row
                    for back in range(window, 0, -1)
                    for row in self._restated_rows(
                        app_id, name, processing - timedelta(days=back), processing,
                        rows_per_day, seed, drop_share if back > 1 else 0.0,
                    )
                ]  # fmt: skip
                count = files or (2 if (processing.toordinal() + report_index) % 4 == 0 else 1)
                count = max(1, min(count, len(rows)))
                per = -(-len(rows) // count)
                segments = [rows[i : i + per] for i in range(0, len(rows), per)] or [rows]
                self.add_instance(
                    app_id, name, "DAILY", processing, segments, access_type=access_type
                )

    def add_snapshot(self, app_id: str, *, created: date | None = None) -> str:
        """A ONE_TIME_SNAPSHOT request for the app, not ready yet (no reports); its id."""
        with self._state:
            app = self._apps[app_id]
            app.snapshots_created.append(created or _utc_today())
            return self._new_request(app, "ONE_TIME_SNAPSHOT", stopped=False).id

    def delete_request(self, request_id: str) -> None:
        """Delete a report request (a deleted snapshot still counts against the 31 days)."""
        with self._state:
            report_request = self._requests.pop(request_id)
            self._apps[report_request.app_id].requests.remove(report_request)

    def publish_snapshot(
        self,
        app_id: str,
        *,
        history_days: int,
        dated: str = "historical",
        rows_per_day: int = 6,
        restate_window: int = _UNBOUNDED_RESTATEMENT,
        seed: int = 7,
    ) -> None:
        """Make the app's latest snapshot ready: every ONGOING report's history.

        How Apple dates a snapshot's instances is unconfirmed (api-notes). "historical": one
        DAILY instance per past processing date, like the ONGOING ones (identical where they
        overlap); "creation": one instance processed on the snapshot's creation day holding
        every Date of the history.
        """
        with self._state:
            created = self._apps[app_id].snapshots_created[-1]
            ongoing = self._latest_request(app_id, "ONGOING").reports
            for report in ongoing:
                self._report_for(app_id, report.name, report.category, "ONE_TIME_SNAPSHOT")
            names = [report.name for report in ongoing]
        if dated == "creation":
            for name in names:
                rows = [
                    row
                    for back in range(history_days, 0, -1)
                    for row in self._sample_rows(
                        app_id, name, "DAILY", created - timedelta(days=back), created,
                        rows_per_day, seed,
                    )
                ]  # fmt: skip
                self.add_instance(
                    app_id, name, "DAILY", created, [rows], access_type="ONE_TIME_SNAPSHOT"
                )
            return
        for back in range(history_days - restate_window, 0, -1):
            self.publish_day(
                app_ids=[app_id],
                processing=created - timedelta(days=back),
                rows_per_day=rows_per_day,
                restate_window=restate_window,
                seed=seed,
                access_type="ONE_TIME_SNAPSHOT",
            )

    def report_id(self, app_id: str, report_name: str) -> str:
        """The id of the app's (latest ONGOING request's) report of that name."""
        with self._state:
            return self._find_report(app_id, report_name).id

    def report_names(self, app_id: str) -> list[str]:
        """The names of the app's reports."""
        with self._state:
            return [r.name for r in self._latest_request(app_id, "ONGOING").reports]

    def truth(
        self, app_id: str, report_name: str, granularity: str, *, snapshots: bool = True
    ) -> list[dict[str, str]]:
        """The rows a correct reader keeps: for each Date, the rows of the newest instance (by
        processing date, ONGOING after a snapshot's on the same date) that has that Date.

        A newer instance is the whole truth for the Dates it restates: a row it lacks is gone.
        """
        with self._state:
            instances = [
                (i.processing_date, _ACCESS_ORDER[request.access_type], i)
                for request in self._apps[app_id].requests
                if snapshots or request.access_type == "ONGOING"
                for report in request.reports
                if report.name == report_name
                for i in report.instances
                if i.granularity == granularity
            ]
            newest: dict[str, dict[tuple[tuple[str, str], ...], dict[str, str]]] = {}
            for _, _, instance in sorted(instances, key=lambda t: (t[0], t[1])):
                by_date: dict[str, dict[tuple[tuple[str, str], ...], dict[str, str]]] = {}
                for segment in instance.segments:
                    for row in segment.rows:
                        fact = _fact_key(report_name, row)
                        by_date.setdefault(_date_of(report_name, row), {})[fact] = dict(row)
                newest.update(by_date)
        return [
            row
            for day in sorted(newest)
            for _, row in sorted(newest[day].items(), key=lambda item: item[0])
        ]

    def rate_limit(self, *, times: int = 1, path: str | None = None, after: int = 0) -> None:
        """Answer the next matching requests with 429 RATE_LIMIT_EXCEEDED (no Retry-After)."""
        error = _rate_limit_exceeded()
        self.inject(
            429, times=times, path=path, body=error.body, headers=error.headers, after=after
        )

    def spend_budget(self, count: int) -> None:
        """Spend `count` requests of the key's rolling hour, as another tool using the key
        does: the `X-Rate-Limit` of every answer says what is left (all of it: 429s)."""
        with self._state:
            now = time.time()
            self._spent.extend([now] * count)

    def exhaust_budget_after(self, requests: int) -> None:
        """After `requests` more requests, another tool spends the rest of the hour's budget:
        every answer is then 429 RATE_LIMIT_EXCEEDED with `user-hour-rem:0`."""
        with self._state:
            self._exhaust_after = requests

    def restore_budget(self) -> None:
        """The rolling hour has passed: the whole budget is back."""
        with self._state:
            self._spent.clear()
            self._exhaust_after = None

    def expire_next_urls(self, count: int = 1) -> None:
        """Make the next `count` presigned URLs this fake hands out already expired."""
        with self._state:
            self._expire_next += count

    def instance_ids(self, app_id: str, report_name: str, granularity: str) -> list[str]:
        """The ids of the instances of the app's (latest ONGOING request's) report, oldest
        processing date first."""
        with self._state:
            report = self._find_report(app_id, report_name)
            instances = [i for i in report.instances if i.granularity == granularity]
        return [i.id for i in sorted(instances, key=lambda i: i.processing_date)]

    def instance_segments(self, instance_id: str) -> list[ReportFile]:
        """An instance's segments, in order."""
        with self._state:
            return list(self._instances[instance_id].segments)

    def segment(self, segment_id: str) -> ReportFile:
        """A segment by id (its S3 key, checksum, size and rows)."""
        return self._segments[segment_id]

    # Sample data

    def _sample_rows(
        self,
        app_id: str,
        report_name: str,
        granularity: str,
        day: date,
        processing: date,
        count: int,
        seed: int,
    ) -> list[dict[str, str]]:
        """`count` rows with distinct dimensions for one Date; measures grow with the lag
        between Date and processing date, so a later instance restates different values."""
        columns = REPORT_COLUMNS.get(report_name, WEB_PREVIEWS_COLUMNS)
        report = _CATALOGUE.get(report_name)
        measures = _measures_of(report_name)
        rng = random.Random(f"{seed}|{app_id}|{report_name}|{granularity}|{day}")
        fixed = {
            report.date_column if report else "Date": day.isoformat(),
            "App Name": self._apps[app_id].name,
            "App Apple Identifier": app_id,
            "Processing Date": processing.isoformat(),
        }
        lag = (processing - day).days
        rows: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        for _ in range(count * 20):
            if len(rows) == count:
                break
            row = dict(fixed)
            for column in columns:
                if column not in fixed and column not in measures:
                    row[column] = _sample_dimension(rng, column, row, report_name, day)
            base = rng.randint(20, 900)
            grown = base + lag * max(1, base // 30)
            for column in columns:
                if column in measures:
                    row[column] = _sample_measure(column, measures[column], grown)
            rows.setdefault(_fact_key(report_name, row), {c: row[c] for c in columns})
        return list(rows.values())

    def _restated_rows(
        self,
        app_id: str,
        report_name: str,
        day: date,
        processing: date,
        count: int,
        seed: int,
        drop_share: float,
    ) -> list[dict[str, str]]:
        """The DAILY rows of `day` in the instance processed on `processing`, without a
        deterministic `drop_share` of them."""
        rows = self._sample_rows(app_id, report_name, "DAILY", day, processing, count, seed)
        if not drop_share:
            return rows
        rng = random.Random(f"drop|{seed}|{app_id}|{report_name}|{day}|{processing}")
        return [row for row in rows if rng.random() >= drop_share]

    # Dispatch

    @override
    def fault_answer(self, fault: str, request: Request) -> Response | None:
        """Apple's own error bodies for a 429 (no Retry-After) and a refused token."""
        if fault == faults.TOO_MANY_REQUESTS:
            return _rate_limit_exceeded()
        if fault == faults.CREDENTIALS_REJECTED:
            return _not_authorized()
        return super().fault_answer(fault, request)

    @override
    def common_headers(self, request: Request, response: Response) -> dict[str, str]:
        """X-Rate-Limit on every response (requests that spent quota set their own)."""
        with self._state:
            self._forget_old_requests(time.time())
            remaining = max(0, self.hour_limit - len(self._spent))
        return {"X-Rate-Limit": _rate_limit_header(self.hour_limit, remaining)}

    @override
    def handle(self, request: Request) -> Response:
        """Authenticate, meter (a burst of parallel calls gets a 429 too), then route."""
        if self.max_parallel is not None and self.in_flight > self.max_parallel:
            with self._state:
                self.burst_refusals += 1
            return _rate_limit_exceeded()
        return self._answer(request)

    def _answer(self, request: Request) -> Response:
        if not self._authenticate(request):
            return _not_authorized()
        remaining = self._spend_quota()
        if remaining is None:
            response = _rate_limit_exceeded()
            remaining = 0
        else:
            response = self._route(request)
        response.headers["X-Rate-Limit"] = _rate_limit_header(self.hour_limit, remaining)
        return response

    def _authenticate(self, request: Request) -> bool:
        authorization = request.header("authorization") or ""
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer" or not token:
            return False
        try:
            header = jwt.get_unverified_header(token)
            # Time claims are checked below against time.time(), so tests can move the clock.
            payload = jwt.decode(
                token,
                self.public_key_pem,
                algorithms=[JWT_ALGORITHM],
                audience=AUDIENCE,
                options={
                    "require": ["exp", "iat", "aud"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            return False
        if header.get("kid") != self.key_id or header.get("typ") != "JWT":
            return False
        if self.issuer_id is None:
            if payload.get("sub") != "user" or "iss" in payload:
                return False
        elif payload.get("iss") != self.issuer_id:
            return False
        iat, exp = payload["iat"], payload["exp"]
        # Apple documents both as integer epoch seconds.
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (iat, exp)):
            return False
        now = time.time()
        if exp <= now or iat > now + IAT_CLOCK_SKEW or exp - iat > MAX_TOKEN_LIFETIME:
            return False
        with self._state:
            self.tokens_seen.append(
                {**payload, "header": header, "payload": payload, "token": token}
            )
        return True

    def _forget_old_requests(self, now: float) -> None:
        while self._spent and self._spent[0] <= now - RATE_LIMIT_WINDOW:
            self._spent.popleft()

    def _spend_quota(self) -> int | None:
        """Count one request in the rolling hour: the quota left, or None when none was."""
        now = time.time()
        with self._state:
            self._forget_old_requests(now)
            if self._exhaust_after is not None:
                if self._exhaust_after <= 0:
                    self._spent.extend([now] * (self.hour_limit - len(self._spent)))
                self._exhaust_after -= 1
            if len(self._spent) >= self.hour_limit:
                return None
            self._spent.append(now)
            return self.hour_limit - len(self._spent)

    def _route(self, request: Request) -> Response:
        allowed_methods = []
        for route in self._routes:
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            if route.method != request.method:
                allowed_methods.append(route.method)
                continue
            for name in request.query:
                if name not in route.params:
                    return _apple_error(
                        400,
                        "PARAMETER_ERROR.INVALID",
                        "A parameter has an invalid value",
                        f"The parameter '{name}' can not be used with this request",
                        parameter=name,
                    )
            return route.handler(request, match.group(1) if match.groups() else "")
        if allowed_methods:
            return _apple_error(
                405,
                "METHOD_NOT_ALLOWED",
                "The request method is not supported",
                f"The resource does not allow the '{request.method}' method",
            )
        return _apple_error(
            404,
            "NOT_FOUND",
            "The specified resource does not exist",
            "The path provided does not match a defined resource type.",
        )

    # Endpoints

    def _list_requests(self, request: Request, app_id: str) -> Response:
        app = self._apps.get(app_id)
        if app is None:
            return _not_found("apps", app_id)
        wanted, error = _filter_values(request, "filter[accessType]", ACCESS_TYPES)
        if error:
            return error
        items = [r for r in app.requests if wanted is None or r.access_type in wanted]
        return self._page(request, items, self._request_resource)

    def _read_request(self, request: Request, request_id: str) -> Response:
        report_request = self._requests.get(request_id)
        if report_request is None:
            return _not_found("analyticsReportRequests", request_id)
        return self._single(request, self._request_resource(report_request))

    def _create_request(self, request: Request, _: str) -> Response:
        try:
            data = request.json()["data"]
            access_type = data["attributes"]["accessType"]
            app_type, app_id = (data["relationships"]["app"]["data"][k] for k in ("type", "id"))
        except (ValueError, KeyError, TypeError):
            return _unprocessable(
                "ENTITY_UNPROCESSABLE",
                "The request entity must be a JSON:API document with data.attributes.accessType "
                "and data.relationships.app.data.",
            )
        if data.get("type") != "analyticsReportRequests":
            return _unprocessable(
                "ENTITY_ERROR.TYPE.INVALID", "The resource type must be 'analyticsReportRequests'."
            )
        if access_type not in ACCESS_TYPES:
            return _unprocessable(
                "ENTITY_ERROR.ATTRIBUTE.INVALID",
                f"'{access_type}' is not a valid value for the attribute 'accessType'.",
            )
        with self._state:
            if self.creation_conflict is not None:
                code, detail = self.creation_conflict
                return _apple_error(
                    409, code, "The request cannot be fulfilled as submitted.", detail
                )
            app = self._apps.get(app_id) if app_type == "apps" else None
            if app is None:
                return _unprocessable(
                    "ENTITY_ERROR.RELATIONSHIP.INVALID",
                    f"There is no resource of type 'apps' with id '{app_id}'.",
                )
            if access_type == "ONGOING" and any(
                r.access_type == "ONGOING" and not r.stopped_due_to_inactivity for r in app.requests
            ):
                # Apple answers 409; the exact code is unconfirmed (STATE_ERROR is also seen).
                return _apple_error(
                    409,
                    "ENTITY_ERROR.ATTRIBUTE.INVALID.DUPLICATE",
                    "The provided entity includes an attribute with a value that has already "
                    "been used",
                    "You already have such an entity: this app has an ongoing report request.",
                )
            if access_type == "ONE_TIME_SNAPSHOT":
                today = _utc_today()
                if any(
                    (today - made).days < SNAPSHOT_INTERVAL_DAYS for made in app.snapshots_created
                ):
                    # An App Store Connect engineer's forum answer: one a month, deleted
                    # ones included.
                    return _apple_error(
                        409,
                        "STATE_ERROR",
                        "The request cannot be fulfilled because of the state of another resource.",
                        "You already have such an entity",
                    )
                app.snapshots_created.append(today)
            created = self._new_request(app, access_type, stopped=False)
            self.created_requests.append(created.id)
        resource = self._request_resource(created)
        return json_response(201, {"data": resource, "links": {"self": resource["links"]["self"]}})

    def _list_reports(self, request: Request, request_id: str) -> Response:
        report_request = self._requests.get(request_id)
        if report_request is None or request_id in self.gone:
            return _not_found("analyticsReportRequests", request_id)
        categories, error = _filter_values(request, "filter[category]", CATEGORIES)
        if error:
            return error
        names, _ = _filter_values(request, "filter[name]", None)
        items = [
            r
            for r in report_request.reports
            if (categories is None or r.category in categories)
            and (names is None or r.name in names)
        ]
        return self._page(request, items, self._report_resource)

    def _read_report(self, request: Request, report_id: str) -> Response:
        report = self._reports.get(report_id)
        if report is None or report_id in self.gone:
            return _not_found("analyticsReports", report_id)
        return self._single(request, self._report_resource(report))

    def _list_instances(self, request: Request, report_id: str) -> Response:
        report = self._reports.get(report_id)
        if report is None or report_id in self.gone:
            return _not_found("analyticsReports", report_id)
        granularities, error = _filter_values(request, "filter[granularity]", GRANULARITIES)
        if error:
            return error
        dates, _ = _filter_values(request, "filter[processingDate]", None)
        for value in dates or ():
            try:
                date.fromisoformat(value)
            except ValueError:
                return _invalid_parameter(
                    "filter[processingDate]",
                    f"'{value}' is not a valid value for the parameter 'filter[processingDate]'; "
                    "use YYYY-MM-DD",
                )
        items = [
            i
            for i in report.instances
            if (granularities is None or i.granularity in granularities)
            and (dates is None or i.processing_date.isoformat() in dates)
        ]
        # Newest first, like the real listing: clients must not rely on date order.
        items.sort(key=lambda i: (i.processing_date, i.granularity, i.id), reverse=True)
        return self._page(request, items, self._instance_resource)

    def _read_instance(self, request: Request, instance_id: str) -> Response:
        instance = self._instances.get(instance_id)
        if instance is None or instance_id in self.gone:
            return _not_found("analyticsReportInstances", instance_id)
        return self._single(request, self._instance_resource(instance))

    def _list_segments(self, request: Request, instance_id: str) -> Response:
        instance = self._instances.get(instance_id)
        if instance is None or instance_id in self.gone:
            return _not_found("analyticsReportInstances", instance_id)
        return self._page(request, instance.segments, self._segment_resource)

    def _read_segment(self, request: Request, segment_id: str) -> Response:
        segment = self._segments.get(segment_id)
        if segment is None or segment_id in self.gone:
            return _not_found("analyticsReportSegments", segment_id)
        return self._single(request, self._segment_resource(segment))

    # Documents

    def _url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def _request_resource(self, r: _ReportRequest) -> dict[str, Any]:
        self_url = self._url(f"/v1/analyticsReportRequests/{r.id}")
        return {
            "type": "analyticsReportRequests",
            "id": r.id,
            "attributes": {
                "accessType": r.access_type,
                "stoppedDueToInactivity": r.stopped_due_to_inactivity,
            },
            "relationships": {
                "reports": {
                    "links": {
                        "self": f"{self_url}/relationships/reports",
                        "related": f"{self_url}/reports",
                    }
                }
            },
            "links": {"self": self_url},
        }

    def _report_resource(self, r: _Report) -> dict[str, Any]:
        self_url = self._url(f"/v1/analyticsReports/{r.id}")
        return {
            "type": "analyticsReports",
            "id": r.id,
            "attributes": {"name": r.name, "category": r.category},
            "relationships": {
                "instances": {
                    "links": {
                        "self": f"{self_url}/relationships/instances",
                        "related": f"{self_url}/instances",
                    }
                }
            },
            "links": {"self": self_url},
        }

    def _instance_resource(self, i: _Instance) -> dict[str, Any]:
        self_url = self._url(f"/v1/analyticsReportInstances/{i.id}")
        return {
            "type": "analyticsReportInstances",
            "id": i.id,
            "attributes": {
                "granularity": i.granularity,
                "processingDate": self.garbled_processing_dates.get(
                    i.id, i.processing_date.isoformat()
                ),
            },
            "relationships": {
                "segments": {
                    "links": {
                        "self": f"{self_url}/relationships/segments",
                        "related": f"{self_url}/segments",
                    }
                }
            },
            "links": {"self": self_url},
        }

    def _segment_resource(self, s: ReportFile) -> dict[str, Any]:
        with self._state:
            expired = self._expire_next > 0
            self._expire_next -= int(expired)
        return {
            "type": "analyticsReportSegments",
            "id": s.id,
            "attributes": {
                "checksum": s.checksum,
                "sizeInBytes": s.size_in_bytes,
                "url": self.download_url or self.s3.presign(s.key, expired=expired),
            },
            "links": {"self": self._url(f"/v1/analyticsReportSegments/{s.id}")},
        }

    def _single(self, request: Request, resource: dict[str, Any]) -> Response:
        error = _apply_fields(request, [resource])
        if error:
            return error
        body = {"data": resource, "links": {"self": resource["links"]["self"]}}
        return self._with_included(request, body, [resource])

    def _with_included(
        self, request: Request, body: dict[str, Any], resources: list[dict[str, Any]]
    ) -> Response:
        """The document with the optional attributes as the switches leave them and, for
        `include=reports`, each request's reports (at most `limit[reports]`, default 10)."""
        self._leave_out_optional(resources)
        if "include" not in request.query:
            return json_response(200, body)
        if request.query["include"] != "reports":
            return _invalid_parameter(
                "include", f"'{request.query['include']}' is not a valid value for 'include'"
            )
        raw = request.query.get("limit[reports]", "10")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_INCLUDED_REPORTS:
            return _invalid_parameter(
                "limit[reports]", f"'{raw}' is not a valid value for the parameter 'limit[reports]'"
            )
        included = []
        for resource in resources:
            reports = self._requests[resource["id"]].reports[: int(raw)]
            built = [self._report_resource(r) for r in reports]
            resource.setdefault("relationships", {}).setdefault("reports", {})["data"] = [
                {"type": "analyticsReports", "id": r.id} for r in reports
            ]
            error = _apply_fields(request, built)
            if error:
                return error
            included += built
        return json_response(200, {**body, "included": included})

    def _leave_out_optional(self, resources: list[dict[str, Any]]) -> None:
        for resource in resources:
            attributes = resource.get("attributes", {})
            for name in self.missing_attributes:
                attributes.pop(name, None)
            for name in self.null_attributes & set(attributes):
                attributes[name] = None

    def _page(
        self, request: Request, items: Sequence[_T], build: Callable[[_T], dict[str, Any]]
    ) -> Response:
        """One JSON:API page of `items`: `limit` (default 50, at most 200) from the offset in
        `cursor`; only the page's items are built (so only they get fresh presigned URLs)."""
        raw_limit = request.query.get("limit", str(DEFAULT_PAGE_LIMIT))
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE_LIMIT:
            return _invalid_parameter(
                "limit",
                f"'{raw_limit}' is not a valid value for the parameter 'limit'; it must be an "
                f"integer from 1 to {MAX_PAGE_LIMIT}",
            )
        limit = min(int(raw_limit), self.page_size or MAX_PAGE_LIMIT)
        offset = 0
        if "cursor" in request.query:
            decoded = _decode_cursor(request.query["cursor"])
            if decoded is None:
                return _invalid_parameter(
                    "cursor", "The value of the parameter 'cursor' is not a valid cursor"
                )
            offset = decoded
        first = offset % len(items) if self.endless_pages and items else offset
        resources = [build(item) for item in items[first : first + limit]]
        error = _apply_fields(request, resources)
        if error:
            return error
        links = {"self": self._url(request.path) + _query_string(request.query)}
        next_offset = offset + limit
        if self.next_loops_after is not None and next_offset >= self.next_loops_after * limit:
            next_offset = 0
        if next_offset < len(items) or self.endless_pages:
            next_query = {**request.query, "cursor": _encode_cursor(next_offset)}
            next_base = self.next_link_base or self.base_url
            links["next"] = next_base + request.path + _query_string(next_query)
        body = {
            "data": resources,
            "links": links,
            "meta": {"paging": {"total": len(items), "limit": limit}},
        }
        return self._with_included(request, body, resources)

    # Model helpers (callers hold self._state)

    def _new_id(self, kind: str) -> str:
        self._counter += 1
        return str(uuid.uuid5(_ID_NAMESPACE, f"{kind}:{self._counter}"))

    def _new_request(self, app: _App, access_type: str, stopped: bool) -> _ReportRequest:
        report_request = _ReportRequest(self._new_id("request"), app.id, access_type, stopped)
        app.requests.append(report_request)
        self._requests[report_request.id] = report_request
        return report_request

    def _latest_request(self, app_id: str, access_type: str) -> _ReportRequest:
        app = self._apps.get(app_id)
        if app is None:
            raise KeyError(f"unknown app {app_id!r}: call add_app first")
        matching = [r for r in app.requests if r.access_type == access_type]
        if not matching:
            raise ValueError(f"app {app_id!r} has no {access_type} report request")
        return matching[-1]

    def _report_for(
        self, app_id: str, name: str, category: str | None, access_type: str = "ONGOING"
    ) -> _Report:
        report_request = self._latest_request(app_id, access_type)
        for report in report_request.reports:
            if report.name == name:
                return report
        category = category or REPORT_CATEGORIES.get(name) or "APP_USAGE"
        report = _Report(self._new_id("report"), report_request.id, name, category)
        report_request.reports.append(report)
        self._reports[report.id] = report
        return report

    def _find_report(self, app_id: str, name: str) -> _Report:
        for report in self._latest_request(app_id, "ONGOING").reports:
            if report.name == name:
                return report
        raise KeyError(f"app {app_id!r} has no report named {name!r}")


def _utc_today() -> date:
    return datetime.now(timezone.utc).date()


def restatement_days(report_name: str) -> int:
    """How many Dates before its processing date a DAILY instance of the report restates:
    the report's completeness lag (at least the day before)."""
    report = _CATALOGUE.get(report_name)
    lag = report.completeness_lag_days if report else None
    return max(1, _UNBOUNDED_RESTATEMENT if lag is None else lag)


def _measures_of(report_name: str) -> dict[str, str]:
    """The report's measure columns and their types."""
    report = _CATALOGUE.get(report_name)
    if report is None:
        return dict.fromkeys(_WEB_PREVIEWS_MEASURES, "integer")
    return {f.name: f.type for f in report.measures}


def _date_of(report_name: str, row: dict[str, str]) -> str:
    report = _CATALOGUE.get(report_name)
    return row.get(report.date_column if report else "Date", "")


def _fact_key(report_name: str, row: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """What identifies one fact across instances: the catalogue's key fields (Date and
    dimensions), never a measure or the app's name."""
    report = _CATALOGUE.get(report_name)
    if report is None:
        keyed = set(WEB_PREVIEWS_COLUMNS) - _WEB_PREVIEWS_MEASURES - {"App Name"}
    else:
        keyed = {f.name for f in report.key_fields}
    return tuple(sorted((c, v) for c, v in row.items() if c in keyed))


_GENERIC_POOL = 4  # values of a dimension the fake has no realistic pool for


def _sample_dimension(
    rng: random.Random, column: str, row: dict[str, str], report_name: str, day: date
) -> str:
    if column == "Platform Version":
        return rng.choice(_PLATFORM_VERSIONS[row.get("Device", "iPhone")])
    if column == "Platform":
        return rng.choice(_PLATFORM_VERSIONS[row.get("Device", "iPhone")])
    if column == "Device" and report_name == WEB_PREVIEWS_REPORT:
        return rng.choice(("Desktop", "iPhone", "iPad"))
    if column == "Source Info":
        return rng.choice(_SOURCE_INFO.get(row.get("Source Type", ""), ("",)))
    if column == "Event" and report_name.startswith(tuple(_EVENTS)):
        family = next(f for f in _EVENTS if report_name.startswith(f))
        return rng.choice(_EVENTS[family])
    if column == "App Download Date":
        # Only filled when the download happened in the previous 30 days.
        back = rng.randint(0, 40)
        return (day - timedelta(days=back)).isoformat() if back < 30 else ""
    if column in _POOLS:
        return rng.choice(_POOLS[column])
    report = _CATALOGUE.get(report_name)
    field = report.fields_by_name.get(column) if report else None
    if field is not None and field.type == "date":
        return (day - timedelta(days=rng.randint(0, 20))).isoformat()
    if field is not None and field.role == "identifier":
        return str(6_400_000_000 + rng.randrange(_GENERIC_POOL))
    return f"{column} {rng.randrange(_GENERIC_POOL)}"


def _sample_measure(column: str, kind: str, grown: int) -> str:
    if column in ("Unique Counts", "Unique Devices", "Paying Users"):
        return str(max(1, grown * 3 // 4))
    if column == "Total Session Duration":
        return str(grown * 41)
    if column == "Crashes":
        return str(grown // 12 + 1)
    if kind == "number":
        return f"{grown * 1.37:.2f}"
    if kind == "string":  # a distribution, as text
        return f"{grown % 7 / 10:.1f};{grown % 5 / 10:.1f}"
    return str(grown)


def _filter_values(
    request: Request, name: str, allowed: tuple[str, ...] | None
) -> tuple[set[str] | None, Response | None]:
    """The comma-separated values of a filter (None when absent), or a 400 for a bad one."""
    raw = request.query.get(name)
    if raw is None:
        return None, None
    values = {v for v in raw.split(",") if v}
    for value in values:
        if allowed is not None and value not in allowed:
            return None, _invalid_parameter(
                name,
                f"'{value}' is not a valid value for the parameter '{name}'; "
                f"allowed values: {', '.join(allowed)}",
            )
    return values, None


def _apply_fields(request: Request, resources: list[dict[str, Any]]) -> Response | None:
    """Sparse fieldsets: `fields[<type>]` keeps only the listed attributes and relationships."""
    if not resources:
        return None
    name = f"fields[{resources[0]['type']}]"
    if name not in request.query:
        return None
    wanted = set(request.query[name].split(","))
    known = set(resources[0]["attributes"]) | set(resources[0].get("relationships", {}))
    if not wanted <= known:
        bad = sorted(wanted - known)[0]
        return _invalid_parameter(
            name, f"'{bad}' is not a valid field name for the parameter '{name}'"
        )
    for resource in resources:
        resource["attributes"] = {k: v for k, v in resource["attributes"].items() if k in wanted}
        relationships = {k: v for k, v in resource.pop("relationships", {}).items() if k in wanted}
        if relationships:
            resource["relationships"] = relationships
    return None


def _query_string(query: dict[str, str]) -> str:
    return "?" + urlencode(query, safe="[],") if query else ""
