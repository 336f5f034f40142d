"""Collector benchmark: ingest throughput against a no-op ceiling, and query latency.

    python bench/collector_bench.py [--seconds 8] [--workers N] [--client native|aio|sync]

Ingest: a real collector, started as `ratwatch-collector serve --workers N`
(SQLite, WAL, synchronous=FULL, group commit, token check, validation; N
front-end processes sharing the port, one writer), fed batches of 20 rows
by 4 client processes. In the same run, the same harness measures a no-op
servicer on the same contract and the same event loop, in N processes
sharing the port the same way (parses the request, returns an empty
reply): that is the ceiling this machine, this grpcio and these clients
allow, and the figure that matters is the collector's share of it. With N
> 1 it also measures the no-op in one process, which on a small machine can
be faster (the clients get a core to themselves), and reports the
collector's share of the better of the two as well.

Clients: ``native`` (default) is bench/loadgen/submit_load.cc, built here on
first use with g++ and the system's gRPC C++ library (Debian:
``apt-get install g++ pkg-config libgrpc++-dev``). A Python gRPC client
spends more CPU per call than the server it measures, so on a small
machine Python clients (``aio``, ``sync``) measure themselves.

Query: one year of tallies for 300 tools (each tool on every day in three
trigger/stage/outcome cells) in a real store. Releases: the time to make
every release of that year, and to read and noise one month over the full
grid; then median and p95 of ``--by tool`` and ``--by tool,month`` over the
year from releases (what analysts get; target median <= 10 ms), and from
the raw tallies (the operator's view), beside the same answer scanned from
the day table alone (what the month roll-up saves).

Figures on a shared machine are noisy: compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import hashlib
import multiprocessing as mp
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import grpc.aio
from ratwatch_proto import telemetry_pb2 as pb
from ratwatch_proto.limits import ROWS_PER_DAY

SUBMIT = "/ratwatch.telemetry.v1.Telemetry/Submit"
ROWS_PER_BATCH = 20
TOKEN = "bench-token-0123456789abcdefghijklmnopqrstuv"


# --- servers (each in its own process) ---------------------------------------


def _serve_noop(port: int, ready_q: mp.Queue, stop_ev: mp.Event) -> None:  # type: ignore[type-arg]
    from collector.server import run_loop

    async def submit(request: pb.CountBatch, context: grpc.aio.ServicerContext) -> pb.SubmitReply:  # type: ignore[type-arg]
        return pb.SubmitReply()

    async def main() -> None:
        server = grpc.aio.server(maximum_concurrent_rpcs=4096, options=[("grpc.so_reuseport", 1)])
        server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    "ratwatch.telemetry.v1.Telemetry",
                    {
                        "Submit": grpc.unary_unary_rpc_method_handler(
                            submit,
                            request_deserializer=pb.CountBatch.FromString,
                            response_serializer=pb.SubmitReply.SerializeToString,
                        )
                    },
                )
            ]
        )
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        ready_q.put("ready")
        while not stop_ev.is_set():
            await asyncio.sleep(0.1)
        await server.stop(1.0)

    run_loop(main())


@contextlib.contextmanager
def noop_servers(workers: int) -> Iterator[str]:
    """``workers`` no-op servers sharing one port, as the collector's front ends do."""
    from collector.supervisor import reserve_port

    _, port = reserve_port("127.0.0.1:0")
    ready_q: mp.Queue[str] = mp.Queue()
    stop_ev = mp.Event()
    procs = [mp.Process(target=_serve_noop, args=(port, ready_q, stop_ev)) for _ in range(workers)]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            ready_q.get(timeout=60)
        yield f"127.0.0.1:{port}"
    finally:
        stop_ev.set()
        for p in procs:
            p.join(30)


@contextlib.contextmanager
def collector_server(data_dir: Path, workers: int) -> Iterator[str]:
    """``ratwatch-collector serve --workers N`` as an operator would run it."""
    from collector.auth import hash_token

    config = data_dir / "bench.toml"
    # Roomy [limits]: every client shares one loopback address and one token,
    # which the default per-address burst (two PCs' worth) would refuse within
    # a second; the bench measures ingest, not the rate limiter.
    config.write_text(
        f'[collector]\nmax_concurrent_rpcs = 4096\n[tokens]\nagent = ["{hash_token(TOKEN)}"]\n'
        "[limits]\npeer_rows_per_hour = 1e12\npeer_burst_rows = 1000000000\n"
        "token_rows_per_hour = 1e12\ntoken_burst_rows = 1000000000\n"
    )
    cmd = [sys.executable, "-m", "collector", "serve", "--config", str(config)]
    cmd += ["--data-dir", str(data_dir), "--listen", "127.0.0.1:0", "--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        address = ""
        for line in proc.stdout:
            if "listening on" in line:
                address = line.split("listening on ")[1].split()[0]
            if line.startswith("press Ctrl-C"):
                break
        if not address:
            raise RuntimeError(f"the collector did not start (exit code {proc.wait(30)})")
        yield address
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


# --- clients -----------------------------------------------------------------


_CUM: dict[tuple[int, float], list[float]] = {}


def _skewed(rng: random.Random, n: int, power: float) -> int:
    """An index in 0..n-1, rank r drawn with weight 1 / (r + 1) ** power."""
    cum = _CUM.get((n, power))
    if cum is None:
        weights = [1 / (r + 1) ** power for r in range(n)]
        cum = _CUM[(n, power)] = [sum(weights[: i + 1]) for i in range(n)]
    return rng.choices(range(n), cum_weights=cum)[0]


def _fresh(body: bytes) -> bytes:
    """``body`` with a new random batch_id (field 1, 16 bytes) in front: every call is new.

    Protobuf fields may come in any order, so prefixing the encoded field
    is a valid message and costs the client next to nothing.
    """
    return b"\x0a\x10" + os.urandom(16) + body


def _batches(n: int, seed: int, keys: str) -> list[bytes]:
    """Pre-serialised batches of 20 rows.

    ``realistic``: what agents uploading once a day send: rows of the last
    day or two (sometimes older, after an outage), tool popularity as
    skewed as in the 2017 police sample (one tool > 90 %), common
    trigger/stage/outcome combinations far ahead of rare ones.
    ``uniform``: every row a random cell of 30 days x 300 tools x 125
    combinations, the worst case for the store (no two rows share a tally).
    """
    rng = random.Random(seed)
    today = int(time.time() // 86400)
    out = []
    for _ in range(n):
        rows = []
        taken: set[tuple[int, int, int]] = set()
        while len(rows) < ROWS_PER_BATCH:
            if keys == "uniform":
                day = today - rng.randrange(30)
                tool, trig, stage, outcome = (
                    rng.randrange(300),
                    rng.randrange(1, 6),
                    rng.randrange(1, 6),
                    rng.randrange(1, 6),
                )
            else:
                day = today - rng.choices((0, 1, rng.randrange(2, 30)), (60, 30, 10))[0]
                tool = _skewed(rng, 300, 2.0)
                trig, stage, outcome = (1 + _skewed(rng, 5, 1.5) for _ in range(3))
            if (day, tool, trig) in taken:  # one PC counts a (day, tool, trigger) once
                continue
            if sum(1 for k in taken if k[0] == day) >= ROWS_PER_DAY:  # and a day's keys
                continue
            taken.add((day, tool, trig))
            rows.append(
                pb.CountRow(
                    utc_day=day,
                    tool_id=f"tool-{tool:03d}",
                    trigger=trig,  # type: ignore[arg-type]
                    stage=stage,  # type: ignore[arg-type]
                    outcome=outcome,  # type: ignore[arg-type]
                    count=1,
                )
            )
        # Without batch_id: _fresh() prefixes a new one to every call.
        out.append(pb.CountBatch(region="NL", rows=rows).SerializeToString())
    return out


def _client(
    address: str,
    keys: str,
    seconds: float,
    inflight: int,
    seed: int,
    result_q: mp.Queue,
    start_ev: mp.Event,
) -> None:  # type: ignore[type-arg]
    batches = _batches(4000, seed, keys)  # row sets reused, batch ids always fresh

    async def main() -> int:
        async with grpc.aio.insecure_channel(address) as channel:
            call = channel.unary_unary(SUBMIT)  # raw bytes both ways: minimal client cost
            md = (("authorization", f"Bearer {TOKEN}"),)
            await channel.channel_ready()
            result_q.put("ready")
            start_ev.wait()
            deadline = time.perf_counter() + seconds
            done = 0
            errors = 0
            i = seed

            async def worker() -> None:
                nonlocal done, errors, i
                while time.perf_counter() < deadline:
                    i += 1
                    try:
                        await call(_fresh(batches[i % len(batches)]), metadata=md, timeout=30)
                        done += 1
                    except grpc.aio.AioRpcError:
                        errors += 1

            await asyncio.gather(*(worker() for _ in range(inflight)))
            if errors:
                print(f"  client {seed}: {errors} failed calls", file=sys.stderr)
            return done

    result_q.put(asyncio.run(main()))


def _client_sync(
    address: str,
    keys: str,
    seconds: float,
    inflight: int,
    seed: int,
    result_q: mp.Queue,
    start_ev: mp.Event,
) -> None:  # type: ignore[type-arg]
    """The same load from grpc's synchronous channel, keeping calls in flight with futures."""
    import threading

    batches = _batches(4000, seed, keys)
    channel = grpc.insecure_channel(address)
    call = channel.unary_unary(SUBMIT)
    md = (("authorization", f"Bearer {TOKEN}"),)
    grpc.channel_ready_future(channel).result(timeout=30)
    result_q.put("ready")
    start_ev.wait()
    deadline = time.perf_counter() + seconds
    lock = threading.Lock()
    state = {"done": 0, "errors": 0, "i": seed, "active": inflight}
    finished = threading.Event()

    def launch() -> None:
        with lock:
            state["i"] += 1
            i = state["i"]
        fut = call.future(_fresh(batches[i % len(batches)]), metadata=md, timeout=30)
        fut.add_done_callback(on_done)

    def on_done(fut: grpc.Future) -> None:  # type: ignore[type-arg]
        with lock:
            if fut.exception() is None:
                state["done"] += 1
            else:
                state["errors"] += 1
        if time.perf_counter() < deadline:
            launch()
        else:
            with lock:
                state["active"] -= 1
                if state["active"] == 0:
                    finished.set()

    for _ in range(inflight):
        launch()
    finished.wait()
    channel.close()
    result_q.put(state["done"])


LOADGEN_SRC = Path(__file__).parent / "loadgen" / "submit_load.cc"


def build_loadgen() -> Path:
    """Compile the native client once per source version; RuntimeError says what is missing."""
    src = LOADGEN_SRC.read_bytes()
    out_dir = Path(tempfile.gettempdir()) / "ratwatch-bench"
    out = out_dir / f"submit_load-{hashlib.sha256(src).hexdigest()[:12]}"
    if out.exists():
        return out
    out_dir.mkdir(exist_ok=True)
    try:
        flags = subprocess.run(
            ["pkg-config", "--cflags", "--libs", "grpc++"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        subprocess.run(
            ["g++", "-O2", "-std=c++17", str(LOADGEN_SRC), "-o", f"{out}.tmp", *flags],
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise RuntimeError(
            "cannot build the native load generator (needs g++, pkg-config and the gRPC C++ "
            f"library; Debian: apt-get install g++ pkg-config libgrpc++-dev): {detail.strip()}"
        ) from exc
    os.replace(f"{out}.tmp", out)
    return out


def _measure_native(address: str, load: Load, loadgen: Path) -> tuple[float, list[int]]:
    latencies: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for k in range(load.clients):
            path = Path(tmp) / f"batches-{k}.bin"
            with path.open("wb") as fh:
                for body in _batches(4000, k * 1_000_003, load.keys):
                    fh.write(len(body).to_bytes(4, "big") + body)
            cmd = [str(loadgen), address, TOKEN, str(load.seconds), str(load.inflight), str(path)]
            cmd.append(str(Path(tmp) / f"latency-{k}.bin"))
            procs.append(
                subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            )
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        t0 = time.perf_counter()
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        done = failed = 0
        for p in procs:
            assert p.stdout is not None
            ok, bad, _ = p.stdout.readline().split()
            done, failed = done + int(ok), failed + int(bad)
            p.wait(30)
        elapsed = time.perf_counter() - t0
        for k in range(load.clients):
            lat = array.array("I", (Path(tmp) / f"latency-{k}.bin").read_bytes())  # 4-byte LE
            if sys.byteorder == "big":
                lat.byteswap()
            latencies += lat
    if failed:
        print(f"  {failed} failed calls", file=sys.stderr)
    return done / max(elapsed, load.seconds), latencies


CLIENTS = {"aio": _client, "sync": _client_sync, "native": None}


@dataclass(frozen=True)
class Load:
    """How the clients drive the server."""

    seconds: float = 6.0
    clients: int = 4
    inflight: int = 128
    client: str = "native"
    keys: str = "realistic"
    workers: int = 2


def _measure(address: str, load: Load, loadgen: Path | None = None) -> tuple[float, list[int]]:
    """Calls per second, and each call's latency in µs (native clients only)."""
    if loadgen is not None:
        return _measure_native(address, load, loadgen)
    seconds, clients, inflight = load.seconds, load.clients, load.inflight
    result_q: mp.Queue[int | str] = mp.Queue()
    start_ev = mp.Event()
    procs = [
        mp.Process(
            target=CLIENTS[load.client],
            args=(address, load.keys, seconds, inflight, k * 1_000_003, result_q, start_ev),
        )
        for k in range(clients)
    ]
    for p in procs:
        p.start()
    for _ in procs:  # every client has built its batches and connected
        assert result_q.get(timeout=120) == "ready"
    t0 = time.perf_counter()
    start_ev.set()
    total = sum(int(result_q.get()) for _ in procs)
    elapsed = time.perf_counter() - t0
    for p in procs:
        p.join()
    return total / max(elapsed, seconds), []


def bench_ingest(load: Load, rounds: int) -> None:
    """Alternate no-op and collector runs, so a load spike on a shared machine hits both."""
    seconds, clients, inflight = load.seconds, load.clients, load.inflight
    loadgen = build_loadgen() if load.client == "native" else None
    print(
        f"ingest: {clients} client processes ({load.client}) x {inflight} calls in flight, "
        f"{ROWS_PER_BATCH} rows per batch ({load.keys} keys), servers with {load.workers} "
        f"worker processes, {rounds} rounds of {seconds:.0f} s each"
    )
    noops: list[float] = []
    reals: list[float] = []
    singles: list[float] = []
    lat_noop: list[int] = []
    lat_real: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            with noop_servers(load.workers) as address:
                rate, lat = _measure(address, load, loadgen)
                noops.append(rate)
                lat_noop += lat
            if load.workers > 1:
                # One no-op process leaves the clients a core of their own and
                # can beat N: the collector is held to the better of the two.
                with noop_servers(1) as address:
                    singles.append(_measure(address, load, loadgen)[0])
            with collector_server(Path(tmp), load.workers) as address:
                rate, lat = _measure(address, load, loadgen)
                reals.append(rate)
                lat_real += lat
            single = f" (1 process {singles[-1]:6.0f})" if singles else ""
            print(
                f"  round {r + 1}: no-op {noops[-1]:6.0f} RPC/s{single}, collector "
                f"{reals[-1]:6.0f} RPC/s = {reals[-1] / noops[-1] * 100:5.1f} %"
            )
        db = Path(tmp) / "collector.sqlite3"
        size = db.stat().st_size if db.exists() else 0
    noop, real = statistics.mean(noops), statistics.mean(reals)
    print(f"  no-op servicer (ceiling): {noop:8.0f} RPC/s  {noop * ROWS_PER_BATCH:9.0f} rows/s")
    print(f"  collector (durable)     : {real:8.0f} RPC/s  {real * ROWS_PER_BATCH:9.0f} tallies/s")
    print(
        f"  collector / ceiling     : {real / noop * 100:8.1f} %   (target >= 70 %, >= 5000 RPC/s)"
    )
    if singles:
        single = statistics.mean(singles)
        best = max(noop, single)
        print(f"  no-op, 1 process        : {single:8.0f} RPC/s")
        print(f"  collector / best no-op  : {real / best * 100:8.1f} %")
    if lat_noop and lat_real:
        # Under full load: mostly time queued behind the other calls in flight,
        # and for the collector, a group commit's linger and fsync.
        print(f"  call latency, no-op     : {_percentiles(lat_noop)}")
        print(f"  call latency, collector : {_percentiles(lat_real)}")
    print(f"  database after the run  : {size / 1e6:.1f} MB")


def _percentiles(micros: list[int]) -> str:
    cuts = statistics.quantiles(micros, n=100, method="inclusive")
    p50, p95, p99 = cuts[49], cuts[94], cuts[98]
    return f"p50 {p50 / 1000:5.1f} ms, p95 {p95 / 1000:5.1f} ms, p99 {p99 / 1000:5.1f} ms"


# --- query latency -----------------------------------------------------------


def bench_query(repeats: int) -> None:
    import datetime as dt
    import sqlite3

    from collector import queries, raw_view
    from collector.model import Batch, Dimension, Query, TallyRow
    from collector.periods import from_date
    from collector.sqlite_store import SqliteStore

    rng = random.Random(7)
    first = from_date(dt.date(2025, 1, 1))
    days = range(first, first + 365)
    tools = [f"tool-{i:03d}" for i in range(300)]
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp), clock=lambda: (first + 400) * 86400.0)
        t0 = time.perf_counter()
        futures = []
        for day in days:
            rows = tuple(
                TallyRow(
                    day,
                    tool,
                    rng.randrange(1, 6),
                    rng.randrange(1, 6),
                    rng.randrange(1, 6),
                    rng.randrange(1, 50),
                )
                for tool in tools
                for _ in range(3)
            )
            futures.append(store.submit_group([Batch(os.urandom(16), "NL", rows)]))
        for f in futures:
            f.result()
        # Reopen: closing folds the staged cells into the tally tables, the
        # steady state of a collector that is not ingesting this very second.
        store.close()
        store = SqliteStore(Path(tmp), clock=lambda: (first + 400) * 86400.0)
        load_s = time.perf_counter() - t0
        conn = sqlite3.connect(store.path)
        n_day = conn.execute("SELECT COUNT(*) FROM tally_day").fetchone()[0]
        n_month = conn.execute("SELECT COUNT(*) FROM tally_month").fetchone()[0]
        print(
            f"query: one year x {len(tools)} tools: {n_day} day tallies, {n_month} month tallies "
            f"(loaded in {load_s:.1f} s)"
        )

        def timed(fn) -> tuple[float, float]:  # type: ignore[no-untyped-def]
            fn()  # warm the page cache
            samples = []
            for _ in range(repeats):
                t = time.perf_counter()
                fn()
                samples.append((time.perf_counter() - t) * 1000)
            samples.sort()
            return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]

        # Releases: every period of the year, as the collector's writer makes them.
        from collector import releases
        from collector.release_policy import GRIDS, ReleaseParams

        params = ReleaseParams()
        t = time.perf_counter()
        made = releases.make_due(store, params, lambda: (first + 400) * 86400.0)
        all_s = time.perf_counter() - t
        month_first, month_last = first + 31, first + 58  # February: 300 tools, the full grid
        grid = GRIDS[Dimension.MONTH]
        t = time.perf_counter()
        source = store.query(Query(group_by=grid, since_day=month_first, until_day=month_last))
        read_s = time.perf_counter() - t
        t = time.perf_counter()
        rel = releases.compute(
            Dimension.MONTH, month_first, month_last, False, source, params, time.time()
        )
        noise_s = time.perf_counter() - t
        print(
            f"  releases: {len(made)} for the year in {all_s:.1f} s; one month "
            f"({len(source)} cells over {len(grid)} dimensions, {len(rel.cells)} released): "
            f"read {read_s * 1000:.0f} ms + noise/threshold {noise_s * 1000:.0f} ms"
        )
        year = dict(since_day=first, until_day=first + 364)
        for label, dims in (
            ("--by tool", (Dimension.TOOL,)),
            ("--by tool,month", (Dimension.TOOL, Dimension.MONTH)),
        ):
            q = Query(group_by=dims, **year)  # type: ignore[arg-type]
            fresh = queries.Projections()
            t = time.perf_counter()
            queries.run(store, q, fresh)
            cold = (time.perf_counter() - t) * 1000
            med, p95 = timed(lambda q=q, fresh=fresh: queries.run(store, q, fresh))
            print(
                f"  {label:16} from releases: median {med:6.1f} ms  p95 {p95:6.1f} ms  "
                f"(first, cold: {cold:.0f} ms)   (target median <= 10 ms)"
            )
        for label, dims in (
            ("--by tool", (Dimension.TOOL,)),
            ("--by tool,month", (Dimension.TOOL, Dimension.MONTH)),
        ):
            q = Query(group_by=dims, **year)  # type: ignore[arg-type]
            med, p95 = timed(lambda q=q: raw_view.run(store, q, 5))
            print(f"  {label:16} raw (operator): median {med:6.1f} ms  p95 {p95:6.1f} ms")
        q = Query(group_by=(Dimension.TOOL,), since_day=first + 10, until_day=first + 340)
        med, p95 = timed(lambda: raw_view.run(store, q, 5))
        print(
            "  --by tool raw, ragged range (day edges + months): "
            f"median {med:6.1f} ms  p95 {p95:6.1f} ms"
        )
        base_sql = (
            "SELECT tool_id, SUM(count) FROM tally_day WHERE day BETWEEN ? AND ? GROUP BY tool_id"
        )
        med_b, p95_b = timed(lambda: conn.execute(base_sql, (first, first + 364)).fetchall())
        print(
            "  baseline, same --by tool from the day table alone: "
            f"median {med_b:6.1f} ms  p95 {p95_b:6.1f} ms"
        )
        conn.close()
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=6.0, help="seconds per ingest measurement")
    ap.add_argument("--clients", type=int, default=4, help="client processes")
    ap.add_argument(
        "--inflight", type=int, default=Load.inflight, help="concurrent calls per client"
    )
    ap.add_argument("--rounds", type=int, default=3, help="alternating ingest rounds")
    ap.add_argument("--repeats", type=int, default=30, help="query repetitions")
    ap.add_argument(
        "--keys",
        choices=("realistic", "uniform"),
        default=Load.keys,
        help="row distribution of the ingest batches (see _batches)",
    )
    ap.add_argument("--client", choices=sorted(CLIENTS), default=Load.client, help="client flavour")
    ap.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes of the collector and of the no-op ceiling alike",
    )
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--skip-query", action="store_true")
    args = ap.parse_args()
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
        f"(shared machines make absolute figures noisy)"
    )
    if not args.skip_ingest:
        bench_ingest(
            Load(args.seconds, args.clients, args.inflight, args.client, args.keys, args.workers),
            args.rounds,
        )
    if not args.skip_query:
        bench_query(args.repeats)


if __name__ == "__main__":
    main()
