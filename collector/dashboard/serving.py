"""Serving the dashboard: cheroot (a threaded WSGI server) with TLS like the collector's.

The same rule as ``serve``: a non-loopback address needs TLS (a certificate
and key), or an explicit ``allow_insecure_remote`` for a TLS-terminating
proxy in front. cheroot writes no access log, so no request line (and no
address of an analyst) is recorded.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from collector.config import is_loopback, split_host_port
from collector.errors import ConfigError

DEFAULT_LISTEN = "127.0.0.1:8050"


@dataclass(frozen=True)
class Listen:
    """Where and how the dashboard listens."""

    address: str = DEFAULT_LISTEN
    cert_file: Path | None = None
    key_file: Path | None = None
    allow_insecure_remote: bool = False

    @property
    def tls(self) -> bool:
        """True when serving HTTPS."""
        return self.cert_file is not None


def check(listen: Listen) -> tuple[str, int]:
    """Host and port, or ConfigError naming the option that is missing."""
    try:
        host, port = split_host_port(listen.address)
    except ValueError as exc:
        raise ConfigError(f"--listen: {exc}") from None
    if (listen.cert_file is None) != (listen.key_file is None):
        raise ConfigError("--cert-file and --key-file must be given together")
    for path in (listen.cert_file, listen.key_file):
        if path is not None and not path.is_file():
            raise ConfigError(f"{path}: no such file")
    if not listen.tls and not is_loopback(host) and not listen.allow_insecure_remote:
        raise ConfigError(
            f"--listen {listen.address}: not a loopback address and TLS is off; give "
            "--cert-file and --key-file, or --allow-insecure-remote (only behind a TLS proxy)"
        )
    return host, port


class DashboardServer:
    """The app on a cheroot server; ``start`` binds, ``serve`` blocks until ``stop``."""

    def __init__(self, app: wsgi.WSGIApp, listen: Listen) -> None:  # type: ignore[name-defined]
        host, port = check(listen)
        self.listen = listen
        self._server = wsgi.Server((host, port), app, numthreads=8, server_name="ratwatch")
        if listen.tls:
            assert listen.cert_file is not None and listen.key_file is not None
            self._server.ssl_adapter = BuiltinSSLAdapter(
                str(listen.cert_file), str(listen.key_file)
            )

    def start(self) -> str:
        """Bind and get ready; returns the base URL."""
        self._server.prepare()
        host, port = self._server.bind_addr[:2]
        shown = f"[{host}]" if ":" in str(host) else str(host)
        return f"{'https' if self.listen.tls else 'http'}://{shown}:{port}/"

    def serve(self) -> None:
        """Serve requests until ``stop``."""
        self._server.serve()

    def stop(self) -> None:
        """Stop accepting and finish the worker threads."""
        self._server.stop()


def serve_until_signal(server: DashboardServer, echo: Callable[[str], None]) -> None:
    """Serve in this thread until SIGTERM/SIGINT."""
    stopping = threading.Event()

    def stop(_signum: int, _frame: object) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.stop, daemon=True).start()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    server.serve()
    echo("dashboard stopped")
