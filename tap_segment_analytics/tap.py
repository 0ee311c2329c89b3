"""The Tap: its settings, and which streams exist for the sources the config enables."""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import sys
from collections.abc import Callable
from typing import Any, ClassVar, NoReturn

import click
from singer_sdk import Stream
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities, TapCapabilities
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

from tap_segment_analytics.appstore.emit.requests_stream import ReportRequests
from tap_segment_analytics.appstore.emit.streams import appstore_streams
from tap_segment_analytics.appstore.runtime import AppStoreRuntime
from tap_segment_analytics.braze.emit.streams import SegmentDetails, Segments, SegmentSizes
from tap_segment_analytics.braze.runtime import BrazeRuntime
from tap_segment_analytics.config_checks import (
    has_value,
    integer_env_errors,
    unknown_settings,
)
from tap_segment_analytics.config_text import numbers_from_text
from tap_segment_analytics.connection_check import Source, check_sources
from tap_segment_analytics.errors import SourceError, failure_line, install_redaction
from tap_segment_analytics.input_files import BadInputFile, read_json_object
from tap_segment_analytics.logs import (
    SdkLines,
    quiet_sdk_lines,
    set_metrics_log_level,
)
from tap_segment_analytics.run_summary import RunSummary
from tap_segment_analytics.sdk.state import (
    STATE_INTERVAL_SECONDS,
    ClockedStateWriter,
)
from tap_segment_analytics.sdk.tap import AdaptedTap
from tap_segment_analytics.settings import (
    CONFIG_SCHEMA,
    EMIT_ACTIVATE_VERSION,
    SECRET_SETTINGS,
    appstore_configured,
    braze_configured,
    source_config_errors,
)
from tap_segment_analytics.singer_output import SingerOutput, TargetStoppedReading
from tap_segment_analytics.source_runtime import SourceRuntime
from tap_segment_analytics.state_reading import read_bookmarks
from tap_segment_analytics.stopping import Stopped, install_stop_handlers

BAD_INPUT_EXIT_CODE = 2


class TapSegmentAnalytics(AdaptedTap):
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

    config_jsonschema = CONFIG_SCHEMA

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
        """The state writer of the streams: STATE on a clock (sdk/state.py)."""
        if self._clocked_state_writer is None:
            self._clocked_state_writer = ClockedStateWriter(
                self.message_writer,
                interval=float(self.config.get("state_interval_seconds", STATE_INTERVAL_SECONDS)),
            )
        return self._clocked_state_writer

    @override
    def load_state(self, state: dict[str, Any]) -> None:
        """The SDK's, then the bookmarks moved into this release's layout, and those that
        cannot be right (not a date, in the future) dropped with a warning: their partitions
        are read again from `start_date`."""
        super().load_state(state)
        for warning in read_bookmarks(self.state):
            self.logger.warning("%s", warning)

    @override
    def prepare_config(self, config: dict[str, Any]) -> None:
        """Secrets redacted from every line; numbers given as text read as numbers."""
        install_redaction(str(config.get(name) or "") for name in SECRET_SETTINGS)
        # Meltano and `--config ENV` give `number` settings as text (see config_text.py).
        config.update(numbers_from_text(config, self.config_jsonschema))
        # Meltano hands an object setting given no value as an object of nulls: no BATCH, as
        # the SDK reads an absent or empty `batch_config`.
        if not has_value(config.get("batch_config")):
            config.pop("batch_config", None)

    @override
    def config_errors(self, config: dict[str, Any]) -> list[str]:
        """Each source complete or absent, and one present."""
        return self.source_config_errors(config)

    source_config_errors = staticmethod(source_config_errors)

    @override
    def discover_streams(self) -> list[Stream]:
        """The streams of every configured source."""
        streams: list[Stream] = []
        runtimes = self.runtimes()
        if braze := runtimes.get("braze"):
            assert isinstance(braze, BrazeRuntime)
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
                    state_writer=self.state_writer,
                    output=self.message_writer,
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
        runtimes = self.runtimes()
        braze, appstore = runtimes.get("braze"), runtimes.get("appstore")
        if isinstance(braze, BrazeRuntime) and Segments.name in self.streams:
            sources.append(Source(braze.client.source_name, braze.client.base_url, "braze_"))
        if isinstance(appstore, AppStoreRuntime) and ReportRequests.name in self.streams:
            client = appstore.client
            sources.append(Source(client.source_name, client.base_url, "appstore_"))
        return sources

    @classmethod
    @override
    def run(cls, make: Callable[[], AdaptedTap]) -> None:
        """Run the tap; end with the run summary and, when a source fails, one error line
        (exit code 1)."""
        tap: TapSegmentAnalytics | None = None
        try:
            made = make()
            assert isinstance(made, TapSegmentAnalytics)
            tap = made
            made.sync_all()
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
        made.log_run_summary("succeeded")

    @classmethod
    def end_run(cls, tap: TapSegmentAnalytics | None, outcome: str, *, flush: bool = True) -> None:
        """Write the state a failed or stopped run holds (unless stdout is gone) and log its
        summary; nothing when the tap was not even made."""
        if tap is None:
            return
        for runtime in (tap._runtimes or {}).values():
            runtime.stop_reading_ahead()
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
