"""The running agent: sensors -> one queue -> correlator thread -> presenter, journal, sinks.

Threads and who owns what:

- each sensor runs its own thread(s) and only calls ``emit`` (puts on the queue);
- the correlator thread owns the ``Correlator``, the journal writes, catalogue
  reloads and every resolution sink call, so sinks (the outbox) see one thread;
- the main thread belongs to the presenter (Tk needs it), which reports the
  person's choice through ``on_outcome``; that only queues the resolution for
  the correlator thread, so trust and journal stay in order with the events.

NOTE verdicts are resolved at once with NO_WARNING_SHOWN; WARN and ALERT go to
the presenter (and, with the headless ``log`` presenter, are also printed on
standard output so a person at a terminal sees them).

``run`` blocks until SIGTERM / SIGINT or ``stop``, then stops the sensors,
drains the queue, stops the services and resumes any process a warning left
suspended. Trust ("I know this person") is kept in ``trust.json`` so a restart
keeps it for the hours the person chose. A sensor that cannot start is logged
and skipped; the rest run.
Log lines carry no titles, URLs, user names or paths (see the privacy rules).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, TextIO

from agent import presence
from agent import sensors as sensor_registry
from agent.catalogue.model import Catalogue
from agent.config import AgentConfig
from agent.control.suspended import recover_suspended
from agent.control.trust_store import TrustStore
from agent.correlate.correlator import Correlator
from agent.dialog.base import Presenter
from agent.errors import ActionError, ConfigError
from agent.events import Event
from agent.journal.incidents import format_verdict
from agent.journal.journal import FILE_NAME, Journal
from agent.redact import redact_home
from agent.sensors.base import Sensor, SensorContext
from agent.sensors.intake.documents import inbox_dir
from agent.verdict import Level, Outcome, Resolution, Verdict

log = logging.getLogger(__name__)

Clock = Callable[[], float]
ResolutionSink = Callable[[Resolution], object]

QUEUE_SIZE = 10_000
TICK_SECONDS = 1.0


class Service(Protocol):
    """Something that runs beside the agent (the telemetry reporter)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class CatalogueSource(Protocol):
    """What the runtime needs of ``agent.catalogue.loader.CatalogueHolder``."""

    def current(self) -> Catalogue: ...

    def maybe_reload(self) -> list[Any]: ...


@dataclass(frozen=True)
class _Outcome:
    verdict: Verdict
    outcome: Outcome


class _Drain:
    """Queued last at shutdown: the correlator thread handles what precedes it and ends."""


@dataclass
class Status:
    """What the runtime is doing (printed at start; read by tests)."""

    state_dir: Path
    journal: Path
    sensors: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # sensor -> reason
    # sensor -> exception type: started, then its thread died (no longer in ``sensors``)
    failed: dict[str, str] = field(default_factory=dict)
    presenter: str = ""


def _recover_suspended(state_dir: Path) -> None:
    """Resume processes a warning left suspended (a crash, or a stop with a warning open)."""
    try:
        recover_suspended(state_dir)
    except (ActionError, OSError) as exc:
        log.error("could not resume processes left suspended: %s", type(exc).__name__)


class Runtime:
    """Wires sensors, correlator, presenter, journal, sinks and services; see the module doc."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        presenter: Presenter | None = None,
        clock: Clock = time.time,
        services: Sequence[Service] = (),
        resolution_sinks: Sequence[ResolutionSink] = (),
        catalogue: CatalogueSource | None = None,
        sensors: Sequence[Sensor] | None = None,
        console: TextIO | None = None,
        on_ready: Callable[[Status], None] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.state_dir = config.state_dir
        self.services = list(services)
        self.resolution_sinks = list(resolution_sinks)
        self._presenter = presenter
        self._holder = catalogue
        self._given_sensors = list(sensors) if sensors is not None else None
        self._console = console
        self._on_ready = on_ready
        self.journal = Journal(self.state_dir / FILE_NAME)
        self.trust_store = TrustStore(self.state_dir, clock)
        self.status = Status(self.state_dir, self.journal.path)
        self._queue: queue.Queue[Event | _Outcome | _Drain] = queue.Queue(QUEUE_SIZE)
        self._verdicts: queue.Queue[Verdict] = queue.Queue()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._finished = threading.Event()
        self._dropped = 0
        self._status_lock = threading.Lock()
        self._sensors: list[Sensor] = []
        self._started_services: list[Service] = []
        self._correlator: Correlator | None = None
        self._thread: threading.Thread | None = None
        self._presence = contextlib.ExitStack()
        self._held = False  # this runtime holds the state dir (nothing to clean up otherwise)

    # -- control ---------------------------------------------------------------

    def stop(self) -> None:
        """Ask ``run`` to return (safe from any thread or a signal handler)."""
        self._stop.set()

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Block until sensors and the correlator run; False if ``run`` ended or timed out."""
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.02):
            if self._finished.is_set() or time.monotonic() > deadline:
                return False
        return True

    def emit(self, event: Event) -> None:
        """Queue an event (what sensors call; thread-safe, never blocks)."""
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._dropped += 1
            if self._dropped in (1, 10, 100) or self._dropped % 1000 == 0:
                log.error("event queue full: %d event(s) dropped so far", self._dropped)

    def sensor_failed(self, name: str, kind: str) -> None:
        """A sensor's thread has died: log it and stop listing the sensor as running.

        Called from the dying thread (``SensorContext.failed``); ``kind`` is the
        exception's type name, never its message (which may hold paths).
        """
        with self._status_lock:
            if name in self.status.sensors:
                self.status.sensors.remove(name)
            self.status.failed[name] = kind
            running = ", ".join(self.status.sensors) or "none"
        log.error("sensor %s failed (%s); sensors still running: %s", name, kind, running)

    def catalogue(self) -> Catalogue:
        """The catalogue in force (after ``run`` has started)."""
        assert self._holder is not None, "the runtime has not started"
        return self._holder.current()

    def run(self) -> Status:
        """Run until stopped; the calling thread becomes the presenter's.

        Raises ConfigError before anything starts when a configured sensor name
        or warning backend does not exist (a typo must not silently drop one).
        """
        try:
            return self._run()
        finally:
            self._finished.set()

    def _run(self) -> Status:
        if self._given_sensors is None:
            unknown = [n for n in self.config.sensors.enabled if n not in sensor_registry.SENSORS]
            if unknown:
                raise ConfigError(
                    f"{self.config.source}: [sensors].enabled: unknown sensor {unknown[0]!r}; "
                    f"valid sensors: {', '.join(sorted(sensor_registry.SENSORS))}"
                )
        presenter = self._presenter
        if presenter is None:  # first, so a bad [dialog].backend fails before anything runs
            from agent.dialog import create_presenter

            presenter = create_presenter(self.config)
        self.status.presenter = presenter.name
        with self._signals():
            try:
                self._start()
                if self._on_ready is not None:
                    self._on_ready(self.status)
                self._ready.set()
                self._present(presenter)
            finally:
                self._shutdown()
        return self.status

    # -- start and stop --------------------------------------------------------

    def _start(self) -> None:
        # Private to the person: other local users must not feed (or read) context.
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        inbox_dir(self.state_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        # Before anything else touches the state: one agent per state dir, and
        # ``signal`` can tell that someone reads the inbox (agent.presence).
        self._presence.enter_context(presence.hold(self.state_dir))
        self._held = True
        _recover_suspended(self.state_dir)
        if self._holder is None:
            from agent.catalogue.loader import CatalogueHolder

            extras = [Path(p) for p in self.config.signatures.extra_catalogues]
            self._holder = CatalogueHolder(extras)
        holder = self._holder
        self._correlator = Correlator(holder.current, self.clock)
        self._restore_trust(self._correlator)
        self._thread = threading.Thread(target=self._correlate, name="ratwatch-correlator")
        self._thread.start()
        for service in self.services:
            try:
                service.start()
            except Exception:  # noqa: BLE001 - a broken service must not take the warning down
                _log_failure("service %s failed to start; running without it", _name(service))
                continue
            self._started_services.append(service)
        self._start_sensors(holder)

    def _start_sensors(self, holder: CatalogueSource) -> None:
        if self._given_sensors is not None:
            for sensor in self._given_sensors:
                self._start_sensor(sensor.name, functools.partial(_given, sensor))
        else:
            ctx = SensorContext(
                self.config, holder.current, self.clock, self.state_dir, self.sensor_failed
            )
            for name in self.config.sensors.enabled:
                self._start_sensor(name, functools.partial(sensor_registry.create, name, ctx))
        log.info(
            "sensors running: %s%s",
            ", ".join(self.status.sensors) or "none",
            f"; skipped: {', '.join(self.status.skipped)}" if self.status.skipped else "",
        )

    def _start_sensor(self, name: str, factory: Callable[[], Sensor]) -> None:
        try:
            sensor = factory()
            sensor.start(self.emit)
        except ModuleNotFoundError as exc:
            self.status.skipped[name] = "not available in this build"
            log.warning("sensor %s skipped: module %s is not available", name, exc.name)
            return
        except Exception as exc:  # noqa: BLE001 - one failing sensor must not stop the others
            self.status.skipped[name] = type(exc).__name__
            _log_failure("sensor %s failed to start; the other sensors keep running", name)
            return
        self._sensors.append(sensor)
        with self._status_lock:
            if name not in self.status.failed:  # its thread may have died already
                self.status.sensors.append(name)

    def _shutdown(self) -> None:
        self._stop.set()
        if not self._held:
            return  # another agent holds the state dir: its suspended processes are its own
        for sensor in reversed(self._sensors):
            try:
                sensor.stop()
            except Exception:  # noqa: BLE001 - keep stopping the rest; a stuck sensor is logged
                _log_failure("sensor %s failed to stop cleanly", sensor.name)
        self._sensors.clear()
        # The presenter has returned (its last choices are queued) and no sensor
        # emits any more: the correlator thread may finish once the queue is empty.
        if self._thread is not None:
            if self._thread.is_alive():  # (put blocks only while the thread drains a full queue)
                self._queue.put(_Drain())
            self._thread.join()
            self._thread = None
        for service in reversed(self._started_services):
            try:
                service.stop()
            except Exception:  # noqa: BLE001 - the others still get their stop
                _log_failure("service %s failed to stop cleanly", _name(service))
        self._started_services.clear()
        _recover_suspended(self.state_dir)
        self._presence.close()
        self._held = False

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """SIGTERM / SIGINT stop the agent; only possible from the main thread."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("signal %s: stopping", signal.Signals(signum).name)
            self._stop.set()

        previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    # -- the presenter (main thread) -------------------------------------------

    def _present(self, presenter: Presenter) -> None:
        try:
            presenter.serve(self._verdicts, self._on_outcome, self._stop)
        except Exception:  # noqa: BLE001 - a broken window must not silence the agent: fall back
            if self._stop.is_set():
                return
            _log_failure("the %s warning failed; falling back to the log backend", presenter.name)
            from agent.dialog.log import LogPresenter

            self.status.presenter = "log"
            LogPresenter(self.config).serve(self._verdicts, self._on_outcome, self._stop)

    def _on_outcome(self, verdict: Verdict, outcome: Outcome) -> None:
        """The person chose (any thread): hand it to the correlator thread."""
        self._queue.put(_Outcome(verdict, outcome))

    # -- the correlator thread ---------------------------------------------------

    def _correlate(self) -> None:
        assert self._correlator is not None and self._holder is not None
        correlator, holder = self._correlator, self._holder
        next_tick = time.monotonic() + TICK_SECONDS
        next_reload = time.monotonic() + self.config.signatures.reload_seconds
        draining = False
        while True:
            # Sleep until there is work or the next tick / reload is due, never on
            # a fixed short poll: an idle agent must cost (almost) no CPU.
            wait = 0.0 if draining else max(0.0, min(next_tick, next_reload) - time.monotonic())
            try:
                item: Event | _Outcome | _Drain | None = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None
                if draining:
                    break  # drained: everything queued before the stop was handled
            if isinstance(item, _Drain):
                draining = True  # handle what is still queued, then finish
                continue
            try:
                if isinstance(item, _Outcome):
                    self._resolve(Resolution(item.verdict, item.outcome, self.clock()), correlator)
                elif item is not None:
                    self.journal.record_context(item)
                    self._handle(correlator.feed(item), correlator)
                now = time.monotonic()
                if now >= next_tick:
                    self._handle(correlator.tick(), correlator)
                    next_tick = now + TICK_SECONDS
                if now >= next_reload:
                    holder.maybe_reload()  # logs itself, and keeps the last good set
                    next_reload = now + self.config.signatures.reload_seconds
            except Exception:  # noqa: BLE001 - the correlator thread must survive one bad event
                _log_failure("failed to handle a %s; carrying on", type(item).__name__)

    def _handle(self, verdicts: list[Verdict], correlator: Correlator) -> None:
        for verdict in verdicts:
            self.journal.record_verdict(verdict)
            log.info(
                "verdict %s: tool=%s trigger=%s stage=%s",
                verdict.level.name,
                verdict.tool_id,
                verdict.trigger.value,
                verdict.stage.value,
            )
            if verdict.level is Level.NOTE:
                self._resolve(
                    Resolution(verdict, Outcome.NO_WARNING_SHOWN, self.clock()), correlator
                )
                continue
            if self.status.presenter == "log":
                self._print(verdict)
            self._verdicts.put(verdict)

    def _resolve(self, resolution: Resolution, correlator: Correlator) -> None:
        self.journal.record_resolution(resolution)
        if resolution.outcome is Outcome.USER_TRUSTED:
            until = self.clock() + self.config.dialog.trust_hours * 3600.0
            correlator.trust(resolution.verdict.tool_id, until)
            self._save_trust(correlator)
        for sink in self.resolution_sinks:
            try:
                sink(resolution)
            except Exception:  # noqa: BLE001 - telemetry trouble must never cost the journal or the warning
                _log_failure("a resolution sink failed; the journal has the record")

    def _restore_trust(self, correlator: Correlator) -> None:
        """Trust chosen before a restart stays in force for the hours the person chose."""
        restored = self.trust_store.load()
        for tool_id, until in restored.items():
            correlator.trust(tool_id, until)
        if restored:
            log.info("%d trusted tool(s) restored from before the restart", len(restored))
        if self.trust_store.path.exists():
            self._save_trust(correlator)  # drops expired or damaged entries from the file

    def _save_trust(self, correlator: Correlator) -> None:
        try:
            self.trust_store.save(correlator.trusts())
        except OSError as exc:  # the trust holds in memory; only a restart would forget it
            log.error("could not save the trusted tools (%s)", type(exc).__name__)

    def _print(self, verdict: Verdict) -> None:
        """Put a WARN / ALERT on the console when no interactive warning will show it."""
        print(format_verdict(verdict), file=self._console or sys.stdout, flush=True)


def _log_failure(message: str, *args: object) -> None:
    """Log the exception being handled without a traceback (support logs stay path-free).

    The message and type are enough to tell what broke; the traceback, whose
    file paths may name the user's home, is logged only at debug level (-v).
    """
    exc = sys.exc_info()[1]
    detail = redact_home(f"{type(exc).__name__}: {exc}") if exc is not None else "?"
    log.error(message + " (%s)", *args, detail)
    log.debug("traceback of the failure above", exc_info=True)


def _given(sensor: Sensor) -> Sensor:
    return sensor


def _name(obj: object) -> str:
    return str(getattr(obj, "name", type(obj).__name__))
