"""The Tap: its settings, and which streams exist for the sources the config enables."""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import sys
from typing import IO, Any, ClassVar, NoReturn

import click
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers._util import load_json
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities, TapCapabilities
from singer_sdk.plugin_base import _ConfigInput
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

from tap_segment_analytics.appstore.auth import PrivateKeyError, load_private_key
from tap_segment_analytics.appstore.plan import DEFAULT_CONCURRENCY as APPSTORE_CONCURRENCY
from tap_segment_analytics.appstore.requests_stream import ReportRequests
from tap_segment_analytics.appstore.runtime import AppStoreRuntime
from tap_segment_analytics.appstore.streams import appstore_streams
from tap_segment_analytics.braze.client import DEFAULT_CONCURRENCY as BRAZE_CONCURRENCY
from tap_segment_analytics.braze.endpoint import braze_base_url
from tap_segment_analytics.braze.runtime import BrazeRuntime
from tap_segment_analytics.braze.streams import SegmentDetails, Segments, SegmentSizes
from tap_segment_analytics.config_checks import (
    batch_config_errors,
    category_errors,
    cleartext_errors,
    has_value,
    integer_env_errors,
    start_date_errors,
    unknown_settings,
    utc_today,
)
from tap_segment_analytics.config_text import numbers_from_text
from tap_segment_analytics.connection_check import Source, check_sources
from tap_segment_analytics.errors import SourceError, failure_line, install_redaction
from tap_segment_analytics.input_files import BadInputFile, read_json_object
from tap_segment_analytics.logs import (
    DEFAULT_METRICS_LOG_LEVEL,
    SdkLines,
    quiet_sdk_lines,
    set_metrics_log_level,
)
from tap_segment_analytics.run_summary import RunSummary
from tap_segment_analytics.sdk_state import (
    STATE_INTERVAL_SECONDS,
    ClockedStateWriter,
)
from tap_segment_analytics.singer_output import SingerOutput, TargetStoppedReading
from tap_segment_analytics.source_runtime import SourceRuntime
from tap_segment_analytics.state_reading import repair_bookmarks
from tap_segment_analytics.stopping import Stopped, install_stop_handlers

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
BAD_INPUT_EXIT_CODE = 2
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


class TapSegmentAnalytics(Tap):
    """Segment analytics from Braze and App Store Connect, each enabled by its settings."""

    name = "tap-segment-analytics"
    message_writer_class = SingerOutput

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
        th.Property(
            "state_interval_seconds",
            th.NumberType(minimum=0),
            default=STATE_INTERVAL_SECONDS,
            description="Seconds between STATE messages at least (more for a state over "
            "100 kB): a killed run costs at most the work since the last one. 0 writes one "
            "after every partition and report instance.",
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._clocked_state_writer: ClockedStateWriter | None = None
        self._runtimes: dict[str, SourceRuntime] | None = None
        # What this run did, and which of the SDK's lines it shows: the run's own, handed to
        # the streams through their source's runtime.
        self.summary = RunSummary()
        self.sdk_lines = SdkLines()
        quiet_sdk_lines([logging.getLogger("singer_sdk"), self.logger], self.sdk_lines)
        super().__init__(*args, **kwargs)
        if isinstance(self.message_writer, SingerOutput):
            self.message_writer.summary = self.summary
        install_redaction(str(self.config.get(name) or "") for name in SECRET_SETTINGS)
        # After the SDK's __init__, which sets the metrics logger to the tap's log level and
        # installs its own signal handlers (which exit 0).
        set_metrics_log_level(self.config.get("metrics_log_level"))
        install_stop_handlers()
        unknown = unknown_settings(self.config, self.known_settings())
        if unknown:
            self.logger.warning("unknown settings, ignored: %s", ", ".join(unknown))
        self.check_catalog()

    @classmethod
    def known_settings(cls) -> list[str]:
        """The tap's settings and those the SDK adds for its capabilities."""
        schema = copy.deepcopy(cls.config_jsonschema)
        cls.append_builtin_config(schema)
        return [*schema["properties"], EMIT_ACTIVATE_VERSION]

    @property
    @override
    def state_writer(self) -> ClockedStateWriter:
        """The state writer of the streams: STATE on a clock (sdk_state.py)."""
        if self._clocked_state_writer is None:
            self._clocked_state_writer = ClockedStateWriter(
                self.message_writer,
                interval=float(self.config.get("state_interval_seconds", STATE_INTERVAL_SECONDS)),
            )
        return self._clocked_state_writer

    @override
    def load_state(self, state: dict[str, Any]) -> None:
        """The SDK's, then bookmarks that cannot be right (not a date, in the future) are
        dropped with a warning: their partitions are read again from `start_date`."""
        super().load_state(state)
        for warning in repair_bookmarks(self.state):
            self.logger.warning("%s", warning)

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Numbers given as text read as numbers; the JSON Schema checks, plus: each source
        complete or absent, and one present."""
        # Private SDK hook: the only place config validation can add errors of its own before
        # the SDK reports them (tests/test_sdk_contracts.py pins it).
        install_redaction(str(self._config.get(name) or "") for name in SECRET_SETTINGS)
        # Meltano and `--config ENV` give `number` settings as text (see config_text.py); no
        # public hook runs between reading the config and checking it against the schema.
        self._config.update(numbers_from_text(self._config, self.config_jsonschema))
        # Meltano hands an object setting given no value as an object of nulls: no BATCH, as
        # the SDK reads an absent or empty `batch_config`.
        if not has_value(self._config.get("batch_config")):
            self._config.pop("batch_config", None)
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
            errors += category_errors(config.get("appstore_report_categories"))
            api_url = str(config.get("appstore_api_url") or APPLE_API_URL)
            errors += cleartext_errors("appstore_api_url", api_url)
        if not braze_configured(config) and not appstore_configured(config):
            errors.append(
                "no source configured: set braze_api_key and braze_rest_endpoint, and/or "
                "appstore_key_id, appstore_private_key(_path) and appstore_app_ids"
            )
        return errors

    @override
    def discover_streams(self) -> list[Stream]:
        """The streams of every configured source."""
        streams: list[Stream] = []
        runtimes = self.runtimes()
        if braze := runtimes.get("braze"):
            streams += [
                Segments(self, braze),
                SegmentDetails(self, braze),
                SegmentSizes(self, braze),
            ]
        if appstore := runtimes.get("appstore"):
            assert isinstance(appstore, AppStoreRuntime)
            streams += appstore_streams(self, appstore)
        quiet_sdk_lines((stream.logger for stream in streams), self.sdk_lines)
        return streams

    def runtimes(self) -> dict[str, SourceRuntime]:
        """The runtime of each configured source (`braze`, `appstore`), made once a run."""
        if self._runtimes is None:
            config = self.config
            self._runtimes = {}
            if braze_configured(dict(config)):
                self._runtimes["braze"] = BrazeRuntime(
                    config, summary=self.summary, logger=self.logger
                )
            if appstore_configured(dict(config)):
                self._runtimes["appstore"] = AppStoreRuntime(
                    config,
                    summary=self.summary,
                    logger=self.logger,
                    write_state=lambda state: self.state_writer.write_state(state),
                    write_next_state=lambda: self.state_writer.write_next(),
                    output=lambda: self.message_writer,
                )
        return self._runtimes

    def check_catalog(self) -> None:
        """A --catalog that names streams the configured sources lack is a warning, one that
        selects none of theirs an error (`Tap.sync_all`, the natural place, is final)."""
        if self.input_catalog is None:
            return
        unknown = sorted(set(self.input_catalog) - set(self.streams))
        if unknown:
            self.logger.warning(
                "--catalog names streams the configured sources do not have, ignored: %s",
                ", ".join(unknown),
            )
        if not any(stream.selected for stream in self.streams.values()):
            raise SourceError(
                "--catalog selects none of the streams of the configured sources: nothing to read"
            )

    def sources(self) -> list[Source]:
        """The configured sources, for the connection test: named and located as their
        streams' error lines name and locate them."""
        sources = []
        for top, prefix in ((Segments, "braze_"), (ReportRequests, "appstore_")):
            stream = self.streams.get(top.name)
            if isinstance(stream, top):
                sources.append(Source(stream.source_name, stream.url_base, prefix))
        return sources

    @classmethod
    @override
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: _ConfigInput | None = None,
        state: IO[str] | None = None,
        catalog: IO[str] | None = None,
    ) -> None:
        """Run the tap; end with the run summary and, when a source fails, one error line
        (exit code 1)."""
        # `Tap.invoke` makes the tap and syncs it in one call, so what failed could only be
        # summarised from module globals; its few lines are repeated here to hold the tap (and
        # its run's summary and state writer). tests/test_sdk_contracts.py pins the SDK's body.
        super(Tap, cls).invoke(about=about, about_format=about_format)
        cls.print_version(print_fn=cls.logger.info)
        config = config or _ConfigInput()
        tap: TapSegmentAnalytics | None = None
        try:
            tap = cls(
                config=config.config,
                state=None if state is None else load_json(state.read()),
                catalog=None if catalog is None else load_json(catalog.read()),
                parse_env_config=config.parse_env,
                validate_config=True,
            )
            tap.sync_all()
        except Stopped as stop:
            # The state handed to the clocked writer was whole when handed over.
            cls.end_run(tap, "stopped")
            cls.exit_stopped(stop)
        except Exception as exc:
            cls.end_run(tap, "failed")
            line = failure_line(exc)
            if line is None:
                raise
            cls.logger.error("%s", line)
            sys.exit(1)
        except TargetStoppedReading as exc:
            cls.end_run(tap, "failed", flush=False)
            cls.logger.error("%s", exc)
            sys.exit(1)
        except BaseException:
            cls.end_run(tap, "stopped")
            raise
        tap.log_run_summary("succeeded")

    @classmethod
    def end_run(cls, tap: TapSegmentAnalytics | None, outcome: str, *, flush: bool = True) -> None:
        """Write the state a failed or stopped run holds (unless stdout is gone) and log its
        summary; nothing when the tap was not even made."""
        if tap is None:
            return
        if flush:
            tap.flush_state()
        tap.log_run_summary(outcome)

    def flush_state(self) -> None:
        """Write the state the clocked writer holds (a failed run keeps its progress)."""
        # A run that failed because stdout is gone cannot write its state either.
        with contextlib.suppress(OSError):
            self.state_writer.flush()

    @classmethod
    def exit_stopped(cls, stop: Stopped) -> NoReturn:
        """One error line for a run stopped by a signal, and its exit code (143, 130)."""
        cls.logger.error(
            "stopped by %s: what was written before stands; a run from the last STATE resumes "
            "where this one stopped",
            stop,
        )
        sys.exit(stop.exit_code)

    def log_run_summary(self, outcome: str) -> None:
        """Log the run summary (nothing when nothing was synced)."""
        for line in self.summary.log_lines(outcome):
            self.logger.info("%s", line)

    @classmethod
    @override
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> Any:
        """Each --config file must be a JSON object, and integer settings from the environment
        integers; a bad one is one error line (exit 2)."""
        for path in value:
            if path != "ENV":
                _read_or_exit("--config", path, stdin=False)
        prefix = f"{cls.name.upper().replace('-', '_')}_"  # as the SDK names the variables
        errors = integer_env_errors(cls.config_jsonschema, prefix) if "ENV" in value else []
        for error in errors:
            cls.logger.error("%s", error)
        if errors:
            sys.exit(BAD_INPUT_EXIT_CODE)
        return super().cb_config(ctx, param, value)

    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, with --state and --catalog read by `JsonObjectFile`, and the help
        of --test saying what it does here."""
        command = super().get_singer_command()
        for param in command.params:
            if param.name in ("state", "catalog"):
                param.type = JsonObjectFile(f"--{param.name}")
            if isinstance(param, click.Option) and "--test" in param.opts:
                param.help = (
                    "Use --test to check that each configured source can be authenticated "
                    "against and read (one line per source). Use --test=schema to print the "
                    "schemas."
                )
        return command

    @classmethod
    @override
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """`--test`: one line per source saying it could be read, or why not (exit 1).
        `--test=schema` is the SDK's."""
        try:
            if value != CliTestOptionValue.All.value:
                super().cb_test(ctx, param, value)
                return
            config = ctx.params.get("config")
            # One record a stream: nothing is worth reading ahead.
            sequential = {"braze_concurrency": 1, "appstore_concurrency": 1}
            tap = cls(
                config={**(config.config if config else {}), **sequential},
                parse_env_config=bool(config and config.parse_env),
                message_writer=SingerOutput(discard=True),
            )
        except ConfigValidationError as exc:
            for error in exc.errors:
                cls.logger.error("%s", error)
            cls.logger.error("Config validation failed")
            ctx.exit(1)
        try:
            readable = check_sources(tap, tap.sources())
        except Stopped as stop:
            cls.exit_stopped(stop)
        ctx.exit(0 if readable else 1)


class JsonObjectFile(click.ParamType):
    """A --state or --catalog file (or `-` for stdin), checked to hold a JSON object."""

    name = "filename"

    def __init__(self, option: str) -> None:
        self.option = option

    @override
    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The file's text, as the SDK reads it; a bad file is one error line (exit 2)."""
        if not isinstance(value, str):
            return value
        return io.StringIO(_read_or_exit(self.option, value, stdin=True))


def _read_or_exit(option: str, path: str, *, stdin: bool) -> str:
    try:
        text, _ = read_json_object(option, path, stdin=stdin)
    except BadInputFile as exc:
        TapSegmentAnalytics.logger.error("%s", exc)
        sys.exit(BAD_INPUT_EXIT_CODE)
    return text


if __name__ == "__main__":
    TapSegmentAnalytics.cli()
