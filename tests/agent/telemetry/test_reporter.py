"""The reporter against a real gRPC server on a free loopback port.

The server here implements the Telemetry servicer from ratwatch_proto with
the collector's documented semantics (dedupe by batch id, all-or-nothing
validation), plus switches to misbehave: so the reporter's retry, lost
acknowledgement, refusal, deadline and TLS paths are exercised on the wire.
The end-to-end tests run the same journeys against the real collector.
"""

from __future__ import annotations

import datetime
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field, replace
from pathlib import Path

import grpc
import pytest
from ratwatch_proto import telemetry_pb2 as pb
from ratwatch_proto import telemetry_pb2_grpc as pb_grpc
from ratwatch_proto.limits import DROPPED_TOOL_ID, ROWS_PER_DAY

from agent.config import TelemetrySection
from agent.telemetry.counts import utc_day
from agent.telemetry.outbox import OUTBOX_FILE, Outbox
from agent.telemetry.reporter import Reporter, to_proto
from agent.verdict import Level, Outcome, Resolution, Stage, Trigger, Verdict

TOKEN = "agent-token-for-tests"


@dataclass
class Behaviour:
    """How the test server misbehaves."""

    unavailable: int = 0  # refuse this many calls before the store sees them
    lose_acks: int = 0  # store the batch, then fail this many replies
    refuse_tool: str = ""  # INVALID_ARGUMENT for any batch containing this tool id
    sleep: float = 0.0  # hold each call this long (deadline tests)


@dataclass
class Collected:
    """What the test server received and stored."""

    calls: list[pb.CountBatch] = field(default_factory=list)
    metadata: list[dict[str, str | bytes]] = field(default_factory=list)
    seen: set[bytes] = field(default_factory=set)
    tally: Counter[tuple[int, str, int, int, int]] = field(default_factory=Counter)


class Servicer(pb_grpc.TelemetryServicer):
    def __init__(self) -> None:
        self.behaviour = Behaviour()
        self.got = Collected()
        self.lock = threading.Lock()

    def Submit(self, request: pb.CountBatch, context: grpc.ServicerContext) -> pb.SubmitReply:
        with self.lock:
            self.got.calls.append(request)
            self.got.metadata.append(dict(context.invocation_metadata()))
            b = self.behaviour
            if b.sleep:
                time.sleep(b.sleep)
            if b.unavailable:
                b.unavailable -= 1
                context.abort(grpc.StatusCode.UNAVAILABLE, "maintenance")
            if dict(context.invocation_metadata()).get("authorization") != f"Bearer {TOKEN}":
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "no token")
            if len(request.batch_id) != 16:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "batch_id")
            for i, row in enumerate(request.rows):
                if row.tool_id == b.refuse_tool:
                    context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"rows[{i}].tool_id: SECRET-DETAIL-{row.tool_id} unknown",
                    )
            duplicate = request.batch_id in self.got.seen
            if not duplicate:
                self.got.seen.add(request.batch_id)
                for row in request.rows:
                    key = (row.utc_day, row.tool_id, row.trigger, row.stage, row.outcome)
                    self.got.tally[key] += row.count
            if b.lose_acks:
                b.lose_acks -= 1
                context.abort(grpc.StatusCode.UNAVAILABLE, "connection reset")
            return pb.SubmitReply(duplicate=duplicate, rows_accepted=len(request.rows))

    def total(self, tool: str | None = None) -> int:
        return sum(n for k, n in self.got.tally.items() if tool is None or k[1] == tool)


@dataclass
class Server:
    servicer: Servicer
    port: int
    grpc_server: grpc.Server


def _serve(
    servicer: Servicer, port: int = 0, creds: grpc.ServerCredentials | None = None
) -> Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_TelemetryServicer_to_server(servicer, server)
    if creds is None:
        bound = server.add_insecure_port(f"127.0.0.1:{port}")
    else:
        bound = server.add_secure_port(f"127.0.0.1:{port}", creds)
    server.start()
    return Server(servicer, bound, server)


@pytest.fixture
def server() -> Iterator[Server]:
    s = _serve(Servicer())
    yield s
    s.grpc_server.stop(None)


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


def settings(port: int, **kw: object) -> TelemetrySection:
    base = TelemetrySection(
        collector=f"127.0.0.1:{port}",
        token=TOKEN,
        region="NL",
        upload_interval_hours=24.0,
        jitter_minutes=30.0,
        deadline_seconds=5.0,
        retry_initial_seconds=60.0,
        max_backoff_minutes=360.0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def resolution(tool: str, at: float, trigger: Trigger = Trigger.UNKNOWN_CALL) -> Resolution:
    v = Verdict("x", at, Level.WARN, tool, tool, trigger, Stage.REMOTE_TOOL_STARTED, 1.0, ())
    return Resolution(v, Outcome.USER_STOPPED, at)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(tmp_path: Path, clock: Clock) -> Iterator[Outbox]:
    box = Outbox(tmp_path / OUTBOX_FILE, clock=clock)
    yield box
    box.close()


def make_reporter(outbox: Outbox, s: TelemetrySection, clock: Clock, **kw: object) -> Reporter:
    return Reporter(
        outbox,
        s,
        clock=clock,
        rng=random.Random(1),
        catalogue_version=lambda: 2026112101,
        agent_version="1.2.3",
        **kw,  # type: ignore[arg-type]
    )


def run_until_idle(reporter: Reporter, clock: Clock, limit: int = 50) -> None:
    """Advance the injected clock to each due time and step, until nothing is pending."""
    for _ in range(limit):
        clock.t = max(clock.t, reporter.due_at)
        reporter.step()
        stats = reporter.outbox.stats()
        if not stats.pending_rows and not stats.in_flight_batches:
            return
    raise AssertionError("reporter did not drain the outbox")


def test_an_empty_batch_goes_out_on_schedule_with_token_and_versions(
    server: Server, outbox: Outbox, clock: Clock
) -> None:
    reporter = make_reporter(outbox, settings(server.port), clock)
    # Nothing before the slot.
    assert reporter.step() > 0 and server.servicer.got.calls == []
    assert reporter.due_at - clock.t <= 24 * 3600 + 30 * 60
    clock.t = reporter.due_at
    reporter.step()
    (call,) = server.servicer.got.calls
    assert len(call.batch_id) == 16 and list(call.rows) == []
    assert (call.agent_version.major, call.agent_version.minor, call.agent_version.patch) == (
        1,
        2,
        3,
    )
    assert call.catalogue_version == 2026112101 and call.region == "NL"
    assert server.servicer.got.metadata[0]["authorization"] == f"Bearer {TOKEN}"
    # The next upload is one interval later (plus jitter), not sooner.
    assert 24 * 3600 - 30 * 60 <= reporter.due_at - clock.t <= 24 * 3600 + 30 * 60
    reporter.stop()


def test_pending_counts_are_delivered_once_and_leave_the_outbox(
    server: Server, outbox: Outbox, clock: Clock
) -> None:
    for tool in ("anydesk", "teamviewer", "rustdesk"):
        outbox.admit(resolution(tool, clock.t))
    reporter = make_reporter(outbox, settings(server.port), clock)
    run_until_idle(reporter, clock)
    assert server.servicer.total() == 3
    assert outbox.stats().rows == 0
    reporter.stop()


def test_a_lost_acknowledgement_is_resent_unchanged_and_counted_once(
    server: Server, outbox: Outbox, clock: Clock
) -> None:
    outbox.admit(resolution("anydesk", clock.t))
    server.servicer.behaviour.lose_acks = 2
    reporter = make_reporter(outbox, settings(server.port), clock)
    run_until_idle(reporter, clock)
    calls = server.servicer.got.calls
    assert len(calls) == 3 and calls[0] == calls[1] == calls[2]  # byte-for-byte the same batch
    assert server.servicer.total("anydesk") == 1
    reporter.stop()


def test_backoff_grows_with_jitter_up_to_the_cap(tmp_path: Path, clock: Clock) -> None:
    box = Outbox(tmp_path / OUTBOX_FILE, clock=clock)
    # Nothing listens on this port: every upload fails fast with UNAVAILABLE.
    dead = _serve(Servicer())
    port = dead.port
    dead.grpc_server.stop(None)
    reporter = make_reporter(
        box, settings(port, retry_initial_seconds=10.0, max_backoff_minutes=1.0), clock
    )
    clock.t = reporter.due_at
    waits = []
    for _ in range(6):
        clock.t = reporter.due_at
        waits.append(reporter.step())
    assert 5 <= waits[0] <= 10 and 10 <= waits[1] <= 20 and 20 <= waits[2] <= 40
    assert all(30 <= w <= 60 for w in waits[3:])
    reporter.stop()
    box.close()


def test_a_collector_down_for_a_week_costs_only_waiting(tmp_path: Path, clock: Clock) -> None:
    box = Outbox(tmp_path / OUTBOX_FILE, clock=clock, max_rows=20)
    servicer = Servicer()
    srv = _serve(servicer)
    port = srv.port
    srv.grpc_server.stop(None)  # down
    reporter = make_reporter(box, settings(port), clock)
    admitted = 0
    end = clock.t + 7 * 86_400
    i = 0
    while clock.t < end:
        for _ in range(5):
            # within the keys one PC counts a day (ROWS_PER_DAY): 28 keys in the week
            tool = f"tool{i % ROWS_PER_DAY}"
            admitted += box.admit(resolution(tool, clock.t, Trigger.SCAREWARE_PAGE))
            i += 1
        assert box.stats().rows <= 20
        clock.t += 1800
        if clock.t >= reporter.due_at:
            reporter.step()  # fails: nobody listens
    stats = box.stats()
    assert stats.dropped_unreported > 0  # the bound was hit and the loss is counted
    srv = _serve(servicer, port)  # back, on the same port
    try:
        run_until_idle(reporter, clock)
    finally:
        srv.grpc_server.stop(None)
    assert servicer.total() == admitted  # every count: delivered, or reported as dropped
    assert servicer.total(DROPPED_TOOL_ID) == stats.dropped_unreported
    assert len(servicer.got.seen) == len({c.batch_id for c in servicer.got.calls})
    reporter.stop()
    box.close()


def test_a_refused_batch_is_not_retried_forever_and_the_log_holds_no_detail(
    server: Server, outbox: Outbox, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(8):  # over two days: a day holds ROWS_PER_DAY keys
        outbox.admit(resolution(f"tool{i}", clock.t - (i // ROWS_PER_DAY) * 86_400))
    server.servicer.behaviour.refuse_tool = "tool5"
    reporter = make_reporter(outbox, settings(server.port), clock)
    with caplog.at_level(logging.INFO, logger="agent.telemetry.reporter"):
        run_until_idle(reporter, clock)
        clock.t = reporter.due_at
        reporter.step()  # the next upload reports the dropped row
    got = server.servicer
    assert got.total() == 8
    assert {k[1] for k in got.got.tally} == {f"tool{i}" for i in range(8) if i != 5} | {
        DROPPED_TOOL_ID
    }
    assert got.total(DROPPED_TOOL_ID) == 1
    assert len(got.got.calls) <= 12  # bisection, not a retry loop
    assert "SECRET-DETAIL" not in caplog.text and "refused a batch" in caplog.text
    reporter.stop()


def test_the_schedule_phase_is_remembered_and_a_missed_slot_uploads_soon(
    server: Server, outbox: Outbox, clock: Clock
) -> None:
    first = make_reporter(outbox, settings(server.port), clock)
    phase = first.schedule.phase
    assert (phase * 24 * 60) == pytest.approx(round(phase * 24 * 60))  # a whole minute
    clock.t = first.due_at
    first.step()
    first.stop()
    again = Reporter(outbox, settings(server.port), clock=clock, rng=random.Random(99))
    assert again.schedule.phase == phase
    clock.t += 3 * 86_400  # the PC was off for three days
    late = Reporter(outbox, settings(server.port), clock=clock, rng=random.Random(5))
    assert late.due_at - clock.t <= 30 * 60
    late.stop()
    again.stop()


def test_a_clock_that_went_back_does_not_postpone_uploads(
    server: Server, outbox: Outbox, clock: Clock
) -> None:
    outbox.set_meta("last_upload_slot", repr(clock.t + 365 * 86_400))  # a year "ahead"
    reporter = make_reporter(outbox, settings(server.port), clock)
    assert reporter.due_at - clock.t <= 24 * 3600 + 30 * 60
    reporter.stop()


def test_nothing_is_sent_while_the_person_says_no(
    server: Server, outbox: Outbox, clock: Clock
) -> None:
    reporter = make_reporter(outbox, settings(server.port), clock, consent=lambda: False)
    for _ in range(3):
        clock.t = reporter.due_at
        reporter.step()
    assert server.servicer.got.calls == []
    reporter.stop()


def test_a_slow_collector_hits_the_deadline_and_the_batch_stays(
    server: Server, outbox: Outbox, clock: Clock
) -> None:
    outbox.admit(resolution("anydesk", clock.t))
    server.servicer.behaviour.sleep = 0.5
    reporter = make_reporter(outbox, settings(server.port, deadline_seconds=0.1), clock)
    clock.t = reporter.due_at
    reporter.step()
    assert outbox.stats().in_flight_batches == 1
    server.servicer.behaviour.sleep = 0.0
    run_until_idle(reporter, clock)
    assert server.servicer.total("anydesk") == 1
    reporter.stop()


def test_the_service_thread_uploads_and_stops_cleanly(server: Server, tmp_path: Path) -> None:
    box = Outbox(tmp_path / OUTBOX_FILE)
    box.admit(resolution("anydesk", time.time()))
    s = settings(server.port, upload_interval_hours=0.2 / 3600, jitter_minutes=0.0)
    reporter = Reporter(box, s)
    before = {t.ident for t in threading.enumerate()}
    reporter.start()
    deadline = time.monotonic() + 10
    while server.servicer.total() < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    reporter.stop()
    assert server.servicer.total("anydesk") == 1
    # Only the test server's own worker threads may have appeared.
    new = [t.name for t in threading.enumerate() if t.ident not in before]
    assert all(n.startswith("ThreadPoolExecutor") for n in new), new
    box.close()


def test_an_unexpected_error_in_the_service_thread_is_logged_and_retried(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug met once (here: the channel factory raises) must not end uploads for good."""
    from agent.telemetry.reporter import open_channel

    box = Outbox(tmp_path / OUTBOX_FILE)
    box.admit(resolution("anydesk", time.time()))
    calls = []

    def flaky(s: TelemetrySection) -> grpc.Channel:
        calls.append(s)
        if len(calls) == 1:
            raise RuntimeError(f"unexpected trouble near {Path.home() / 'secret-folder'}")
        return open_channel(s)

    s = settings(
        server.port, upload_interval_hours=0.1 / 3600, jitter_minutes=0.0, retry_initial_seconds=0.1
    )
    reporter = Reporter(box, s, channel_factory=flaky)
    with caplog.at_level(logging.INFO, logger="agent.telemetry.reporter"):
        reporter.start()
        deadline = time.monotonic() + 10
        while server.servicer.total() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        reporter.stop()
    box.close()
    assert server.servicer.total("anydesk") == 1  # the thread lived on and retried
    assert "RuntimeError: unexpected trouble" in caplog.text  # surfaced, not silent
    assert str(Path.home()) not in caplog.text  # the support log stays path-free


def test_tls_with_a_pinned_ca(tmp_path: Path, outbox: Outbox, clock: Clock) -> None:
    ca_pem, cert_pem, key_pem = _certificates("127.0.0.1")
    other_ca, _, _ = _certificates("127.0.0.1")
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    (tmp_path / "other.pem").write_bytes(other_ca)
    creds = grpc.ssl_server_credentials([(key_pem, cert_pem)])
    srv = _serve(Servicer(), creds=creds)
    try:
        outbox.admit(resolution("anydesk", clock.t))
        wrong = make_reporter(
            outbox,
            settings(srv.port, tls=True, ca_file=str(tmp_path / "other.pem"), deadline_seconds=2.0),
            clock,
        )
        clock.t = wrong.due_at
        wrong.step()
        wrong.stop()
        assert srv.servicer.got.calls == []  # a CA we did not pin: no handshake, nothing sent
        right = make_reporter(
            outbox, settings(srv.port, tls=True, ca_file=str(tmp_path / "ca.pem")), clock
        )
        run_until_idle(right, clock)
        right.stop()
        assert srv.servicer.total("anydesk") == 1
    finally:
        srv.grpc_server.stop(None)


def test_the_wire_form_holds_only_the_batch_fields() -> None:
    from agent.telemetry.counts import Batch, CountRow

    batch = Batch(
        b"\x01" * 16,
        (0, 1, 0),
        5,
        "NL",
        (
            CountRow(
                utc_day(time.time()),
                "anydesk",
                Trigger.UNKNOWN_CALL,
                Stage.SCARE_TACTICS,
                Outcome.USER_PAUSED,
                1,
            ),
        ),
    )
    msg = to_proto(batch)
    row = msg.rows[0]
    assert row.trigger == pb.TRIGGER_UNKNOWN_CALL and row.stage == pb.STAGE_SCARE_TACTICS
    assert row.outcome == pb.OUTCOME_USER_PAUSED
    # Every enum value of ours has a wire value (names mirror each other).
    for t in Trigger:
        assert pb.Trigger.Value("TRIGGER_" + t.name)
    for s in Stage:
        assert pb.Stage.Value("STAGE_" + s.name)
    for o in Outcome:
        assert pb.Outcome.Value("OUTCOME_" + o.name)


def _certificates(host: str) -> tuple[bytes, bytes, bytes]:
    """A throwaway CA and a server certificate it signed for ``host``."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return (
        ca.public_bytes(serialization.Encoding.PEM),
        cert.public_bytes(serialization.Encoding.PEM),
        key_pem,
    )
