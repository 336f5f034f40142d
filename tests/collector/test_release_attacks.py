"""The attacks that defeated small-cell suppression, run against the gRPC API and the CLI.

Two hidden cells, as in the issue: ``supremo`` 3 on one day in NL and
``rustdesk`` 2 in BE, among a few hundred counts of other tools, all sent
over real gRPC to a real collector whose clock the test moves. With
releases none of the attacks recovers either value, and the totals of any
two groupings over the same release agree exactly.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from typing import Any

import pytest
from ratwatch_proto import telemetry_pb2 as pb

from collector.model import Batch, TallyRow
from collector.periods import from_date

OCT = from_date(dt.date(2026, 10, 1))
OCT_END = from_date(dt.date(2026, 10, 31))
D = OCT + 19  # the day of the hidden cells
HIDDEN = {"supremo": 3, "rustdesk": 2}
OTHERS = ("teamviewer", "anydesk", "quick_assist", "ultraviewer")
STARTED, STOPPED = int(pb.STAGE_REMOTE_TOOL_STARTED), int(pb.OUTCOME_USER_STOPPED)


@pytest.fixture
def released(collector: Any, wire: Any) -> Any:
    """October tallies with two hidden cells, released (the clock is 2026-11-21)."""
    # The bulk is written straight into the store (a row over the wire counts 1, and a
    # released cell needs over a thousand: release_policy); the hidden cells and the
    # attacker's counts go over gRPC.
    bulk = [
        Batch(
            os.urandom(16),
            "NL",
            (
                TallyRow(day, tool, int(pb.TRIGGER_UNKNOWN_CALL), STARTED, STOPPED, 3000 - 500 * k),
                TallyRow(day, tool, int(pb.TRIGGER_SCAREWARE_PAGE), STARTED, STOPPED, 1500),
            ),
        )
        for k, tool in enumerate(OTHERS)
        for day in (D - 1, D, D + 1)
    ]
    collector.server.store.submit_group(bulk).result()
    collector.submit_from(3, wire.row(D, "supremo"), region="NL")
    collector.submit_from(2, wire.row(D, "rustdesk"), region="BE")
    assert collector.raw_counts(tool_ids=frozenset(HIDDEN)) == HIDDEN
    made = collector.server.releases.run_once()
    assert "month/2026-10" in made and f"day/2026-10-{D - OCT + 1:02d}" in made
    return collector


def _total(reply: pb.StatsReply) -> int:
    assert reply.total == sum(r.count for r in reply.rows)
    return reply.total


def _tools(reply: pb.StatsReply) -> set[str]:
    return {r.tool_id for r in reply.rows}


def test_totals_of_two_groupings_agree_exactly(released: Any) -> None:
    month = {"since_day": OCT, "until_day": OCT_END}
    groupings = [
        [pb.DIMENSION_TOOL],
        [pb.DIMENSION_TRIGGER],
        [pb.DIMENSION_OUTCOME],
        [pb.DIMENSION_TOOL, pb.DIMENSION_STAGE],
        [pb.DIMENSION_MONTH],
        [],
    ]
    replies = [released.query(*g, **month) for g in groupings]
    assert {tuple(r.release_id for r in rep.releases) for rep in replies} == {("month/2026-10",)}
    assert len({_total(rep) for rep in replies}) == 1
    assert len({(rep.suppressed, rep.release_total) for rep in replies}) == 1
    for rep in replies:
        assert not _tools(rep) & set(HIDDEN)  # suppressed keys are not listed
        assert rep.noise_scale > 0 and rep.threshold > max(HIDDEN.values())
        assert all(r.count >= rep.threshold for r in rep.rows if len(rep.rows) > 0)


def test_leave_one_out_with_tool_filters_recovers_nothing(released: Any) -> None:
    for since, until in ((D, D), (OCT, OCT_END)):
        everything = released.query(pb.DIMENSION_TOOL, since_day=since, until_day=until)
        listed = _tools(everything)
        # Every other tool the analyst can name, including the hidden one's neighbour.
        for hidden in HIDDEN:
            others = sorted((listed | set(HIDDEN)) - {hidden})
            rest = released.query(
                pb.DIMENSION_TOOL, since_day=since, until_day=until, tool_ids=others
            )
            assert _total(everything) - _total(rest) == 0  # not 3, not 2: nothing released
            only = released.query(
                pb.DIMENSION_TOOL, since_day=since, until_day=until, tool_ids=[hidden]
            )
            assert not only.rows and only.total == 0


def test_overlapping_windows_recover_nothing(released: Any) -> None:
    for hidden in HIDDEN:
        wide = released.query(pb.DIMENSION_TOOL, since_day=D, until_day=OCT_END, tool_ids=[hidden])
        narrow = released.query(
            pb.DIMENSION_TOOL, since_day=D + 1, until_day=OCT_END, tool_ids=[hidden]
        )
        assert _total(wide) - _total(narrow) == 0
        whole = released.query(
            pb.DIMENSION_TOOL, pb.DIMENSION_DAY, since_day=OCT, tool_ids=[hidden]
        )
        assert not whole.rows


def test_adding_to_a_hidden_cell_after_the_release_changes_nothing(
    released: Any, wire: Any
) -> None:
    """An agent-token holder adds 150 to the hidden cell (a late batch), then asks again."""
    before = [
        released.query(pb.DIMENSION_TOOL, since_day=D, until_day=D),
        released.query(pb.DIMENSION_TOOL, since_day=OCT, until_day=OCT_END),
    ]
    released.submit_from(150, wire.row(D, "supremo"), region="NL")
    assert released.raw_counts(tool_ids=frozenset({"supremo"})) == {"supremo": 153}
    assert released.server.releases.run_once() == []
    after = [
        released.query(pb.DIMENSION_TOOL, since_day=D, until_day=D),
        released.query(pb.DIMENSION_TOOL, since_day=OCT, until_day=OCT_END),
    ]
    assert after == before  # so "subtract 150" recovers nothing


def test_the_cli_shows_releases_only(released: Any, collector_cmd: list[str]) -> None:
    base = ["--collector", released.address, "--token", released.tokens.analyst]
    month = ["--since", "2026-10-01", "--until", "2026-10-31"]

    def stats(*args: str) -> str:
        done = subprocess.run(
            [*collector_cmd, "stats", *base, *month, *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    docs = [json.loads(stats("--by", by, "--format", "json")) for by in ("tool", "trigger")]
    assert docs[0]["total"] == docs[1]["total"]
    assert docs[0]["releases"][0]["id"] == "month/2026-10"
    assert {"noise_scale", "threshold", "epsilon"} <= set(docs[0]["releases"][0])
    others = [t for t in (*OTHERS, "rustdesk") if t != "supremo"]
    loo = json.loads(
        stats("--by", "tool", "--format", "json", *(a for t in others for a in ("--tool", t)))
    )
    assert docs[0]["total"] - loo["total"] == 0
    for out in (stats("--by", "tool"), stats("--by", "tool,region,stage", "--format", "csv")):
        assert "supremo" not in out.lower() and "rustdesk" not in out.lower()
    table = stats("--by", "tool")
    assert "month/2026-10" in table and "±95%" in table and "suppressed" in table
    csv_text = stats("--by", "tool", "--format", "csv")
    header = csv_text.splitlines()[0].split(",")
    assert {"releases", "noise_scale", "threshold", "count_ci95"} <= set(header)


def test_the_cli_overlapping_windows_and_adding_then_subtracting_recover_nothing(
    released: Any, wire: Any, collector_cmd: list[str]
) -> None:
    """The other two attacks, as an analyst with the CLI and an agent token would run them."""
    base = ["--collector", released.address, "--token", released.tokens.analyst]

    def total(since: str, until: str, *tools: str) -> int:
        window = ("--since", since, "--until", until)
        done = subprocess.run(
            [
                *(*collector_cmd, "stats", *base, "--by", "tool", "--format", "json", *window),
                *(a for t in tools for a in ("--tool", t)),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return int(json.loads(done.stdout)["total"])

    day = dt.date(2026, 10, D - OCT + 1)
    d, d1, end = day.isoformat(), (day + dt.timedelta(days=1)).isoformat(), "2026-10-31"
    for hidden in HIDDEN:  # [D..end] minus [D+1..end]
        assert total(d, end, hidden) - total(d1, end, hidden) == 0
    before = (total(d, d), total("2026-10-01", end))
    released.submit_from(150, wire.row(D, "supremo"), region="NL")  # a late batch: +150
    assert released.server.releases.run_once() == []
    assert (total(d, d), total("2026-10-01", end)) == before  # minus 150 leaves nothing
