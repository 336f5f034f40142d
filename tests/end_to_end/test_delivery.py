"""Exact delivery: kill -9 of the agent or the collector loses and duplicates nothing.

A driver child process (tests/end_to_end/delivery_driver.py: the real Outbox
and the real Reporter on a fast schedule) is fed 10,000 planned verdicts and
SIGKILLed at random moments at least 50 times, restarted each time; then it
drains. The real collector (``ratwatch-collector serve``, embedded SQLite)
must hold exactly one count for every (day, tool, trigger) the plan contains
— which is exactly what the outbox admitted — and nothing else. The second
test restarts the collector (SIGKILL and SIGTERM alternately) while uploads
are going on. The seed of each run is printed so a failure can be replayed.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import random
import select
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest
from ratwatch_proto.limits import DROPPED_TOOL_ID

from agent.demo.stack import CollectorChild
from agent.telemetry.outbox import OUTBOX_FILE

# Catalogue tools (ids the collector shows); a journey uses at most
# ratwatch_proto.limits.ROWS_PER_DAY (tool, trigger) keys a day, one PC's bound.
DELIVERY_TOOLS = ("anydesk", "rustdesk", "screenconnect", "supremo", "teamviewer", "ultraviewer")

DRIVER = Path(__file__).with_name("delivery_driver.py")
pytestmark = pytest.mark.slow


def _driver_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("delivery_driver", DRIVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _start_driver(
    state: Path, collector: CollectorChild, total: int, rate: float, base_day: int, drain: bool
) -> subprocess.Popen[str]:
    args = [
        sys.executable,
        str(DRIVER),
        str(state),
        collector.address,
        collector.agent_token,
        str(total),
        str(rate),
        str(base_day),
    ]
    return subprocess.Popen(
        [*args, "--drain"] if drain else args,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _wait_line(proc: subprocess.Popen[str], line: str, timeout: float) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            got = proc.stdout.readline()
            if got.strip() == line:
                return
            if not got:
                break
    proc.kill()
    proc.wait()
    raise AssertionError(f"driver did not print {line!r} (status {proc.returncode})")


def _progress(state: Path) -> int:
    f = state / "progress"
    return int(f.read_text()) if f.exists() else 0


def _collector_tally(collector: CollectorChild) -> Counter[tuple[int, str, str]]:
    """Every (day, tool, trigger) count the collector holds: its operator's raw tallies.

    (The Stats API serves releases only; exactness is a property of the raw tallies.)
    """
    doc = json.loads(collector.raw_table("day,tool,trigger", "--format", "json"))
    assert doc["view"] == "raw" and doc["suppressed_cells"] == 0
    epoch = dt.date(1970, 1, 1)
    tally: Counter[tuple[int, str, str]] = Counter()
    for row in doc["rows"]:
        day = (dt.date.fromisoformat(row["day"]) - epoch).days
        tally[(day, row["tool"], "TRIGGER_" + row["trigger"].upper())] += row["count"]
    return tally


def _expected(total: int, base_day: int) -> set[tuple[int, str, str]]:
    driver = _driver_module()
    keys = set()
    for i in range(total):
        v = driver.plan(i, base_day).verdict
        keys.add((int(v.at // 86_400), v.tool_id, "TRIGGER_" + v.trigger.name))
    return keys


def _integrity_ok(path: Path) -> None:
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", path
    finally:
        db.close()


def _check_exact(collector: CollectorChild, state: Path, total: int, base_day: int) -> None:
    tally = _collector_tally(collector)
    expected = _expected(total, base_day)
    assert all(k[1] != DROPPED_TOOL_ID for k in tally), "nothing should have been dropped"
    lost = expected - set(tally)
    extra = set(tally) - expected
    duplicated = {k: n for k, n in tally.items() if n != 1}
    assert not lost and not extra and not duplicated, (len(lost), len(extra), duplicated)
    db = sqlite3.connect(state / OUTBOX_FILE)
    try:  # what the outbox admitted (one claim per admitted count) is what arrived
        admitted = db.execute("SELECT COUNT(*) FROM claims").fetchone()[0]
        left = db.execute("SELECT COUNT(*) FROM counts").fetchone()[0]
    finally:
        db.close()
    assert admitted == sum(tally.values()) == len(expected) and left == 0
    _integrity_ok(state / OUTBOX_FILE)
    for f in collector.data_dir.glob("*.sqlite3"):
        _integrity_ok(f)


def test_kill_9_of_the_agent_during_10000_verdicts_loses_and_duplicates_nothing(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("RATWATCH_TEST_SEED", time.time_ns() % 1_000_000))
    print(f"seed {seed}")
    rng = random.Random(seed)
    total, rate = 10_000, 900.0
    base_day = int(time.time() // 86_400)
    state = tmp_path / "agent"
    state.mkdir()
    collector = CollectorChild(tmp_path / "collector")
    collector.start()
    try:
        kills = 0
        while _progress(state) < total or kills < 50:
            proc = _start_driver(state, collector, total, rate, base_day, drain=False)
            _wait_line(proc, "ready", 30)
            time.sleep(rng.uniform(0.02, 0.5))
            proc.kill()  # SIGKILL: no clean stop, no flush
            proc.wait()
            kills += 1
        print(f"{kills} kills, progress {_progress(state)}")
        proc = _start_driver(state, collector, total, rate, base_day, drain=True)
        _wait_line(proc, "drained", 60)
        assert proc.wait(10) == 0
        _check_exact(collector, state, total, base_day)
    finally:
        collector.stop()
    assert kills >= 50


@pytest.mark.parametrize(
    ("workers", "rate"),
    # Two workers start slower (two more processes), so the uploads are spread
    # over more time to fit ten restarts in.
    [(1, 400.0), (2, 120.0)],
    ids=["one-process", "two-workers"],
)
def test_collector_restarted_repeatedly_during_uploads_loses_and_duplicates_nothing(
    tmp_path: Path, workers: int, rate: float
) -> None:
    seed = int(os.environ.get("RATWATCH_TEST_SEED", time.time_ns() % 1_000_000))
    print(f"seed {seed}")
    rng = random.Random(seed)
    total = 4_000
    base_day = int(time.time() // 86_400)
    state = tmp_path / "agent"
    state.mkdir()
    collector = CollectorChild(tmp_path / "collector", workers=workers)
    collector.start()
    restarts = 0
    stop = threading.Event()

    def chaos() -> None:
        nonlocal restarts
        while not stop.is_set():
            time.sleep(rng.uniform(0.1, 0.6))
            if restarts % 2 == 0:
                collector.kill()  # crash: acknowledged counts must be on disk already
            else:
                collector.stop()  # clean stop with uploads in flight
            time.sleep(rng.uniform(0.0, 0.3))  # down for a moment
            collector.start()
            restarts += 1

    proc = _start_driver(state, collector, total, rate, base_day, drain=True)
    thread = threading.Thread(target=chaos)
    try:
        _wait_line(proc, "ready", 30)
        thread.start()
        while _progress(state) < total or restarts < 10:
            time.sleep(0.1)
            assert proc.poll() is None
        stop.set()
        thread.join()
        _wait_line(proc, "drained", 60)
        assert proc.wait(10) == 0
        print(f"{restarts} collector restarts")
        _check_exact(collector, state, total, base_day)
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        collector.stop()
    assert restarts >= 10


class _Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize("max_rows", [10_000, 20], ids=["roomy", "bounded"])
def test_a_collector_unreachable_for_a_simulated_week(tmp_path: Path, max_rows: int) -> None:
    """Injected clock: a week of verdicts while the real collector is down, then it returns."""
    from agent.config import TelemetrySection
    from agent.telemetry.outbox import Outbox
    from agent.telemetry.reporter import Reporter
    from agent.verdict import Level, Outcome, Resolution, Stage, Trigger, Verdict

    collector = CollectorChild(tmp_path / "collector")
    collector.setup()  # port and tokens chosen; not started: nobody listens for a week
    clock = _Clock(time.time() - 7 * 86_400)
    box = Outbox(tmp_path / OUTBOX_FILE, clock=clock, max_rows=max_rows)
    settings = TelemetrySection(
        collector=collector.address,
        token=collector.agent_token,
        deadline_seconds=2.0,
        retry_initial_seconds=60.0,
        max_backoff_minutes=360.0,
    )
    reporter = Reporter(box, settings, clock=clock, rng=random.Random(7))
    admitted: Counter[tuple[int, str, str]] = Counter()
    attempts = 0
    rng = random.Random(11)
    end = clock.t + 7 * 86_400
    while clock.t < end:
        for _ in range(4):  # a busy PC: a few verdicts every half hour
            # two tools under two triggers: the ROWS_PER_DAY keys one PC counts a day
            tool, trigger = rng.choice(DELIVERY_TOOLS[:2]), rng.choice(list(Trigger)[:2])
            v = Verdict(
                "v", clock.t, Level.WARN, tool, tool, trigger, Stage.SESSION_ACTIVE, 1.0, ()
            )
            if box.admit(Resolution(v, Outcome.USER_STOPPED, clock.t)):
                admitted[(int(clock.t // 86_400), tool, "TRIGGER_" + trigger.name)] += 1
        stats = box.stats()
        assert stats.rows <= max_rows and stats.used_bytes <= settings.outbox_max_bytes
        if clock.t >= reporter.due_at:
            reporter.step()
            attempts += 1
        clock.t += 1800
    assert attempts >= 7  # it kept trying, with backoff capped at 6 h
    dropped = box.stats().dropped_unreported
    collector.start()
    try:
        for _ in range(40):
            clock.t = max(clock.t, reporter.due_at)
            reporter.step()
            stats = box.stats()
            if not stats.pending_rows and not stats.in_flight_batches:
                break
        tally = _collector_tally(collector)
    finally:
        reporter.stop()
        box.close()
        collector.stop()
    got_dropped = sum(n for k, n in tally.items() if k[1] == DROPPED_TOOL_ID)
    delivered = {k: n for k, n in tally.items() if k[1] != DROPPED_TOOL_ID}
    assert got_dropped == dropped
    assert sum(delivered.values()) + got_dropped == sum(admitted.values())
    assert all(n == 1 for n in delivered.values()) and set(delivered) <= set(admitted)
    if max_rows == 10_000:
        assert dropped == 0 and delivered == dict(admitted)  # everything, exactly once
    else:
        assert dropped > 0  # the bound held, and the loss is reported, not hidden
