"""``ratwatch-agent telemetry show|off|on``: the person sees and controls what leaves the PC."""

from __future__ import annotations

import time
from pathlib import Path

from click.testing import CliRunner

from agent.cli import main
from agent.telemetry.consent import opt_out_path
from agent.telemetry.counts import utc_day
from agent.telemetry.outbox import OUTBOX_FILE, Outbox
from agent.verdict import Level, Outcome, Resolution, Stage, Trigger, Verdict


def _config(tmp_path: Path, **telemetry: str) -> Path:
    lines = [f'collector = "{telemetry.get("collector", "127.0.0.1:9")}"', 'region = "NL"']
    if "enabled" in telemetry:
        lines.append(f"enabled = {telemetry['enabled']}")
    path = tmp_path / "agent.toml"
    path.write_text(
        f'[agent]\nstate_dir = "{tmp_path / "state"}"\n[telemetry]\n' + "\n".join(lines) + "\n"
    )
    return path


def _admit(tmp_path: Path, tool: str, stage: Stage, outcome: Outcome) -> None:
    now = time.time()
    box = Outbox(tmp_path / "state" / OUTBOX_FILE)
    verdict = Verdict("v", now, Level.WARN, tool, tool, Trigger.UNKNOWN_CALL, stage, 1.0, ())
    box.admit(Resolution(verdict, outcome, now))
    box.close()


def test_show_prints_every_field_of_the_next_batch(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    runner = CliRunner()
    empty = runner.invoke(main, ["telemetry", "show", "--config", str(cfg)])
    assert empty.exit_code == 0, empty.output
    assert (
        "Telemetry: ON" in empty.output and "rows              0 (an empty batch)" in empty.output
    )
    assert not (tmp_path / "state").exists()  # looking creates nothing
    _admit(tmp_path, "anydesk", Stage.SCARE_TACTICS, Outcome.USER_STOPPED)
    shown = runner.invoke(main, ["telemetry", "show", "--config", str(cfg)])
    assert shown.exit_code == 0, shown.output
    day = utc_day(time.time())
    assert (
        f"[1] utc_day={day} " in shown.output
        and "tool_id=anydesk trigger=UNKNOWN_CALL stage=SCARE_TACTICS outcome=USER_STOPPED count=1"
        in shown.output
    )
    assert 'tool_id: "anydesk"' in shown.output and 'region: "NL"' in shown.output


def test_off_wins_over_the_config_deletes_unsent_counts_and_on_undoes_it(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    _admit(tmp_path, "anydesk", Stage.REMOTE_TOOL_STARTED, Outcome.USER_PAUSED)
    runner = CliRunner()
    off = runner.invoke(main, ["telemetry", "off", "--config", str(cfg)])
    assert off.exit_code == 0 and "1 count(s) not yet sent were deleted" in off.output
    assert opt_out_path(tmp_path / "state").exists()
    shown = runner.invoke(main, ["telemetry", "show", "--config", str(cfg)])
    assert "Telemetry: OFF" in shown.output and "Nothing is sent" in shown.output
    on = runner.invoke(main, ["telemetry", "on", "--config", str(cfg)])
    assert on.exit_code == 0 and "now ON" in on.output
    assert not opt_out_path(tmp_path / "state").exists()


def test_on_says_when_the_deployer_keeps_it_off(tmp_path: Path) -> None:
    cfg = _config(tmp_path, enabled="false")
    result = CliRunner().invoke(main, ["telemetry", "on", "--config", str(cfg)])
    assert "now OFF" in result.output and "deployer" in result.output


def test_a_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[telemetry]\nregion = 'Netherlands'\n")
    result = CliRunner().invoke(main, ["telemetry", "show", "--config", str(bad)])
    assert result.exit_code != 0 and "region" in result.output


def test_an_outbox_that_cannot_be_opened_is_a_clear_error(tmp_path: Path) -> None:
    """No traceback: ``show`` says what failed; ``off`` still turns telemetry off and says so.

    A directory where the file should be stands in for a file locked by another program.
    """
    cfg = _config(tmp_path)
    (tmp_path / "state" / OUTBOX_FILE).mkdir(parents=True)
    runner = CliRunner()
    shown = runner.invoke(main, ["telemetry", "show", "--config", str(cfg)])
    assert shown.exit_code == 1 and "cannot open the outbox" in shown.output, shown.output
    off = runner.invoke(main, ["telemetry", "off", "--config", str(cfg)])
    assert off.exit_code == 1 and "Telemetry is now OFF" in off.output, off.output
    assert opt_out_path(tmp_path / "state").exists()


def test_off_takes_effect_in_a_running_agent_without_restart(tmp_path: Path) -> None:
    """The runtime's outbox and reporter (build_telemetry) check the person's flag live."""
    from agent.commands.statedir import load
    from agent.telemetry.reporter import build_telemetry

    config = load(_config(tmp_path), None)
    clock = [time.time()]
    parts = build_telemetry(config, clock=lambda: clock[0])
    assert parts is not None
    outbox, reporter = parts
    try:
        now = clock[0]
        verdict = Verdict(
            "v",
            now,
            Level.WARN,
            "anydesk",
            "AnyDesk",
            Trigger.UNKNOWN_CALL,
            Stage.REMOTE_TOOL_STARTED,
            1.0,
            (),
        )
        assert outbox.admit(Resolution(verdict, Outcome.USER_STOPPED, now)) is True
        result = CliRunner().invoke(main, ["telemetry", "off", "--config", str(_config(tmp_path))])
        assert result.exit_code == 0
        other = Verdict(
            "w",
            now,
            Level.WARN,
            "teamviewer",
            "TeamViewer",
            Trigger.UNKNOWN_CALL,
            Stage.REMOTE_TOOL_STARTED,
            1.0,
            (),
        )
        assert outbox.admit(Resolution(other, Outcome.USER_STOPPED, now)) is False
        clock[0] = reporter.due_at
        reporter.step()  # due, but the person said no: nothing is built or sent
        stats = outbox.stats()
        assert stats.rows == 0 and stats.in_flight_batches == 0
    finally:
        reporter.stop()
        outbox.close()


def test_no_outbox_at_all_when_the_deployer_turns_telemetry_off(tmp_path: Path) -> None:
    from agent.commands.statedir import load
    from agent.telemetry.reporter import build_telemetry

    assert build_telemetry(load(_config(tmp_path, enabled="false"), None)) is None
    assert build_telemetry(load(_config(tmp_path, collector=""), None)) is None
    assert not (tmp_path / "state" / OUTBOX_FILE).exists()
