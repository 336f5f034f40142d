"""The collector's Prometheus metrics, and the HTTP endpoint that serves them.

One set of metrics for either store. What they count is calls, batches,
rows and seconds: never a peer address, a token or a batch id (labels are
fixed words), so a scrape reveals nothing about any agent.

With ``serve --workers N`` every process counts for itself in
prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by
``serve`` before this module is first imported), and the supervising
process serves the sum (see ``serve_metrics``). prometheus_client's HTTP
handler logs nothing, so no scraper's address reaches a log either.
"""

from __future__ import annotations

import os
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from collector.config import split_host_port
from collector.errors import ConfigError

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

BATCHES = Counter(
    "ratwatch_collector_batches",
    "Count batches answered by Telemetry.Submit, by result (new, duplicate, empty)",
    ["result"],
)
ROWS = Counter("ratwatch_collector_rows_accepted", "Tally rows added by new batches")
REJECTED = Counter(
    "ratwatch_collector_rejected_calls",
    "Calls refused, by reason (unauthenticated, permission_denied, invalid, deadline, unavailable)",
    ["reason"],
)
RATE_LIMITED = Counter(
    "ratwatch_collector_rate_limited_calls", "Calls refused by a rate limit", ["method"]
)
CALL_SECONDS = Histogram(
    "ratwatch_collector_call_seconds",
    "Seconds from a call's arrival to its answer (accepted calls), by method",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
COMMIT_SECONDS = Histogram(
    "ratwatch_collector_commit_seconds",
    "Seconds to make one group of batches durable in the database, by store",
    ["store"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)
COMMIT_BATCHES = Histogram(
    "ratwatch_collector_commit_batches",
    "Batches per committed group, by store",
    ["store"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
)


def serve_metrics(listen: str) -> tuple[WSGIServer, threading.Thread]:
    """Serve /metrics on ``listen`` (HOST:PORT, port 0 picks one) on a daemon thread.

    In multiprocess mode the registry sums every process's files.
    """
    host, port = split_host_port(listen)
    registry = REGISTRY
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    try:
        return start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(
            f"[metrics].listen: cannot listen on {listen}: {exc.strerror} (port in use?)"
        ) from None


def address(server: WSGIServer) -> str:
    """``host:port`` the endpoint is bound to (port 0 resolved)."""
    host, port = server.server_address[:2]
    name = host.decode() if isinstance(host, bytes) else str(host)
    return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"
