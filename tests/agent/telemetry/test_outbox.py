"""The outbox: one count per (day, tool, trigger), bounded, durable, frozen once in a batch."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ratwatch_proto.limits import DROPPED_TOOL_ID, MAX_ROW_COUNT, ROWS_PER_DAY

from agent.errors import TelemetryError
from agent.telemetry.counts import EXPIRE_AFTER_DAYS, merge, utc_day
from agent.telemetry.outbox import OUTBOX_FILE, Outbox
from agent.verdict import Level, Outcome, Resolution, Stage, Trigger, Verdict

NOW = 1_790_000_000.0  # a fixed instant (2026-09); the outbox only sees this clock
DAY = 86_400.0
V = (0, 1, 0)


class Clock:
    """An injected wall clock the test moves by hand."""

    def __init__(self, t: float = NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def resolution(
    tool: str = "anydesk",
    trigger: Trigger = Trigger.UNKNOWN_CALL,
    stage: Stage = Stage.REMOTE_TOOL_STARTED,
    outcome: Outcome = Outcome.USER_STOPPED,
    at: float = NOW,
) -> Resolution:
    verdict = Verdict(
        verdict_id="local-only",
        at=at,
        level=Level.WARN,
        tool_id=tool,
        tool_name=tool.title(),
        trigger=trigger,
        stage=stage,
        minutes_from_trigger=2.0,
        evidence=(),
        pids=(4242,),
    )
    return Resolution(verdict=verdict, outcome=outcome, at=at)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(tmp_path: Path, clock: Clock) -> Iterator[Outbox]:
    box = Outbox(tmp_path / OUTBOX_FILE, clock=clock)
    yield box
    box.close()


def take(box: Outbox) -> list[tuple[int, str, str, str, str, int]]:
    batch = box.take_batch(agent_version=V, catalogue_version=7, region="NL")
    return [
        (r.utc_day, r.tool_id, r.trigger.value, r.stage.value, r.outcome.value, r.count)
        for r in batch.rows
    ]


def test_the_file_is_wal_and_fully_synchronous(outbox: Outbox) -> None:
    db = sqlite3.connect(outbox.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_one_count_per_tool_trigger_and_day(outbox: Outbox, clock: Clock) -> None:
    assert outbox.admit(resolution()) is True
    assert outbox.admit(resolution()) is False
    assert outbox.admit(resolution(trigger=Trigger.SCAREWARE_PAGE)) is True
    assert outbox.admit(resolution(tool="teamviewer")) is True
    assert outbox.admit(resolution(at=NOW - DAY)) is True  # yesterday's verdict: another day
    assert outbox.stats().rows == 4


def test_a_later_resolution_updates_the_pending_row(outbox: Outbox) -> None:
    outbox.admit(resolution(outcome=Outcome.USER_PAUSED))
    outbox.admit(resolution(stage=Stage.SCARE_TACTICS, outcome=Outcome.USER_STOPPED))
    # An earlier stage and a journal-only verdict change neither the stage nor the choice.
    outbox.admit(resolution(stage=Stage.SESSION_ACTIVE, outcome=Outcome.NO_WARNING_SHOWN))
    assert take(outbox) == [
        (utc_day(NOW), "anydesk", "unknown_call", "scare_tactics", "user_stopped", 1)
    ]


def test_merge_rule() -> None:
    s, o = merge(Stage.SCARE_TACTICS, Outcome.USER_PAUSED, Stage.SESSION_ACTIVE, Outcome.IGNORED)
    assert (s, o) == (Stage.SCARE_TACTICS, Outcome.IGNORED)
    s, o = merge(
        Stage.REMOTE_TOOL_STARTED,
        Outcome.NO_WARNING_SHOWN,
        Stage.REMOTE_TOOL_STARTED,
        Outcome.USER_TRUSTED,
    )
    assert o is Outcome.USER_TRUSTED


def test_a_count_in_flight_or_sent_is_frozen_and_never_counted_again(outbox: Outbox) -> None:
    outbox.admit(resolution())
    batch = outbox.take_batch(agent_version=V, catalogue_version=7, region="NL")
    assert outbox.admit(resolution(stage=Stage.PAYMENT_DURING_SESSION)) is False
    again = outbox.take_batch(agent_version=V, catalogue_version=7, region="NL")
    assert again == batch  # re-sent unchanged, same id, same rows
    outbox.acknowledge(batch.batch_id)
    assert outbox.admit(resolution(stage=Stage.PAYMENT_DURING_SESSION)) is False
    assert outbox.stats().rows == 0
    assert take(outbox) == []  # the next batch is empty (uploads happen anyway)


def test_the_in_flight_batch_survives_a_restart(tmp_path: Path, clock: Clock) -> None:
    box = Outbox(tmp_path / OUTBOX_FILE, clock=clock)
    box.admit(resolution())
    box.admit(resolution(tool="teamviewer"))
    batch = box.take_batch(agent_version=V, catalogue_version=7, region="NL")
    box.close()
    box = Outbox(tmp_path / OUTBOX_FILE, clock=clock)
    assert box.take_batch(agent_version=(9, 9, 9), catalogue_version=8, region="") == batch
    assert len(batch.batch_id) == 16
    assert (batch.agent_version, batch.catalogue_version, batch.region) == (V, 7, "NL")
    box.acknowledge(batch.batch_id)
    box.close()
    box = Outbox(tmp_path / OUTBOX_FILE, clock=clock)
    assert box.stats().rows == 0 and box.stats().in_flight_batches == 0
    box.close()


def test_batch_ids_are_fresh_and_random(outbox: Outbox) -> None:
    ids = set()
    for _ in range(20):
        batch = outbox.take_batch(agent_version=V, catalogue_version=7, region="")
        ids.add(batch.batch_id)
        outbox.acknowledge(batch.batch_id)
    assert len(ids) == 20 and all(len(i) == 16 for i in ids)


def test_row_bound_drops_the_oldest_and_reports_how_many(tmp_path: Path, clock: Clock) -> None:
    box = Outbox(tmp_path / OUTBOX_FILE, clock=clock, max_rows=5)
    # Two days (a day holds ROWS_PER_DAY keys): tool0-3 yesterday, tool4-7 today.
    days = [(7 - i) // ROWS_PER_DAY for i in range(8)]
    assert all(box.admit(resolution(tool=f"tool{i}", at=NOW - days[i] * DAY)) for i in range(8))
    assert box.stats().rows == 5 and box.stats().dropped_unreported == 3
    rows = take(box)
    assert [r[1] for r in rows] == ["tool3", "tool4", "tool5", "tool6", DROPPED_TOOL_ID]
    assert rows[-1] == (
        utc_day(NOW),
        DROPPED_TOOL_ID,
        "none",
        "remote_tool_started",
        "no_warning_shown",
        3,
    )
    assert box.stats().dropped_unreported == 0
    box.close()


def test_byte_bound_holds_and_every_count_is_accounted_for(tmp_path: Path, clock: Clock) -> None:
    limit = 64 * 1024  # the smallest bound allowed: 136 long-slug keys do not fit
    box = Outbox(tmp_path / OUTBOX_FILE, clock=clock, max_bytes=limit)
    admitted = 0
    # Every key the wire allows inside the window: ROWS_PER_DAY on each day.
    for i in range((EXPIRE_AFTER_DAYS + 1) * ROWS_PER_DAY):
        tool = f"{i:06d}-" + "x" * 41  # the longest slug the wire allows
        day = i // ROWS_PER_DAY
        admitted += box.admit(resolution(tool=tool, at=NOW - day * DAY))
        assert box.stats().used_bytes <= limit
    stats = box.stats()
    assert stats.dropped_unreported > 0
    assert stats.rows + stats.dropped_unreported == admitted == MAX_ROW_COUNT
    box.close()
    # The file itself stays near the bound too (WAL folded back in by close).
    assert (tmp_path / OUTBOX_FILE).stat().st_size <= limit + 16 * 4096


def test_rows_too_old_for_the_collector_are_dropped_and_counted(
    outbox: Outbox, clock: Clock
) -> None:
    outbox.admit(resolution())
    clock.t += (EXPIRE_AFTER_DAYS + 1) * DAY
    outbox.admit(resolution(tool="teamviewer", at=clock.t))
    rows = take(outbox)
    assert [(r[1], r[5]) for r in rows] == [("teamviewer", 1), (DROPPED_TOOL_ID, 1)]
    assert rows[-1][0] == utc_day(clock.t)


def test_a_verdict_dated_outside_the_window_is_refused_and_counted(outbox: Outbox) -> None:
    assert outbox.admit(resolution(at=NOW - 40 * DAY)) is False
    assert outbox.admit(resolution(at=NOW + 3 * DAY)) is False
    assert outbox.stats().rows == 0 and outbox.stats().dropped_unreported == 2


def test_a_bad_or_reserved_tool_id_is_refused(outbox: Outbox) -> None:
    assert outbox.admit(resolution(tool="C:\\Users\\alice\\AnyDesk.exe")) is False
    assert outbox.admit(resolution(tool=DROPPED_TOOL_ID)) is False
    # "$" matches before a trailing newline: the collector would refuse the whole batch.
    assert outbox.admit(resolution(tool="anydesk\n")) is False
    assert outbox.stats().rows == 0


def test_preview_shows_exactly_the_next_batch(outbox: Outbox, clock: Clock) -> None:
    outbox.admit(resolution())
    outbox.admit(resolution(at=NOW - 40 * DAY))  # counted as dropped
    preview = outbox.preview(agent_version=V, catalogue_version=7, region="NL")
    assert preview.batch_id == b""
    batch = outbox.take_batch(agent_version=V, catalogue_version=7, region="NL")
    assert batch.rows == preview.rows
    assert outbox.preview(agent_version=V, catalogue_version=1, region="") == batch


def test_reject_splits_then_drops_a_lone_refused_row(outbox: Outbox) -> None:
    for t in ("a1", "a2", "a3", "a4"):
        outbox.admit(resolution(tool=t))
    first = outbox.take_batch(agent_version=V, catalogue_version=7, region="NL")
    assert "split" in outbox.reject(first.batch_id)
    left = outbox.take_batch(agent_version=V, catalogue_version=7, region="NL")
    assert [r.tool_id for r in left.rows] == ["a1", "a2"] and left.batch_id != first.batch_id
    outbox.acknowledge(left.batch_id)
    right = outbox.take_batch(agent_version=V, catalogue_version=7, region="NL")
    assert [r.tool_id for r in right.rows] == ["a3", "a4"]
    outbox.reject(right.batch_id)
    lone = outbox.take_batch(agent_version=V, catalogue_version=7, region="NL")
    assert [r.tool_id for r in lone.rows] == ["a3"]
    assert outbox.reject(lone.batch_id) == "dropped the refused row"
    assert outbox.stats().dropped_unreported == 1
    rest = outbox.take_batch(agent_version=V, catalogue_version=7, region="NL")
    assert [r.tool_id for r in rest.rows] == ["a4"]


def test_reject_drops_rows_that_expired_in_flight_without_bisecting(
    outbox: Outbox, clock: Clock
) -> None:
    outbox.admit(resolution(tool="old"))
    clock.t += 2 * DAY
    outbox.admit(resolution(tool="new", at=clock.t))
    batch = outbox.take_batch(agent_version=V, catalogue_version=7, region="NL")
    clock.t += (EXPIRE_AFTER_DAYS - 1) * DAY  # "old" is now too old, "new" is not
    assert outbox.reject(batch.batch_id) == "dropped 1 invalid rows"
    retry = outbox.take_batch(agent_version=V, catalogue_version=7, region="NL")
    assert [r.tool_id for r in retry.rows] == ["new"]
    assert outbox.stats().dropped_unreported == 1


def test_a_refused_dropped_tally_is_not_counted_again(outbox: Outbox) -> None:
    outbox.admit(resolution(at=NOW - 40 * DAY))
    batch = outbox.take_batch(agent_version=V, catalogue_version=7, region="NL")
    assert [r.tool_id for r in batch.rows] == [DROPPED_TOOL_ID]
    outbox.reject(batch.batch_id)
    assert outbox.stats().dropped_unreported == 0  # no loop of self-reporting


def test_opt_out_counts_nothing(tmp_path: Path, clock: Clock) -> None:
    off = [False]
    box = Outbox(tmp_path / OUTBOX_FILE, clock=clock, opted_out=lambda: off[0])
    box.admit(resolution())
    box.take_batch(agent_version=V, catalogue_version=7, region="")
    box.admit(resolution(tool="teamviewer"))
    off[0] = True
    assert box.admit(resolution(tool="rustdesk")) is False
    assert box.discard_all() == 2
    assert box.stats() == box.stats().__class__(0, 0, 0, box.stats().used_bytes, 0)
    box.close()


def test_the_opt_out_is_read_under_the_write_lock(tmp_path: Path, clock: Clock) -> None:
    """``telemetry off`` (another process) flags, then deletes in its own transaction.

    Reading the flag while holding the write lock means an admission either
    sees the flag or commits before that deletion: no count outlives the "no".
    """
    path = tmp_path / OUTBOX_FILE
    locked = []

    def opted_out() -> bool:
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            locked.append(False)
        except sqlite3.OperationalError:
            locked.append(True)  # "database is locked": the admission holds it
        finally:
            other.close()
        return False

    box = Outbox(path, clock=clock, opted_out=opted_out)
    assert box.admit(resolution())
    box.close()
    assert locked == [True]


def test_bad_bounds_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(TelemetryError, match="outbox_max_rows"):
        Outbox(tmp_path / OUTBOX_FILE, max_rows=0)
    with pytest.raises(TelemetryError, match="outbox_max_bytes"):
        Outbox(tmp_path / OUTBOX_FILE, max_bytes=1000)


def test_a_damaged_file_is_moved_aside_and_a_new_one_started(tmp_path: Path) -> None:
    path = tmp_path / OUTBOX_FILE
    path.write_bytes(b"this is not a database" * 100)
    box = Outbox(path)
    assert box.admit(resolution(at=time.time())) is True
    box.close()
    assert len(list(tmp_path.glob(OUTBOX_FILE + ".corrupt-*"))) == 1


def test_a_full_disk_is_reported_as_such_and_the_outbox_recovers(outbox: Outbox) -> None:
    """SQLite rolls back by itself on a full disk: the error says so and nothing stays stuck."""
    outbox.admit(resolution("anydesk"))
    pages = outbox._db.execute("PRAGMA page_count").fetchone()[0]
    # A real SQLITE_FULL (the file may not grow), without filling the test machine's disk.
    outbox._db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(sqlite3.OperationalError, match="full"):
        for i in range(500):
            outbox.admit(resolution(f"tool{i}-{'x' * 40}", at=NOW - (1 + i // ROWS_PER_DAY) * DAY))
    outbox._db.execute("PRAGMA max_page_count = 1073741823")
    assert outbox.admit(resolution("teamviewer"))  # no transaction left open
    assert outbox.stats().rows >= 2


def test_a_file_that_cannot_be_opened_is_kept_and_the_error_names_no_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unopenable is not damaged: moving it aside would lose its counts; logs stay path-free.

    A directory where the file should be stands in for what cannot be staged as
    root on Linux (a file locked by a virus scanner, no permission).
    """
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / ".local" / "state" / "ratwatch" / OUTBOX_FILE
    path.mkdir(parents=True)
    with pytest.raises(TelemetryError) as err:
        Outbox(path)
    assert str(err.value).startswith(f"~/.local/state/ratwatch/{OUTBOX_FILE}: cannot open")
    assert str(tmp_path) not in str(err.value)
    assert path.is_dir() and [p.name for p in path.parent.iterdir()] == [OUTBOX_FILE]


def test_the_outbox_is_a_runtime_service_that_closes_on_stop(tmp_path: Path) -> None:
    box = Outbox(tmp_path / OUTBOX_FILE)
    box.start()
    box.stop()
    with pytest.raises(sqlite3.ProgrammingError):
        box.stats()
