"""Context intake: the JSON schema, the inbox sensor on a real directory, and `signal`."""

from __future__ import annotations

import json
import logging
import queue
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import main
from agent.config import AgentConfig
from agent.errors import AgentAlreadyRunning, IntakeError
from agent.events import (
    CallEnded,
    CallerKind,
    CallStarted,
    Event,
    PageKind,
    ScarewarePage,
    SensitivePage,
)
from agent.sensors import create as create_sensor
from agent.sensors.base import SensorContext
from agent.sensors.intake import documents as intake
from agent.sensors.intake.sensor import IntakeSensor

NOW = 1_795_269_600.0  # 2026-11-21T14:00:00Z


def _doc(**fields: object) -> bytes:
    return json.dumps({"schema": intake.SCHEMA, **fields}).encode()


# -- the schema --------------------------------------------------------------------


def test_call_started_with_explicit_time() -> None:
    event = intake.parse(
        _doc(kind="call-started", caller="unknown", at="2026-11-21T13:15:00Z", source="phone-app"),
        now=NOW,
    )
    assert event == CallStarted(at=NOW - 45 * 60, caller=CallerKind.UNKNOWN, source="phone-app")


def test_defaults_now_and_source() -> None:
    assert intake.parse(_doc(kind="call-ended"), now=NOW) == CallEnded(at=NOW, source="intake")


def test_offsets_are_honoured() -> None:
    event = intake.parse(_doc(kind="call-ended", at="2026-11-21T15:00:00+01:00"), now=NOW)
    assert event.at == NOW


def test_pages() -> None:
    scare = intake.parse(
        _doc(kind="scareware", pattern="blocked_pc", title="Your PC is blocked", url="http://x/"),
        now=NOW,
    )
    assert scare == ScarewarePage(NOW, "blocked_pc", "intake", "Your PC is blocked", "http://x/")
    for kind, page in [
        ("banking", PageKind.BANKING),
        ("payment", PageKind.PAYMENT),
        ("gift-card", PageKind.GIFT_CARD),
    ]:
        event = intake.parse(_doc(kind=kind), now=NOW)
        assert isinstance(event, SensitivePage) and event.kind is page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "not valid JSON (line 1, column 2)"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", "must be a JSON object"),
        (json.dumps({"kind": "call-ended"}).encode(), "'schema' must be \"ratwatch.intake/1\""),
        (_doc(kind="call-sorted"), "'kind' must be one of: call-started, call-ended"),
        (_doc(kind="call-started"), "'caller' must be one of: unknown, known, unverified"),
        (_doc(kind="call-started", caller="+31612345678"), "'caller' must be one of"),
        (_doc(kind="call-ended", number="0612345678"), "unknown key for kind call-ended: 'number'"),
        (
            json.dumps({"schema": intake.SCHEMA, "kind": "call-ended", "0612345678": 1}).encode(),
            "unknown key for kind call-ended: (not a field name)",
        ),
        (_doc(kind="call-ended", at="yesterday"), "ISO 8601 time with a timezone"),
        (_doc(kind="call-ended", at="2026-11-21T14:00:00"), "must include a timezone"),
        (_doc(kind="call-ended", at=1795269600), "'at' must be a string"),
        (_doc(kind="call-ended", at="2026-11-21T14:02:01Z"), "in the future"),
        (_doc(kind="call-ended", source="Phone App!"), "'source' must be a short lower-case"),
        (_doc(kind="scareware", title="x" * 3000), "'title' must be a string of at most"),
        (_doc(kind="call-ended", pad="x" * 70_000), "larger than"),
    ],
)
def test_malformed_documents_name_the_field(data: bytes, message: str) -> None:
    with pytest.raises(IntakeError) as info:
        intake.parse(data, now=NOW)
    assert message in str(info.value)
    assert "0612345678" not in str(info.value) and "+316" not in str(info.value)


def test_small_future_skew_is_accepted() -> None:
    event = intake.parse(_doc(kind="call-ended", at="2026-11-21T14:02:00Z"), now=NOW)
    assert event.at == NOW + 120


def test_write_inbox_file_is_atomic_and_valid(tmp_path: Path) -> None:
    doc = intake.document("call-started", caller="known", source="cli")
    path = intake.write_inbox_file(tmp_path, doc)
    assert path.parent == tmp_path / "inbox" and path.suffix == ".json"
    assert [p.name for p in (tmp_path / "inbox").iterdir()] == [path.name]  # no temp left
    event = intake.parse(path.read_bytes(), now=time.time())
    assert isinstance(event, CallStarted) and event.caller is CallerKind.KNOWN


def test_document_rejects_bad_fields() -> None:
    with pytest.raises(IntakeError, match="caller"):
        intake.document("call-started", caller="maybe")


# -- the sensor on a real inbox ------------------------------------------------------


class Running:
    """An intake sensor started on a temp state dir, collecting what it emits."""

    def __init__(self, state_dir: Path) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        config = AgentConfig()
        ctx = SensorContext(config, lambda: None, time.time, state_dir)  # type: ignore[arg-type,return-value]
        sensor = create_sensor("intake", ctx)
        assert isinstance(sensor, IntakeSensor)
        self.sensor = sensor
        self.sensor.start(self.events.put)

    def next(self) -> Event:
        return self.events.get(timeout=5)


@pytest.fixture
def running(tmp_path: Path) -> object:
    r = Running(tmp_path)
    yield r
    r.sensor.stop()


def _wait_for(cond: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_files_waiting_at_start_are_processed_in_order(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "20261121T140000-a.json").write_bytes(
        _doc(kind="call-started", caller="unknown", at="2026-11-21T14:00:00Z")
    )
    (inbox / "20261121T140500-b.json").write_bytes(
        _doc(kind="call-ended", at="2026-11-21T14:05:00Z")
    )
    r = Running(tmp_path)
    try:
        assert isinstance(r.next(), CallStarted)
        assert isinstance(r.next(), CallEnded)
        _wait_for(lambda: not list(inbox.glob("*.json")))
    finally:
        r.sensor.stop()


def test_new_files_become_events_and_are_deleted(running: Running, tmp_path: Path) -> None:
    path = intake.write_inbox_file(tmp_path, intake.document("scareware", pattern="blocked_pc"))
    event = running.next()
    assert isinstance(event, ScarewarePage) and event.pattern_id == "blocked_pc"
    _wait_for(lambda: not path.exists())
    assert running.sensor.processed == 1


def test_malformed_file_is_set_aside_without_personal_data_in_the_log(
    running: Running, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent.sensors.intake.sensor")
    inbox = tmp_path / "inbox"
    bad = inbox / ".call-0612345678.tmp"
    bad.write_text(
        '{"schema": "ratwatch.intake/1", "kind": "call-started", "caller": "+31612345678"}'
    )
    bad.rename(inbox / "call-0612345678.json")
    _wait_for(lambda: running.sensor.rejected == 1)
    rejected = list((inbox / "rejected").iterdir())
    assert len(rejected) == 1 and "+31612345678" in rejected[0].read_text()  # nothing lost
    assert not (inbox / "call-0612345678.json").exists()
    line = next(r.getMessage() for r in caplog.records if "rejected" in r.getMessage())
    assert f"rejected/{rejected[0].name}" in line and "'caller' must be one of" in line
    assert "0612345678" not in caplog.text
    # ... and the sensor carries on.
    intake.write_inbox_file(tmp_path, intake.document("call-ended"))
    assert isinstance(running.next(), CallEnded)


def test_file_written_in_place_is_read_once_complete(running: Running, tmp_path: Path) -> None:
    """A writer that does not rename into place: the half-written file is retried, not rejected."""
    path = tmp_path / "inbox" / "direct.json"
    with path.open("w") as fh:
        fh.write('{"schema": "ratwatch.intake/1", ')
        fh.flush()
        time.sleep(0.3)  # the sensor sees a fresh, incomplete file here
        fh.write('"kind": "call-ended"}')
    assert isinstance(running.next(), CallEnded)
    assert running.sensor.rejected == 0


def test_other_files_are_left_alone(running: Running, tmp_path: Path) -> None:
    notes = tmp_path / "inbox" / "notes.txt"
    notes.write_text("not for the agent")
    intake.write_inbox_file(tmp_path, intake.document("call-ended"))
    assert isinstance(running.next(), CallEnded)
    assert notes.exists()


# -- the signal command ----------------------------------------------------------------


def test_signal_commands_write_parseable_files(tmp_path: Path) -> None:
    runner = CliRunner()
    state = ["--state-dir", str(tmp_path)]
    at = intake.format_time(time.time() - 45 * 60)
    for args in (
        ["call-started", "--caller", "unknown"],
        ["call-ended", "--at", at],
        ["scareware", "--pattern", "blocked_pc"],
        ["banking"],
        ["payment"],
        ["gift-card"],
    ):
        result = runner.invoke(main, ["signal", *args, *state, "--force"])
        assert result.exit_code == 0, result.output
        assert "queued for the next agent to start there" in result.output
    files = sorted((tmp_path / "inbox").glob("*.json"))
    events = [intake.parse(p.read_bytes(), now=time.time()) for p in files]
    kinds = sorted(type(e).__name__ for e in events)
    assert kinds == sorted(
        [
            "CallStarted",
            "CallEnded",
            "ScarewarePage",
            "SensitivePage",
            "SensitivePage",
            "SensitivePage",
        ]
    )
    ended = next(e for e in events if isinstance(e, CallEnded))
    assert abs(ended.at - (time.time() - 45 * 60)) < 5
    assert all(getattr(e, "source", "cli") == "cli" for e in events)


def test_signal_uses_the_config_state_dir(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(f'[agent]\nstate_dir = "{tmp_path / "st"}"\n')
    result = CliRunner().invoke(main, ["signal", "call-ended", "--config", str(config), "--force"])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "st" / "inbox").glob("*.json"))) == 1


def test_signal_refuses_a_state_dir_no_agent_runs_on(tmp_path: Path) -> None:
    """Before: "queued for the agent", exit 0, into an inbox nobody reads."""
    result = CliRunner().invoke(
        main, ["signal", "call-started", "--caller", "unknown", "--state-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "no ratwatch agent is running on the state directory" in result.output
    assert "--force" in result.output
    assert not (tmp_path / "inbox").exists() or not list((tmp_path / "inbox").iterdir())


def test_signal_queues_when_an_agent_holds_the_state_dir(tmp_path: Path) -> None:
    """The running agent's lock (agent.presence), taken here in another real process."""
    from agent import presence

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib; from agent import presence\n"
            "with presence.hold(pathlib.Path(sys.argv[1])):\n"
            "    print('held', flush=True); sys.stdin.read()",
            str(tmp_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert presence.agent_running(tmp_path)
        result = CliRunner().invoke(
            main, ["signal", "call-started", "--caller", "unknown", "--state-dir", str(tmp_path)]
        )
        assert result.exit_code == 0, result.output
        assert "queued for the agent:" in result.output
        with pytest.raises(AgentAlreadyRunning), presence.hold(tmp_path):
            pass
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
    assert not presence.agent_running(tmp_path)  # released when the holder ends


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["call-started"], "Missing option '--caller'"),
        (["call-started", "--caller", "maybe"], "Invalid value for '--caller'"),
        (["call-ended", "--at", "noon"], "ISO 8601"),
        (["call-ended", "--at", "2999-01-01T00:00:00Z"], "in the future"),
        (["call-ended", "--source", "My Phone"], "'source' must be"),
    ],
)
def test_signal_rejects_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["signal", *args, "--state-dir", str(tmp_path)])
    assert result.exit_code != 0 and message in result.output
    assert not list((tmp_path / "inbox").glob("*.json")) if (tmp_path / "inbox").exists() else True
