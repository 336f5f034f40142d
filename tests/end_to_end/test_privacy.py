"""Privacy proof: nothing that identifies the person or the PC reaches the collector.

The end-to-end test plants distinctive marker strings everywhere a scam
journey can carry them — the host name the agent sees (a UTS namespace when
permitted, plus HOSTNAME/COMPUTERNAME), the user name (USER, LOGNAME, the home
and state-dir paths), file and folder names of the stand-in tools, their
command lines, a scareware page's title and URL, and a caller's phone number
in an intake file, and another caller's number that arrives over D-Bus from a
KDE Connect stand-in on a real session bus (Debian's dbus-daemon) — runs the
real ``ratwatch-agent run`` and the real ``ratwatch-collector serve`` with a
recording TCP proxy between them, and asserts that no marker appears in the
bytes the collector received, in any of its database files (including -wal
and -shm), in its log, or in the agent's own log lines (which may reach a
support desk). It also checks the markers really were seen on the PC (the local journal keeps
them), so the test cannot pass by never looking.

The second test feeds resolutions whose every free-text field carries a
marker through the real Outbox and Reporter to a capturing gRPC server and
checks what the reporter actually put in each field.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.descriptor import FieldDescriptor
from ratwatch_proto import telemetry_pb2 as pb
from ratwatch_proto import telemetry_pb2_grpc as pb_grpc
from ratwatch_proto.limits import is_slug

from agent.config import TelemetrySection
from agent.demo.stack import AgentChild, CollectorChild
from agent.errors import DemoError
from agent.telemetry.outbox import OUTBOX_FILE, Outbox
from agent.telemetry.reporter import Reporter
from agent.verdict import Evidence, Level, Outcome, Resolution, Stage, Trigger, Verdict

MARKERS = {
    "host": "zqxhost7731",
    "user": "zqxuser4410",
    "file": "zqxfile9902",
    "cmdline": "zqxcmd5519",
    "title": "zqxtitle3307",
    "url": "zqxurl6621",
    "phone": "+31687654321",
    "dbus_phone": "+31655598765",
}


class RecordingProxy:
    """A TCP proxy on loopback that forwards to ``target`` and keeps every byte sent to it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.received = bytearray()  # agent -> collector
        self.replied = bytearray()  # collector -> agent
        self._lock = threading.Lock()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.2)  # so the accept loop notices close()
        self.port = int(self._listener.getsockname()[1])
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()
        self._socks: list[socket.socket] = []
        accept = threading.Thread(target=self._accept, name="proxy-accept")
        accept.start()
        self._threads.append(accept)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            self._socks += [client, upstream]
            for src, dst, buf in (
                (client, upstream, self.received),
                (upstream, client, self.replied),
            ):
                t = threading.Thread(target=self._pump, args=(src, dst, buf), name="proxy-pump")
                t.start()
                self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, buf: bytearray) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)
                return
            with self._lock:
                buf.extend(data)
            try:
                dst.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for s in self._socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            t.join(5)
        for s in self._socks:
            s.close()


def _session_bus_helpers() -> Any:
    path = Path(__file__).resolve().parents[1] / "data" / "phone" / "session_bus.py"
    spec = importlib.util.spec_from_file_location("phone_session_bus", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SB = _session_bus_helpers()


def _can_set_hostname() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run([unshare, "--uts", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def _drop_intake(inbox: Path, fact: dict[str, str]) -> None:
    inbox.mkdir(parents=True, exist_ok=True)
    name = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
    tmp = inbox / f".{name}.tmp"
    tmp.write_text(json.dumps(fact), encoding="utf-8")
    os.replace(tmp, inbox / f"{name}.json")


def _wait_counted(collector: CollectorChild, tool: str, timeout: float) -> None:
    """Until the collector's raw tallies (its operator's view) hold ``tool``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if collector.counted(tool):
            return
        time.sleep(0.3)
    raise AssertionError(f"{tool} never reached the collector")


def test_no_marker_reaches_the_collector_in_a_full_scam_journey(tmp_path: Path) -> None:
    m = MARKERS
    home = tmp_path / f"home-{m['user']}"
    pc = home / f"{m['user']}-ratwatch"
    env = {
        "HOME": str(home),
        "USER": m["user"],
        "LOGNAME": m["user"],
        "USERNAME": m["user"],
        "HOSTNAME": m["host"],
        "COMPUTERNAME": m["host"],
        "USERDOMAIN": m["host"],
    }
    wrapper: list[str] = []
    if _can_set_hostname():  # the host name the agent's own gethostname() returns
        wrapper = ["unshare", "--uts", "sh", "-c", f'hostname {m["host"]} && exec "$@"', "sh"]
    if SB.dbus_daemon() is None and os.environ.get("CI"):
        raise AssertionError("CI needs dbus-daemon (Debian package dbus) for the phone marker")
    bus = SB.SessionBus(tmp_path) if SB.dbus_daemon() else None
    phone = None
    if bus is not None:
        bus.start()
        env["DBUS_SESSION_BUS_ADDRESS"] = bus.address
        phone = SB.StandIn(bus)
        phone.start()
        phone.send(op="pair", id="pixel7", name=f"Pixel of {m['user']}")
    collector = CollectorChild(tmp_path / "collector")
    collector.start()
    proxy = RecordingProxy(collector.port)
    agent = AgentChild(
        pc,
        f"127.0.0.1:{proxy.port}",
        collector.agent_token,
        upload_seconds=1.5,
        env=env,
        wrapper=wrapper,
        extra_config='[phone]\nsources = ["kdeconnect"]\n',
    )
    agent.write_config()
    config = agent.config_path.read_text(encoding="utf-8")
    agent.config_path.write_text(
        config.replace('"downloads"]', '"downloads", "phone"]', 1), encoding="utf-8"
    )
    props: list[subprocess.Popen[bytes]] = []
    relay = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    conns: list[socket.socket] = []
    try:
        mark = agent.mark()
        agent.start()
        inbox = agent.state_dir / "inbox"
        if phone is not None:
            # The person's phone rings: a caller not in the contacts, number over D-Bus.
            agent.wait_for(r"listening on the session bus", 20, since=mark)
            mark = agent.mark()
            phone.send(op="ring", id="pixel7", number=m["dbus_phone"])
            agent.wait_for(r"ringing call, caller unknown", 15, since=mark)
        # A phone app that wrongly sends the caller's number: the file is refused locally.
        _drop_intake(
            inbox,
            {
                "schema": "ratwatch.intake/1",
                "kind": "call-started",
                "caller": "unknown",
                "number": m["phone"],
                "source": "phone-app",
            },
        )
        agent.signal("call-started", "--caller", "unknown")
        _drop_intake(
            inbox,
            {
                "schema": "ratwatch.intake/1",
                "kind": "scareware",
                "source": "browser-ext",
                "title": f"Your computer is blocked {m['title']} call {m['phone']}",
                "url": f"https://{m['url']}.example/{m['user']}/alert?tel={m['phone']}",
            },
        )
        # The remote tool: a renamed interpreter in a marked folder with a marked command line,
        # connected to a stand-in relay on AnyDesk's port (falls back to no session if taken).
        folder = agent.downloads / f"{m['file']} from {m['user']}"
        folder.mkdir(parents=True)
        tool = folder / "anydesk"
        shutil.copy2(os.path.realpath(sys.executable), tool)
        code = f"import time  # {m['cmdline']}\n"
        try:
            relay.bind(("127.0.0.1", 7070))
            relay.listen(2)
            code += "import socket\ns = socket.create_connection(('127.0.0.1', 7070))\n"
        except OSError:
            pass
        code += "time.sleep(60)\n"
        mark = agent.mark()
        props.append(
            subprocess.Popen(
                [str(tool), "-I", "-S", "-c", code, f"--session={m['cmdline']}", m["phone"]],
                env={**os.environ, **env},
            )
        )
        agent.wait_for(r"Type 1, 2 or 3", 30, since=mark)
        agent.answer("2")
        # A scare tactic from a marked path with a marked command line.
        scare = folder / "eventvwr.exe"
        shutil.copy2(shutil.which("sleep") or "/bin/sleep", scare)
        mark = agent.mark()
        props.append(subprocess.Popen([str(scare), "20"], env={**os.environ, **env}))
        # On this shared test machine other suites start tool stand-ins too, and the
        # correlator pins a scare tactic on the most recent session: the alert is
        # welcome but not what this test is about, so it is not required here.
        with contextlib.suppress(DemoError):
            agent.wait_for(r"HANG UP", 15, since=mark)
        agent.answer("1")
        _wait_counted(collector, "anydesk", 30)
        time.sleep(2 * 1.5)  # one more scheduled upload through the proxy
    finally:
        for p in props:
            p.kill()
            p.wait()
        for c in conns:
            c.close()
        relay.close()
        agent.stop()
        collector.stop()
        proxy.close()
        if phone is not None:
            phone.stop()
        if bus is not None:
            bus.stop()

    wire = bytes(proxy.received)
    assert b"anydesk" in wire, "the proxy did not capture the uploads"
    places = {
        "bytes the collector received": wire,
        "collector log": collector.log_path.read_bytes(),
    }
    for f in sorted(collector.data_dir.rglob("*")):
        if f.is_file():
            places[f"collector file {f.name}"] = f.read_bytes()
    assert any(n.endswith(("-wal", ".sqlite3")) for n in places), places.keys()
    for where, data in places.items():
        for kind, marker in MARKERS.items():
            for form in (marker.encode(), marker.encode("utf-16-le")):
                assert form not in data, f"{kind} marker found in {where}"
    # The agent's own log lines may be sent to a support desk: no marker there either
    # (its console output, the warning and the startup banner, stays on the screen).
    log_lines = [
        line
        for line in agent.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        if re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line)
    ]
    assert any("verdict" in line for line in log_lines), "no log lines captured"
    for line in log_lines:
        for kind, marker in MARKERS.items():
            assert marker not in line, f"{kind} marker in the agent's log: {line}"
    # The markers were really there to be leaked: the PC's own records hold them.
    local = (agent.state_dir / "journal.jsonl").read_text(encoding="utf-8")
    assert m["title"] in local and m["url"] in local
    if phone is not None:  # the D-Bus number: seen, but not even kept on the PC
        assert '"source": "kdeconnect"' in local
        state = "".join(
            f.read_text(encoding="utf-8", errors="replace")
            for f in agent.state_dir.rglob("*")
            if f.is_file() and f.suffix in (".json", ".jsonl", ".log")
        )
        assert m["dbus_phone"] not in state and m["dbus_phone"][3:] not in state
    rejected = "".join(p.read_text() for p in (inbox / "rejected").glob("*"))
    assert m["phone"] in rejected
    assert m["user"] in str(agent.state_dir)


class Capture(pb_grpc.TelemetryServicer):
    def __init__(self) -> None:
        self.batches: list[pb.CountBatch] = []

    def Submit(self, request: pb.CountBatch, context: grpc.ServicerContext) -> pb.SubmitReply:
        self.batches.append(request)
        return pb.SubmitReply(rows_accepted=len(request.rows))


def _string_fields(descriptor: object) -> set[str]:
    found: set[str] = set()
    for f in descriptor.fields:  # type: ignore[attr-defined]
        if f.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
            found.add(f"{descriptor.name}.{f.name}")  # type: ignore[attr-defined]
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            found |= _string_fields(f.message_type)
    return found


def test_what_the_reporter_puts_in_each_field(tmp_path: Path) -> None:
    # The schema: besides the random batch id, only the tool slug and the region are strings.
    assert _string_fields(pb.CountBatch.DESCRIPTOR) == {
        "CountBatch.batch_id",
        "CountBatch.region",
        "CountRow.tool_id",
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    capture = Capture()
    pb_grpc.add_TelemetryServicer_to_server(capture, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    box = Outbox(tmp_path / OUTBOX_FILE)
    now = time.time()
    secret = " ".join(MARKERS.values())
    tools = ["anydesk", "teamviewer", "quickassist"]
    for i, tool in enumerate(tools):
        verdict = Verdict(
            verdict_id=f"{secret}-{i}",
            at=now,
            level=Level.ALERT,
            tool_id=tool,
            tool_name=f"{tool} {secret}",
            trigger=random.choice(list(Trigger)),
            stage=random.choice(list(Stage)),
            minutes_from_trigger=3.5,
            evidence=(Evidence("after_unknown_call", secret, (("caller", MARKERS["phone"]),)),),
            pids=(os.getpid(),),
        )
        box.admit(Resolution(verdict, random.choice(list(Outcome)), now))
    settings = TelemetrySection(collector=f"127.0.0.1:{port}", region="NL", jitter_minutes=0.0)
    reporter = Reporter(box, settings, catalogue_version=lambda: 2026112101)
    try:
        for _ in range(2):  # a batch with the rows, then an empty one
            reporter.upload()
    finally:
        reporter.stop()
        box.close()
        server.stop(None)
    first, second = capture.batches
    assert len(first.batch_id) == 16 and len(second.batch_id) == 16
    assert first.batch_id != second.batch_id  # fresh per batch: no stable id of the PC
    assert first.region == "NL" and sorted(r.tool_id for r in first.rows) == sorted(tools)
    assert list(second.rows) == []
    for batch in capture.batches:
        assert {f.name for f, _ in batch.ListFields()} <= {
            "batch_id",
            "agent_version",
            "catalogue_version",
            "region",
            "rows",
        }
        for row in batch.rows:
            assert is_slug(row.tool_id)
            assert row.count == 1 and row.utc_day == int(now // 86_400)
        wire = batch.SerializeToString()
        for marker in MARKERS.values():
            assert marker.encode() not in wire
