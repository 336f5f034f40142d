"""`ratwatch-collector serve` and `token add` as real child processes, stopped by signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from ratwatch_proto import telemetry_pb2 as pb
from ratwatch_proto import telemetry_pb2_grpc as pb_grpc

from collector.known_tools import bundled_ids

KNOWN = sorted(bundled_ids())  # real catalogue ids: unknown ones are held from stats


def _token(cmd: list[str], role: str, config: Path) -> str:
    done = subprocess.run(
        [*cmd, "token", "add", "--role", role, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = done.stdout.strip()
    assert len(token) >= 40 and "\n" not in token
    assert token not in config.read_text()  # only the hash is stored
    return token


class Served:
    def __init__(self, proc: subprocess.Popen[str], address: str, lines: list[str]) -> None:
        self.proc, self.address, self.lines = proc, address, lines


@pytest.fixture
def serve(collector_cmd: list[str], tmp_path: Path) -> Iterator[Any]:
    procs: list[subprocess.Popen[str]] = []

    def start(config: Path, *extra: str) -> Served:
        proc = subprocess.Popen(
            [*collector_cmd, "serve", "--config", str(config), "--listen", "127.0.0.1:0", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("press Ctrl-C"):
                break
        listening = next(ln for ln in lines if "listening on" in ln)
        address = listening.split("listening on ")[1].split()[0]
        return Served(proc, address, lines)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def _batch(today: int, tool: str, count: int) -> pb.CountBatch:
    return pb.CountBatch(
        batch_id=os.urandom(16),
        rows=[pb.CountRow(utc_day=today, tool_id=tool, trigger=1, stage=1, outcome=1, count=count)],
    )


@pytest.mark.parametrize("workers", ["1", "2"], ids=["one-process", "two-workers"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly_and_keeps_every_acknowledged_count(
    serve: Any, collector_cmd: list[str], tmp_path: Path, sig: signal.Signals, workers: str
) -> None:
    config = tmp_path / "collector.toml"
    data_dir = tmp_path / "data"
    config.write_text(f'# operator comment\n[collector]\ndata_dir = "{data_dir}"\n')
    agent = _token(collector_cmd, "agent", config)
    assert config.read_text().startswith("# operator comment")

    served = serve(config, "--workers", workers)
    assert any(ln == f"data dir: {data_dir}" for ln in served.lines), served.lines
    assert "(plaintext, loopback only)" in served.lines[0]
    assert ("with 2 workers" in served.lines[0]) == (workers == "2")

    today = int(time.time() // 86400)
    batches = [_batch(today, KNOWN[i % 7], 1) for i in range(400)]
    md = (("authorization", f"Bearer {agent}"),)
    with grpc.insecure_channel(served.address) as channel:
        stub = pb_grpc.TelemetryStub(channel)
        assert stub.Submit(batches[0], metadata=md, timeout=10).rows_accepted == 1
        futures = [stub.Submit.future(b, metadata=md, timeout=20) for b in batches[1:]]
        time.sleep(0.05)  # let part of them be in flight
        served.proc.send_signal(sig)
        acked = [batches[0]] + [
            b for b, f in zip(batches[1:], futures, strict=True) if f.exception() is None
        ]
    out, err = served.proc.communicate(timeout=60)
    assert served.proc.returncode == 0, err
    assert "stopped cleanly" in out
    assert (
        not (data_dir / "collector.sqlite3-wal").exists()
        or (data_dir / "collector.sqlite3-wal").stat().st_size == 0
    )

    def totals() -> dict[str, int]:
        done = subprocess.run(
            [
                *collector_cmd,
                "stats",
                "--data-dir",
                str(data_dir),
                "--raw",
                "--min-cell-count",
                "1",
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return {r["tool"]: r["count"] for r in json.loads(done.stdout)["rows"]}

    def expected(subset: list[pb.CountBatch]) -> dict[str, int]:
        out: dict[str, int] = {}
        for b in subset:
            out[b.rows[0].tool_id] = out.get(b.rows[0].tool_id, 0) + b.rows[0].count
        return out

    after_stop = totals()
    for tool, n in expected(acked).items():
        assert after_stop.get(tool, 0) >= n  # no acknowledged count lost
    # Agents retry what was not acknowledged: after a restart everything is
    # counted exactly once.
    served = serve(config, "--workers", workers)
    with grpc.insecure_channel(served.address) as channel:
        stub = pb_grpc.TelemetryStub(channel)
        for b in batches:
            if b not in acked:
                stub.Submit(b, metadata=md, timeout=10)
    served.proc.send_signal(signal.SIGTERM)
    served.proc.communicate(timeout=60)
    assert totals() == expected(batches)


def test_token_add_keeps_hashes_only_and_the_file_valid(
    collector_cmd: list[str], tmp_path: Path
) -> None:
    config = tmp_path / "new" / "collector.toml"
    first = _token(collector_cmd, "analyst", config)
    second = _token(collector_cmd, "analyst", config)
    third = _token(collector_cmd, "agent", config)
    assert len({first, second, third}) == 3
    text = config.read_text()
    assert text.count("sha256:") == 3
    assert oct(config.stat().st_mode & 0o777) == "0o600"
    bad = tmp_path / "bad.toml"
    bad.write_text("[collector\n")
    done = subprocess.run(
        [*collector_cmd, "token", "add", "--role", "agent", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "not valid TOML" in done.stderr
    assert bad.read_text() == "[collector\n"
    # Valid TOML but not a valid config: refused before the file is touched.
    invalid = tmp_path / "invalid.toml"
    invalid.write_text("[collector]\nmin_cell_count = 0\n")
    done = subprocess.run(
        [*collector_cmd, "token", "add", "--role", "agent", "--config", str(invalid)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "min_cell_count" in done.stderr
    assert done.stdout == ""  # no token shown ...
    assert invalid.read_text() == "[collector]\nmin_cell_count = 0\n"  # ... and none stored


def test_serve_refuses_plaintext_on_a_public_address(
    collector_cmd: list[str], tmp_path: Path
) -> None:
    done = subprocess.run(
        [*collector_cmd, "serve", "--data-dir", str(tmp_path), "--listen", "0.0.0.0:0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "not a loopback address and TLS is off" in done.stderr


def test_serve_explains_a_data_dir_it_cannot_use(collector_cmd: list[str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    done = subprocess.run(
        [*collector_cmd, "serve", "--data-dir", str(blocker / "data"), "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "cannot create the data dir" in done.stderr and "Traceback" not in done.stderr
