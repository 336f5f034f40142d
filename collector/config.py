"""The collector's configuration: frozen dataclasses loaded from one TOML file.

Every key is documented in the collector table of docs/configuration.md (a
test checks that the table names every field here). Unknown sections or keys
are errors, so a typo never silently falls back to a default: types, keys and
the file itself are checked by ratwatch_config, the loader the agent shares;
the value rules that types cannot express are here. Tokens are kept
only as hashes (see collector.auth), so the file may be read by operators
without revealing a usable token.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
from ratwatch_proto.limits import MAX_BATCH_ROWS, SLUG

from collector.errors import ConfigError
from collector.release_policy import ReleaseParams
from ratwatch_config.errors import ConfigInvalid
from ratwatch_config.loader import LOG_LEVELS, build, read_toml, sections

DEFAULT_PORT = 50051
MAX_WORKERS = 64
MAX_DELAY_DAYS = 35  # the oldest rows validation accepts
# Used with fullmatch: "$" would also accept a trailing newline.
TOKEN_HASH = re.compile(r"sha256:[0-9a-f]{64}")


def default_data_dir() -> Path:
    """The per-user data directory where the SQLite database lives."""
    return Path(platformdirs.user_data_dir("ratwatch-collector", appauthor=False))


def default_config_path() -> Path:
    """Where ``serve`` and ``token add`` look for the config when no --config is given."""
    return Path(platformdirs.user_config_dir("ratwatch", appauthor=False)) / "collector.toml"


@dataclass(frozen=True)
class CollectorSection:
    """[collector] where it listens, where it stores, and its limits."""

    listen: str = f"127.0.0.1:{DEFAULT_PORT}"
    data_dir: str = ""  # empty = platform default (default_data_dir())
    min_cell_count: int = 5
    max_concurrent_rpcs: int = 256
    grace_seconds: float = 10.0
    workers: int = 0  # front-end processes; 0 = one per CPU where the OS can share a port
    allow_insecure_remote: bool = False
    log_level: str = "INFO"
    reflection: bool = True  # gRPC server reflection (grpcurl list); off hides the method table
    client_error_log_seconds: float = 60.0  # a client's bad call is logged at most once per this


@dataclass(frozen=True)
class TlsSection:
    """[tls] server certificate and, optionally, the CA that client certificates must chain to."""

    cert_file: str = ""
    key_file: str = ""
    client_ca_file: str = ""  # set = every client must present a certificate from this CA


STORE_KINDS = ("sqlite", "postgresql")
MAX_POOL_SIZE = 100


@dataclass(frozen=True)
class StoreSection:
    """[store] which engine keeps the tallies: embedded SQLite, or a shared PostgreSQL."""

    kind: str = "sqlite"  # one of STORE_KINDS
    dsn: str = ""  # libpq connection string or URI; postgresql only
    pool_size: int = 4  # connections per collector process; postgresql only


@dataclass(frozen=True)
class MetricsSection:
    """[metrics] where the Prometheus endpoint listens; empty = no endpoint."""

    listen: str = ""


@dataclass(frozen=True)
class TokensSection:
    """[tokens] SHA-256 hashes of the accepted tokens, one list per role."""

    agent: tuple[str, ...] = ()
    analyst: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReleasesSection:
    """[releases] the privacy budget and timing of the published releases (collector.releases)."""

    epsilon: float = 1.0  # per release and per PC-day it covers
    delta: float = 1e-6
    delay_days: int = 2  # a period is released this many days after its last day


@dataclass(frozen=True)
class CatalogueSection:
    """[catalogue] which tool ids count: the bundled catalogue, plus a LOLRMM snapshot if set."""

    lolrmm_dir: str = ""  # a LOLRMM checkout (its yaml/ folder), read at start; never copied


@dataclass(frozen=True)
class ToolsSection:
    """[tools] the operator's decisions on ids the catalogue does not know (`tools allow|deny`)."""

    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()


@dataclass(frozen=True)
class LimitsSection:
    """[limits] rate limits per deployment token and per peer address (memory only)."""

    peer_rows_per_hour: float = 360.0
    peer_burst_rows: int = 300  # two PCs back from a month offline: 2 x MAX_BATCH_ROWS (145)
    token_rows_per_hour: float = 360_000.0
    token_burst_rows: int = 100_000


@dataclass(frozen=True)
class CollectorConfig:
    """The whole collector configuration."""

    collector: CollectorSection = field(default_factory=CollectorSection)
    tls: TlsSection = field(default_factory=TlsSection)
    store: StoreSection = field(default_factory=StoreSection)
    metrics: MetricsSection = field(default_factory=MetricsSection)
    tokens: TokensSection = field(default_factory=TokensSection)
    releases: ReleasesSection = field(default_factory=ReleasesSection)
    catalogue: CatalogueSection = field(default_factory=CatalogueSection)
    tools: ToolsSection = field(default_factory=ToolsSection)
    limits: LimitsSection = field(default_factory=LimitsSection)
    source: str = ""  # the file it was loaded from (not a TOML key)

    @property
    def data_dir(self) -> Path:
        """The resolved data directory."""
        d = self.collector.data_dir
        return Path(d).expanduser() if d else default_data_dir()

    @property
    def worker_count(self) -> int:
        """How many front-end processes ``serve`` runs (``workers`` with 0 resolved)."""
        if self.collector.workers:
            return self.collector.workers
        if not sys.platform.startswith("linux"):
            return 1
        return max(1, min(len(os.sched_getaffinity(0)), 8))

    @property
    def tls_enabled(self) -> bool:
        """True when the server listens with TLS."""
        return bool(self.tls.cert_file)


SECTIONS = sections(CollectorConfig)


def release_params(config: CollectorConfig) -> ReleaseParams:
    """The [releases] section as collector.releases takes it."""
    r = config.releases
    return ReleaseParams(epsilon=r.epsilon, delta=r.delta, delay_days=r.delay_days)


def split_host_port(address: str) -> tuple[str, int]:
    """Split ``host:port`` / ``[v6]:port``; raises ValueError with what is valid."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise ValueError(f"expected HOST:PORT like 127.0.0.1:{DEFAULT_PORT}, got {address!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def from_dict(data: dict[str, Any], source: str = "<dict>") -> CollectorConfig:
    """Build a config from parsed TOML; raises ConfigError naming source and key."""
    try:
        config = build(CollectorConfig, data, source)
    except ConfigInvalid as exc:
        raise ConfigError(str(exc)) from exc
    check(config)
    return config


def check(config: CollectorConfig, origin: str = "") -> None:  # noqa: PLR0912 - one branch per rule
    """Value checks that types alone cannot express (also run after CLI overrides).

    ``origin`` names where the values came from in error messages; by default
    the config file (or ``<defaults>`` when there is none).
    """
    src = origin or config.source or "<defaults>"
    c = config.collector
    try:
        host, _port = split_host_port(c.listen)
    except ValueError as exc:
        raise ConfigError(f"{src}: [collector].listen: {exc}") from None
    if c.min_cell_count < 1:
        raise ConfigError(f"{src}: [collector].min_cell_count must be >= 1, got {c.min_cell_count}")
    if not 1 <= c.max_concurrent_rpcs <= 100_000:
        raise ConfigError(
            f"{src}: [collector].max_concurrent_rpcs must be in 1..100000, "
            f"got {c.max_concurrent_rpcs}"
        )
    if not 0 <= c.grace_seconds <= 3600:
        raise ConfigError(
            f"{src}: [collector].grace_seconds must be in 0..3600, got {c.grace_seconds}"
        )
    if not 0 <= c.workers <= MAX_WORKERS:
        raise ConfigError(
            f"{src}: [collector].workers must be in 0..{MAX_WORKERS} (0 = one per CPU), "
            f"got {c.workers}"
        )
    if c.workers > 1 and not sys.platform.startswith("linux"):
        raise ConfigError(
            f"{src}: [collector].workers = {c.workers}: several workers need Linux "
            "(SO_REUSEPORT spreads connections only there); use 1"
        )
    if c.log_level.upper() not in LOG_LEVELS:
        raise ConfigError(
            f"{src}: [collector].log_level must be {', '.join(LOG_LEVELS)} (any case), "
            f"got {c.log_level!r}"
        )
    r = config.releases
    if not 0.01 <= r.epsilon <= 10:
        raise ConfigError(f"{src}: [releases].epsilon must be in 0.01..10, got {r.epsilon}")
    if not 0 < r.delta <= 1e-3:
        raise ConfigError(f"{src}: [releases].delta must be in (0, 0.001], got {r.delta}")
    if not 0 <= r.delay_days <= MAX_DELAY_DAYS:
        raise ConfigError(
            f"{src}: [releases].delay_days must be in 0..{MAX_DELAY_DAYS}, got {r.delay_days}"
        )
    t = config.tls
    if bool(t.cert_file) != bool(t.key_file):
        raise ConfigError(f"{src}: [tls].cert_file and [tls].key_file must be set together")
    if t.client_ca_file and not t.cert_file:
        raise ConfigError(f"{src}: [tls].client_ca_file needs [tls].cert_file and key_file")
    if not config.tls_enabled and not is_loopback(host) and not c.allow_insecure_remote:
        raise ConfigError(
            f"{src}: [collector].listen {c.listen!r} is not a loopback address and TLS is off; "
            "set [tls].cert_file/key_file, or [collector].allow_insecure_remote = true "
            "(only behind a TLS-terminating proxy)"
        )
    _check_store(config.store, src)
    _check_metrics(config.metrics, src)
    for key in ("allow", "deny"):
        for i, tool_id in enumerate(getattr(config.tools, key)):
            if not SLUG.fullmatch(tool_id):
                raise ConfigError(
                    f"{src}: [tools].{key}[{i}]: {tool_id!r} is not a tool id; "
                    f"valid: {SLUG.pattern}"
                )
    both = sorted(set(config.tools.allow) & set(config.tools.deny))
    if both:
        raise ConfigError(f"{src}: [tools]: {both[0]!r} is both allowed and denied")
    lim = config.limits
    for key in ("peer_rows_per_hour", "peer_burst_rows", "token_rows_per_hour", "token_burst_rows"):
        if getattr(lim, key) <= 0:
            raise ConfigError(f"{src}: [limits].{key} must be > 0, got {getattr(lim, key)}")
    if min(lim.peer_burst_rows, lim.token_burst_rows) < MAX_BATCH_ROWS:
        raise ConfigError(
            f"{src}: [limits].peer_burst_rows and token_burst_rows must be >= {MAX_BATCH_ROWS} "
            "(the largest batch an honest agent sends), or that batch is refused for ever"
        )
    if not 1 <= c.client_error_log_seconds <= 86400:
        raise ConfigError(
            f"{src}: [collector].client_error_log_seconds must be in 1..86400, "
            f"got {c.client_error_log_seconds}"
        )
    for role in ("agent", "analyst"):
        for i, h in enumerate(getattr(config.tokens, role)):
            if not TOKEN_HASH.fullmatch(h):
                raise ConfigError(
                    f"{src}: [tokens].{role}[{i}] must be 'sha256:' and 64 lowercase hex "
                    "digits (create tokens with `ratwatch-collector token add`)"
                )


def _check_metrics(m: MetricsSection, src: str) -> None:
    """[metrics]: an empty listen address (no endpoint) or a HOST:PORT."""
    if m.listen:
        try:
            split_host_port(m.listen)
        except ValueError as exc:
            raise ConfigError(f"{src}: [metrics].listen: {exc}") from None


def _check_store(s: StoreSection, src: str) -> None:
    """[store]: a known kind, and a DSN exactly when the kind needs one."""
    if s.kind not in STORE_KINDS:
        raise ConfigError(
            f"{src}: [store].kind must be one of {', '.join(STORE_KINDS)}, got {s.kind!r}"
        )
    if not 1 <= s.pool_size <= MAX_POOL_SIZE:
        raise ConfigError(
            f"{src}: [store].pool_size must be in 1..{MAX_POOL_SIZE}, got {s.pool_size}"
        )
    if s.kind == "sqlite":
        if s.dsn:
            raise ConfigError(
                f'{src}: [store].dsn is for kind = "postgresql"; SQLite lives in '
                "[collector].data_dir"
            )
        return
    if not s.dsn:
        raise ConfigError(
            f'{src}: [store].kind = "postgresql" needs [store].dsn, e.g. '
            '"host=db.example dbname=ratwatch user=collector"'
        )
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(s.dsn)
    except psycopg.ProgrammingError:
        # libpq's message may quote a fragment of the string, a password's included.
        raise ConfigError(
            f"{src}: [store].dsn is not a libpq connection string (key=value ...) "
            "or a postgresql:// URI"
        ) from None


def with_overrides(
    config: CollectorConfig,
    *,
    listen: str | None = None,
    data_dir: str | None = None,
    workers: int | None = None,
) -> CollectorConfig:
    """Apply command-line overrides and re-check the result."""
    changes: dict[str, Any] = {}
    if workers is not None:
        changes["workers"] = workers
    if listen is not None:
        changes["listen"] = listen
    if data_dir is not None:
        changes["data_dir"] = data_dir
    if not changes:
        return config
    new = dataclasses.replace(config, collector=dataclasses.replace(config.collector, **changes))
    # A bad value may now come from the command line: say so, not "<defaults>".
    check(new, origin=f"{config.source or '<defaults>'} with command-line options")
    return new


def load(path: str | Path | None) -> CollectorConfig:
    """Load the config file at ``path``; ``None`` reads the default path if it exists."""
    if path is None:
        default = default_config_path()
        if not default.is_file():
            config = CollectorConfig()
            check(config)
            return config
        path = default
    try:
        data = read_toml(Path(path))
    except ConfigInvalid as exc:
        raise ConfigError(str(exc)) from exc
    return from_dict(data, source=str(path))
