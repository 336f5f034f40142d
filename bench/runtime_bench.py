"""Runtime benchmark: agent start-up and stop, intake latency, correlator throughput.

Run:  python bench/runtime_bench.py  [--samples 30]

Each figure is printed beside a baseline measured in the same run on the same
machine (benchmarks are noisy on shared CPUs; the ratio is the figure to read):

(a) start-up: spawn -> "Stop with Ctrl+C" of ``ratwatch-agent run`` (intake +
    processes + sessions), against spawning ``python -c "import agent.cli"``;
(b) stop: SIGTERM -> exit code 0;
(c) intake: ``signal``-style file renamed into the inbox -> context record in
    the journal (watchdog, parse, queue, correlator thread, fsync'd journal),
    against a bare watchdog observer seeing a rename in another directory;
(d) correlator: events per second fed to ``Correlator.feed`` (a realistic mix:
    many ordinary process starts and ends, a few tool starts and context), against
    the same loop calling a function that does nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from agent.catalogue.loader import load_catalogue
from agent.correlate.correlator import Correlator
from agent.events import (
    CallerKind,
    CallStarted,
    Confidence,
    Event,
    MatchedBy,
    PathClass,
    ProcessEnded,
    ProcessStarted,
    ToolMatch,
)
from agent.journal.journal import read_records
from agent.sensors.intake import documents as intake


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(values: list[float]) -> str:
    return f"p50 {statistics.median(values) * 1000:.1f} ms, p95 {pct(values, 0.95) * 1000:.1f} ms"


def start_agent(state: Path) -> tuple[subprocess.Popen[str], float]:
    config = state.parent / "agent.toml"
    config.write_text(
        f"[agent]\nstate_dir = {json.dumps(str(state))}\n"
        '[sensors]\nenabled = ["processes", "sessions", "intake"]\nprocess_events = "poll"\n'
        '[dialog]\nbackend = "log"\n[telemetry]\nenabled = false\n'
    )
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("Stop with Ctrl+C"):
            break
    return proc, time.monotonic() - started


def bench_startup(samples: int) -> None:
    agent, baseline = [], []
    stops = []
    for _ in range(samples):
        t = time.monotonic()
        subprocess.run([sys.executable, "-c", "import agent.cli"], check=True)
        baseline.append(time.monotonic() - t)
        with tempfile.TemporaryDirectory() as tmp:
            proc, seconds = start_agent(Path(tmp) / "state")
            agent.append(seconds)
            t = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
            stops.append(time.monotonic() - t)
    a, b = statistics.median(agent), statistics.median(baseline)
    print(
        f"(a) start-up: agent {a * 1000:.0f} ms, `import agent.cli` {b * 1000:.0f} ms "
        f"(ratio {a / b:.1f}x; n={samples})"
    )
    print(f"(b) stop on SIGTERM: {ms(stops)} (exit 0 every time)")


class _Seen(FileSystemEventHandler):
    def __init__(self) -> None:
        self.events: queue.Queue[float] = queue.Queue()

    def on_moved(self, event: FileSystemEvent) -> None:
        self.events.put(time.monotonic())


def bench_intake(samples: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        proc, _ = start_agent(state)
        latencies = []
        try:
            for i in range(samples):
                t = time.monotonic()
                intake.write_inbox_file(state, intake.document("call-ended", source="bench"))
                while len(list(read_records(state / "journal.jsonl"))) <= i:
                    time.sleep(0.0005)
                latencies.append(time.monotonic() - t)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        raw_dir = Path(tmp) / "raw"
        raw_dir.mkdir()
        seen = _Seen()
        observer = Observer()
        observer.schedule(seen, str(raw_dir))
        observer.start()
        raw = []
        try:
            for i in range(samples):
                src = raw_dir / f".{i}.tmp"
                src.write_text("{}")
                t = time.monotonic()
                src.rename(raw_dir / f"{i}.json")
                raw.append(seen.events.get(timeout=10) - t)
        finally:
            observer.stop()
            observer.join()
    ratio = statistics.median(latencies) / max(statistics.median(raw), 1e-6)
    print(
        f"(c) intake file -> journal: {ms(latencies)}; bare watchdog rename: {ms(raw)} "
        f"(ratio {ratio:.0f}x; n={samples})"
    )


def _events(n: int) -> list[Event]:
    now = time.time()
    out: list[Event] = [CallStarted(now, CallerKind.UNKNOWN, "bench")]
    tool = ToolMatch("anydesk", "AnyDesk", MatchedBy.PROCESS_NAME, Confidence.HIGH)
    for i in range(n):
        pid = 10_000 + i
        is_tool = i % 100 == 0
        out.append(
            ProcessStarted(
                at=now,
                pid=pid,
                ppid=1,
                name="AnyDesk.exe" if is_tool else "bash",
                exe="",
                cmdline=(),
                create_time=now,
                path_class=PathClass.OTHER,
                tool=tool if is_tool else None,
            )
        )
        out.append(ProcessEnded(now, pid, "bash"))
    return out


def bench_correlator(n: int) -> None:
    catalogue = load_catalogue()
    events = _events(n)
    correlator = Correlator(lambda: catalogue, time.time)
    t = time.perf_counter()
    for event in events:
        correlator.feed(event)
    fed = time.perf_counter() - t

    def nothing(event: Event) -> list[object]:
        return []

    t = time.perf_counter()
    for event in events:
        nothing(event)
    base = time.perf_counter() - t
    rate = len(events) / fed
    print(
        f"(d) correlator: {rate:,.0f} events/s ({fed / len(events) * 1e6:.1f} us/event); "
        f"no-op loop {base / len(events) * 1e6:.2f} us/event (ratio {fed / base:.0f}x; "
        f"{len(events):,} events); memory after: {correlator.memory()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--events", type=int, default=50_000)
    args = parser.parse_args()
    bench_startup(max(3, args.samples // 4))
    bench_intake(args.samples)
    bench_correlator(args.events)


if __name__ == "__main__":
    main()
