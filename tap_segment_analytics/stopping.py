"""SIGTERM and SIGINT: the run stops between two Singer messages and exits non-zero.

The SDK's own handler writes the state it holds at that moment and exits 0, so an orchestrator
that stops a run would record a success. Here a stop never cuts a message in half (one that
arrives mid-write waits for the write to end) and writes nothing more but the last whole STATE
the clocked state writer holds (sdk/state.py), so a run from it resumes where this one stopped.
A second signal ends the process at once.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# What a shell reports for a process ended by a signal.
_SIGNAL_EXIT_BASE = 128


class Stopped(BaseException):
    """The run was asked to stop (a BaseException, so no `except Exception` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """143 for SIGTERM, 130 for SIGINT."""
        return _SIGNAL_EXIT_BASE + self.signum


class StopGuard:
    """Turns a stop signal into `Stopped`, deferred while a message is being written."""

    def __init__(self) -> None:
        self.writing = False
        self.pending: int | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler."""
        for stop_signal in STOP_SIGNALS:
            signal.signal(stop_signal, signal.SIG_DFL)
        if self.writing:
            self.pending = signum
            return
        raise _stopping(signum)

    def after_write(self) -> None:
        """Raise the stop that arrived during the write just finished."""
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise _stopping(signum)


def _stopping(signum: int) -> Stopped:
    """The stop to raise; from now on, finalizers that fail are not printed."""
    sys.unraisablehook = _quiet
    return Stopped(signum)


def _quiet(unraisable: Any) -> None:
    """A stopped run's failing finalizers, unprinted: the stop can cut an object short in its
    constructor (an HTTP response without its `fp`), whose `__del__` then fails; a traceback
    under the run's one line would only mislead."""


STOP = StopGuard()


def install_stop_handlers() -> None:
    """Replace the SDK's handlers of SIGTERM and SIGINT (signals reach the main thread only)."""
    if threading.current_thread() is threading.main_thread():
        for stop_signal in STOP_SIGNALS:
            signal.signal(stop_signal, STOP.handle)
