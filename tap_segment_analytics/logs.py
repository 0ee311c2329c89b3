"""Which of the SDK's log lines a run shows at INFO.

The SDK logs at INFO a line per child stream registration, per partition synced, per empty last
page and per start ("Skipping parse of env var settings..."), and METRIC lines per request and
per partition: thousands of lines a night that grow with the data. The backoff library adds a
line per retry beside the tap's own. Here they are DEBUG lines
(`TAP_SEGMENT_ANALYTICS_LOGLEVEL=debug` shows them again); METRIC lines follow the
`metrics_log_level` setting, the knob the SDK's metrics documentation suggests taps offer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from singer_sdk import metrics
from typing_extensions import override

# Templates of lines that are detail here (DEBUG), matched on the unformatted message.
SDK_DETAIL = (
    "Skipping parse of env var settings",  # every start (PluginBase.__init__)
    "Added '%s' as child stream to '%s'",  # every child stream (Tap.load_streams)
    "Beginning sync of '%s' in %s mode",  # every partition (Stream.sync)
    "Starting incremental sync of '%s' with bookmark value",  # every partition (state manager)
    "Pagination stopped after %d pages",  # every partition whose last page is empty
    # The backoff library's own lines, beside the tap's retry warning and final error line.
    "Backing off %s(...) for",
    "Giving up %s(...) after",
)
# Logged by Stream.sync for the failing stream and again for each parent the error passes
# through: the first names the stream that failed, the repeats say nothing new.
SYNC_ERROR = "An unhandled error occurred while syncing '%s'"
# The SDK warns that progress is not resumable for each partition of a partitioned incremental
# stream. Each of this tap's partitions (a Braze segment, an App Store report and granularity)
# gets its bookmark when it finishes, so an interrupted run resumes at the partition it was in.
NOT_RESUMABLE = "Stream is assumed to be unsorted"
DEFAULT_METRICS_LOG_LEVEL = "WARNING"


def _as_debug(record: logging.LogRecord) -> bool:
    """Turn the record into a DEBUG one; keep it only where DEBUG is logged."""
    record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
    return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


class SdkLines(logging.Filter):
    """Logs the SDK's per-partition detail and repeated sync errors at DEBUG; drops the
    misleading "not resumable" warning."""

    def __init__(self) -> None:
        super().__init__()
        self.sync_error_seen = False
        self.quiet_sync_errors = False

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        """Whether to log the record (possibly lowered to DEBUG)."""
        message = str(record.msg)
        if message.startswith(SDK_DETAIL):
            return _as_debug(record)
        if record.levelno == logging.ERROR and message.startswith(SYNC_ERROR):
            repeated, self.sync_error_seen = self.sync_error_seen, True
            return _as_debug(record) if repeated or self.quiet_sync_errors else True
        return not message.startswith(NOT_RESUMABLE)


def quiet_sdk_lines(loggers: Iterable[logging.Logger], lines: SdkLines) -> None:
    """Apply a run's `lines` to these loggers (the SDK's, the tap's and its streams'), in place
    of an earlier run's; filters only see records logged on their own logger, not on its
    children."""
    for logger in loggers:
        for earlier in [f for f in logger.filters if isinstance(f, SdkLines) and f is not lines]:
            logger.removeFilter(earlier)
        logger.addFilter(lines)


def set_metrics_log_level(level: str | None) -> None:
    """The SDK's metrics logger logs METRIC lines at INFO; below `level` they are dropped."""
    metrics.get_metrics_logger().setLevel((level or DEFAULT_METRICS_LOG_LEVEL).upper())
