"""The base of every stream of the tap: the shared retries and run summary, and one SCHEMA
message per stream and run."""

from __future__ import annotations

from typing import Any

from typing_extensions import override

from tap_segment_analytics.retries import RetryingStream


class TapStream(RetryingStream):
    """A REST stream of this tap."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._schema_written = False

    @override
    def _write_schema_message(self) -> None:
        # Private SDK method, overridden because no public hook decides when SCHEMA goes out:
        # the SDK writes it at every sync of a context, so a child stream repeated it for each
        # parent record (434 SCHEMA messages for 4,200 records). The schema does not change
        # within a run: once is enough. tests/test_sdk_contracts.py pins the SDK's call.
        if not self._schema_written:
            self._schema_written = True
            super()._write_schema_message()
