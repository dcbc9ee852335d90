"""`bizra-node bench circuit-breaker`: what a breaker costs per call, and whether it
keeps memory, ours beside pybreaker, purgatory and circuitbreaker in the same run.

Overhead per call = (time of N protected calls - time of N bare calls) / N, best of
``--repeat`` runs, for a call that succeeds (the hot path). Memory growth = traced
bytes after N calls minus before (tracemalloc, after gc), on a breaker already warm.
The libraries are dependencies of the harness (bench/pyproject.toml).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any, cast

from bizra_bench.results import publish
from bizra_node.resilience import BreakerConfig, CircuitBreaker, Outcome

SyncCall = Callable[[], Any]
AsyncCall = Callable[[], Awaitable[Any]]


def _work() -> int:
    return 1


async def _awork() -> int:
    return 1


# --- candidates: each returns a zero-argument callable doing one protected call -----------
def ours_sync() -> SyncCall:
    b = CircuitBreaker("bench", BreakerConfig())
    allow, record, ok = b.allow, b.record, Outcome.SUCCESS

    def call() -> int:
        if not allow():
            raise RuntimeError("open")
        result = _work()
        record(ok)
        return result
    return call


def ours_async() -> AsyncCall:
    b = CircuitBreaker("bench", BreakerConfig())

    async def call() -> int:
        return await b.call(_awork)
    return call


def pybreaker_sync() -> SyncCall:
    import pybreaker

    b = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30)
    return lambda: b.call(_work)


def circuitbreaker_sync() -> SyncCall:
    from circuitbreaker import circuit

    return cast(SyncCall, circuit(failure_threshold=5, recovery_timeout=30, name="bench-sync")(_work))


def circuitbreaker_async() -> AsyncCall:
    from circuitbreaker import circuit

    return cast(AsyncCall, circuit(failure_threshold=5, recovery_timeout=30,
                                   name="bench-async")(_awork))


def purgatory_sync() -> SyncCall:
    from purgatory import SyncCircuitBreakerFactory

    factory = SyncCircuitBreakerFactory(default_threshold=5, default_ttl=30)
    return cast(SyncCall, factory(circuit="bench")(_work))  # its __call__ returns Any


def purgatory_async() -> AsyncCall:
    from purgatory import AsyncCircuitBreakerFactory

    factory = AsyncCircuitBreakerFactory(default_threshold=5, default_ttl=30)
    return cast(AsyncCall, factory(circuit="bench")(_awork))  # its __call__ returns Any


SYNC: list[tuple[str, Callable[[], SyncCall]]] = [
    ("ours (allow/record)", ours_sync), ("pybreaker", pybreaker_sync),
    ("circuitbreaker", circuitbreaker_sync), ("purgatory", purgatory_sync)]
ASYNC: list[tuple[str, Callable[[], AsyncCall]]] = [
    ("ours (call)", ours_async), ("circuitbreaker", circuitbreaker_async),
    ("purgatory", purgatory_async)]


# --- measuring ------------------------------------------------------------------------------
def _time_sync(fn: SyncCall, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - start


async def _time_async(fn: AsyncCall, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await fn()
    return time.perf_counter() - start


def _growth_sync(fn: SyncCall, n: int) -> int:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(n):
        fn()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before


async def _growth_async(fn: AsyncCall, n: int) -> int:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(n):
        await fn()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before


def _measure_sync(name: str, make: Callable[[], SyncCall], n: int, repeat: int,
                  bare: float) -> dict[str, Any]:
    fn = make()
    _time_sync(fn, min(n, 10_000))  # warm up
    best = min(_time_sync(fn, n) for _ in range(repeat))
    return {"name": name, "mode": "sync", "overhead_us": (best - bare) / n * 1e6,
            "per_call_us": best / n * 1e6, "growth_bytes": _growth_sync(fn, n)}


async def _measure_async(name: str, make: Callable[[], AsyncCall], n: int, repeat: int,
                         bare: float) -> dict[str, Any]:
    fn = make()
    await _time_async(fn, min(n, 10_000))
    best = min([await _time_async(fn, n) for _ in range(repeat)])
    return {"name": name, "mode": "async", "overhead_us": (best - bare) / n * 1e6,
            "per_call_us": best / n * 1e6, "growth_bytes": await _growth_async(fn, n)}


async def _run_async(n: int, repeat: int) -> list[dict[str, Any]]:
    bare = min([await _time_async(_awork, n) for _ in range(repeat)])
    return [await _measure_async(name, make, n, repeat, bare) for name, make in ASYNC]


def _markdown(rows: list[dict[str, Any]], n: int) -> str:
    lines = [f"# circuit-breaker: overhead per successful call, memory over {n:,} calls", "",
             "| breaker | mode | overhead µs/call | total µs/call | memory growth (bytes) |",
             "| --- | --- | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['mode']} | {r['overhead_us']:.2f} | {r['per_call_us']:.2f} "
                     f"| {r['growth_bytes']:,} |")
    lines += ["", "pybreaker has no asyncio call (its call_async needs tornado), so it is "
              "measured sync only. The performance plan's floor is 400 µs per call."]
    return "\n".join(lines) + "\n"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bizra-node bench circuit-breaker")
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    n, repeat = args.calls, args.repeat
    bare = min(_time_sync(_work, n) for _ in range(repeat))
    rows = [_measure_sync(name, make, n, repeat, bare) for name, make in SYNC]
    rows += asyncio.run(_run_async(n, repeat))
    md = _markdown(rows, n)
    publish("circuit-breaker", {"calls": n, "repeat": repeat, "rows": rows}, md)
    return 0
