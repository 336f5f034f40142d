"""``serve`` with several workers: front-end processes on one port, one writer behind them.

Python runs one thread of Python at a time per process, and a gRPC call
costs more Python than SQLite costs writing it. So a collector that must
use more than one CPU runs ``workers`` front-end processes, each a full
gRPC server (auth, validation, queries) bound to the same port with
SO_REUSEPORT, where Linux spreads incoming connections over them. This
process is the writer: it holds the data dir lock and the only writable
store, and commits the groups every front end sends it over a pipe
(collector.write_hub, collector.remote_store). One writer keeps group
commit, dedupe and folding exactly as in a single-process collector.

The port is first bound here without SO_REUSEPORT, which fails if anything
listens on it (another collector included), and resolves port 0; only then
do the front ends bind it, sharing.

Stop (SIGTERM/SIGINT, or Ctrl-C, which reaches every process): the front
ends stop accepting and finish in-flight calls, which still need the
writer, so the writer waits for them and only then commits what is queued
and closes. A front end that dies is replaced; its unacknowledged calls are
retried by their agents. If this process dies, the front ends lose their
pipe and stop: nothing is acknowledged that was not committed.

With the PostgreSQL store there is no writer process: the database already
serialises N writers (collector.pg_store), so each front end opens its own
store and commits directly, exactly as N collectors on N machines do, and
this process only binds the port, supervises, and serves the metrics.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from collector.config import CollectorConfig, release_params, split_host_port
from collector.errors import CollectorError, ConfigError
from collector.known_tools import ToolPolicy
from collector.metrics import MULTIPROC_ENV, serve_metrics
from collector.metrics import address as metrics_address
from collector.ratelimit import RateLimiter, limits_of
from collector.releases import ReleaseWorker
from collector.server import announce, describe, quiet_gc
from collector.store import open_configured
from collector.write_hub import WriteHub

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # linux/prctl.h
READY_SECONDS = 60.0  # how long a front end may take to start
RESPAWN_LIMIT = 5  # front-end deaths per RESPAWN_WINDOW before the collector gives up
RESPAWN_WINDOW = 60.0


def reserve_port(listen: str) -> tuple[str, int]:
    """Check that ``listen`` is free (nothing may listen there) and resolve port 0."""
    host, port = split_host_port(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR as grpc uses it: a previous run's TIME_WAIT must not block us,
        # but a listening socket (another collector's front ends) still does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {listen}: {exc.strerror} (port in use?)") from exc
        return host, probe.getsockname()[1]


def _frontend(
    config: CollectorConfig,
    conn: Connection | None,
    ready: Connection,
    log_level: int,
    peer_secret: bytes,
) -> None:  # pragma: no cover - runs in a child process; covered by test_workers.py
    """A front-end process: serve gRPC until a signal or until the writer goes away."""
    import asyncio

    from collector.remote_store import RemoteStore
    from collector.server import CollectorServer, on_stop_signals, quiet_gc, run_loop

    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s[worker]: %(message)s"
    )
    _die_with_parent()
    lost = False

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        on_stop_signals(loop, stop)

        def on_lost() -> None:
            nonlocal lost
            lost = True
            loop.call_soon_threadsafe(stop.set)

        try:
            # PostgreSQL: this front end writes to the database itself (store=None).
            store = RemoteStore(conn, config.data_dir, on_lost=on_lost) if conn else None
            server = CollectorServer(config, store=store, share_port=True, peer_secret=peer_secret)
            await server.start()
        except CollectorError as exc:
            ready.send(("error", str(exc)))
            return
        quiet_gc()
        ready.send(("ready", server.address))
        await stop.wait()
        # Without the writer no call in flight can be acknowledged: end them now.
        await server.stop(0 if lost else None)

    run_loop(main())


def _die_with_parent() -> None:  # pragma: no cover - runs in a child process
    """Ask Linux to SIGKILL this front end when the writer process dies.

    Its calls could not be acknowledged any more, and the port must be free
    at once for a restart. The pipe closing stops it too, a moment later.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection | None  # the writer's end of its pipe (None: it writes to PostgreSQL)


class Supervisor:
    """Runs the writer here and ``config.worker_count`` front ends; see the module docstring."""

    def __init__(self, config: CollectorConfig, echo: Callable[[str], None]) -> None:
        self.config = config
        self.echo = echo
        self._ctx = multiprocessing.get_context("spawn")  # no forking a process with threads
        self._stop = threading.Event()
        self._workers: list[_Worker] = []
        self._deaths: list[float] = []

    def run(self) -> None:
        """Serve until SIGTERM/SIGINT; raises CollectorError when it cannot start."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stop.set())
        visible = ToolPolicy.from_config(self.config).visible  # before the lock: may refuse
        # SQLite: this process is the writer and takes the data dir lock.
        shared = self.config.store.kind != "sqlite"
        store = None if shared else open_configured(self.config)
        # SQLite: releases are made here, in the one writing process: once per period,
        # however many front ends answer queries from them; held ids never enter one.
        # PostgreSQL: every front end runs its own worker, and the database makes
        # each release once (collector.pg_release).
        releases = None
        if store is not None:
            releases = ReleaseWorker(store, release_params(self.config), visible=visible)
            releases.start()
        try:
            host, port = reserve_port(self.config.collector.listen)
            address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            self._front = replace(
                self.config, collector=replace(self.config.collector, listen=address)
            )
            # One limiter for every front end: SO_REUSEPORT spreads one address's
            # connections over them, so only the writer sees all of its uploads.
            # PostgreSQL has no writer: each front end limits what it sees (docs/deploy.md).
            hub = None if store is None else WriteHub(store, RateLimiter(limits_of(self.config)))
            self._peer_secret = secrets.token_bytes(32)
            listen = self.config.metrics.listen
            metrics = serve_metrics(listen) if listen else None
            if metrics is not None:
                self.echo(f"metrics: http://{metrics_address(metrics[0])}/metrics")
            try:
                starting = [self._spawn(hub, k) for k in range(self.config.worker_count)]
                for k, ready in enumerate(starting):
                    self._await_ready(k, ready)
                n = len(self._workers)
                quiet_gc()
                announce(
                    self.config, f"{describe(self.config, address)} with {n} workers", self.echo
                )
                self._watch(hub)
                self.echo("stopping: finishing in-flight calls ...")
            finally:
                self._stop_workers()
                if metrics is not None:
                    metrics[0].shutdown()
        finally:
            if releases is not None:
                releases.stop()
            if store is not None:
                store.close()
        self.echo("stopped cleanly; every acknowledged count is on disk")

    def _spawn(self, hub: WriteHub | None, k: int) -> Connection:
        """Start front end ``k``; returns the pipe on which it reports ready."""
        ours: Connection | None = None
        theirs: Connection | None = None
        if hub is not None:
            ours, theirs = self._ctx.Pipe()
        ready_r, ready_w = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=_frontend,
            args=(
                self._front,
                theirs,
                ready_w,
                logging.getLogger().getEffectiveLevel(),
                self._peer_secret,
            ),
            name=f"ratwatch-collector-worker-{k}",
        )
        proc.start()
        if theirs is not None:
            theirs.close()
        ready_w.close()
        self._workers.append(_Worker(proc, ours))
        if hub is not None and ours is not None:
            hub.attach(ours, str(k))
        return ready_r

    def _await_ready(self, k: int, ready_r: Connection) -> None:
        proc = self._workers[k].process
        if not ready_r.poll(READY_SECONDS):
            raise CollectorError(f"worker {k} did not start within {READY_SECONDS:.0f} s")
        try:
            status, detail = ready_r.recv()
        except EOFError:
            proc.join(5)
            raise CollectorError(
                f"worker {k} exited while starting (exit code {proc.exitcode})"
            ) from None
        finally:
            ready_r.close()
        if status != "ready":
            raise CollectorError(str(detail))

    def _watch(self, hub: WriteHub | None) -> None:
        """Wait for a stop signal; replace front ends that die meanwhile."""
        while not self._stop.is_set():
            sentinels: list[Any] = [w.process.sentinel for w in self._workers]
            multiprocessing.connection.wait(sentinels, timeout=0.2)
            for i, w in enumerate(list(self._workers)):
                if w.process.is_alive() or self._stop.is_set():
                    continue
                now = time.monotonic()
                self._deaths = [t for t in self._deaths if now - t < RESPAWN_WINDOW] + [now]
                log.warning("worker %d exited with code %s", i, w.process.exitcode)
                self._workers.remove(w)
                if w.conn is not None:
                    w.conn.close()
                if os.environ.get(MULTIPROC_ENV) and w.process.pid is not None:
                    from prometheus_client import multiprocess

                    multiprocess.mark_process_dead(w.process.pid)  # type: ignore[no-untyped-call]
                if len(self._deaths) > RESPAWN_LIMIT:
                    raise CollectorError(
                        f"{len(self._deaths)} workers died within {RESPAWN_WINDOW:.0f} s; "
                        "stopping (see the log above)"
                    )
                self._await_ready(len(self._workers) - 1, self._spawn(hub, i))
                log.warning("worker %d replaced", i)

    def _stop_workers(self) -> None:
        """SIGTERM every front end, give them the grace period, then kill stragglers."""
        for w in self._workers:
            if w.process.is_alive():
                w.process.terminate()
        deadline = time.monotonic() + self.config.collector.grace_seconds + 10
        for w in self._workers:
            w.process.join(max(0.1, deadline - time.monotonic()))
            if w.process.is_alive():
                log.error("worker %s did not stop in time; killing it", w.process.name)
                w.process.kill()
                w.process.join(5)
            if w.conn is not None:
                w.conn.close()


def run_supervised(config: CollectorConfig, echo: Callable[[str], None]) -> None:
    """``serve`` with ``config.worker_count`` > 1."""
    Supervisor(config, echo).run()
