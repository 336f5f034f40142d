"""The rate limit: one address at full speed gets the documented bound, then RESOURCE_EXHAUSTED."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from ratwatch_proto import limits
from ratwatch_proto import telemetry_pb2 as pb

from collector.ratelimit import Limits, PeerKeys, RateLimiter


def test_one_address_at_full_speed_for_60_s_gets_burst_plus_a_minute_of_refill() -> None:
    now = [0.0]
    limiter = RateLimiter(Limits(360 / 3600, 2400, 1e9, 1e12), clock=lambda: now[0])
    accepted = 0
    while now[0] < 60.0:  # a call every millisecond, 20 rows each
        if limiter.admit(b"peer", "token", 20) == 0.0:
            accepted += 20
        now[0] += 0.001
    assert 2400 <= accepted <= 2400 + 6 + 20  # burst + 60 s x 0.1 rows/s (one batch of slack)


def test_peer_keys_hold_no_address_and_group_an_ipv6_56() -> None:
    keys = PeerKeys(b"k" * 32)
    a = keys.key("ipv4:203.0.113.7:5555")
    assert a == keys.key("ipv4:203.0.113.7:6666") and b"203" not in a
    assert keys.key("ipv6:%5B2001:db8:0:100::1%5D:1") == keys.key("ipv6:[2001:db8:0:1ff::2]:2")
    assert keys.key("ipv6:[2001:db8:0:100::1]:1") != keys.key("ipv6:[2001:db8:0:200::1]:1")
    assert PeerKeys().key("ipv4:203.0.113.7:1") != a  # a fresh key each run


def test_the_server_answers_resource_exhausted_with_a_pushback(
    start_collector: Any, wire: Any
) -> None:
    burst = limits.MAX_BATCH_ROWS
    running = start_collector(limits={"peer_burst_rows": burst, "peer_rows_per_hour": 1.0})
    today = running.clock.today
    days, keys = limits.MAX_AGE_DAYS + 1, limits.ROWS_PER_DAY
    full = wire.batch(*[wire.row(today - d, f"t{i}") for d in range(days) for i in range(keys)])
    assert running.submit(full).rows_accepted == burst - 1
    assert running.submit(wire.batch(wire.row(today, "anydesk"))).rows_accepted == 1
    with pytest.raises(grpc.RpcError) as info:
        running.submit(wire.batch(wire.row(today, "anydesk")))
    err: Any = info.value
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "retry in" in err.details()
    pushback = dict(err.trailing_metadata())["grpc-retry-pushback-ms"]
    assert int(pushback) >= 1000
    assert running.query(pb.DIMENSION_TOOL, tool_ids=["anydesk"]).total == 0  # below 5: suppressed
