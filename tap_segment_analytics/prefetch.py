"""Reading ahead of the sync: calls made by a bounded pool of threads, results taken in order.

A plan (appstore/plan.py, braze's windows) decides what a run fetches and in which order; a
`Prefetcher` walks it ahead of the sync in threads of its own, scheduling its fetch units on
bounded lanes (`ReadAhead`s). It knows no stream and no source.

The SDK syncs one stream context at a time, so a tap that waits for each HTTP answer in turn
spends its run waiting on the network. A `ReadAhead` runs the calls the sync will need next in a
pool of threads; the sync still takes the results one by one, in its own order, so records and
STATE come out exactly as in a sequential run, only sooner. A result the sync asks for that was
not scheduled (or not yet) is fetched there and then, in the sync's thread.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

_T = TypeVar("_T")
_LOGGER = logging.getLogger(__name__)
_WAIT_SECONDS = 0.5  # how often a blocked scheduler looks whether the read-ahead was closed

# The stream context a call made ahead of the sync is for: the SDK's `stream.context` is the
# context the sync is on, which is not the one a worker is reading ahead for.

# The closing of the read-ahead a worker thread runs a call for: a call's retries and waits stop
# (`Closed`) once it is set, so a closed read-ahead leaves no thread asking the API.
closing: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "closing", default=None
)


def check_open() -> None:
    """Raise `Closed` when the read-ahead this thread works for was closed."""
    event = closing.get()
    if event is not None and event.is_set():
        raise Closed


def pause(seconds: float) -> None:
    """Sleep `seconds`, cut short (`Closed`) when the read-ahead this thread works for closes."""
    event = closing.get()
    if event is None:
        time.sleep(seconds)
    elif event.wait(seconds):
        raise Closed


class ReadAhead:
    """Results made ahead by `workers` threads; at most `ahead` of them wait to be taken.

    `keep=True` keeps each result for every taker (small answers several readers share);
    otherwise a result is taken once and its slot freed, and `discard` disposes of results
    nobody took (e.g. downloaded files) when the read-ahead is closed.
    """

    def __init__(
        self,
        *,
        name: str,
        workers: int,
        ahead: int | None = None,
        keep: bool = False,
        discard: Callable[[Any], None] | None = None,
    ) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._slots = threading.BoundedSemaphore(ahead) if ahead else None
        self._keep = keep
        self._discard = discard
        self._lock = threading.Lock()
        self._futures: dict[Hashable, Future[Any]] = {}
        self._claimed: set[Hashable] = set()
        self._closed = threading.Event()

    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
        return self._closed.is_set()

    def schedule(self, key: Hashable, call: Callable[[], Any]) -> bool:
        """Start `call` for `key` (unless the sync already asked for it); blocks while `ahead`
        results wait. False once the read-ahead is closed."""
        if self._slots is not None:
            while not self._slots.acquire(timeout=_WAIT_SECONDS):
                if self.closed:
                    return False
        with self._lock:
            if self.closed or key in self._claimed or key in self._futures:
                self._release()
                return not self.closed
            self._futures[key] = self._executor.submit(self._run, call)
        return True

    def _run(self, call: Callable[[], _T]) -> _T:
        """`call` in a worker: its retries and waits end once this read-ahead is closed."""
        token = closing.set(self._closed)
        try:
            check_open()
            return call()
        finally:
            closing.reset(token)

    def take(self, key: Hashable, call: Callable[[], _T]) -> _T:
        """The result for `key`: the one made ahead (waiting for it), or `call()` made now.

        With `keep`, a result made now is kept too, so a scheduler that needs it as well
        waits for it instead of asking again.
        """
        with self._lock:
            future = self._futures.get(key)
            made_here = future is None
            if future is None:
                future = Future()
                future.set_running_or_notify_cancel()
                if self._keep:
                    self._futures[key] = future
                else:
                    self._claimed.add(key)
            elif not self._keep:
                del self._futures[key]
        if made_here:
            try:
                made: _T = call()
            except BaseException as exc:
                future.set_exception(exc)
                raise
            future.set_result(made)
            return made
        try:
            result: _T = future.result()
        finally:
            if not self._keep:
                self._release()
        return result

    def close(self) -> None:
        """Stop scheduling; cancel what has not started; dispose of results nobody took."""
        self._closed.set()
        with self._lock:
            left = list(self._futures.values())
            self._futures.clear()
        for future in left:
            future.cancel()
        # Calls still running stop at their next try or wait (`closing`); what they made goes
        # with the run's scratch.
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._discard is not None:
            for future in left:
                if future.done() and not future.cancelled() and future.exception() is None:
                    self._discard(future.result())

    def _release(self) -> None:
        if self._slots is not None:
            self._slots.release()


class Closed(Exception):
    """The prefetcher was closed: the walk that met this stops."""


class Prefetcher:
    """Fetch units of a plan run ahead of the sync: each walk (a function given this
    prefetcher, in a thread of its own) schedules units in the plan's order on named lanes;
    the sync takes their results in that order (`take`)."""

    def __init__(self, lanes: Mapping[str, ReadAhead], *, name: str) -> None:
        self._lanes = dict(lanes)
        self._name = name

    def start(self, walks: Iterable[Callable[[Prefetcher], None]]) -> None:
        """Run each walk in a daemon thread of its own."""
        for number, walk in enumerate(walks):
            threading.Thread(
                target=self._walk, args=(walk,), name=f"{self._name}-{number}", daemon=True
            ).start()

    def _walk(self, walk: Callable[[Prefetcher], None]) -> None:
        try:
            walk(self)
        except Closed:
            pass
        except Exception:  # the sync meets the same error when it gets there
            _LOGGER.debug("%s stopped reading ahead", self._name, exc_info=True)

    def schedule(self, lane: str, key: Hashable, call: Callable[[], Any]) -> None:
        """Start `call` for `key` on the lane (blocking while the lane is full); a walk
        stops (Closed) once the prefetcher is closed."""
        if not self._lanes[lane].schedule(key, call):
            raise Closed

    def take(self, lane: str, key: Hashable, call: Callable[[], _T]) -> _T:
        """The result for `key`: made ahead (waited for), or `call()` made now."""
        return self._lanes[lane].take(key, call)

    def needs(self, lane: str, key: Hashable, call: Callable[[], _T]) -> _T:
        """A result a walk needs to go on (Closed once the prefetcher is closed)."""
        if self._lanes[lane].closed:
            raise Closed
        return self._lanes[lane].take(key, call)

    def close(self) -> None:
        """Stop every lane: nothing more is scheduled; results nobody took are disposed of."""
        for lane in self._lanes.values():
            lane.close()
