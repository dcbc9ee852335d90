"""An open-loop, constant-rate load generator (no coordinated omission).

Request i is due at t0 + i/rate whether or not earlier ones have answered; its latency
is measured from when it was due, so a stalled server shows up in the percentiles
instead of silently lowering the offered load (what closed-loop tools like wrk do).

``warmup`` seconds of the same load go first and are not counted: the client opens
its connections then, which would otherwise put a burst of connection set-ups (and
anything that expired while the server sat idle) into the percentiles.

The achieved rate is the answers (2xx-3xx) per second over the time from the first
counted request's due time to the last answer, less the quickest answer's latency
(the time any answer needs to come back even from a server that keeps pace), plus
one request interval: a server that keeps pace scores the offered rate whatever its
latency, even over a short run; one that falls behind scores the rate at which it
answers (its backlog stretches the window), one that fails requests fewer.
"""

from __future__ import annotations

import asyncio
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


def achieved_rate(answered: int, rate: float, span: float, quickest: float) -> float:
    """Answers per second (module doc): ``span`` s from the first counted request's due
    time to the last answer, ``quickest`` the lowest latency of an answer, s."""
    if answered <= 0:
        return 0.0
    return answered / max(span - quickest + 1 / rate, 1e-9)


async def paced_run(label: str, url: str, *, rate: float, duration: float,
                    body: bytes | None = None, bodies: list[bytes] | None = None,
                    requests: Sequence[Req] | None = None, warmup: float = 0.0,
                    timeout: float = 10.0, max_in_flight: int = 2048) -> PacedResult:
    """Offer ``rate`` req/s for ``duration`` s. With ``requests``, request i is
    requests[i % len(requests)] against the base ``url``; with ``bodies``, request i
    POSTs bodies[i % len(bodies)]; with ``body`` every request POSTs it; else GET."""
    latencies: list[float] = []
    failed = 0
    last_done = 0.0
    skip = int(rate * warmup)
    total = int(rate * duration) + skip
    sem = asyncio.Semaphore(max_in_flight)
    connector = aiohttp.TCPConnector(limit=max_in_flight, keepalive_timeout=30)
    headers = {"content-type": "application/json"}
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=timeout)) as http:
        loop = asyncio.get_running_loop()
        t0 = loop.time() + 0.05
        counted_from = t0 + skip / rate

        async def one(i: int, due: float) -> None:
            nonlocal failed, last_done
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
            last_done = max(last_done, done)
            if ok:
                latencies.append((done - due) * 1000)
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
    achieved = achieved_rate(len(latencies), rate, last_done - counted_from,
                             latencies[0] / 1000 if latencies else 0.0)
    return PacedResult(label, rate, duration, total - skip, len(latencies), failed,
                       achieved, mean, _pct(latencies, 0.5),
                       _pct(latencies, 0.95), _pct(latencies, 0.99),
                       latencies[-1] if latencies else float("nan"))
