"""Contributions are attributable and removable: per-token tallies, purge, rotation, audit."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import subprocess
from pathlib import Path
from typing import Any

import grpc
import pytest
from ratwatch_proto import limits
from ratwatch_proto import telemetry_pb2 as pb

from agent.config import TelemetrySection
from agent.telemetry.outbox import OUTBOX_FILE, Outbox
from agent.telemetry.reporter import Reporter
from agent.verdict import Level, Outcome, Resolution, Stage, Trigger, Verdict
from collector.audit import audit, volume_threshold
from collector.auth import hash_token, new_token, token_id
from collector.known_tools import bundled_ids
from collector.periods import day_label

KNOWN = sorted(bundled_ids())
ROOMY = {"peer_burst_rows": 1_000_000, "token_burst_rows": 1_000_000}  # many PCs on loopback


def _run(cmd: list[str], *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode == 0) == ok, done.stderr
    return done


def _submit(running: Any, token: str, *rows: pb.CountRow) -> pb.SubmitReply:
    msg = pb.CountBatch(batch_id=random.randbytes(16), rows=list(rows))
    md = (("authorization", f"Bearer {token}"),)
    return running.telemetry().Submit(msg, metadata=md, timeout=10)


def _table(cmd: list[str], config: Path) -> dict[tuple[str, str], int]:
    out = _run(
        cmd, "stats", "--config", str(config), "--raw", "--by", "tool,day", "--format", "json"
    )
    return {(r["tool"], r["day"]): r["count"] for r in json.loads(out.stdout)["rows"]}


def _config(path: Path, data_dir: Path, agents: list[str], analyst: str) -> Path:
    hashes = ", ".join(f'"{hash_token(t)}"' for t in agents)
    path.write_text(
        f'[collector]\ndata_dir = "{data_dir}"\nmin_cell_count = 1\n'
        f'[tokens]\nagent = [{hashes}]\nanalyst = ["{hash_token(analyst)}"]\n'
    )
    return path


def test_revoke_and_purge_restores_the_seeded_baseline_exactly(
    start_collector: Any, tokens: Any, collector_cmd: list[str], tmp_path: Path
) -> None:
    leaked = new_token()
    section = {"agent": [hash_token(tokens.agent), hash_token(leaked)]}
    running = start_collector(tokens=section, collector={"min_cell_count": 1}, limits=ROOMY)
    today = running.clock.today
    rng = random.Random(13)
    # 30 days of honest agents, skewed towards a few tools.
    for _ in range(600):
        day = today - rng.randrange(30)
        tools = rng.sample(KNOWN[:12], rng.randrange(1, 4))
        _submit(
            running,
            tokens.agent,
            *(
                pb.CountRow(utc_day=day, tool_id=t, trigger=1, stage=1, outcome=1, count=1)
                for t in tools
            ),
        )
    since = today - 9
    # The leaked token adds a little before the purge date (kept) and a flood after (purged).
    for _ in range(3):
        _submit(
            running,
            leaked,
            pb.CountRow(
                utc_day=since - 1, tool_id="rustdesk", trigger=1, stage=1, outcome=1, count=1
            ),
        )
    config = _config(
        tmp_path / "c.toml", running.config.data_dir, [tokens.agent, leaked], tokens.analyst
    )
    running.stop()
    baseline = _table(collector_cmd, config)
    running = start_collector(
        tokens=section, collector={"data_dir": str(running.config.data_dir)}, limits=ROOMY
    )
    for _ in range(200):
        rows = [
            pb.CountRow(utc_day=d, tool_id="rustdesk", trigger=t, stage=1, outcome=1, count=1)
            for d in range(since, today + 1)
            for t in range(1, 1 + min(5, limits.ROWS_PER_DAY))  # the most one day may carry
        ]
        assert _submit(running, leaked, *rows).rows_accepted == len(rows)
    running.stop()
    flooded = _table(collector_cmd, config)
    assert flooded[("rustdesk", day_label(today))] > baseline.get(("rustdesk", day_label(today)), 0)

    volume = _run(
        collector_cmd, "token", "volume", "--config", str(config), "--since", day_label(today - 35)
    ).stdout
    assert token_id(hash_token(leaked)) in volume and token_id(hash_token(tokens.agent)) in volume
    lid = token_id(hash_token(leaked))
    done = _run(
        collector_cmd,
        "token",
        "revoke",
        lid,
        "--config",
        str(config),
        "--purge-since",
        day_label(since),
    )
    assert f"removed {200 * len(rows)} counts" in done.stdout
    assert _table(collector_cmd, config) == baseline  # exactly, cell by cell
    assert lid not in _run(collector_cmd, "token", "list", "--config", str(config)).stdout
    # A replay of a purged batch is remembered as acknowledged: it cannot come back.


def test_purge_refuses_while_the_collector_runs(
    collector: Any, tokens: Any, collector_cmd: list[str], tmp_path: Path
) -> None:
    config = _config(tmp_path / "c.toml", collector.config.data_dir, [tokens.agent], tokens.analyst)
    tid = token_id(hash_token(tokens.agent))
    done = _run(
        collector_cmd,
        "token",
        "revoke",
        tid,
        "--config",
        str(config),
        "--purge-since",
        "2026-01-01",
        ok=False,
    )
    assert "another ratwatch collector is using this data dir" in done.stderr
    assert tid in _run(collector_cmd, "token", "list", "--config", str(config)).stdout


def _resolution(tool: str, at: float) -> Resolution:
    verdict = Verdict(
        "local-only",
        at,
        Level.WARN,
        tool,
        tool,
        Trigger.UNKNOWN_CALL,
        Stage.REMOTE_TOOL_STARTED,
        1.0,
        (),
    )
    return Resolution(verdict, Outcome.USER_STOPPED, at)


def test_rotation_with_overlap_loses_no_honest_agents_batch(
    start_collector: Any, tokens: Any, tmp_path: Path
) -> None:
    """Real outboxes and reporters: some agents move to the new token, one lags past the revoke."""
    old, new = tokens.agent, new_token()
    data_dir = str(tmp_path / "rot")
    both = {"agent": [hash_token(old), hash_token(new)]}
    running = start_collector(
        tokens={"agent": [hash_token(old)]}, collector={"min_cell_count": 1, "data_dir": data_dir}
    )
    now = [running.clock.now]
    base = TelemetrySection(
        collector=running.address, token=old, deadline_seconds=5.0, retry_initial_seconds=1.0
    )
    agents = []
    for i in range(6):
        box = Outbox(tmp_path / f"pc{i}" / OUTBOX_FILE, clock=lambda: now[0])
        agents.append(box)
    admitted = 0

    def reporter(box: Outbox, token: str, address: str) -> Reporter:
        s = dataclasses.replace(base, token=token, collector=address)
        return Reporter(box, s, clock=lambda: now[0], rng=random.Random(1))

    def admit_all(round_no: int) -> int:
        return sum(box.admit(_resolution(KNOWN[round_no], now[0])) for box in agents)

    admitted += admit_all(0)
    for box in agents:
        assert reporter(box, old, running.address).upload()
    running.stop()
    # Overlap: both tokens accepted; half the fleet has the new one.
    running = start_collector(tokens=both, collector={"min_cell_count": 1, "data_dir": data_dir})
    admitted += admit_all(1)
    for i, box in enumerate(agents):
        assert reporter(box, new if i % 2 else old, running.address).upload()
    running.stop()
    # Old token revoked; agent 0 still has it: refused, its counts kept, delivered once updated.
    running = start_collector(
        tokens={"agent": [hash_token(new)]}, collector={"min_cell_count": 1, "data_dir": data_dir}
    )
    admitted += admit_all(2)
    assert not reporter(agents[0], old, running.address).upload()
    assert agents[0].stats().in_flight_batches == 1
    for box in agents:
        assert reporter(box, new, running.address).upload()
    assert sum(running.raw_counts().values()) == admitted == 18  # the operator's raw tallies
    for box in agents:
        box.close()


def test_audit_rule_flags_a_spike_and_a_new_tool_mix() -> None:
    day0 = 20_000
    usual = {"teamviewer": 40, "anydesk": 8}
    volumes: dict[tuple[str, int], dict[str, int]] = {}
    rng = random.Random(5)
    for d in range(day0, day0 + 40):
        volumes[("honest", d)] = {t: n + rng.randrange(-3, 4) for t, n in usual.items()}
        volumes[("leaked", d)] = {t: n + rng.randrange(-3, 4) for t, n in usual.items()}
    volumes[("leaked", day0 + 35)] = {"teamviewer": 40, "anydesk": 8, "rustdesk": 300}  # spike
    volumes[("leaked", day0 + 37)] = {"rustdesk": 45, "teamviewer": 3}  # same volume, new mix
    found = {(f.token, f.day, f.reason) for f in audit(volumes, day0 + 30, day0 + 39)}
    assert found == {
        ("leaked", day0 + 35, "volume"),
        ("leaked", day0 + 35, "tool mix"),
        ("leaked", day0 + 37, "tool mix"),
    }
    assert volume_threshold([48] * 28) == pytest.approx(48 + 5 * 7)  # the Poisson floor


def test_audit_command_exits_1_on_a_finding(
    start_collector: Any, tokens: Any, collector_cmd: list[str], tmp_path: Path
) -> None:
    real_today = int(dt.datetime.now(dt.timezone.utc).timestamp() // 86400)
    running = start_collector(limits=ROOMY)
    running.clock.now = real_today * 86400.0 + 600
    for d in range(real_today - 30, real_today):
        for t in KNOWN[:5]:
            _submit(
                running,
                tokens.agent,
                pb.CountRow(utc_day=d, tool_id=t, trigger=1, stage=1, outcome=1, count=1),
            )
    config = _config(tmp_path / "c.toml", running.config.data_dir, [tokens.agent], tokens.analyst)
    assert _run(collector_cmd, "audit", "--config", str(config)).returncode == 0
    for trig in range(1, 6):
        for _ in range(20):
            _submit(
                running,
                tokens.agent,
                pb.CountRow(
                    utc_day=real_today,
                    tool_id="rustdesk",
                    trigger=trig,
                    stage=1,
                    outcome=1,
                    count=1,
                ),
            )
    done = _run(collector_cmd, "audit", "--config", str(config), ok=False)
    assert done.returncode == 1 and "volume" in done.stdout and "tool mix" in done.stdout
    assert grpc  # the collector served throughout
