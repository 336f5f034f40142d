"""The local journal: round trips, torn last lines after a crash, rotation, and `incidents`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import main
from agent.events import CallerKind, CallStarted, ProcessEnded, ScarewarePage
from agent.journal.incidents import incidents, parse_since
from agent.journal.journal import Journal, read_records, verdict_from_dict, verdict_to_dict
from agent.verdict import Evidence, Level, Outcome, Resolution, Stage, Trigger, Verdict

T0 = 1_790_000_000.0


def _verdict(vid: str = "v1", level: Level = Level.WARN, at: float = T0) -> Verdict:
    return Verdict(
        verdict_id=vid,
        at=at,
        level=level,
        tool_id="anydesk",
        tool_name="AnyDesk",
        trigger=Trigger.UNKNOWN_CALL,
        stage=Stage.REMOTE_TOOL_STARTED,
        minutes_from_trigger=2.5,
        evidence=(
            Evidence("remote_tool_started", "AnyDesk was started.", (("tool", "AnyDesk"),)),
            Evidence("during_unknown_call", "It started during a call.", (("minutes", "2.5"),)),
        ),
        pids=(10, 11),
    )


def test_verdict_round_trips() -> None:
    v = _verdict()
    assert verdict_from_dict(json.loads(json.dumps(verdict_to_dict(v)))) == v


def test_records_verdicts_outcomes_and_context(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal.jsonl")
    v = _verdict()
    j.record_context(CallStarted(T0 - 60, CallerKind.UNKNOWN, "phone"))
    j.record_context(ProcessEnded(T0, 1, "x"))  # process events are not journal material
    j.record_context(ScarewarePage(T0 - 30, "blocked", "chrome", "Your PC is blocked", "http://x"))
    j.record_verdict(v)
    j.record_resolution(Resolution(v, Outcome.USER_STOPPED, T0 + 5))
    records = list(j.records())
    assert [r["type"] for r in records] == ["context", "context", "verdict", "outcome"]
    assert records[1]["title"] == "Your PC is blocked"  # titles stay local, in the journal
    assert records[0]["caller"] == "unknown"
    (incident,) = incidents(records)
    assert incident.verdict == v and incident.outcome is Outcome.USER_STOPPED
    assert os.stat(j.path).st_mode & 0o777 == 0o600


def test_torn_last_line_is_skipped_and_isolated(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal.jsonl")
    j.record_verdict(_verdict("v1"))
    with j.path.open("ab") as fh:  # a crash in the middle of a write
        fh.write(b'{"schema": "ratwatch.journal/1", "type": "verd')
    assert [r["verdict"]["verdict_id"] for r in j.records()] == ["v1"]
    j.record_verdict(_verdict("v2"))
    assert [r["verdict"]["verdict_id"] for r in j.records()] == ["v1", "v2"]
    lines = j.path.read_bytes().split(b"\n")
    assert lines[1].endswith(b'"type": "verd')  # the fragment kept apart, not glued to v2


def test_killed_writer_leaves_a_readable_journal(tmp_path: Path) -> None:
    """A real process killed with SIGKILL while appending: every complete record stays readable."""
    path = tmp_path / "journal.jsonl"
    script = textwrap.dedent(
        f"""
        import sys
        from agent.journal.journal import Journal
        from agent.verdict import Evidence, Level, Stage, Trigger, Verdict
        j = Journal(__import__("pathlib").Path({str(path)!r}))
        ev = tuple(Evidence("x", "y" * 2000) for _ in range(20))
        i = 0
        while True:
            j.record_verdict(Verdict(str(i), 0.0, Level.NOTE, "t", "T", Trigger.NONE,
                                     Stage.REMOTE_TOOL_STARTED, None, ev))
            i += 1
            if i == 20:
                print("ready", flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == b"ready"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ids = [int(r["verdict"]["verdict_id"]) for r in read_records(path)]
    assert len(ids) >= 20 and ids == list(range(len(ids)))
    Journal(path).record_verdict(_verdict("after"))
    assert [r["verdict"]["verdict_id"] for r in read_records(path)][-1] == "after"


def test_rotation_keeps_one_generation(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal.jsonl", max_bytes=4000)
    for i in range(30):
        j.record_verdict(_verdict(f"v{i}", at=T0 + i))
    assert (tmp_path / "journal.1.jsonl").exists()
    ids = [r["verdict"]["verdict_id"] for r in j.records()]
    assert ids[-1] == "v29" and ids == sorted(ids, key=lambda x: int(x[1:]))
    assert j.path.stat().st_size < 4000 + 1500


def test_since_filters(tmp_path: Path) -> None:
    j = Journal(tmp_path / "journal.jsonl")
    j.record_verdict(_verdict("old", at=T0))
    j.record_verdict(_verdict("new", at=T0 + 3600))
    assert [r["verdict"]["verdict_id"] for r in j.records(since=T0 + 1)] == ["new"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2h", T0 - 7200), ("30m", T0 - 1800), ("7d", T0 - 7 * 86400), ("1w", T0 - 7 * 86400)],
)
def test_parse_since_ages(text: str, expected: float) -> None:
    assert parse_since(text, now=T0) == expected


def test_parse_since_iso_and_error() -> None:
    assert parse_since("2026-11-21T14:00:00Z") == 1795269600.0
    with pytest.raises(Exception, match="neither an ISO date"):
        parse_since("yesterday")


def test_incidents_command_prints_readably_and_as_json(tmp_path: Path) -> None:
    state = tmp_path / "state"
    j = Journal(state / "journal.jsonl")
    note = _verdict("n1", Level.NOTE, at=T0 - 10)
    warn = _verdict("w1", Level.WARN, at=T0)
    j.record_verdict(note)
    j.record_resolution(Resolution(note, Outcome.NO_WARNING_SHOWN, T0 - 10))
    j.record_verdict(warn)
    j.record_resolution(Resolution(warn, Outcome.USER_TRUSTED, T0 + 40))
    runner = CliRunner()
    result = runner.invoke(main, ["incidents", "--state-dir", str(state)])
    assert result.exit_code == 0, result.output
    assert "WARNING: AnyDesk" in result.output and "note: AnyDesk" in result.output
    assert "after: unknown call | 2.5 min later" in result.output
    assert "outcome: trusted by you" in result.output
    assert "- It started during a call." in result.output
    assert "2 incident(s)" in result.output
    result = runner.invoke(main, ["incidents", "--state-dir", str(state), "--min-level", "warn"])
    # The NOTE is no incident of its own now, only an earlier stage in the WARN's lead-up.
    assert not any(line.endswith("note: AnyDesk") for line in result.output.splitlines())
    assert "1 incident(s)" in result.output
    result = runner.invoke(main, ["incidents", "--state-dir", str(state), "--json"])
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["type"] for r in rows] == ["verdict", "outcome", "verdict", "outcome"]
    result = runner.invoke(main, ["incidents", "--state-dir", str(state), "--since", "bogus"])
    assert result.exit_code == 2 and "--since" in result.output


def test_incidents_timeline(tmp_path: Path) -> None:
    state = tmp_path / "state"
    j = Journal(state / "journal.jsonl")
    j.record_context(CallStarted(T0 - 60, CallerKind.UNKNOWN, "phone-app"))
    j.record_context(ScarewarePage(T0 - 30, "blocked", "chrome", "Your PC is blocked", "http://x/"))
    warn = _verdict("w1", Level.WARN, at=T0)
    j.record_verdict(warn)
    j.record_resolution(Resolution(warn, Outcome.USER_STOPPED, T0 + 9))
    result = CliRunner().invoke(main, ["incidents", "--state-dir", str(state), "--timeline"])
    lines = result.output.splitlines()
    assert len(lines) == 4
    assert lines[0].endswith("call started (caller: unknown) (via phone-app)")
    assert "scareware page [blocked] Your PC is blocked http://x/ (via chrome)" in lines[1]
    assert lines[2].endswith("WARNING: AnyDesk (remote tool started, after unknown call)")
    assert lines[3].endswith("-> AnyDesk: stopped by you")


def test_incidents_command_on_empty_state(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["incidents", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0 and "No incidents recorded" in result.output
