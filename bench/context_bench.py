"""Benchmark of the context sensors: idle CPU of browser + downloads, and page-to-journal latency.

Runs the real ``ratwatch-agent run`` as a child process, twice in the same run:

1. baseline: the agent with no sensors at all (runtime, correlator, journal idle);
2. context: the agent with only the ``browser`` and ``downloads`` sensors, watching
   a Chromium and a Firefox history database of realistic size (the real schemas,
   tens of thousands of visits, in WAL mode) and a Downloads folder.

It prints each agent's CPU use over the same idle window (as % of one core),
the difference (what the two sensors add), and the ratio. Then, with the
context agent still running, it appends scareware visits to the Chromium
history one at a time and measures the time from the browser's commit to the
verdict-free "context" line in the journal (p50 / p95 / max), beside the raw
cost of one private copy + read of that database measured in this process.

    python bench/context_bench.py            # ~2 minutes
    python bench/context_bench.py --idle 60 --visits 40

Reach (issue 4): the two sensors add <= 0.1 % of a core when idle, and a new
scareware visit reaches the journal within 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType

import psutil

REPO = Path(__file__).resolve().parent.parent


def _writer() -> ModuleType:
    import importlib.util

    path = REPO / "tests" / "data" / "history" / "history_writer.py"
    spec = importlib.util.spec_from_file_location("history_writer", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


W = _writer()


def fill(hist: object, visits: int) -> None:
    """Years of ordinary browsing, in one transaction."""
    conn = hist.conn  # type: ignore[attr-defined]
    now = time.time() - 86400
    conn.execute("BEGIN")
    for i in range(visits):
        url = f"https://site{i % 5000}.example/page/{i}"
        if hist.flavour == "chromium":  # type: ignore[attr-defined]
            stamp = W.ChromiumHistory.stamp(now - i * 30)
            cur = conn.execute(
                "INSERT INTO urls(url, title, visit_count, last_visit_time) VALUES (?, ?, 1, ?)",
                (url, f"An ordinary page {i}", stamp),
            )
            conn.execute(
                "INSERT INTO visits(url, visit_time, transition) VALUES (?, ?, 805306368)",
                (cur.lastrowid, stamp),
            )
        else:
            stamp = int((now - i * 30) * 1_000_000)
            cur = conn.execute(
                "INSERT INTO moz_places(url, title, rev_host, visit_count, last_visit_date, guid) "
                "VALUES (?, ?, 'elpmaxe.', 1, ?, ?)",
                (url, f"An ordinary page {i}", stamp, f"g{i}"),
            )
            conn.execute(
                "INSERT INTO moz_historyvisits(place_id, visit_date, visit_type) VALUES (?, ?, 1)",
                (cur.lastrowid, stamp),
            )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def start_agent(
    root: Path, name: str, sensors: list[str], history: list[Path], downloads: Path
) -> subprocess.Popen[str]:
    state = root / f"state-{name}"
    config = root / f"{name}.toml"
    config.write_text(
        f'[agent]\nstate_dir = {json.dumps(str(state))}\nlog_level = "WARNING"\n'
        f"[sensors]\nenabled = {json.dumps(sensors)}\n"
        f"[browser]\nhistory_paths = {json.dumps([str(p) for p in history])}\n"
        "default_profiles = false\n"
        f"[downloads]\nwatch_dirs = [{json.dumps(str(downloads))}]\n"
        '[dialog]\nbackend = "log"\n[telemetry]\nenabled = false\n'
    )
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
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc


def cpu_seconds(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


def measure_idle(procs: dict[str, subprocess.Popen[str]], seconds: float) -> dict[str, float]:
    """% of one core each process used over the same window."""
    before = {name: cpu_seconds(p.pid) for name, p in procs.items()}
    start = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - start
    return {
        name: 100.0 * (cpu_seconds(p.pid) - before[name]) / elapsed for name, p in procs.items()
    }


def journal_lines(path: Path) -> int:
    try:
        with path.open("rb") as fh:
            return sum(1 for _ in fh)
    except FileNotFoundError:
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=45.0, help="idle window in seconds")
    parser.add_argument("--visits", type=int, default=30, help="scareware visits to time")
    parser.add_argument("--history", type=int, default=30_000, help="visits per database")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ratwatch-bench-") as tmp:
        root = Path(tmp)
        chrome = W.ChromiumHistory(root / "chrome" / "Default" / "History")
        firefox = W.FirefoxHistory(root / "firefox" / "abcd.default" / "places.sqlite")
        fill(chrome, args.history)
        fill(firefox, args.history)
        downloads = root / "Downloads"
        downloads.mkdir()
        size_mb = chrome.path.stat().st_size / 1e6
        print(f"history databases: 2 x {args.history} visits (Chromium file {size_mb:.1f} MB)")

        from agent.sensors.browser.history import read_history

        scratch = root / "scratch"
        scratch.mkdir()
        raw = []
        for _ in range(10):
            t0 = time.perf_counter()
            read_history(chrome.path, scratch, after_id=args.history - 1, not_before=0)
            raw.append(time.perf_counter() - t0)
        raw_ms = statistics.median(raw) * 1000

        procs = {
            "baseline (no sensors)": start_agent(root, "baseline", [], [], downloads),
            "browser + downloads": start_agent(
                root, "context", ["browser", "downloads"], [chrome.path, firefox.path], downloads
            ),
        }
        try:
            time.sleep(3.0)  # start-up and the first reads are over
            idle = measure_idle(procs, args.idle)
            base = idle["baseline (no sensors)"]
            ctx = idle["browser + downloads"]
            print(f"\nidle CPU over {args.idle:.0f} s, same window (% of one core):")
            for name, value in idle.items():
                print(f"  {name:<24} {value:7.3f} %")
            print(f"  {'added by the 2 sensors':<24} {ctx - base:7.3f} %   (reach <= 0.1 %)")
            if base > 0:
                print(f"  ratio context / baseline  {ctx / base:7.2f}x")

            journal = root / "state-context" / "journal.jsonl"
            latencies = []
            for i in range(args.visits):
                lines = journal_lines(journal)
                t0 = time.perf_counter()
                chrome.add_visit(
                    f"http://203.0.113.{i % 250}/alert/{i}",
                    "Windows Defender Security Warning",
                    time.time(),
                )
                deadline = t0 + 10
                while journal_lines(journal) <= lines and time.perf_counter() < deadline:
                    time.sleep(0.005)
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.3)
            latencies.sort()
            p50 = statistics.median(latencies) * 1000
            p95 = latencies[int(0.95 * (len(latencies) - 1))] * 1000
            print(f"\nscareware visit -> journal, {args.visits} visits (ms):")
            print(
                f"  p50 {p50:7.1f}   p95 {p95:7.1f}   max {latencies[-1] * 1000:7.1f}"
                "   (reach <= 2000)"
            )
            print(
                f"  raw private copy + read of the Chromium file in this process: {raw_ms:.1f} ms"
                f" (p50 latency = {p50 / raw_ms:.1f}x that; the rest is the 200 ms settle"
                " delay, file-system notification and the journal's fsync)"
            )
        finally:
            for proc in procs.values():
                proc.terminate()
                proc.wait(timeout=15)
            chrome.close()
            firefox.close()


if __name__ == "__main__":
    main()
