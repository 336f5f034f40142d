"""`serve --workers 2`: front-end processes sharing one port, one writer behind them.

Real processes throughout: the collector as an operator starts it, its
spawned front ends found with psutil, and kill -9 where a crash is the case.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import psutil
import pytest
from ratwatch_proto import telemetry_pb2 as pb
from ratwatch_proto import telemetry_pb2_grpc as pb_grpc

from collector.auth import hash_token, new_token
from collector.known_tools import bundled_ids

KNOWN = sorted(bundled_ids())  # real catalogue ids: unknown ones are held from stats

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="several workers need SO_REUSEPORT (Linux)"
)


STATS_ARGS = ("--raw", "--min-cell-count", "1", "--format", "json")


class Collector:
    def __init__(self, proc: subprocess.Popen[str], address: str, lines: list[str]) -> None:
        self.proc, self.address, self.lines = proc, address, lines

    def workers(self) -> list[psutil.Process]:
        """The live front ends (not multiprocessing's resource tracker, not a reaped-to-be one)."""
        out = []
        for p in psutil.Process(self.proc.pid).children():
            try:
                if "spawn_main" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                    out.append(p)
            except psutil.Error:  # exited (or a zombie) meanwhile
                continue
        return out


@pytest.fixture
def agent_token() -> str:
    return new_token()


@pytest.fixture
def config(tmp_path: Path, agent_token: str) -> Path:
    path = tmp_path / "collector.toml"
    path.write_text(
        f'[collector]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[tokens]\nagent = ["{hash_token(agent_token)}"]\n'
        # many PCs share loopback here: one address's limit would refuse them
        "[limits]\npeer_burst_rows = 1000000\n"
    )
    return path


@pytest.fixture
def start(collector_cmd: list[str]) -> Iterator[Any]:
    procs: list[subprocess.Popen[str]] = []

    def start_(config: Path, *extra: str, listen: str = "127.0.0.1:0") -> Collector:
        cmd = [*collector_cmd, "serve", "--config", str(config), "--listen", listen, *extra]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("press Ctrl-C"):
                break
        else:
            raise AssertionError(f"no start: {lines} {proc.communicate(timeout=30)[1]}")
        address = lines[0].split("listening on ")[1].split()[0]
        return Collector(proc, address, lines)

    yield start_
    for proc in procs:
        kids = psutil.Process(proc.pid).children() if proc.poll() is None else []
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for kid in kids:
            if kid.is_running():
                kid.kill()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def _batch(tool: str, count: int) -> pb.CountBatch:
    today = int(time.time() // 86400)
    row = pb.CountRow(utc_day=today, tool_id=tool, trigger=1, stage=1, outcome=1, count=count)
    return pb.CountBatch(batch_id=os.urandom(16), rows=[row])


def _channels(address: str, n: int) -> list[grpc.Channel]:
    # Distinct channel arguments: a connection each, so SO_REUSEPORT can spread them.
    return [grpc.insecure_channel(address, options=[("test.channel", i)]) for i in range(n)]


def _totals(collector_cmd: list[str], data_dir: Path) -> dict[str, int]:
    done = subprocess.run(
        [*collector_cmd, "stats", "--data-dir", str(data_dir), *STATS_ARGS],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {r["tool"]: r["count"] for r in json.loads(done.stdout)["rows"]}


def _ports(proc: psutil.Process, port: int) -> int:
    """How many established connections on ``port`` this process serves."""
    return sum(
        1
        for c in proc.net_connections(kind="tcp")
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


def test_two_workers_share_the_port_and_count_every_batch_once(
    start: Any, config: Path, agent_token: str, tmp_path: Path, collector_cmd: list[str]
) -> None:
    c = start(config, "--workers", "2")
    assert c.lines[0].endswith("with 2 workers")
    workers = c.workers()
    assert len(workers) == 2
    md = (("authorization", f"Bearer {agent_token}"),)
    channels = _channels(c.address, 16)
    sent: dict[str, int] = {}
    futures = []
    for i in range(400):
        b = _batch(KNOWN[i % 9], 1)
        sent[b.rows[0].tool_id] = sent.get(b.rows[0].tool_id, 0) + b.rows[0].count
        stub = pb_grpc.TelemetryStub(channels[i % len(channels)])
        if i % 50 == 0:  # a replay of an acknowledged batch, through another connection
            assert stub.Submit(b, metadata=md, timeout=30).rows_accepted == 1
            replay = pb_grpc.TelemetryStub(channels[(i + 1) % len(channels)])
            assert replay.Submit(b, metadata=md, timeout=30).duplicate
        else:
            futures.append(stub.Submit.future(b, metadata=md, timeout=30))
    assert all(f.result().rows_accepted == 1 for f in futures)
    port = int(c.address.rsplit(":", 1)[1])
    # Both front ends hold some of the 16 connections (all on one: 2 in 65536).
    assert all(_ports(w, port) > 0 for w in workers), [_ports(w, port) for w in workers]
    for ch in channels:
        ch.close()
    c.proc.send_signal(signal.SIGTERM)
    _out, err = c.proc.communicate(timeout=60)
    assert c.proc.returncode == 0, err
    assert _totals(collector_cmd, tmp_path / "data") == sent


def test_a_killed_worker_is_replaced_and_nothing_acknowledged_is_lost(
    start: Any, config: Path, agent_token: str, tmp_path: Path, collector_cmd: list[str]
) -> None:
    c = start(config, "--workers", "2")
    md = (("authorization", f"Bearer {agent_token}"),)
    victim = c.workers()[0]
    acked: dict[str, int] = {}
    with grpc.insecure_channel(c.address) as ch:
        stub = pb_grpc.TelemetryStub(ch)
        for _i in range(20):
            b = _batch(KNOWN[0], 1)
            stub.Submit(b, metadata=md, timeout=30)
            acked[KNOWN[0]] = acked.get(KNOWN[0], 0) + 1
    victim.kill()  # kill -9: a crash in the middle of serving
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        kids = [k for k in c.workers() if k.pid != victim.pid]
        if len(kids) == 2:
            break
        time.sleep(0.2)
    assert len(kids) == 2, "the dead worker was not replaced"
    # New connections work wherever they land; retries of failed calls are the agents' job.
    for ch in _channels(c.address, 8):
        stub = pb_grpc.TelemetryStub(ch)
        for _ in range(5):
            for _attempt in range(50):
                b = _batch(KNOWN[1], 1)
                try:
                    stub.Submit(b, metadata=md, timeout=10, wait_for_ready=True)
                    break
                except grpc.RpcError:
                    time.sleep(0.1)
            acked[KNOWN[1]] = acked.get(KNOWN[1], 0) + 1
        ch.close()
    c.proc.send_signal(signal.SIGTERM)
    _, err = c.proc.communicate(timeout=60)
    assert c.proc.returncode == 0, err
    assert "exited with code -9" in err and "replaced" in err
    assert _totals(collector_cmd, tmp_path / "data") == acked


def test_workers_stop_when_the_writer_dies(start: Any, config: Path) -> None:
    c = start(config, "--workers", "2")
    workers = c.workers()
    os.kill(c.proc.pid, signal.SIGKILL)  # the writer (parent) crashes
    c.proc.wait(10)
    _gone, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, "front ends kept serving without their writer"
    host, port = c.address.rsplit(":", 1)
    with socket.socket() as s:  # and the port is free again for a restart
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port)))


def test_a_second_collector_can_take_neither_the_data_dir_nor_the_port(
    start: Any, config: Path, tmp_path: Path, collector_cmd: list[str]
) -> None:
    c = start(config, "--workers", "2")
    same_dir = subprocess.run(
        [*collector_cmd, "serve", "--config", str(config), "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert same_dir.returncode == 1
    assert "another ratwatch collector is using this data dir" in same_dir.stderr
    other = tmp_path / "other.toml"
    other.write_text(f'[collector]\ndata_dir = "{tmp_path / "other"}"\n')
    for workers in ("1", "2"):
        same_port = subprocess.run(
            [*collector_cmd, "serve", "--config", str(other), "--listen", c.address, "-w", workers],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert same_port.returncode == 1, same_port.stdout
        assert "cannot listen on" in same_port.stderr and "Traceback" not in same_port.stderr


def test_releases_are_made_once_by_the_writer_and_served_by_every_front_end(
    tmp_path: Path, start: Any, agent_token: str
) -> None:
    """Tallies of closed days in the data dir: two front ends answer from the same releases."""
    from collector.model import Batch, TallyRow
    from collector.sqlite_store import SqliteStore

    today = int(time.time() // 86400)
    seeded = SqliteStore(tmp_path / "data")
    for day in range(today - 12, today - 5):
        rows = (TallyRow(day, "teamviewer", 2, 1, 1, 400), TallyRow(day, "anydesk", 2, 1, 1, 300))
        seeded.ingest(Batch(os.urandom(16), "NL", rows))
    seeded.close()
    analyst = new_token()
    config = tmp_path / "with-analyst.toml"
    config.write_text(
        f'[collector]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[tokens]\nagent = ["{hash_token(agent_token)}"]\nanalyst = ["{hash_token(analyst)}"]\n'
    )

    def answers(address: str) -> set[tuple[Any, ...]]:
        seen = set()
        for ch in _channels(address, 6):
            with ch:
                reply = pb_grpc.StatsStub(ch).Query(
                    pb.StatsQuery(
                        group_by=[pb.DIMENSION_TOOL], since_day=today - 12, until_day=today - 6
                    ),
                    metadata=(("authorization", f"Bearer {analyst}"),),
                    timeout=10,
                )
            seen.add(
                (
                    tuple(r.release_id for r in reply.releases),
                    tuple((r.tool_id, r.count) for r in reply.rows),
                )
            )
        return seen

    running = start(config, "--workers", "2")
    deadline = time.monotonic() + 30
    got = answers(running.address)
    while not any(ids for ids, _ in got) and time.monotonic() < deadline:
        time.sleep(0.2)  # the writer makes them right after start
        got = answers(running.address)
    assert len(got) == 1, got  # every front end, every connection: the same releases
    ((ids, rows),) = got
    assert ids and rows and {tool for tool, _ in rows} == {"teamviewer", "anydesk"}
    running.proc.send_signal(signal.SIGTERM)
    _, err = running.proc.communicate(timeout=60)
    assert err.count("released ") == 1, err  # one pass, in the writer, made them all
    again = start(config, "--workers", "2")
    assert answers(again.address) == got  # after a restart: unchanged, nothing recomputed
