"""The process sensor: sees every new process cheaply and says what it is.

Two ways to learn about new processes (``[sensors].process_events``):

``poll`` (every OS)
    ``poll_hz`` times a second, list the process ids (one /proc listing on
    Linux) and inspect only ids not seen before. When the listing equals the
    previous one -- the usual tick -- nothing else happens. On Linux even the
    listing is skipped while /proc shows that no process was created or
    reaped (see ``agent.sensors.processes.tracker``). A process that lives
    shorter than a tick can be missed, and on Windows, which reuses ids
    quickly, a process that exits and whose id is reused within one tick
    looks unchanged; both are accepted costs of polling.
``netlink`` (Linux, where the kernel lets this user listen; see connector_linux)
    The kernel's process connector reports each exec and exit as it happens
    (``agent.sensors.processes.connector_linux``); no periodic work at all. If the
    kernel drops events (buffer overflow) one listing resynchronises.
``auto`` (default)
    netlink where permitted, otherwise poll. Whenever the event source cannot
    be opened or fails later, the sensor logs why and polls instead.

Per new process it reports a ``ProcessStarted`` (see
``agent.sensors.processes.facts``) and, for processes it reported, a
``ProcessEnded``. Kernel threads (Linux) are not programs and are skipped.

Baseline: processes already running when the sensor starts are *not* new and
produce no events, otherwise every agent start would look like a burst of
fresh tool starts. The session sensor finds running remote tools on its own
(its first scan inspects every process), so a tool started before the agent
still gets its SessionStarted and scare tactics during that session still
alert; the correlator opens a quiet episode for a session whose start it
never saw.
"""

from __future__ import annotations

import logging
import select
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from agent.errors import EventsLost, SensorError
from agent.events import Event
from agent.identify.pe import PeCache
from agent.platform import current_os, user_dirs
from agent.sensors.base import Emit, SensorContext, SensorThread, backoff_seconds, log_loop_failure
from agent.sensors.processes.connector_linux import ProcConnector
from agent.sensors.processes.facts import Describer
from agent.sensors.processes.first_seen import FirstSeen
from agent.sensors.processes.tracker import ProcessTracker

log = logging.getLogger(__name__)

_LINUX = sys.platform.startswith("linux")



class ProcessSensor:
    """Reports new processes; see the module doc for the modes and the baseline."""

    name = "processes"

    def __init__(
        self,
        ctx: SensorContext,
        *,
        mode: str | None = None,
        os_name: str | None = None,
        home: str | None = None,
        pe_cache: PeCache | None = None,
        connector: Callable[[], ProcConnector] = ProcConnector,
        pids: Callable[[], list[int]] | None = None,
    ) -> None:
        # Seams for tests: ``os_name`` selects the catalogue's process names
        # (Windows names on real Linux processes), ``connector`` replaces the
        # kernel event source (to force refusal or failure), ``pe_cache`` its reader.
        self._mode = mode or ctx.config.sensors.process_events
        self._interval = 1.0 / ctx.config.sensors.poll_hz
        host = current_os()
        self._describer = Describer(
            ctx.catalogue,
            os_name=os_name or host,
            host_os=host,
            home=home if home is not None else str(Path.home()),
            user_dirs=user_dirs(),
            pe_cache=pe_cache if pe_cache is not None else PeCache(),
            boot_time=psutil.boot_time(),
            first_seen=FirstSeen(ctx.state_dir, fold_case=host != "linux"),
        )
        self.tracker = ProcessTracker(self._describer, ctx.clock, pids=pids)
        self._connector_factory = connector
        self.active_mode = ""  # "netlink" or "poll" once started (and after a fallback)
        self.events_lost = 0
        self._emit: Emit | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connector: ProcConnector | None = None
        self._failed = ctx.failed
        self._wake: tuple[socket.socket, socket.socket] | None = None

    def start(self, emit: Emit) -> None:
        """Open the event source, take the baseline, and start the sensor thread."""
        self._emit = emit
        self._stop.clear()
        connector = self._open_connector()
        known = self.tracker.baseline()
        self._wake = socket.socketpair()
        self.active_mode = "netlink" if connector is not None else "poll"
        log.info(
            "process sensor: %s; %d running processes taken as baseline",
            "kernel process events" if connector else f"polling at {1 / self._interval:g} Hz",
            known,
        )
        self._connector = connector
        self._thread = SensorThread(
            self.name,
            "process sensing",
            self._run,
            stopped=self._stop.is_set,
            wait=self._stop.wait,
            period=self._interval,
            failed=self._failed,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close the event source."""
        self._stop.set()
        if self._wake is not None:
            self._wake[1].send(b"\0")
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._wake is not None:
            for s in self._wake:
                s.close()
            self._wake = None

    def _open_connector(self) -> ProcConnector | None:
        if self._mode == "poll":
            return None
        loud = self._mode == "netlink"  # asked for explicitly: a fallback deserves a warning
        if not _LINUX:
            if loud:
                log.warning("kernel process events need Linux; polling instead")
            return None
        try:
            return self._connector_factory()
        except SensorError as exc:
            log.log(
                logging.WARNING if loud else logging.INFO,
                "kernel process events unavailable (%s); polling instead",
                exc,
            )
            return None

    def _run(self) -> None:
        # Kernel events once: after they fail (or the guard restarts this), poll.
        connector, self._connector = self._connector, None
        if connector is not None:
            if self._run_events(connector):
                return
            self.active_mode = "poll"
            # Catch up at once with whatever the failed source did not deliver
            # (a failure here is the polling loop's to retry).
            self._resync()
        self._run_poll()

    def _resync(self) -> None:
        """A forced full listing; a failure is logged and left to the next listing."""
        try:
            self._send(self.tracker.poll(force=True))
        except Exception as exc:  # noqa: BLE001 - runtime loop: a failed resync must not end detection
            log_loop_failure("process resync", exc, 1, self._interval)

    def _send(self, events: list[Event]) -> None:
        assert self._emit is not None
        for event in events:
            self._emit(event)

    def _run_events(self, connector: ProcConnector) -> bool:
        """Follow kernel events until stopped (True) or the source fails (False)."""
        assert self._wake is not None
        wake = self._wake[0]
        failures = 0
        try:
            while not self._stop.is_set():
                # Events received while subscribing are returned by the first read.
                try:
                    batch = connector.read()
                except EventsLost:
                    self.events_lost += 1
                    if self.events_lost == 1 or self.events_lost % 100 == 0:
                        log.warning(
                            "kernel dropped process events (%d times so far); "
                            "resynchronising from a listing",
                            self.events_lost,
                        )
                    self._resync()
                    continue
                except OSError as exc:
                    log.warning(
                        "kernel process events failed (%s); polling instead",
                        exc.strerror or exc,
                    )
                    return False
                try:
                    for event in batch:
                        self._send(self.tracker.on_event(event))
                except Exception as exc:  # noqa: BLE001 - runtime loop: one bad event must not end detection
                    failures += 1
                    if failures in (1, 10, 100) or failures % 1000 == 0:
                        log_loop_failure("handling a kernel process event", exc, failures, 0.0)
                ready, _, _ = select.select([connector.fileno(), wake.fileno()], [], [])
                if wake.fileno() in ready:
                    return True
            return True
        finally:
            connector.close()

    def _run_poll(self) -> None:
        next_tick = time.monotonic()
        failures = 0
        while True:
            next_tick += self._interval
            delay = next_tick - time.monotonic()
            if delay < 0:  # fell behind (suspend, load): skip ticks rather than burst
                next_tick = time.monotonic()
                delay = 0.0
            if self._stop.wait(delay):
                return
            try:
                events = self.tracker.poll()
            except Exception as exc:  # noqa: BLE001 - runtime loop: one bad poll must not end detection
                failures += 1
                pause = backoff_seconds(self._interval, failures)
                log_loop_failure("process poll", exc, failures, pause)
                next_tick = time.monotonic() + pause - self._interval
                continue
            failures = 0
            self._send(events)


def create(ctx: SensorContext) -> ProcessSensor:
    """Registry factory for "processes"."""
    return ProcessSensor(ctx)
