"""Every measurement of a suite run as one record, with a progress line while it runs.

A :class:`Run` is one load run: wrk (closed loop, for throughput) or the paced
generator (open loop at a fixed rate, for honest percentiles), with the CPU and RSS
of the processes under test during the run. :class:`Recorder` runs the steps of a
plan, prints ``[step/total elapsed] what`` before each and the result after it.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bizra_bench.loadgen import wrk
from bizra_bench.paced import paced_run
from bizra_bench.validity import run_failure
from bizra_bench.watch import Watch
from bizra_bench.workload import Req

__all__ = ["Recorder", "Run"]

NAN = float("nan")


@dataclass
class Run:
    key: str
    """Stable name the report and the goals refer to (e.g. ``hit.post``)."""
    label: str
    tool: str
    """wrk or paced."""
    rps: float
    mean_ms: float = NAN
    p50_ms: float = NAN
    p95_ms: float = NAN
    p99_ms: float = NAN
    max_ms: float = NAN
    requests: int = 0
    errors: int = 0
    rate: float = 0.0
    """Offered rate (paced runs)."""
    duration_s: float = 0.0
    cpu_pct: float = 0.0
    cpu_us: float = NAN
    """Server CPU time per request, µs (all watched processes; moves far less than req/s
    when the load generator and the servers share the cores). In a paced run at a low
    rate it includes the server's background work (head following, proving new heads)
    spread over few requests."""
    rss_mb: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in asdict(self).items()}


def _per_request(cpu_s: float, requests: int) -> float:
    """µs of CPU per request (the warm-up's requests count: the CPU was watched then too)."""
    return cpu_s / requests * 1e6 if requests else NAN


def _fmt_ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


class Recorder:
    def __init__(self, total: int, *, stream: Any = sys.stderr) -> None:
        self.total = total
        self.step = 0
        self.runs: dict[str, Run] = {}
        self.notes: list[str] = []
        self._t0 = time.monotonic()
        self._out = stream

    # --- progress ---------------------------------------------------------------------
    def begin(self, text: str) -> None:
        self.step += 1
        elapsed = int(time.monotonic() - self._t0)
        print(f"[{self.step:>2}/{self.total} {elapsed // 60:>2}:{elapsed % 60:02d}] {text}",
              file=self._out, flush=True)

    def say(self, text: str) -> None:
        print(f"           {text}", file=self._out, flush=True)

    def note(self, text: str) -> None:
        """A remark for the report (a skipped part, a caveat)."""
        self.notes.append(text)
        self.say(f"note: {text}")

    def _done(self, run: Run) -> Run:
        """Record ``run``; a repeat of a wrk run keeps the best throughput of all
        repeats (and every repeat's req/s in ``extra['repeats']``, its CPU µs per
        request in ``extra['cpu_repeats']``, its errors in ``extra['errors_repeats']``:
        a round with errors makes the whole run a failed measurement, see
        ``validity.run_failure``)."""
        old = self.runs.get(run.key)
        if old is not None and run.tool == "wrk":
            repeats = [*old.extra.get("repeats", [old.rps]), run.rps]
            cpu = [*old.extra.get("cpu_repeats", [old.cpu_us]), run.cpu_us]
            errors = [*old.extra.get("errors_repeats", [old.errors]), run.errors]
            best = run if run.rps > old.rps else old
            best.extra["repeats"] = repeats
            best.extra["cpu_repeats"] = cpu
            best.extra["errors_repeats"] = errors
            self.runs[run.key] = best
        else:
            self.runs[run.key] = run
        rate = f" (offered {run.rate:.0f}/s)" if run.tool == "paced" else ""
        self.say(f"-> {run.rps:>9.0f} req/s{rate}  mean {_fmt_ms(run.mean_ms)}  "
                 f"p50 {_fmt_ms(run.p50_ms)}  p99 {_fmt_ms(run.p99_ms)} ms  "
                 f"errors {run.errors}  cpu {run.cpu_pct:.0f} % = {run.cpu_us:.1f} µs/req  "
                 f"rss {run.rss_mb:.0f} MB")
        failure = run_failure(run.as_dict())
        if failure:
            self.say(f"   FAILED MEASUREMENT: {failure}")
        return run

    # --- load -------------------------------------------------------------------------
    def wrk(self, key: str, label: str, url: str, *, watch: list[int], duration: float,
            connections: int, threads: int = 2, body: bytes | None = None,
            requests: Sequence[Req] | None = None) -> Run:
        self.begin(f"wrk -t{threads} -c{connections} {duration:g}s: {label}")
        r = wrk(label, url, duration=duration, connections=connections, threads=threads,
                body=body, requests=requests, watch=watch)
        return self._done(Run(key, label, "wrk", r.rps, p50_ms=r.p50_ms, p99_ms=r.p99_ms,
                              requests=r.requests, errors=r.errors + r.non_2xx,
                              duration_s=duration, cpu_pct=r.server_cpu_pct,
                              cpu_us=r.server_cpu_us_per_req,
                              rss_mb=r.server_rss_mb,
                              extra={"p90_ms": r.p90_ms, "threads": threads,
                                     "connections": connections}))

    def paced(self, key: str, label: str, url: str, *, watch: list[int], rate: float,
              duration: float, body: bytes | None = None,
              requests: Sequence[Req] | None = None, warmup: float = 1.0) -> Run:
        """``warmup`` s of the same load first, not counted (connections get opened)."""
        self.begin(f"paced {rate:g}/s for {duration:g}s (+{warmup:g}s warm-up): {label}")
        with Watch(watch) as w:
            r = asyncio.run(paced_run(label, url, rate=rate, duration=duration, body=body,
                                      requests=requests, warmup=warmup))
        return self._done(Run(key, label, "paced", r.achieved_rps, mean_ms=r.mean_ms,
                              p50_ms=r.p50_ms, p95_ms=r.p95_ms, p99_ms=r.p99_ms,
                              max_ms=r.max_ms, requests=r.sent, errors=r.failed, rate=rate,
                              duration_s=duration, cpu_pct=w.cpu_pct,
                              cpu_us=_per_request(w.cpu_s, r.sent + int(rate * warmup))
                              if watch else NAN,
                              rss_mb=w.rss_peak_mb))
