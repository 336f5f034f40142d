"""Rate limits per deployment token and per peer address: token buckets, in memory only.

The deployment token is public, so batch shape alone cannot stop one caller
from passing for many PCs: it could send honest-looking batches as fast as
the collector answers. Each upload therefore costs its row count (at least
1) from two token buckets, one for the caller's address and one for its
token, and is refused with ``RESOURCE_EXHAUSTED`` and a retry hint when
either is empty. A token bucket lets a burst through at once (a PC back
after a month offline sends one large batch) and then only the refill
rate, so the most one address can add in any span ``t`` is ``burst + rate
x t``: with the defaults ([limits] in docs/configuration.md) 2,400 rows at
once and 360 an hour, i.e. at most 2,406 in the probe's 60 s and 11,040 in
a day. The reasoning for the numbers is in docs/threat-model.md.

Privacy: an address is never stored, logged or tallied. Buckets are keyed
by a keyed BLAKE2b digest of the address (``PeerKeys``), whose key is drawn
at random when the collector starts and lives only in memory, so even the
limiter's own dictionary holds nothing that names an address once the call
is over, and nothing survives a restart. An IPv6 caller is keyed by its /56
(what a household is commonly delegated): one customer cannot rotate
through its own 2^72 addresses to multiply its allowance.

Memory is bounded: a bucket that has refilled completely is the same as no
bucket, so a sweep (at most once per SWEEP_SECONDS) forgets them; under a
flood of distinct addresses the table is cleared outright past MAX_KEYS,
which can only ever let a caller in sooner, never lock an honest one out.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from collector.config import CollectorConfig

SWEEP_SECONDS = 60.0
MAX_KEYS = 1_000_000
IPV6_PREFIX = 56


class Buckets:
    """Token buckets keyed by opaque bytes or strings: ``rate`` per second up to ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._state: dict[bytes | str, tuple[float, float]] = {}  # key -> (level, at)
        self._swept = 0.0

    def available(self, key: bytes | str, now: float) -> float:
        """Tokens ``key`` could spend now."""
        level, at = self._state.get(key, (self.burst, now))
        return min(self.burst, level + (now - at) * self.rate)

    def spend(self, key: bytes | str, cost: float, now: float) -> None:
        """Take ``cost`` (may go below zero only if the caller did not check first)."""
        self._state[key] = (self.available(key, now) - cost, now)
        if now - self._swept >= SWEEP_SECONDS or len(self._state) > MAX_KEYS:
            self._sweep(now)

    def wait(self, key: bytes | str, cost: float, now: float) -> float:
        """Seconds until ``cost`` tokens are there (0 when they are now)."""
        short = min(cost, self.burst) - self.available(key, now)
        return max(0.0, short / self.rate)

    def _sweep(self, now: float) -> None:
        self._swept = now
        if len(self._state) > MAX_KEYS:
            self._state.clear()
            return
        full = [k for k in self._state if self.available(k, now) >= self.burst]
        for k in full:
            del self._state[k]

    def __len__(self) -> int:
        return len(self._state)


@dataclass(frozen=True)
class Limits:
    """Rates per second and bursts, as configured ([limits])."""

    peer_rate: float
    peer_burst: float
    token_rate: float
    token_burst: float


class RateLimiter:
    """Both buckets must hold an upload's cost; only then is it taken from both."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self._peers = Buckets(limits.peer_rate, limits.peer_burst)
        self._tokens = Buckets(limits.token_rate, limits.token_burst)
        self._clock = clock

    def admit(self, peer: bytes, token: str, cost: int) -> float:
        """0.0 when the upload may go ahead (its cost is taken), else seconds to wait."""
        now = self._clock()
        wait = max(self._peers.wait(peer, cost, now), self._tokens.wait(token, cost, now))
        if wait > 0.0:
            return wait
        self._peers.spend(peer, cost, now)
        self._tokens.spend(token, cost, now)
        return 0.0

    @property
    def peers_tracked(self) -> int:
        """How many peer buckets are held (for the tests of the memory bound)."""
        return len(self._peers)


class PeerKeys:
    """Turns ``context.peer()`` into an opaque bucket key; see the module docstring."""

    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret if secret is not None else secrets.token_bytes(32)

    def key(self, peer: str) -> bytes:
        """The key of a grpc peer string (``ipv4:1.2.3.4:5``, ``ipv6:[::1]:5``, ``unix:...``)."""
        kind, _, rest = urllib.parse.unquote(peer).partition(":")  # ipv6:%5B::1%5D:5
        host = rest
        if kind == "ipv4":
            host = rest.rpartition(":")[0]
        elif kind == "ipv6":
            text = rest.rpartition(":")[0].strip("[]").split("%")[0]
            try:
                net = ipaddress.IPv6Network(f"{text}/{IPV6_PREFIX}", strict=False)
                mapped = ipaddress.IPv6Address(text).ipv4_mapped
                host = str(mapped) if mapped else str(net.network_address)
            except ValueError:
                host = text
        return hashlib.blake2b(host.encode(), key=self.secret, digest_size=16).digest()


def limits_of(config: CollectorConfig) -> Limits:
    """[limits] (per hour, as the operator writes them) as a ``Limits``."""
    lim = config.limits
    return Limits(
        lim.peer_rows_per_hour / 3600.0,
        float(lim.peer_burst_rows),
        lim.token_rows_per_hour / 3600.0,
        float(lim.token_burst_rows),
    )
