"""The running collector: an asyncio gRPC server around the store, and its clean stop.

grpc.aio serves every call on one event loop thread, which in Python is
markedly faster per call than the thread-pool server; the only blocking
work, SQLite, happens in the store's own writer thread (ingest) and in the
default executor (queries).

Stop order on SIGTERM/SIGINT: health turns NOT_SERVING, the server stops
accepting and gives in-flight calls ``grace_seconds``, then the store
commits whatever is still queued and closes. A call cut off by the grace
period was not acknowledged, so its agent retries; if its batch was
committed anyway the retry is acknowledged as a duplicate. No acknowledged
count can be lost because acknowledgements are only sent after commit.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer  # the asyncio servicer (health.aio)
from grpc_reflection.v1alpha import reflection

from collector.auth import TokenCheck
from collector.config import CollectorConfig, is_loopback, release_params, split_host_port
from collector.errors import ConfigError
from collector.known_tools import ToolPolicy
from collector.ratelimit import PeerKeys, RateLimiter, limits_of
from collector.releases import ReleaseWorker
from collector.service import STATS, TELEMETRY, Access, StatsService, TelemetryService
from collector.store import Store, describe_configured, open_configured
from collector.validate import BatchValidator

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 1024 * 1024  # larger requests get RESOURCE_EXHAUSTED from grpc itself
MAX_REPLY_BYTES = 64 * 1024 * 1024  # a day-by-tool table over years can exceed 4 MiB
T = TypeVar("T")
SWITCH_INTERVAL = 0.001  # seconds; see CollectorServer.start
MAX_PENDING_CALLS = 100_000  # calls gRPC core may hold for the loop before it cancels any


def _read(path: str, key: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise ConfigError(f"[tls].{key}: cannot read {path}: {exc.strerror}") from exc


def server_credentials(config: CollectorConfig) -> grpc.ServerCredentials | None:
    """TLS credentials from [tls], or None for plaintext."""
    t = config.tls
    if not t.cert_file:
        return None
    client_ca = _read(t.client_ca_file, "client_ca_file") if t.client_ca_file else None
    return grpc.ssl_server_credentials(
        [(_read(t.key_file, "key_file"), _read(t.cert_file, "cert_file"))],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


class CollectorServer:
    """One collector: store, servicers, health, reflection, on one listening port."""

    def __init__(
        self,
        config: CollectorConfig,
        *,
        clock: Callable[[], float] = time.time,
        store: Store | None = None,
        share_port: bool = False,
        peer_secret: bytes | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._store = store
        self._share_port = share_port
        self._peer_secret = peer_secret  # shared by a collector's front ends (collector.supervisor)
        self._server: grpc.aio.Server | None = None
        self._health = HealthServicer()
        self.address = ""
        self.releases: ReleaseWorker | None = None  # only where this process writes the store

    @property
    def store(self) -> Store:
        """The open store (after ``start``)."""
        assert self._store is not None, "start() first"
        return self._store

    async def start(self) -> str:
        """Open the store, bind, start serving; returns the bound ``host:port``."""
        # The store's writer thread gives up the GIL for every SQLite call and
        # must win it back from this busy event loop; with the default 5 ms
        # switch interval each of those hand-backs can stall a group commit
        # for milliseconds. 1 ms keeps commits prompt at negligible cost. A
        # front end handed a store (its writer is another process) has no
        # such thread, and keeps the default: fewer forced switches.
        c = self.config.collector
        credentials = server_credentials(self.config)
        self._visible = ToolPolicy.from_config(self.config).visible
        if self._store is None:
            if self.config.store.kind == "sqlite":
                sys.setswitchinterval(SWITCH_INTERVAL)
            self._store = open_configured(self.config, clock=self._clock)
            self.releases = ReleaseWorker(
                self._store, release_params(self.config), self._clock, visible=self._visible
            )
        tokens = TokenCheck(self.config.tokens.agent, self.config.tokens.analyst)
        access = Access(tokens)
        server = grpc.aio.server(
            maximum_concurrent_rpcs=c.max_concurrent_rpcs,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_REPLY_BYTES),
                # A second collector on the same port must fail, not share it;
                # only the front ends of one collector share theirs (see
                # collector.supervisor, which checks the port is free first).
                ("grpc.so_reuseport", 1 if self._share_port else 0),
                # gRPC core cancels calls (bare CANCELLED, no detail) once more than
                # 1,000 wait to be picked up by the loop, all of them past 3,000: seen
                # as 20-27 % CANCELLED at ~2,000 calls in flight. Past the backlog
                # below, maximum_concurrent_rpcs answers RESOURCE_EXHAUSTED as
                # documented; a waiting call costs core a few KiB.
                ("grpc.server.max_pending_requests", MAX_PENDING_CALLS),
                ("grpc.server.max_pending_requests_hard_limit", MAX_PENDING_CALLS),
            ],
        )
        server.add_generic_rpc_handlers(
            [
                TelemetryService(
                    self._store,
                    access,
                    BatchValidator(self._clock),
                    RateLimiter(limits_of(self.config)),
                    PeerKeys(self._peer_secret),
                ).handler(),
                StatsService(self._store, access, self._visible).handler(),
            ]
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            (TELEMETRY, STATS, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        host, _ = split_host_port(c.listen)
        try:
            if credentials is None:
                port = server.add_insecure_port(c.listen)
            else:
                port = server.add_secure_port(c.listen, credentials)
        except RuntimeError as exc:
            self._store.close()
            self.releases = None
            raise ConfigError(f"cannot listen on {c.listen}: {exc} (port in use?)") from exc
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        await server.start()
        for name in ("", TELEMETRY, STATS):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        if self.releases is not None:
            self.releases.start()
        return self.address

    def describe(self) -> str:
        """One line on how the server listens, for the operator."""
        return describe(self.config, self.address)

    async def stop(self, grace: float | None = None) -> None:
        """Stop accepting, let in-flight calls finish within ``grace``, close the store."""
        if self._server is not None:
            await self._health.enter_graceful_shutdown()
            await self._server.stop(self.config.collector.grace_seconds if grace is None else grace)
            self._server = None
        if self.releases is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.releases.stop)
        if self._store is not None:
            # close() joins the writer after its last commit: run it off the loop.
            await asyncio.get_running_loop().run_in_executor(None, self._store.close)


def describe(config: CollectorConfig, address: str) -> str:
    """``listening on ADDRESS (mode)``: one line on how a collector listens."""
    host, _ = split_host_port(config.collector.listen)
    if config.tls_enabled:
        mode = "TLS, client certificates required" if config.tls.client_ca_file else "TLS"
    elif is_loopback(host):
        mode = "plaintext, loopback only"
    else:
        mode = "PLAINTEXT on a non-loopback address (allow_insecure_remote)"
    return f"listening on {address} ({mode})"


def announce(config: CollectorConfig, line: str, echo: Callable[[str], None]) -> None:
    """What ``serve`` prints once it is up: where it listens, its data dir, how to stop."""
    echo(f"ratwatch collector {line}")
    echo(describe_configured(config))
    if not config.tokens.agent:
        echo(
            "note: no agent token configured yet, so every upload is refused; "
            "create one with `ratwatch-collector token add --role agent"
            + (f" --config {config.source}`" if config.source else "`")
            + " and restart"
        )
    echo("press Ctrl-C to stop")


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop where it is installed (a cheaper loop per call), else asyncio."""
    try:
        import uvloop
    except ImportError:  # Windows, or not installed: the standard loop works the same
        return asyncio.run(main)
    return uvloop.run(main)


def quiet_gc() -> None:
    """Tune the cycle collector for a busy server; call once started.

    Every call allocates dozens of short-lived objects (tasks, futures,
    rows) that reference counting frees; with the default threshold of 700
    the cycle collector still ran hundreds of times a second, and now and
    then re-walked every object the process had imported (about 3 % of a
    front end's CPU under load). Freezing moves what start-up built out of
    its sight for good; the higher threshold lets it run less often. Cycles
    are still collected.
    """
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def on_stop_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, AttributeError):  # Windows: no loop signal handlers
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))


async def run_until_signal(config: CollectorConfig, echo: Callable[[str], None]) -> None:
    """Serve until SIGTERM/SIGINT, then stop cleanly."""
    server = CollectorServer(config)
    await server.start()
    endpoint = None
    if config.metrics.listen:
        from collector import metrics

        try:
            endpoint = metrics.serve_metrics(config.metrics.listen)
        except ConfigError:
            await server.stop(0)
            raise
        echo(f"metrics: http://{metrics.address(endpoint[0])}/metrics")
    quiet_gc()
    announce(config, server.describe(), echo)
    stop = asyncio.Event()
    on_stop_signals(asyncio.get_running_loop(), stop)
    await stop.wait()
    echo("stopping: finishing in-flight calls ...")
    await server.stop()
    if endpoint is not None:
        endpoint[0].shutdown()
    echo("stopped cleanly; every acknowledged count is on disk")
