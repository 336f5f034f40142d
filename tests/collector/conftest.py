"""Fixtures for the collector tests: a real server on a free loopback port, tokens, certs.

The in-process server runs its own asyncio loop on a thread, so a test can
inject the clock (validation's "today") and still talk to it over real gRPC
from the test thread or from child processes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import grp
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from ratwatch_proto import telemetry_pb2 as pb
from ratwatch_proto import telemetry_pb2_grpc as pb_grpc

from collector import releases
from collector.auth import hash_token, new_token
from collector.client import Remote, StatsClient
from collector.config import CollectorConfig, from_dict
from collector.dashboard import sample
from collector.dashboard.app import create_app
from collector.dashboard.serving import DashboardServer, Listen
from collector.known_tools import ToolPolicy
from collector.model import Dimension, Query
from collector.periods import from_date
from collector.release_policy import ReleaseParams
from collector.server import CollectorServer
from collector.sqlite_store import DB_NAME, SqliteStore

# --- a real PostgreSQL server, started by the suite itself ---------------------


def pg_bindir() -> Path | None:
    """Where initdb and pg_ctl are: pg_config's answer, else Debian's newest version dir."""
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False)
        bindir = Path(out.stdout.strip())
        if (bindir / "initdb").is_file():
            return bindir
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return versions[-1].parent if versions else None


@dataclass
class PgCluster:
    """A throwaway PostgreSQL cluster on a free loopback port, superuser ``postgres``."""

    bindir: Path
    root: Path
    port: int

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def create_database(self) -> str:
        """A new empty database; returns its DSN."""
        import psycopg

        name = f"rw_{secrets.token_hex(6)}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.dsn(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One cluster for the session: initdb + pg_ctl in a temporary dir, stopped at the end.

    initdb refuses to run as root, so as root the server runs as ``nobody``
    (in a dir under /tmp: pytest's own temp root is 0700 and root's). Under
    CI a missing PostgreSQL fails the run; elsewhere its tests are skipped.
    """
    bindir = pg_bindir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs PostgreSQL (initdb, pg_ctl): apt-get install postgresql")
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="ratwatch-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        os.chown(root, pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
        prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    data = root / "data"
    initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
    subprocess.run(
        [*prefix, *initdb, "--no-sync", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    cluster = None
    for _ in range(3):  # the free port may be taken between the probe and the start
        port = _free_port()
        opts = f"-k {root} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off"
        opts += " -c max_connections=300 -c full_page_writes=off"
        pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-w"]
        started = subprocess.run(
            [*prefix, *pg_ctl, "-l", str(root / "log"), "start"],
            capture_output=True,
            check=False,
        )
        if started.returncode == 0:
            cluster = PgCluster(bindir, root, port)
            break
    if cluster is None:
        log = (root / "log").read_text(errors="replace") if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {log[-2000:]}")
    try:
        yield cluster
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_dsn(pg_cluster: PgCluster) -> str:
    """The DSN of a fresh, empty database in the session's cluster."""
    return pg_cluster.create_database()


class Clock:
    """A settable clock (seconds since the epoch)."""

    def __init__(self, day: int) -> None:
        self.now = day * 86400.0 + 12 * 3600

    def __call__(self) -> float:
        return self.now

    @property
    def today(self) -> int:
        return int(self.now // 86400)


@dataclass
class Tokens:
    agent: str = field(default_factory=new_token)
    analyst: str = field(default_factory=new_token)

    def section(self) -> dict[str, list[str]]:
        return {"agent": [hash_token(self.agent)], "analyst": [hash_token(self.analyst)]}


def row(day: int, tool: str = "teamviewer", count: int = 1, **kw: Any) -> pb.CountRow:
    """A valid CountRow with overridable fields."""
    return pb.CountRow(
        utc_day=day,
        tool_id=tool,
        trigger=kw.get("trigger", pb.TRIGGER_UNKNOWN_CALL),
        stage=kw.get("stage", pb.STAGE_REMOTE_TOOL_STARTED),
        outcome=kw.get("outcome", pb.OUTCOME_USER_STOPPED),
        count=count,
    )


def batch(*rows: pb.CountRow, region: str = "", batch_id: bytes | None = None) -> pb.CountBatch:
    return pb.CountBatch(
        batch_id=os.urandom(16) if batch_id is None else batch_id,
        agent_version=pb.Version(major=0, minor=1, patch=0),
        catalogue_version=2026112101,
        region=region,
        rows=list(rows),
    )


class Running:
    """A collector serving on a thread; ``stop()`` is idempotent."""

    def __init__(
        self, config: CollectorConfig, clock: Clock, tokens: Tokens, store: Any = None
    ) -> None:
        self.config = config
        self.clock = clock
        self.tokens = tokens
        self.server = CollectorServer(config, clock=clock, store=store)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.address = self._call(self.server.start())
        self.port = int(self.address.rsplit(":", 1)[1])
        self._channels: list[grpc.Channel] = []

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)

    def channel(
        self, credentials: grpc.ChannelCredentials | None = None, **kw: Any
    ) -> grpc.Channel:
        opts = [("grpc.max_send_message_length", 8 * 1024 * 1024)]
        target = f"localhost:{self.port}" if credentials else self.address
        ch = (
            grpc.secure_channel(target, credentials, options=opts)
            if credentials
            else grpc.insecure_channel(target, options=opts)
        )
        self._channels.append(ch)
        return ch

    def telemetry(self, **kw: Any) -> pb_grpc.TelemetryStub:
        return pb_grpc.TelemetryStub(self.channel(**kw))

    def stats(self, **kw: Any) -> pb_grpc.StatsStub:
        return pb_grpc.StatsStub(self.channel(**kw))

    def agent_md(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.tokens.agent}"),)

    def analyst_md(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.tokens.analyst}"),)

    def submit(self, msg: pb.CountBatch) -> pb.SubmitReply:
        return self.telemetry().Submit(msg, metadata=self.agent_md(), timeout=10)

    def submit_from(self, pcs: int, *rows: pb.CountRow, region: str = "") -> None:
        """``pcs`` PCs each send one batch of ``rows`` (a row counts 1: many PCs make a sum)."""
        for _ in range(pcs):
            self.submit(batch(*rows, region=region))

    def query(self, *group_by: pb.Dimension.ValueType, **kw: Any) -> pb.StatsReply:
        q = pb.StatsQuery(group_by=list(group_by) or [pb.DIMENSION_TOOL], **kw)
        return self.stats().Query(q, metadata=self.analyst_md(), timeout=10)

    def raw_counts(self, *group_by: Dimension, **kw: Any) -> dict[str, int]:
        """The operator's view (raw tallies by the first dimension), from the server's own store.

        The Stats API serves releases only; tests of ingest check what was
        stored the way an operator would, on the collector's side.
        """
        query = Query(group_by=group_by or (Dimension.TOOL,), **kw)
        out: dict[str, int] = {}
        for cell in self.server.store.query(query):
            out[str(cell.key[0])] = out.get(str(cell.key[0]), 0) + cell.count
        return out

    def stop(self) -> None:
        if self._loop.is_closed():
            return
        for ch in self._channels:
            ch.close()
        self._call(self.server.stop(1.0))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def clock() -> Clock:
    """Today = 2026-11-21, noon UTC."""
    return Clock(from_date(dt.date(2026, 11, 21)))


@pytest.fixture
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture
def start_collector(
    tmp_path: Path, clock: Clock, tokens: Tokens
) -> Iterator[Callable[..., Running]]:
    """Start a collector with extra config sections merged over the defaults."""
    started: list[Running] = []

    def start(store: Any = None, **sections: dict[str, Any]) -> Running:
        data: dict[str, Any] = {
            "collector": {
                "listen": "127.0.0.1:0",
                "data_dir": str(tmp_path / f"data{len(started)}"),
                "grace_seconds": 2.0,
            },
            "tokens": tokens.section(),
        }
        for name, values in sections.items():
            data.setdefault(name, {}).update(values)
        running = Running(from_dict(data), clock, tokens, store)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def collector(start_collector: Callable[..., Running]) -> Running:
    """A running collector with default settings (min_cell_count 5)."""
    return start_collector()


@dataclass
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A throwaway CA, a server cert for localhost/127.0.0.1, and a client cert."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    out = tmp_path_factory.mktemp("certs")
    now = dt.datetime.now(dt.timezone.utc)

    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def write_key(k: ec.EllipticCurvePrivateKey, name: str) -> Path:
        p = out / name
        p.write_bytes(
            k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return p

    def write_cert(c: x509.Certificate, name: str) -> Path:
        p = out / name
        p.write_bytes(c.public_bytes(serialization.Encoding.PEM))
        return p

    def make_ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        k = key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(k, hashes.SHA256())
        )
        return cert, k

    def leaf(
        ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, cn: str, server: bool
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        k = key()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(ca.subject)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return builder.sign(ca_key, hashes.SHA256()), k

    ca, ca_key = make_ca("ratwatch test CA")
    other, _ = make_ca("unrelated CA")
    server, server_key = leaf(ca, ca_key, "localhost", server=True)
    client, client_key = leaf(ca, ca_key, "analyst-1", server=False)
    return Certs(
        ca=write_cert(ca, "ca.pem"),
        server_cert=write_cert(server, "server.pem"),
        server_key=write_key(server_key, "server.key"),
        client_cert=write_cert(client, "client.pem"),
        client_key=write_key(client_key, "client.key"),
        other_ca=write_cert(other, "other-ca.pem"),
    )


@pytest.fixture
def wire() -> Any:
    """Builders for wire messages: ``wire.row(day, tool, count, ...)``, ``wire.batch(*rows)``."""

    class Wire:
        pass

    w = Wire()
    w.row = row  # type: ignore[attr-defined]
    w.batch = batch  # type: ignore[attr-defined]
    return w


# --- the analysts' dashboard over a seeded collector ---------------------------

SEED_FIRST = dt.date(2025, 7, 1)  # from the quarter a year before DASHBOARD_PERIOD
SEED_LAST = dt.date(2026, 11, 20)
# Analysts see releases only, and with one PC-day's bound of ROWS_PER_DAY rows
# a cell needs about 1,100 counts to be released (release_policy); only a
# quarter's release has regions. So the dashboard is shown a closed quarter
# of a national-sized sample (800 journeys a day): its largest cells pass the
# threshold in every chart, the tail is suppressed, as it would be in real life.
DASHBOARD_PERIOD = "2026-Q3"
DASHBOARD_FIRST, DASHBOARD_LAST = dt.date(2026, 7, 1), dt.date(2026, 9, 30)
SEED_PER_DAY = 800


@dataclass
class Dashboard:
    url: str
    collector: Running
    app: Any  # the Flask app (its test_client for tests without a browser)
    server: DashboardServer
    client: StatsClient
    thread: threading.Thread

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(10)
        self.client.close()


@pytest.fixture(scope="session")
def seeded_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with 17 months of sample counts and every release due on 2026-11-21.

    Seeded and released once per session (about 400,000 counts); each
    dashboard test gets its own copy of the database.
    """
    data = tmp_path_factory.mktemp("dashboard-seed")
    today = Clock(from_date(dt.date(2026, 11, 21)))
    store = SqliteStore(data, clock=today)
    try:
        sample.seed(store, SEED_FIRST, SEED_LAST, per_day=SEED_PER_DAY)
        visible = ToolPolicy.from_config(CollectorConfig()).visible
        releases.make_due(store, ReleaseParams(), today, visible=visible)
    finally:
        store.close()  # checkpoints the WAL: the database is one file
    return data


@pytest.fixture
def dashboard(
    tmp_path: Path, clock: Clock, start_collector: Callable[..., Running], seeded_data: Path
) -> Iterator[Dashboard]:
    """A collector over the seeded counts and their releases, and a dashboard (plain HTTP)."""
    data = tmp_path / "data0"
    data.mkdir()
    shutil.copy(seeded_data / DB_NAME, data / DB_NAME)
    store = SqliteStore(data, clock=clock)
    collector = start_collector(store=store)
    client = StatsClient(Remote(collector.address, ""))
    where = Listen("127.0.0.1:0")
    app = create_app(client, secure_cookies=where.tls)
    server = DashboardServer(app, where)
    url = server.start()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    dash = Dashboard(url, collector, app, server, client, thread)
    try:
        yield dash
    finally:
        dash.stop()
