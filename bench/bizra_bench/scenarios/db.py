"""`bizra-node bench db`: the store's numbers on a real PostgreSQL.

- Write-behind: records per second from the recorder to committed rows (COPY batches),
  and what one recorder call costs the request path (ns).
- History: p50/p99 of GET /api/v1/validations queries (the store's HistoryReader, rows
  to page) on 1 000 000 rows spread over three monthly partitions, per query shape.
- Pools: acquire latency with 200 concurrent requests on a pool of the default size.

Runs in a scratch database on --dsn (default: BENCH_DATABASE_URL, else the machine's
server on 127.0.0.1:5432), dropped afterwards; without a reachable server, on an
embedded PostgreSQL in a temporary folder.
Options: --rows N (history table size), --records N (write-behind), --quick,
--loop uvloop|asyncio (the event loop it all runs on; default BIZRA_LOOP's value, else
uvloop, as the node's workers).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bizra_bench.results import write_results
from bizra_node.app import pool_options, store_config
from bizra_node.history import HistoryQuery, decode_cursor
from bizra_node.observability import NodeMetrics
from bizra_node.settings import Settings
from bizra_node.store import EmbeddedPostgres, Store
from bizra_node.store.history import HistoryReader
from bizra_node.store.partitions import ensure_partitions
from bizra_node.store.pools import ManagedPool
from bizra_node.tuning import TUNING
from bizra_node.validation import Transaction, TransactionResult, now_iso

_GENERATE = """
INSERT INTO validations (id, kind, subject, network_id, valid, status, block_number, result,
                         validated_at)
SELECT gen_random_uuid(),
       (ARRAY['transaction','block','address'])[1 + g % 3],
       CASE g % 3 WHEN 0 THEN '0x' || lpad(to_hex(g % 50000), 64, '0')
                  WHEN 1 THEN (g % 100000)::text
                  ELSE '0x' || lpad(to_hex(g % 20000), 40, '0') END,
       31337, g % 10 <> 0,
       CASE WHEN g % 10 = 0 THEN 'not_found' ELSE 'confirmed' END,
       g / 10,
       jsonb_build_object('valid', g % 10 <> 0, 'networkId', 31337,
                          'validatedAt', $2::timestamptz - g * $3::interval,
                          'data', jsonb_build_object('hash', '0x' || md5(g::text) || md5(g::text),
                                                     'blockNumber', g / 10, 'status', 'confirmed',
                                                     'value', (g * 1000)::text)),
       $2::timestamptz - g * $3::interval
FROM generate_series($1::int * $4::int + 1, ($1::int + 1) * $4::int) AS g
"""


def _pcts(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {"p50_ms": round(s[len(s) // 2] * 1000, 3),
            "p99_ms": round(s[min(int(len(s) * 0.99), len(s) - 1)] * 1000, 3),
            "max_ms": round(s[-1] * 1000, 3), "n": len(s)}


def _tx_hash(i: int) -> str:
    return "0x" + f"{i:064x}"


def _tx_result(i: int) -> TransactionResult:
    tx = Transaction(hash=_tx_hash(i), from_="0x" + "a" * 40, to="0x" + "b" * 40,
                     value=str(10**18 + i), gas=21000, gas_price="1000000000", nonce=i,
                     block_number=100 + i // 50, block_hash="0x" + "c" * 64, timestamp=1_700_000_000,
                     status="confirmed", confirmations=64, finalized=True, data="0x", type=2)
    return TransactionResult(valid=True, data=tx, validated_at=now_iso(), network_id=31337)


async def _scratch(admin_dsn: str) -> str:
    name = f"bizra_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin_dsn, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_dsn.rpartition("/")[0] + "/" + name


async def _drop(admin_dsn: str, dsn: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{dsn.rpartition("/")[2]}" WITH (FORCE)')
    finally:
        await conn.close()


async def bench_write_behind(dsn: str, data_dir: Path, records: int) -> dict[str, Any]:
    # the write-behind queue on its own (DURABILITY=async): `bench durability` measures
    # what the other modes add to an answer
    settings = Settings(_env_file=None, database_url=dsn, data_dir=str(data_dir),  # type: ignore[call-arg]
                        log_level="warning", durability="async")
    quiet = dataclasses.replace(TUNING, db_monitor_interval=3600)  # no monitor queries
    store = Store(store_config(settings, quiet), NodeMetrics())
    await store.start()
    results = [_tx_result(i) for i in range(2000)]
    hashes = [_tx_hash(i) for i in range(2000)]
    rec = store.recorder
    m = store.metrics
    try:
        # warm-up
        for i in range(2000):
            rec("transaction", hashes[i], results[i])
        while m.write_records.get(("written",)) < 2000:
            await asyncio.sleep(0.005)
        def landed() -> float:
            return m.write_records.get(("written",)) + m.write_records.get(("replayed",))

        base = landed()
        enqueue = 0.0
        high = settings.write_queue_max // 2
        t0 = time.perf_counter()
        for start in range(0, records, 1000):
            e0 = time.perf_counter()
            for i in range(start, min(start + 1000, records)):
                rec("transaction", hashes[i % 2000], results[i % 2000])
            enqueue += time.perf_counter() - e0
            await asyncio.sleep(0)  # requests interleave with the writer
            while store.writer.depth > high:  # the bench paces itself below the queue bound
                await asyncio.sleep(0.001)
        while landed() - base < records:
            await asyncio.sleep(0.002)
        elapsed = time.perf_counter() - t0
        spooled = m.write_records.get(("spooled",)) + m.write_records.get(("overflow_spooled",))
    finally:
        await store.stop()
    return {"records": records, "seconds": round(elapsed, 3),
            "records_per_s": round(records / elapsed), "enqueue_ns_per_record":
            round(enqueue / records * 1e9), "batch_rows": settings.write_batch_rows,
            "batch_interval_s": settings.write_batch_interval, "spooled": spooled}


async def _load_rows(dsn: str, rows: int) -> float:
    conn = await asyncpg.connect(dsn, command_timeout=600)
    try:
        # Partitions for the months the rows span (about 3), as a node running then made.
        now = datetime.now(UTC)
        await ensure_partitions(conn, 4, now=now - timedelta(days=95))
        step = timedelta(seconds=max(1, int(90 * 86400 / rows)))
        t0 = time.perf_counter()
        chunk = 250_000
        parts = (rows + chunk - 1) // chunk
        await asyncio.gather(*(_load_part(dsn, i, min(chunk, rows - i * chunk), now, step)
                               for i in range(parts)))
        # Steady state, as autovacuum leaves a table: hint bits set, visibility map and
        # statistics current (straight after a bulk load, the first readers pay for those).
        await conn.execute("VACUUM (ANALYZE) validations")
        return time.perf_counter() - t0
    finally:
        await conn.close()


async def _load_part(dsn: str, part: int, size: int, now: datetime, step: timedelta) -> None:
    conn = await asyncpg.connect(dsn, command_timeout=600)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute(_GENERATE, part, now, step, size)
    finally:
        await conn.close()


async def bench_history(dsn: str, rows: int, iterations: int) -> dict[str, Any]:
    load_s = await _load_rows(dsn, rows)
    settings = Settings(_env_file=None, database_url=dsn, log_level="warning")  # type: ignore[call-arg]
    pool = await ManagedPool("primary", dsn, pool_options(settings),
                             NodeMetrics()).open()
    reader = HistoryReader(lambda: pool, None, NodeMetrics())
    now = datetime.now(UTC)
    deep = await reader.query(HistoryQuery(limit=500))
    for _ in range(9):  # a cursor ~5000 rows deep
        assert deep.next_cursor is not None
        deep = await reader.query(HistoryQuery(limit=500, after=decode_cursor(deep.next_cursor)))
    assert deep.next_cursor is not None
    deep_after = decode_cursor(deep.next_cursor)
    shapes: dict[str, Any] = {
        "latest 50": lambda i: HistoryQuery(limit=50),
        "kind+subject": lambda i: HistoryQuery(kind="transaction",
                                               subject="0x" + f"{(i * 37) % 50000:064x}"),
        "kind+valid=false": lambda i: HistoryQuery(kind="block", valid=False),
        "time window 1h": lambda i: HistoryQuery(since=now - timedelta(days=1 + i % 60),
                                                 until=now - timedelta(days=1 + i % 60,
                                                                       hours=-1)),
        "page after cursor (5000 deep)": lambda i: HistoryQuery(limit=50, after=deep_after),
        "limit 500": lambda i: HistoryQuery(limit=500),
    }
    out: dict[str, Any] = {"rows": rows, "load_seconds": round(load_s, 1)}
    everything: list[float] = []
    try:
        for name, make in shapes.items():
            samples = []
            for i in range(iterations):
                q = make(i)
                t0 = time.perf_counter()
                page = await reader.query(q)
                samples.append(time.perf_counter() - t0)
                assert page.items or name == "kind+subject"
            out[name] = _pcts(samples)
            everything += samples
        out["all shapes"] = _pcts(everything)
    finally:
        await pool.close()
    return out


async def bench_acquire(dsn: str, concurrency: int, rounds: int) -> dict[str, Any]:
    settings = Settings(_env_file=None, database_url=dsn, log_level="warning")  # type: ignore[call-arg]
    options = pool_options(settings)
    pool = await ManagedPool("primary", dsn, options, NodeMetrics()).open()
    acquire: list[float] = []
    total: list[float] = []
    peak_waiting = 0

    async def one() -> None:
        nonlocal peak_waiting
        t0 = time.perf_counter()
        async with pool.acquire() as conn:
            t1 = time.perf_counter()
            peak_waiting = max(peak_waiting, pool.figures()["waiting"])
            await conn.fetchval("SELECT 1")
        acquire.append(t1 - t0)
        total.append(time.perf_counter() - t0)

    try:
        await asyncio.gather(*(one() for _ in range(concurrency)))  # warm the pool to max
        acquire.clear()
        total.clear()
        t0 = time.perf_counter()
        for _ in range(rounds):
            await asyncio.gather(*(one() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    finally:
        await pool.close()
    return {"concurrency": concurrency, "rounds": rounds, "pool_max": options.max_size,
            "acquire": _pcts(acquire), "acquire_plus_query": _pcts(total),
            "queries_per_s": round(concurrency * rounds / elapsed), "peak_waiting": peak_waiting}


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bizra-bench-db-"))
    embedded = None
    admin = args.dsn
    try:
        try:
            dsn = await _scratch(admin)
            where = admin.rpartition("@")[2].rpartition("/")[0]
        except (OSError, asyncpg.PostgresError, TimeoutError):
            embedded = EmbeddedPostgres(tmp / "data", database="bench")
            dsn = await asyncio.to_thread(embedded.start)
            admin = ""
            where = "embedded pgserver"
        result: dict[str, Any] = {"server": where}
        try:
            conn = await asyncpg.connect(dsn)
            result["server_version"] = await conn.fetchval("SHOW server_version")
            await conn.close()
            print("write-behind ...", flush=True)
            result["write_behind"] = await bench_write_behind(dsn, tmp, args.records)
            print(f"history on {args.rows} rows ...", flush=True)
            result["history"] = await bench_history(dsn, args.rows, args.iterations)
            print("pool acquire ...", flush=True)
            result["acquire"] = await bench_acquire(dsn, 200, args.rounds)
        finally:
            if admin and not args.keep:
                await _drop(admin, dsn)
            elif args.keep:
                print(f"kept: {dsn}")
        return result
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
        shutil.rmtree(tmp, ignore_errors=True)


def _markdown(r: dict[str, Any]) -> str:
    w, h, a = r["write_behind"], r["history"], r["acquire"]
    lines = [f"# bench db ({r['server']}, PostgreSQL {r.get('server_version', '?')}, "
             f"{r.get('loop', 'asyncio')} loop)", "",
             "## Write-behind (recorder -> COPY batches -> committed rows)", "",
             f"- {w['records']} records in {w['seconds']} s: **{w['records_per_s']} records/s** "
             f"(batches of {w['batch_rows']} rows / {w['batch_interval_s']} s); spooled: "
             f"{w['spooled']}",
             f"- request-path cost of one recorder call: {w['enqueue_ns_per_record']} ns", "",
             f"## History queries on {h['rows']} rows (loaded and vacuumed in {h['load_seconds']} s)", "",
             "| query | p50 ms | p99 ms | max ms | n |", "| --- | --- | --- | --- | --- |"]
    for name, v in h.items():
        if isinstance(v, dict):
            lines.append(f"| {name} | {v['p50_ms']} | {v['p99_ms']} | {v['max_ms']} | {v['n']} |")
    lines += ["", f"## Pool acquire, {a['concurrency']} concurrent requests "
                  f"(pool max {a['pool_max']}, {a['rounds']} rounds)", "",
              f"- acquire: p50 {a['acquire']['p50_ms']} ms, p99 {a['acquire']['p99_ms']} ms, "
              f"max {a['acquire']['max_ms']} ms",
              f"- acquire + SELECT 1: p50 {a['acquire_plus_query']['p50_ms']} ms, "
              f"p99 {a['acquire_plus_query']['p99_ms']} ms; {a['queries_per_s']} queries/s; "
              f"peak waiting {a['peak_waiting']}", ""]
    return "\n".join(lines)


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bizra-node bench db")
    parser.add_argument("--dsn", default=os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"),
                        default=os.environ.get("BIZRA_LOOP", "uvloop").replace("auto", "uvloop"))
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.records, args.iterations, args.rounds = 20_000, 5_000, 20, 3
    if args.loop == "uvloop":
        import uvloop

        result = uvloop.run(_main(args))
    else:
        result = asyncio.run(_main(args))
    result["loop"] = args.loop
    path = write_results("db", result, _markdown(result))
    print(path.read_text())
    return 0
