"""The tap's settings: their JSON Schema (the one source Meltano's definitions and README's
table are generated from), which source a config enables, and the checks the schema cannot say."""

from __future__ import annotations

from typing import Any

from singer_sdk import typing as th

from tap_segment_analytics.appstore.api.auth import PrivateKeyError, load_private_key
from tap_segment_analytics.appstore.api.rate_limit import (
    DEFAULT_WAIT_SECONDS as RATE_LIMIT_WAIT_SECONDS,
)
from tap_segment_analytics.appstore.plan.app_plan import BAD_VALUES_FAIL, BAD_VALUES_KEEP
from tap_segment_analytics.appstore.plan.app_plan import DEFAULT_CONCURRENCY as APPSTORE_CONCURRENCY
from tap_segment_analytics.braze.api.client import DEFAULT_CONCURRENCY as BRAZE_CONCURRENCY
from tap_segment_analytics.braze.api.endpoint import braze_base_url
from tap_segment_analytics.config_checks import (
    batch_config_errors,
    category_errors,
    cleartext_errors,
    start_date_errors,
    utc_today,
)
from tap_segment_analytics.logs import DEFAULT_METRICS_LOG_LEVEL
from tap_segment_analytics.sdk.state import STATE_INTERVAL_SECONDS

BRAZE_REQUIRED = ("braze_api_key", "braze_rest_endpoint")
BRAZE_OPTIONAL = ("braze_segment_ids",)
APPSTORE_REQUIRED = ("appstore_key_id", "appstore_app_ids")
APPSTORE_KEY = ("appstore_private_key", "appstore_private_key_path")
APPSTORE_OPTIONAL = (
    "appstore_issuer_id",
    "appstore_report_names",
    "appstore_report_categories",
)
SECRET_SETTINGS = ("braze_api_key", "appstore_private_key")
APPLE_API_URL = "https://api.appstoreconnect.apple.com"
GRANULARITIES = ("DAILY", "WEEKLY", "MONTHLY")
LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]
# The SDK setting that would make every full-table stream send ACTIVATE_VERSION (see capabilities).
EMIT_ACTIVATE_VERSION = "emit_activate_version_messages"


def _present(config: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if config.get(name) not in (None, "", [])]


def braze_configured(config: dict[str, Any]) -> bool:
    """Whether any Braze setting is given (then all required ones must be)."""
    return bool(_present(config, BRAZE_REQUIRED + BRAZE_OPTIONAL))


def appstore_configured(config: dict[str, Any]) -> bool:
    """Whether any App Store Connect setting is given (then all required ones must be)."""
    return bool(_present(config, APPSTORE_REQUIRED + APPSTORE_KEY + APPSTORE_OPTIONAL))


CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "start_date",
        th.DateType,
        required=True,
        description="First day to fetch (YYYY-MM-DD), for both sources.",
    ),
    th.Property(
        "braze_api_key",
        th.StringType,
        secret=True,
        description="Braze REST API key with segments.list, segments.details and "
        "segments.data_series permissions.",
    ),
    th.Property(
        "braze_rest_endpoint",
        th.StringType,
        description="Your Braze instance's REST endpoint, e.g. https://rest.iad-01.braze.com, "
        "or its instance id, e.g. iad-01 or fra-02.",
    ),
    th.Property(
        "braze_segment_ids",
        th.ArrayType(th.StringType),
        description="Only these segment ids (default: every segment).",
    ),
    th.Property(
        "braze_lookback_days",
        th.IntegerType(minimum=0),
        default=3,
        description="Days before each segment's bookmark to read again: Braze restates "
        "recent sizes.",
    ),
    th.Property(
        "braze_concurrency",
        th.IntegerType(minimum=1, maximum=64),
        default=BRAZE_CONCURRENCY,
        description="Braze requests in flight at once (1: one after another). Records and "
        "state come out in the same order either way.",
    ),
    th.Property(
        "appstore_key_id",
        th.StringType,
        description="App Store Connect API key id (the `kid` of the JWT).",
    ),
    th.Property(
        "appstore_issuer_id",
        th.StringType,
        description="Issuer id of a team key; leave empty for an individual key.",
    ),
    th.Property(
        "appstore_private_key",
        th.StringType,
        secret=True,
        description="The .p8 private key's PEM text (or use appstore_private_key_path).",
    ),
    th.Property(
        "appstore_private_key_path",
        th.StringType,
        description="Path to the .p8 private key file (or use appstore_private_key).",
    ),
    th.Property(
        "appstore_app_ids",
        th.ArrayType(th.StringType),
        description="Apple ids of the apps whose analytics reports to read.",
    ),
    th.Property(
        "appstore_report_names",
        th.ArrayType(th.StringType),
        description="Only these reports, named as the API names them, e.g. "
        "'App Downloads Standard' (default: all).",
    ),
    th.Property(
        "appstore_report_categories",
        th.ArrayType(th.StringType),
        description="Only reports in these categories: APP_USAGE, APP_STORE_ENGAGEMENT, "
        "COMMERCE, FRAMEWORK_USAGE, PERFORMANCE (default: all).",
    ),
    th.Property(
        "appstore_granularities",
        th.ArrayType(th.StringType),
        default=["DAILY"],
        description="Report instance granularities: DAILY, WEEKLY, MONTHLY.",
    ),
    th.Property(
        "appstore_create_report_requests",
        th.BooleanType,
        default=False,
        description="Create an ONGOING report request for an app that has no active one "
        "(needs the Admin role).",
    ),
    th.Property(
        "appstore_backfill",
        th.BooleanType,
        default=False,
        description="Read each app's history once from a ONE_TIME_SNAPSHOT report request "
        "(an existing one, or one created when appstore_create_report_requests is on; Apple "
        "allows one per app every 31 days). Its rows land in the same streams; the newest "
        "processing date wins.",
    ),
    th.Property(
        "appstore_concurrency",
        th.IntegerType(minimum=1, maximum=32),
        default=APPSTORE_CONCURRENCY,
        description="Report files downloaded at once, ahead of the sync (1: one after "
        "another, nothing ahead). API calls stay at 3 at most: Apple answers bursts with "
        "429. Records and state come out in the same order either way.",
    ),
    th.Property(
        "appstore_rate_limit_wait_seconds",
        th.NumberType(minimum=0),
        default=RATE_LIMIT_WAIT_SECONDS,
        description="Seconds a run may wait, in all, for App Store Connect's hourly request "
        "budget: below a tenth of it requests are spaced so that it lasts the hour, and once "
        "spent the tap asks again each minute. The wait that would pass this stops the run "
        "(exit 1) with one line saying when to run again; 0 stops as soon as it would wait.",
    ),
    th.Property(
        "appstore_api_url",
        th.StringType,
        default=APPLE_API_URL,
        description="App Store Connect API base URL.",
    ),
    th.Property(
        "on_bad_value",
        th.StringType(allowed_values=[BAD_VALUES_KEEP, BAD_VALUES_FAIL]),
        default=BAD_VALUES_KEEP,
        description="A report file's value that is not its column's type, or a row shorter "
        "or longer than its header: keep (the typed column null, the value as written in "
        "extra_columns, one warning per file, counted in the run summary; the load goes on) "
        "or fail (the run stops naming report, file, line and column).",
    ),
    th.Property(
        "request_max_tries",
        th.IntegerType(minimum=1),
        default=6,
        description="Tries per HTTP request before giving up (429, 5xx, connection errors).",
    ),
    th.Property(
        "request_backoff_seconds",
        th.NumberType(minimum=0),
        default=2.0,
        description="First wait between tries; it doubles each try.",
    ),
    th.Property(
        "request_timeout_seconds",
        th.IntegerType(minimum=1),
        default=300,
        description="Seconds to wait for an HTTP response.",
    ),
    th.Property(
        "state_interval_seconds",
        th.NumberType(minimum=0),
        default=STATE_INTERVAL_SECONDS,
        description="Seconds between STATE messages at least (more for a state over "
        "100 kB, and an eighth of the run so far): a killed run costs at most the work since "
        "the last one. 0 writes one after every partition and report instance.",
    ),
    th.Property(
        "metrics_log_level",
        th.StringType(allowed_values=LOG_LEVELS),
        default=DEFAULT_METRICS_LOG_LEVEL,
        description="Level of the SDK's metrics logger: INFO logs its METRIC lines (one per "
        "request and per partition, for tuning); WARNING leaves them out.",
    ),
    # Declared here, before singer-sdk 0.55 makes it a built-in setting, so that Meltano
    # and `--config ENV` pass a boolean, and false (what Meltano may send) is accepted.
    th.Property(
        EMIT_ACTIVATE_VERSION,
        th.BooleanType,
        default=False,
        description="Must stay false: no run re-sends a whole table, so a target acting on "
        "ACTIVATE_VERSION would delete rows that are still true.",
    ),
).to_dict()


def source_config_errors(config: dict[str, Any]) -> list[str]:
    """One message per missing, invalid or unsupported setting, each naming the setting."""
    errors = []
    if config.get("start_date"):
        errors += start_date_errors(config["start_date"], utc_today())
    errors += batch_config_errors(config.get("batch_config"))
    if config.get(EMIT_ACTIVATE_VERSION):
        errors.append(
            f"{EMIT_ACTIVATE_VERSION} is not supported: no run re-sends a whole table, so a "
            "target acting on ACTIVATE_VERSION would delete rows that are still true"
        )
    if braze_configured(config):
        for name in BRAZE_REQUIRED:
            if name not in _present(config, BRAZE_REQUIRED):
                errors.append(f"{name} is required when any Braze setting is given")
        if config.get("braze_rest_endpoint"):
            try:
                url = braze_base_url(config["braze_rest_endpoint"])
            except ValueError as exc:
                errors.append(str(exc))
            else:
                errors += cleartext_errors("braze_rest_endpoint", url)
    if appstore_configured(config):
        for name in APPSTORE_REQUIRED:
            if name not in _present(config, APPSTORE_REQUIRED):
                errors.append(f"{name} is required when any App Store Connect setting is given")
        keys = _present(config, APPSTORE_KEY)
        if len(keys) != 1:
            errors.append("give exactly one of appstore_private_key and appstore_private_key_path")
        else:
            try:
                load_private_key(config)
            except PrivateKeyError as exc:
                errors.append(str(exc))
        unknown = set(config.get("appstore_granularities") or []) - set(GRANULARITIES)
        if unknown:
            errors.append(
                f"appstore_granularities: {sorted(unknown)} not among {list(GRANULARITIES)}"
            )
        errors += category_errors(config.get("appstore_report_categories"))
        api_url = str(config.get("appstore_api_url") or APPLE_API_URL)
        errors += cleartext_errors("appstore_api_url", api_url)
    if not braze_configured(config) and not appstore_configured(config):
        errors.append(
            "no source configured: set braze_api_key and braze_rest_endpoint, and/or "
            "appstore_key_id, appstore_private_key(_path) and appstore_app_ids"
        )
    return errors
