"""The collector over real gRPC on a free loopback port: ingest, dedupe, limits, errors."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from ratwatch_proto import limits
from ratwatch_proto import telemetry_pb2 as pb

from collector.known_tools import bundled_ids
from collector.model import Dimension, Query
from collector.sqlite_store import SqliteStore

KNOWN = sorted(bundled_ids())  # real catalogue ids: unknown ones are held from stats

SUBMIT = "/ratwatch.telemetry.v1.Telemetry/Submit"
QUERY = "/ratwatch.telemetry.v1.Stats/Query"


def counts(reply: pb.StatsReply) -> dict[str, int]:
    return {r.tool_id: r.count for r in reply.rows}


def status_of(call: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    err = info.value
    return err.code(), err.details()  # type: ignore[attr-defined]


def test_submitted_batches_come_back_exactly(collector: Any, wire: Any) -> None:
    today = collector.clock.today
    r1 = collector.submit(wire.batch(wire.row(today, "teamviewer"), wire.row(today - 3, "anydesk")))
    r2 = collector.submit(wire.batch(wire.row(today - 1, "teamviewer")))
    assert (r1.rows_accepted, r1.duplicate, r2.rows_accepted) == (2, False, 1)
    collector.submit_from(4, wire.row(today, "teamviewer"), wire.row(today - 3, "anydesk"))
    collector.submit_from(5, wire.row(today - 1, "teamviewer"))
    assert collector.raw_counts(Dimension.TOOL) == {"teamviewer": 11, "anydesk": 5}
    # Analysts see releases only: nothing of these open days is released yet.
    reply = collector.query(pb.DIMENSION_TOOL)
    assert not reply.rows and not reply.releases and reply.total == 0


def test_replayed_batch_counts_once(collector: Any, wire: Any) -> None:
    collector.submit_from(5, wire.row(collector.clock.today, "anydesk"))
    msg = wire.batch(wire.row(collector.clock.today, "anydesk"))
    first = collector.submit(msg)
    again = collector.submit(msg)
    assert not first.duplicate and again.duplicate and again.rows_accepted == 0
    assert collector.raw_counts() == {"anydesk": 6}


def test_retry_whose_rows_aged_out_after_a_lost_ack_is_a_duplicate(
    collector: Any, wire: Any
) -> None:
    """An agent whose ack was lost retries days later: counted once, acknowledged, not refused."""
    first_day = collector.clock.today
    collector.submit_from(5, wire.row(first_day - 34, "anydesk"))
    msg = wire.batch(wire.row(first_day - 34, "anydesk"))
    assert not collector.submit(msg).duplicate
    collector.clock.now += 2 * 86400  # the row is now 36 days old
    again = collector.submit(msg)
    assert again.duplicate and again.rows_accepted == 0
    # The same rows under an id never acknowledged are still refused.
    fresh = wire.batch(wire.row(first_day - 34, "anydesk"))
    code, details = status_of(lambda: collector.submit(fresh))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "utc_day" in details, details
    assert collector.raw_counts(Dimension.TOOL) == {"anydesk": 6}


def test_region_and_enum_dimensions(collector: Any, wire: Any) -> None:
    today = collector.clock.today
    collector.submit_from(
        5, wire.row(today, "teamviewer", trigger=pb.TRIGGER_SCAREWARE_PAGE), region="NL"
    )
    collector.submit_from(6, wire.row(today, "teamviewer"), region="BE")
    cells = collector.server.store.query(Query(group_by=(Dimension.REGION, Dimension.TRIGGER)))
    got = {c.key: c.count for c in cells}
    assert got == {("NL", pb.TRIGGER_SCAREWARE_PAGE): 5, ("BE", pb.TRIGGER_UNKNOWN_CALL): 6}
    assert collector.raw_counts(regions=frozenset({"NL"})) == {"teamviewer": 5}


def _invalid_cases(today: int, wire: Any) -> list[tuple[str, pb.CountBatch, str]]:
    good = wire.row(today, "teamviewer", 1)
    cases = [
        ("missing batch id", wire.batch(good, batch_id=b""), "batch_id: missing"),
        ("short batch id", wire.batch(good, batch_id=b"12345678"), "batch_id: 8 bytes"),
        ("bad slug", wire.batch(good, wire.row(today, "Team Viewer")), "rows[1].tool_id"),
        ("slug with newline", wire.batch(wire.row(today, "anydesk\n")), "rows[0].tool_id"),
        ("too old", wire.batch(good, wire.row(today - 36)), "rows[1].utc_day"),
        ("future", wire.batch(wire.row(today + 1)), "rows[0].utc_day"),
        ("zero count", wire.batch(good, wire.row(today, "x", count=0)), "rows[1].count"),
        ("count of 2", wire.batch(wire.row(today, count=2)), "rows[0].count"),
        ("huge count", wire.batch(wire.row(today, count=10_001)), "rows[0].count"),
        ("two rows, one key", wire.batch(good, good), "rows[1]: a second row"),
        (
            "too many keys a day",
            wire.batch(*[wire.row(today, f"t{i}") for i in range(33)]),
            "rows: 33 rows for day",
        ),
        (
            "dropped row too large",
            wire.batch(
                wire.row(
                    today,
                    "ratwatch.dropped",
                    1089,
                    trigger=pb.TRIGGER_NONE,
                    outcome=pb.OUTCOME_NO_WARNING_SHOWN,
                )
            ),
            "rows[0]: the reserved ratwatch.dropped",
        ),
        (
            "dropped row in another shape",
            wire.batch(wire.row(today, "ratwatch.dropped", 3)),
            "rows[0]: the reserved ratwatch.dropped",
        ),
        ("unknown trigger", wire.batch(wire.row(today, trigger=42)), "rows[0].trigger"),
        ("unset stage", wire.batch(wire.row(today, stage=0)), "rows[0].stage"),
        ("unknown outcome", wire.batch(wire.row(today, outcome=9)), "rows[0].outcome"),
        (
            "first of several bad rows",
            wire.batch(good, wire.row(today, stage=0), wire.row(today + 1, count=0)),
            "rows[1].stage",
        ),
        (
            "first bad field of a row",
            wire.batch(good, wire.row(today - 36, "Team Viewer", outcome=9, count=0)),
            "rows[1].utc_day",
        ),
        ("bad region", wire.batch(good, region="Netherlands"), "region"),
        ("unknown region", wire.batch(good, region="QQ"), "region"),
        ("not a country", wire.batch(good, region="EU"), "region"),
        ("CLDR pseudo-locale", wire.batch(good, region="XA"), "region"),
        ("only reserved in ISO 3166-1", wire.batch(good, region="IC"), "region"),
        ("too many rows", wire.batch(*[good] * 1154), "rows: 1154 rows"),
    ]
    return cases


def test_each_invalid_batch_is_rejected_and_changes_nothing(collector: Any, wire: Any) -> None:
    today = collector.clock.today
    collector.submit_from(9, wire.row(today, "teamviewer"))
    before = collector.raw_counts(Dimension.TOOL, Dimension.DAY)
    for name, msg, field in _invalid_cases(today, wire):
        code, details = status_of(lambda msg=msg: collector.submit(msg))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, name
        assert details.startswith(field), (name, details)
        assert "valid" in details or "expected" in details or "at most" in details, details
    assert collector.raw_counts(Dimension.TOOL, Dimension.DAY) == before


def test_a_rejected_batch_id_can_be_resent_corrected(collector: Any, wire: Any) -> None:
    today = collector.clock.today
    bid = os.urandom(16)
    status_of(lambda: collector.submit(wire.batch(wire.row(today, "x y"), batch_id=bid)))
    assert collector.submit(wire.batch(wire.row(today, "xy"), batch_id=bid)).rows_accepted == 1


def test_bytes_that_are_not_a_message_get_invalid_argument(collector: Any) -> None:
    raw = collector.channel().unary_unary(SUBMIT)
    for junk in (b"\xff\xff\xff\xff", b"\x0a\x99", b"\x2a\x05\x12\x03\xff\xfe\xfd"):
        code, details = status_of(lambda junk=junk: raw(junk, metadata=collector.agent_md()))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a CountBatch" in details
    query = collector.channel().unary_unary(QUERY)
    code, _ = status_of(lambda: query(b"\xff\xff", metadata=collector.analyst_md()))
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_health_still_serving_after_1000_malformed_requests(collector: Any, wire: Any) -> None:
    raw = collector.channel().unary_unary(SUBMIT)
    junk = [os.urandom(n % 64 + 1) for n in range(1000)]
    codes = set()
    # In waves of 100, below the server's bound on concurrent calls (256), so a
    # loaded machine cannot turn the bound itself into RESOURCE_EXHAUSTED here.
    for start in range(0, len(junk), 100):
        wave = [
            raw.future(j, metadata=collector.agent_md(), timeout=30)
            for j in junk[start : start + 100]
        ]
        codes |= {f.exception().code() for f in wave if f.exception() is not None}  # type: ignore[union-attr]
    # Random bytes sometimes parse as a message; those fail validation instead.
    assert codes <= {grpc.StatusCode.INVALID_ARGUMENT}
    probe = health_pb2_grpc.HealthStub(collector.channel())
    for service in ("", "ratwatch.telemetry.v1.Telemetry", "ratwatch.telemetry.v1.Stats"):
        reply = probe.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert collector.submit(wire.batch(wire.row(collector.clock.today))).rows_accepted == 1


def test_message_over_1_mib_is_resource_exhausted(collector: Any, wire: Any) -> None:
    raw = collector.channel().unary_unary(SUBMIT)
    code, _ = status_of(lambda: raw(b"\x00" * (1024 * 1024 + 1), metadata=collector.agent_md()))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    # A maximal valid batch (every day of the window, each with all its keys) fits well inside.
    today, days, keys = collector.clock.today, limits.MAX_AGE_DAYS + 1, limits.ROWS_PER_DAY
    rows = [
        wire.row(today - d, f"tool-{i:04d}-{'x' * 38}") for d in range(days) for i in range(keys)
    ]
    assert collector.submit(wire.batch(*rows)).rows_accepted == days * keys


def test_tokens_and_roles(collector: Any, wire: Any) -> None:
    msg = wire.batch(wire.row(collector.clock.today, "anydesk"))
    tele, stats = collector.telemetry(), collector.stats()
    query = pb.StatsQuery(group_by=[pb.DIMENSION_TOOL])
    cases = [
        (lambda: tele.Submit(msg), grpc.StatusCode.UNAUTHENTICATED),
        (
            lambda: tele.Submit(msg, metadata=(("authorization", "Bearer nope"),)),
            grpc.StatusCode.UNAUTHENTICATED,
        ),
        (
            lambda: tele.Submit(msg, metadata=(("authorization", collector.tokens.agent),)),
            grpc.StatusCode.UNAUTHENTICATED,
        ),
        (
            lambda: tele.Submit(msg, metadata=collector.analyst_md()),
            grpc.StatusCode.PERMISSION_DENIED,
        ),
        (lambda: stats.Query(query), grpc.StatusCode.UNAUTHENTICATED),
        (
            lambda: stats.Query(query, metadata=collector.agent_md()),
            grpc.StatusCode.PERMISSION_DENIED,
        ),
    ]
    for i, (call, expected) in enumerate(cases):
        code, details = status_of(call)
        assert code == expected, (i, details)
    assert collector.raw_counts() == {}  # nothing got in
    assert collector.submit(msg).rows_accepted == 1


def test_no_configured_tokens_refuses_and_says_how_to_add_one(
    start_collector: Any, wire: Any
) -> None:
    bare = start_collector(tokens={"agent": [], "analyst": []})
    code, details = status_of(lambda: bare.submit(wire.batch(wire.row(bare.clock.today))))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert "token add --role agent" in details


class SlowStore:
    """A real SqliteStore whose acknowledgements arrive ``delay`` seconds late.

    Stands in for a disk that is slow to sync, so a call's deadline passes
    while its batch is being written.
    """

    def __init__(self, inner: Any, delay: float) -> None:
        self.inner, self.delay = inner, delay
        self.timers: list[threading.Timer] = []

    def submit_group(self, batches: Any) -> Future[Any]:
        done = self.inner.submit_group(batches)
        late: Future[Any] = Future()
        timer = threading.Timer(self.delay, lambda: late.set_result(done.result()))
        self.timers.append(timer)
        timer.start()
        return late

    def ingest(self, batch: Any) -> Any:
        return self.submit_group([batch]).result()[0]

    def query(self, query: Any) -> Any:
        return self.inner.query(query)

    def close(self) -> None:
        for t in self.timers:
            t.join()
        self.inner.close()


def test_deadline_is_honoured_while_the_write_is_slow(
    start_collector: Any, wire: Any, tmp_path: Path, clock: Any
) -> None:
    slow = SlowStore(SqliteStore(tmp_path / "slow", clock=clock), delay=1.5)
    running = start_collector(store=slow, collector={"min_cell_count": 1})
    msg = wire.batch(wire.row(running.clock.today, "anydesk"))
    tele = running.telemetry()
    started = time.monotonic()
    code, _ = status_of(lambda: tele.Submit(msg, metadata=running.agent_md(), timeout=0.3))
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 1.2  # answered at the deadline, not after the write
    # The agent retries the unacknowledged batch: it is counted exactly once.
    reply = tele.Submit(msg, metadata=running.agent_md(), timeout=10)
    assert reply.duplicate
    assert running.raw_counts() == {"anydesk": 1}


def test_concurrent_rpcs_are_bounded(
    start_collector: Any, wire: Any, tmp_path: Path, clock: Any
) -> None:
    # Acknowledgements 0.3 s late keep the first calls in flight while the rest arrive.
    slow = SlowStore(SqliteStore(tmp_path / "slow", clock=clock), delay=0.3)
    small = start_collector(store=slow, collector={"max_concurrent_rpcs": 2, "min_cell_count": 1})
    raw = small.channel().unary_unary(SUBMIT)
    others = [t for t in KNOWN if t != "anydesk"][: limits.ROWS_PER_DAY - 1]
    rows = [wire.row(small.clock.today, t) for t in ["anydesk", *others]]
    payloads = [wire.batch(*rows).SerializeToString() for _ in range(60)]
    futures = [raw.future(p, metadata=small.agent_md(), timeout=30) for p in payloads]
    codes = [f.exception().code() if f.exception() else grpc.StatusCode.OK for f in futures]  # type: ignore[union-attr]
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
    accepted = codes.count(grpc.StatusCode.OK)
    # exactly the acknowledged batches
    assert small.raw_counts(tool_ids=frozenset({"anydesk"})) == {"anydesk": accepted}


def test_invalid_queries_name_the_field(collector: Any) -> None:
    stats = collector.stats()
    cases = [
        (pb.StatsQuery(group_by=[pb.DIMENSION_MONTH, pb.DIMENSION_WEEK]), "group_by"),
        (pb.StatsQuery(group_by=[77]), "group_by[0]"),
        (pb.StatsQuery(since_day=20000, until_day=19000), "since_day"),
        (pb.StatsQuery(since_day=2**32 - 1, until_day=0), "since_day"),
        (pb.StatsQuery(tool_ids=["Bad Tool"]), "tool_ids[0]"),
        (pb.StatsQuery(regions=["nl"]), "regions[0]"),
        (pb.StatsQuery(triggers=[99]), "triggers"),
    ]
    for q, field in cases:
        code, details = status_of(lambda q=q: stats.Query(q, metadata=collector.analyst_md()))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith(field), details


def test_day_bounds_past_the_calendar_are_answered(collector: Any, wire: Any) -> None:
    """Any uint32 day is a valid bound: one past year 9999 is not an internal error."""
    collector.submit_from(6, wire.row(collector.clock.today, "anydesk"))
    for group_by in (pb.DIMENSION_MONTH, pb.DIMENSION_QUARTER, pb.DIMENSION_DAY):
        for until in (2**32 - 1, 2932897):  # the largest uint32; the first day of year 10000
            reply = collector.query(pb.DIMENSION_TOOL, group_by, until_day=until)
            assert counts(reply) == {}  # answered (from releases: none yet), not an error
        reply = collector.query(pb.DIMENSION_TOOL, group_by, since_day=2**32 - 1)
        assert counts(reply) == {}


def test_reflection_lists_the_services(collector: Any) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(collector.channel())
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    (reply,) = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
    names = {s.name for s in reply.list_services_response.service}
    assert {
        "ratwatch.telemetry.v1.Telemetry",
        "ratwatch.telemetry.v1.Stats",
        "grpc.health.v1.Health",
    } <= names
