"""The one interface every sensor implements, what it is given, and its one guarded loop.

A sensor observes and emits; it never decides. It runs its own thread(s)
started by ``start`` and joined by ``stop`` (no thread may outlive ``stop``).
Every sensor thread runs through ``SensorThread``: an exception in one
iteration is logged by its type only (messages may hold paths) and the loop
goes on after a backoff; a thread that dies all the same (an error in the
guard's own waiting, a BaseException) is reported through
``SensorContext.failed``, so the runtime logs the sensor as failed and stops
listing it as running.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from agent.catalogue.model import Catalogue
from agent.config import AgentConfig
from agent.events import Event

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Emit = Callable[[Event], None]
# (sensor name, exception type name) of a sensor thread that has died.
FailureSink = Callable[[str, str], None]

THREAD_PREFIX = "ratwatch-"
"""Every thread the agent starts is named ``ratwatch-<what>`` (the tests' leak check uses it)."""

# After a failed iteration a sensor loop waits its period doubled per failure in a
# row, up to this: an error that persists costs a log line twice a minute, and
# detection resumes within half a minute once it clears.
MAX_BACKOFF_SECONDS = 30.0


def _no_sink(name: str, kind: str) -> None:
    """Where failures go when nobody listens (a sensor driven by a test)."""


@dataclass(frozen=True)
class SensorContext:
    """What a sensor may use: config, the current catalogue, a clock, its state dir."""

    config: AgentConfig
    # Returns the current catalogue snapshot (it may be swapped on reload).
    catalogue: Callable[[], Catalogue]
    clock: Clock
    state_dir: Path
    # Told when one of the sensor's threads has died (the runtime stops listing it).
    failed: FailureSink = field(default=_no_sink)


class Sensor(Protocol):
    """A source of events."""

    name: str

    def start(self, emit: Emit) -> None:
        """Begin observing; call ``emit`` (thread-safe) for each event."""

    def stop(self) -> None:
        """Stop observing and join every thread this sensor started."""


def backoff_seconds(period: float, failures: int) -> float:
    """How long a sensor loop waits after ``failures`` failed iterations in a row."""
    return min(period * 2.0 ** min(failures, 16), max(MAX_BACKOFF_SECONDS, period))


def log_loop_failure(what: str, exc: BaseException, failures: int, retry_in: float) -> None:
    """Log a failed sensor iteration by exception type only (messages may hold paths)."""
    log.error(
        "%s failed (%s, %d in a row); retrying in %.1f s",
        what,
        type(exc).__name__,
        failures,
        retry_in,
    )
    # The traceback's file paths may name the user's home: debug level (-v) only.
    log.debug("traceback of the failure above", exc_info=exc)


class SensorThread(threading.Thread):
    """A sensor's thread: runs ``body`` again and again, guarded, until ``stopped()``.

    ``body`` is one iteration (a poll and its wait) or a whole inner loop that
    returns when the sensor stops; either way an exception it raises costs one
    log line and a backoff (``wait(seconds)``, which must return early on stop),
    never the thread. ``failure`` is the type name of whatever ended the thread
    otherwise (None while it runs or after a clean stop).
    """

    def __init__(
        self,
        sensor: str,
        what: str,
        body: Callable[[], None],
        *,
        stopped: Callable[[], bool],
        wait: Callable[[float], object],
        period: float,
        failed: FailureSink = _no_sink,
    ) -> None:
        super().__init__(name=f"{THREAD_PREFIX}sensor-{sensor}", daemon=True)
        self.sensor = sensor
        self.failure: str | None = None
        self._what = what
        self._body = body
        self._stopped = stopped
        self._wait = wait
        self._period = period
        self._failed = failed

    def run(self) -> None:
        """The guarded loop (never call directly: ``start`` it)."""
        try:
            self._loop()
        except BaseException as exc:
            self.failure = type(exc).__name__
            log.error(
                "sensor %s failed: its thread ended (%s); it is no longer running",
                self.sensor,
                self.failure,
            )
            log.debug("traceback of the failure above", exc_info=exc)
            self._failed(self.sensor, self.failure)

    def _loop(self) -> None:
        failures = 0
        while not self._stopped():
            try:
                self._body()
            except Exception as exc:  # noqa: BLE001 - the one guarded sensor loop: log, back off, go on
                failures += 1
                pause = backoff_seconds(self._period, failures)
                log_loop_failure(self._what, exc, failures, pause)
                self._wait(pause)
            else:
                failures = 0
