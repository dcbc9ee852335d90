"""An open-loop, constant-rate load generator (no coordinated omission).

Request i is due at t0 + i/rate whether or not earlier ones have answered; its latency
is measured from when it was due, so a stalled server shows up in the percentiles
instead of silently lowering the offered load (what closed-loop tools like wrk do).

``warmup`` seconds of the same load go first and are not counted: the client opens
its connections then, which would otherwise put a burst of connection set-ups (and
anything that expired while the server sat idle) into the percentiles.

The achieved rate is the rate at which answers (2xx-3xx) came back: the offered rate
over the slope of the answers' completion times against their due times (least
squares), at most the offered rate, times the share of requests answered. A server
that keeps pace completes each request a latency after it was due (slope 1: the
offered rate, whatever its latency); one that can answer only c a second completes
them 1/c apart (slope rate/c: c). Fitted over every answer, one slow last answer
moves it little, so a short run is not failed by the tail of a single latency (as a
count over the time to the last answer would be: 60 misses at 20/s came out at 97 %).
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from bizra_bench.workload import Req

__all__ = ["PacedResult", "achieved_rate", "paced_run"]


@dataclass
class PacedResult:
    label: str
    rate: float
    duration_s: float
    sent: int
    ok: int
    failed: int
    achieved_rps: float
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_pct: float = 0.0
    server_rss_mb: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pct(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(int(q * len(sorted_ms)), len(sorted_ms) - 1)]


def achieved_rate(due: Sequence[float], done: Sequence[float], rate: float, sent: int) -> float:
    """Answers per second (module doc): ``due`` and ``done`` the due and completion
    times of each answered request, s; ``sent`` how many requests were counted."""
    if not done or sent <= 0:
        return 0.0
    if len(done) < 3 or max(due) == min(due):
        # too few answers to fit: the time to the last answer, less the quickest latency
        span = max(done) - min(due) - min(b - a for a, b in zip(due, done, strict=True))
        return min(rate, len(done) / (span + 1 / rate))
    slope = statistics.linear_regression(due, done).slope
    return rate * (1 / slope if slope > 1 else 1.0) * len(done) / sent


async def paced_run(label: str, url: str, *, rate: float, duration: float,
                    body: bytes | None = None, bodies: list[bytes] | None = None,
                    requests: Sequence[Req] | None = None, warmup: float = 0.0,
                    timeout: float = 10.0, max_in_flight: int = 2048) -> PacedResult:
    """Offer ``rate`` req/s for ``duration`` s. With ``requests``, request i is
    requests[i % len(requests)] against the base ``url``; with ``bodies``, request i
    POSTs bodies[i % len(bodies)]; with ``body`` every request POSTs it; else GET."""
    latencies: list[float] = []
    dues: list[float] = []
    dones: list[float] = []
    failed = 0
    skip = int(rate * warmup)
    total = int(rate * duration) + skip
    sem = asyncio.Semaphore(max_in_flight)
    connector = aiohttp.TCPConnector(limit=max_in_flight, keepalive_timeout=30)
    headers = {"content-type": "application/json"}
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=timeout)) as http:
        loop = asyncio.get_running_loop()
        t0 = loop.time() + 0.05

        async def one(i: int, due: float) -> None:
            nonlocal failed
            target = url
            if requests:
                req = requests[i % len(requests)]
                target, payload = url + req.path, req.body
            else:
                payload = bodies[i % len(bodies)] if bodies else body
            async with sem:
                try:
                    if payload is None:
                        async with http.get(target) as resp:
                            await resp.read()
                            ok = resp.status < 400
                    else:
                        async with http.post(target, data=payload, headers=headers) as resp:
                            await resp.read()
                            ok = resp.status < 400
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
            if i < skip:
                return
            done = loop.time()
            if ok:
                latencies.append((done - due) * 1000)
                dues.append(due)
                dones.append(done)
            else:
                failed += 1

        tasks = []
        for i in range(total):
            due = t0 + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
    latencies.sort()
    mean = sum(latencies) / len(latencies) if latencies else float("nan")
    achieved = achieved_rate(dues, dones, rate, total - skip)
    return PacedResult(label, rate, duration, total - skip, len(latencies), failed,
                       achieved, mean, _pct(latencies, 0.5),
                       _pct(latencies, 0.95), _pct(latencies, 0.99),
                       latencies[-1] if latencies else float("nan"))
