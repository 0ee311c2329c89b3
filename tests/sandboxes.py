"""The sandbox for tests that need both sources at once."""

from __future__ import annotations

import atexit

from segment_analytics_sandbox.environment import Sandbox, start_sandbox


def started_sandbox() -> Sandbox:
    """A running sandbox, stopped when the test session's process exits."""
    sandbox = start_sandbox()
    atexit.register(sandbox.stop)
    return sandbox
