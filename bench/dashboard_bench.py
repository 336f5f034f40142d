"""Dashboard benchmark: server-side render time of the overview, and what a page weighs.

A real collector (SQLite, gRPC on loopback) holds one year of tallies for
300 tools (each tool on every day in three random cells, as in
collector_bench.py's query part); the real dashboard (cheroot + Flask) is
in front of it. The bench signs in over HTTP as a browser would, then asks
for the overview of the whole year and of one month, repeatedly, and reads
the dashboard's own ``Server-Timing: render;dur=`` header: the time from
the request reaching the app to the response leaving it, including the
seven Stats.Query calls to the collector. Beside it, the same seven
queries asked directly of the collector in the same run (the floor the
dashboard adds its work to). Then the bytes of the page and of its assets
(as sent, and gzip-compressed for comparison).

Usage: python bench/dashboard_bench.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import http.cookiejar
import os
import random
import re
import statistics
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from collector.auth import hash_token, new_token
from collector.client import Remote, StatsClient
from collector.config import from_dict
from collector.dashboard import overview
from collector.dashboard.answer import from_reply
from collector.dashboard.app import create_app
from collector.dashboard.filters import parse
from collector.dashboard.serving import DashboardServer, Listen
from collector.model import Batch, TallyRow
from collector.periods import from_date
from collector.server import CollectorServer
from collector.sqlite_store import SqliteStore
from collector.store import MAX_GROUP

FIRST = dt.date(2025, 1, 1)
TOOLS = [f"tool-{i:03d}" for i in range(300)]
ENCODINGS = {"Accept-Encoding": "gzip, deflate, br, zstd"}  # as chromium sends


def seed(store: SqliteStore) -> int:
    rng = random.Random(7)
    first = from_date(FIRST)
    batches = []
    for day in range(first, first + 365):
        rows = tuple(
            TallyRow(
                day,
                tool,
                rng.randrange(1, 6),
                rng.randrange(1, 6),
                rng.randrange(1, 6),
                rng.randrange(1, 50),
            )
            for tool in TOOLS
            for _ in range(3)
        )
        batches.append(Batch(os.urandom(16), rng.choice(("NL", "BE")), rows))
    futures = [store.submit_group(batches[i : i + MAX_GROUP]) for i in range(0, 365, MAX_GROUP)]
    for f in futures:
        f.result()
    return sum(r[5] for b in batches for r in b.rows)


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[max(0, int(len(s) * p) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    clock = lambda: (from_date(FIRST) + 400) * 86400.0  # noqa: E731
    token = new_token()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        store = SqliteStore(data, clock=clock)
        t0 = time.perf_counter()
        total = seed(store)
        store.close()  # reopened below: folded tallies, a collector's steady state
        print(f"seeded one year x {len(TOOLS)} tools ({total:,} counts) in "
              f"{time.perf_counter() - t0:.1f} s")  # fmt: skip
        config = from_dict(
            {
                "collector": {"listen": "127.0.0.1:0", "data_dir": str(data)},
                "tokens": {"analyst": [hash_token(token)]},
            }
        )
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True).start()
        collector = CollectorServer(config, clock=clock, store=SqliteStore(data, clock=clock))
        address = asyncio.run_coroutine_threadsafe(collector.start(), loop).result()
        client = StatsClient(Remote(address, ""))
        server = DashboardServer(create_app(client, secure_cookies=False), Listen("127.0.0.1:0"))
        url = server.start()
        threading.Thread(target=server.serve, daemon=True).start()
        try:
            run(url, token, client, args.repeats)
        finally:
            server.stop()
            client.close()
            asyncio.run_coroutine_threadsafe(collector.stop(1.0), loop).result()
            loop.call_soon_threadsafe(loop.stop)


def run(url: str, token: str, client: StatsClient, repeats: int) -> None:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(url + "signin").read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    body = urllib.parse.urlencode({"token": token, "csrf_token": csrf.group(1)}).encode()
    opener.open(url + "signin", data=body).read()

    def ask_direct(period: str) -> None:
        filters = parse({"period": period}, FIRST)
        with ThreadPoolExecutor(8) as pool:
            overview.ask_all(lambda q: from_reply(q, client.reply(token, q)), filters, pool)

    for period in ("2025", "2025-10"):
        server_ms, wall_ms, direct_ms = [], [], []
        html = b""
        for i in range(repeats + 1):
            t = time.perf_counter()
            req = urllib.request.Request(f"{url}?period={period}", headers=ENCODINGS)
            with opener.open(req) as resp:
                html = resp.read()
                timing = resp.headers["Server-Timing"]
                encoding = resp.headers.get("Content-Encoding", "identity")
            wall = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            ask_direct(period)
            direct = (time.perf_counter() - t) * 1000
            if i == 0:
                continue  # the first builds the chart templates and warms SQLite's cache
            server_ms.append(float(timing.split("dur=")[1]))
            wall_ms.append(wall)
            direct_ms.append(direct)
        print(f"overview ?period={period} ({repeats} requests):")
        print(f"  server-side render : median {statistics.median(server_ms):6.1f} ms  "
              f"p95 {pct(server_ms, 0.95):6.1f} ms   (target <= 50 ms)")  # fmt: skip
        print(f"  as the client saw  : median {statistics.median(wall_ms):6.1f} ms  "
              f"p95 {pct(wall_ms, 0.95):6.1f} ms")  # fmt: skip
        print(f"  baseline, the same 7 Stats queries alone: median "
              f"{statistics.median(direct_ms):6.1f} ms  "
              f"p95 {pct(direct_ms, 0.95):6.1f} ms")  # fmt: skip
        print(f"  page transferred: {len(html):,} bytes ({encoding} of the HTML)")
    plain = opener.open(f"{url}?period=2025-10").read()
    assets = re.findall(rb'(?:src|href)="(/[^"]+\.(?:js|css))"', plain)
    total = len(html)
    for path in assets:
        req = urllib.request.Request(url.rstrip("/") + path.decode(), headers=ENCODINGS)
        with opener.open(req) as resp:
            data = resp.read()
            enc = resp.headers.get("Content-Encoding", "identity")
        total += len(data)
        print(f"  asset {path.decode():24} {len(data):>9,} bytes transferred ({enc})")
    print(
        f"  first visit transfers {total:,} bytes; later visits {len(html):,} "
        "(the assets are cached for a day)"
    )
    print("note: figures from a shared machine; compare server-side render with the baseline.")


if __name__ == "__main__":
    main()
