"""The batch endpoint over HTTP: wrk posting ``POST /api/v1/validate/transactions`` with
N hashes (one envelope of N answers) beside single ``POST /api/v1/validate/transaction``
requests, all L1 hits, in the same rounds (each target in turn), on a real node.

What a batch saves over HTTP is the per-request work of both sides (parsing, routing,
the envelope, the transport); what it costs is that the route has no synchronous lane
(every batch goes through the full path). Per answer: req/s x N answers/s, and the
node's CPU per request / N (its processes: granian's master and workers).
"""

from __future__ import annotations

import json
import statistics
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bizra_bench.loadgen import OUTSIDE, WrkSetup, wrk
from bizra_bench.workload import Req

__all__ = ["Target", "batch_body", "measure", "summarize", "targets"]


@dataclass(frozen=True)
class Target:
    name: str
    answers: int
    """Answers in one response (1 for the single POSTs)."""
    body: bytes | None
    """The batch's body; None: single POSTs cycling through ``singles``."""
    singles: tuple[Req, ...] = ()


def batch_body(hashes: Sequence[str], size: int) -> bytes:
    """``{"txHashes": [...]}`` with ``size`` hashes, ``hashes`` repeated in order."""
    picked = [hashes[i % len(hashes)] for i in range(size)]
    return json.dumps({"txHashes": picked}, separators=(",", ":")).encode()


def targets(hashes: Sequence[str], sizes: Sequence[int]) -> list[Target]:
    singles = tuple(Req("POST", "/api/v1/validate/transaction",
                        json.dumps({"txHash": h}, separators=(",", ":")).encode(), "transaction")
                    for h in hashes)
    return [Target("single", 1, None, singles),
            *(Target(f"batch of {n}", n, batch_body(hashes, n)) for n in sizes)]


Round = tuple[float, float, int]
"""One wrk round: req/s, the node's CPU µs per request, errors (socket and non-2xx)."""


def summarize(rounds: dict[str, list[Round]], answers: dict[str, int]) -> dict[str, Any]:
    """Per target: median and range of req/s, answers/s, CPU µs per request and per
    answer, errors; and each batch's answers/s and CPU per answer over the single
    POSTs' (median of the rounds' ratios: a round's figures are the closest in time)."""
    out: dict[str, Any] = {}
    for name, rows in rounds.items():
        n = answers[name]
        figures = {"req/s": [r[0] for r in rows], "answers/s": [r[0] * n for r in rows],
                   "cpu_us_per_request": [r[1] for r in rows],
                   "cpu_us_per_answer": [r[1] / n for r in rows]}
        out[name] = {"answers_per_request": n, "errors": [r[2] for r in rows],
                     **{k: _spread(v) for k, v in figures.items()}}
    single = rounds.get("single")
    for name, rows in rounds.items():
        if name == "single" or single is None:
            continue
        n = answers[name]
        out[name]["answers/s over single"] = statistics.median(
            r[0] * n / s[0] for r, s in zip(rows, single, strict=True))
        out[name]["cpu per answer over single"] = statistics.median(
            (r[1] / n) / s[1] for r, s in zip(rows, single, strict=True))
    return out


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def measure(base: str, hashes: Sequence[str], *, sizes: Sequence[int] = (10, 100),
            setup: WrkSetup = OUTSIDE, watch: Callable[[], list[int]]) -> dict[str, Any]:
    """Warm every target up (``setup.warmup`` s, not counted), then ``setup.rounds``
    rounds of each in turn; ``summarize``'s figures and the wrk setup."""
    plan = targets(hashes, sizes)
    url = base + "/api/v1/validate/transactions"

    def run(t: Target, duration: float, pids: list[int] | None) -> Round:
        if t.body is None:
            r = wrk(t.name, base, duration=duration, connections=setup.connections,
                    threads=setup.threads, requests=t.singles, watch=pids)
        else:
            r = wrk(t.name, url, duration=duration, connections=setup.connections,
                    threads=setup.threads, body=t.body, watch=pids)
        return r.rps, r.server_cpu_us_per_req, r.errors + r.non_2xx

    sizes_b = {t.name: _answer_bytes(base, t) for t in plan}
    if setup.warmup > 0:
        for t in plan:
            run(t, setup.warmup, None)
    rounds: dict[str, list[Round]] = {t.name: [] for t in plan}
    for _ in range(setup.rounds):
        for t in plan:
            rounds[t.name].append(run(t, setup.duration, watch()))
    figures = summarize(rounds, {t.name: t.answers for t in plan})
    for name, size in sizes_b.items():
        figures[name]["response_bytes"] = size
    return {"setup": setup.describe(), "targets": figures}


def _answer_bytes(base: str, t: Target) -> int:
    """The size of one response of ``t`` (raises unless it is a 200)."""
    path, body = ((t.singles[0].path, t.singles[0].body) if t.body is None
                  else ("/api/v1/validate/transactions", t.body))
    req = urllib.request.Request(base + path, data=body,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return len(resp.read())
