"""`ratwatch-collector stats` in a real child process, against a real collector or a data dir."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ratwatch_proto import telemetry_pb2 as pb

from collector.periods import from_date

# The 2017 Dutch police sample (CONTEXT.md): tools named in TSS reports. Where
# the source gives no number for a tool it is named once. The ids the
# catalogue does not know (not remote-access tools, or no facts) stay as ids.
NAMED_2017 = {
    "teamviewer": 179,
    "anydesk": 3,
    "showmypc": 2,
    "event_viewer": 2,
    "windows_remote_assistance": 1,
    "pclink": 1,
    "reimage_repair": 1,
    "tshareii": 1,
}
SCORED_MONTHS = (dt.date(2017, 2, 1), dt.date(2017, 6, 1), dt.date(2017, 10, 1))


def _stats(cmd: list[str], *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [*cmd, "stats", *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _submit_2017(running: Any, wire: Any) -> dict[tuple[str, str], int]:
    """Spread the 2017 counts over many small batches in Feb, Jun and Oct; return per month."""
    rng = random.Random(2017)
    reports = [tool for tool, n in NAMED_2017.items() for _ in range(n)]
    rng.shuffle(reports)
    per_month: dict[tuple[str, str], int] = {}
    for i, month_start in enumerate(SCORED_MONTHS):
        share = reports[i::3]
        first = from_date(month_start)
        running.clock.now = (first + 27) * 86400.0 + 3600  # validation's "today" moves along
        for tool in share:  # one victim's PC: one upload of one count
            row = wire.row(first + rng.randrange(28), tool)
            assert running.submit(wire.batch(row)).rows_accepted == 1
            key = (tool, month_start.strftime("%Y-%m"))
            per_month[key] = per_month.get(key, 0) + 1
    return per_month


def test_2017_table_comes_back_from_stats_raw(
    start_collector: Any, wire: Any, collector_cmd: list[str]
) -> None:
    """The operator's raw view, on the collector's machine (releases: test_releases.py)."""
    running = start_collector(
        collector={"min_cell_count": 1},
        tools={"allow": ["event_viewer", "pclink", "reimage_repair", "tshareii"]},
    )
    per_month = _submit_2017(running, wire)
    config = running.config.data_dir.parent / "collector-2017.toml"
    config.write_text(  # the operator's config: its [tools] decisions apply to the raw view too
        f'[collector]\ndata_dir = "{running.config.data_dir}"\n'
        '[tools]\nallow = ["event_viewer", "pclink", "reimage_repair", "tshareii"]\n'
    )
    base = ["--config", str(config), "--raw", "--min-cell-count", "1"]

    doc = json.loads(_stats(collector_cmd, *base, "--by", "tool", "--format", "json"))
    total = sum(NAMED_2017.values())
    assert doc["total"] == total and doc["suppressed_cells"] == 0 and doc["min_cell_count"] == 1
    assert doc["view"] == "raw" and doc["not_for_publication"] is True
    got = {r["tool"]: r["count"] for r in doc["rows"]}
    assert got == NAMED_2017
    shares = {r["tool"]: r["share"] for r in doc["rows"]}
    assert shares["teamviewer"] == pytest.approx(179 / total)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert doc["rows"][0]["tool"] == "teamviewer"  # largest first, like the 2017 table
    names = {r["tool"]: r["name"] for r in doc["rows"]}
    assert names["teamviewer"] == "TeamViewer" and names["showmypc"] == "ShowMyPC"
    assert names["tshareii"] == "tshareii"  # not in the catalogue: shown as is

    by_month = json.loads(_stats(collector_cmd, *base, "--by", "tool,month", "--format", "json"))
    assert {(r["tool"], r["month"]): r["count"] for r in by_month["rows"]} == per_month

    table = _stats(collector_cmd, *base, "--by", "tool")
    lines = table.splitlines()
    assert "NOT FOR PUBLICATION" in lines[0]
    assert lines[2].split() == ["tool", "count", "share"]
    assert lines[4].split() == ["TeamViewer", "179", f"{179 / total * 100:.1f}", "%"]
    assert f"total {total}" in table


def test_raw_small_cells_are_suppressed_in_every_format(
    collector: Any, wire: Any, collector_cmd: list[str]
) -> None:
    today = collector.clock.today
    collector.submit_from(3, wire.row(today, "teamviewer"), wire.row(today, "anydesk"))
    collector.submit_from(37, wire.row(today, "teamviewer"))
    base = ["--data-dir", str(collector.config.data_dir), "--raw"]
    doc = json.loads(_stats(collector_cmd, *base, "--format", "json"))
    assert doc["total"] == 40 and doc["suppressed_cells"] == 1
    hidden = next(r for r in doc["rows"] if r["tool"] == "anydesk")
    assert hidden == {
        "tool": "anydesk",
        "name": "AnyDesk",
        "count": None,
        "share": None,
        "suppressed": True,
    }
    assert "3" not in json.dumps(hidden)
    rows = list(csv.DictReader(io.StringIO(_stats(collector_cmd, *base, "--format", "csv"))))
    assert {r["view"] for r in rows} == {"raw, not for publication"}
    assert [(r["tool_id"], r["count"], r["suppressed"]) for r in rows] == [
        ("teamviewer", "40", "false"),
        ("anydesk", "", "true"),
    ]
    table = _stats(collector_cmd, *base)
    assert "<5" in table and "1 cell(s) below 5 suppressed" in table


def test_raw_filters_and_dates(collector: Any, wire: Any, collector_cmd: list[str]) -> None:
    today = collector.clock.today
    collector.submit_from(
        6,
        wire.row(today - 10, "teamviewer", trigger=pb.TRIGGER_SCAREWARE_PAGE),
        wire.row(today - 2, "teamviewer", outcome=pb.OUTCOME_IGNORED),
        wire.row(today - 2, "anydesk"),
    )
    collector.submit_from(1, wire.row(today - 2, "teamviewer", outcome=pb.OUTCOME_IGNORED))
    collector.submit_from(2, wire.row(today - 2, "anydesk"))
    base = ["--data-dir", str(collector.config.data_dir), "--raw", "--min-cell-count", "1"]
    since = (dt.date(1970, 1, 1) + dt.timedelta(days=today - 5)).isoformat()

    def counts(*args: str) -> dict[str, int]:
        doc = json.loads(_stats(collector_cmd, *base, "--format", "json", *args))
        return {r["tool"]: r["count"] for r in doc["rows"]}

    assert counts("--since", since) == {"teamviewer": 7, "anydesk": 8}
    assert counts("--until", since) == {"teamviewer": 6}
    assert counts("--trigger", "scareware_page") == {"teamviewer": 6}
    assert counts("--outcome", "ignored", "--outcome", "user_stopped") == {
        "teamviewer": 13,
        "anydesk": 8,
    }
    assert counts("--tool", "anydesk") == {"anydesk": 8}
    doc = json.loads(_stats(collector_cmd, *base, "--by", "outcome", "--format", "json"))
    assert {r["outcome"]: r["count"] for r in doc["rows"]} == {"user_stopped": 14, "ignored": 7}


def test_reads_a_data_dir_read_only(
    collector: Any, wire: Any, collector_cmd: list[str], tmp_path: Path
) -> None:
    collector.submit_from(2, wire.row(collector.clock.today, "anydesk"))
    data_dir = collector.config.data_dir
    # While the collector runs (WAL readers see committed batches) ...
    doc = json.loads(
        _stats(
            collector_cmd,
            *("--data-dir", str(data_dir), "--raw", "--min-cell-count", "1", "--format", "json"),
        )
    )
    assert [(r["tool"], r["count"]) for r in doc["rows"]] == [("anydesk", 2)]
    collector.stop()
    # ... and after it stopped; the default min_cell_count (5) applies.
    raw = ("--data-dir", str(data_dir), "--raw", "--format", "json")
    doc = json.loads(_stats(collector_cmd, *raw))
    assert doc["suppressed_cells"] == 1 and doc["total"] == 0
    # Without --raw the data dir answers from releases, like the API: none yet.
    doc = json.loads(_stats(collector_cmd, "--data-dir", str(data_dir), "--format", "json"))
    assert doc["view"] == "release" and doc["rows"] == [] and doc["releases"] == []


def test_clear_errors(collector: Any, collector_cmd: list[str], tmp_path: Path) -> None:
    def fails(*args: str) -> str:
        done = subprocess.run(
            [*collector_cmd, "stats", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode != 0
        return done.stderr

    assert "no collector database" in fails("--data-dir", str(tmp_path / "empty"))
    assert "UNAUTHENTICATED" in fails("--collector", collector.address, "--token", "wrong")
    assert "not a dimension" in fails("--data-dir", str(tmp_path), "--by", "colour")
    assert "at most one of" in fails("--data-dir", str(tmp_path), "--by", "month,week")
    # Reading a data dir validates like the collector does: a typo is not an empty table.
    assert "'UK' is not a region code" in fails("--data-dir", str(tmp_path), "--region", "UK")
    assert "is not a catalogue slug" in fails("--data-dir", str(tmp_path), "--tool", "Any Desk")
    # Raw tallies never travel: a collector serves releases only.
    assert "--raw reads the data dir" in fails(
        "--collector", collector.address, "--token", "x", "--raw"
    )
    assert "--raw only" in fails("--data-dir", str(tmp_path), "--min-cell-count", "3")


def test_display_names_come_from_the_catalogue_and_reserved_ids() -> None:
    from collector.names import display_name

    assert display_name("teamviewer") == "TeamViewer"
    assert display_name("ratwatch.dropped") == "(dropped by full agent outboxes)"
    assert display_name("pclink") == "pclink"  # unknown ids are shown as they are
