"""The Tap: its settings, and which streams exist for the sources the config enables."""

from __future__ import annotations

import logging
import sys
from functools import cached_property
from typing import Any, ClassVar

import requests
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, RetriableAPIError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities, TapCapabilities

from tap_segment_analytics.appstore.auth import (
    AppStoreJWTAuthenticator,
    PrivateKeyError,
    load_private_key,
)
from tap_segment_analytics.appstore.rate_limit import RateBudget
from tap_segment_analytics.appstore.streams import (
    GenericReportRows,
    ReportInstances,
    ReportRequests,
    Reports,
    ReportSegments,
    known_report_streams,
)
from tap_segment_analytics.braze.endpoint import braze_base_url
from tap_segment_analytics.braze.streams import SegmentDetails, Segments, SegmentSizes
from tap_segment_analytics.config_text import numbers_from_text
from tap_segment_analytics.errors import SourceError, install_redaction, redact

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
# The SDK setting that would make every full-table stream send ACTIVATE_VERSION (see capabilities).
EMIT_ACTIVATE_VERSION = "emit_activate_version_messages"


class _PartitionedProgressFilter(logging.Filter):
    """Drops the SDK's "progress is not resumable" warning.

    The SDK logs it for every partition of a partitioned incremental stream. Each of this
    tap's partitions (a Braze segment, an App Store report and granularity) gets its bookmark
    when it finishes, so an interrupted run resumes at the partition it was in; the warning,
    twenty-odd times a run, would say otherwise.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Stream is assumed to be unsorted")


logging.getLogger("singer_sdk").addFilter(_PartitionedProgressFilter())


def _present(config: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if config.get(name) not in (None, "", [])]


def braze_configured(config: dict[str, Any]) -> bool:
    """Whether any Braze setting is given (then all required ones must be)."""
    return bool(_present(config, BRAZE_REQUIRED + BRAZE_OPTIONAL))


def appstore_configured(config: dict[str, Any]) -> bool:
    """Whether any App Store Connect setting is given (then all required ones must be)."""
    return bool(_present(config, APPSTORE_REQUIRED + APPSTORE_KEY + APPSTORE_OPTIONAL))


class TapSegmentAnalytics(Tap):
    """Segment analytics from Braze and App Store Connect, each enabled by its settings."""

    name = "tap-segment-analytics"

    # The SDK's list without activate-version: no run re-sends a whole table. Most streams are
    # incremental or children of incremental streams, and app and segment id filters (and the
    # shards of the scale-out recipe) make the others partial, so a target acting on
    # ACTIVATE_VERSION would delete rows that are still true. meltano_plugin.py copies this list
    # into the Meltano plugin definitions.
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
        PluginCapabilities.BATCH,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]

    config_jsonschema = th.PropertiesList(
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
            "appstore_api_url",
            th.StringType,
            default=APPLE_API_URL,
            description="App Store Connect API base URL.",
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
    ).to_dict()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        install_redaction(str(self.config.get(name) or "") for name in SECRET_SETTINGS)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Numbers given as text read as numbers; the JSON Schema checks, plus: each source
        complete or absent, and one present."""
        install_redaction(str(self._config.get(name) or "") for name in SECRET_SETTINGS)
        # Meltano and `--config ENV` give `number` settings as text (see config_text.py); no
        # public hook runs between reading the config and checking it against the schema.
        self._config.update(numbers_from_text(self._config, self.config_jsonschema))
        errors = super()._validate_config(raise_errors=raise_errors)
        source_errors = self.source_config_errors(dict(self._config))
        if source_errors and raise_errors:
            raise ConfigValidationError(
                "Config validation failed", errors=source_errors, schema=self.config_jsonschema
            )
        return errors + source_errors

    @staticmethod
    def source_config_errors(config: dict[str, Any]) -> list[str]:
        """One message per missing, invalid or unsupported setting, each naming the setting."""
        errors = []
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
                    braze_base_url(config["braze_rest_endpoint"])
                except ValueError as exc:
                    errors.append(str(exc))
        if appstore_configured(config):
            for name in APPSTORE_REQUIRED:
                if name not in _present(config, APPSTORE_REQUIRED):
                    errors.append(f"{name} is required when any App Store Connect setting is given")
            keys = _present(config, APPSTORE_KEY)
            if len(keys) != 1:
                errors.append(
                    "give exactly one of appstore_private_key and appstore_private_key_path"
                )
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
        if not braze_configured(config) and not appstore_configured(config):
            errors.append(
                "no source configured: set braze_api_key and braze_rest_endpoint, and/or "
                "appstore_key_id, appstore_private_key(_path) and appstore_app_ids"
            )
        return errors

    def discover_streams(self) -> list[Stream]:
        """The streams of every configured source."""
        streams: list[Stream] = []
        if braze_configured(dict(self.config)):
            streams += [Segments(self), SegmentDetails(self), SegmentSizes(self)]
        if appstore_configured(dict(self.config)):
            streams += [
                ReportRequests(self),
                Reports(self),
                ReportInstances(self),
                ReportSegments(self),
                *(rows(self) for rows in known_report_streams()),
                GenericReportRows(self),
            ]
        return streams

    @cached_property
    def appstore_authenticator(self) -> AppStoreJWTAuthenticator:
        """One JWT signer for every App Store Connect stream, so tokens are reused."""
        try:
            private_key = load_private_key(dict(self.config))
        except PrivateKeyError as exc:
            raise SourceError(str(exc)) from None
        return AppStoreJWTAuthenticator(
            key_id=self.config["appstore_key_id"],
            issuer_id=self.config.get("appstore_issuer_id") or None,
            private_key=private_key,
        )

    @cached_property
    def appstore_rate_budget(self) -> RateBudget:
        """App Store Connect's hourly request budget, as last reported."""
        return RateBudget()

    @classmethod
    def invoke(cls, *args: Any, **kwargs: Any) -> None:
        """Run the CLI; a source problem ends it with one error line and exit code 1."""
        try:
            super().invoke(*args, **kwargs)
        except SourceError as exc:
            cls.logger.error("%s", exc)
            sys.exit(1)
        except RetriableAPIError as exc:
            cls.logger.error("%s, still after request_max_tries tries", exc)
            sys.exit(1)
        except requests.RequestException as exc:
            cls.logger.error("could not reach the API: %s", redact(str(exc)))
            sys.exit(1)


if __name__ == "__main__":
    TapSegmentAnalytics.cli()
