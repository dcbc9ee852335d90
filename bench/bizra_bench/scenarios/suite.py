"""`bizra-node bench suite`: the performance targets measured side by side, as ratios
to baselines measured in the same run.

One seeded anvil (thousands of real transactions, blocks and addresses) sits behind
the latency proxy (50 ms per upstream round trip by default) in a process of its
own. Measured, each in its own step:

- hit path: POST validate/transaction and GET transactions/{hash} answered from L1,
  POST /rpc, next to (c) the bare /_bench/constant endpoint on the same server and
  (d) nginx proxy_cache on POST serving the same JSON-RPC answer: wrk for
  throughput, set up as the gate and the side-by-side check (wrk -t1
  -c64, --repeat rounds of 5 s, each target in turn, 1 s of warm-up per target not
  counted; every round kept, the best drawn), the paced generator for percentiles;
- miss path: validations of keys never asked before, next to (b) the same
  JSON-RPC batch sent to the upstream directly and (a) the node set up like the
  replaced system's way of working ("before": sequential calls, a new connection per call,
  L1 1 000 entries / 60 s, no L2);
- validation: transaction, block and address, cold (miss) then warm (hit);
- mixed: Zipf-distributed keys over the whole key set, from a cold cache (wrk
  warm-up), then steady (paced, then wrk), for the node and for "before"; the hit
  rate is 1 - (validations the node computed / client requests), the computed ones
  counted by the node itself (its cache metrics, summed over workers: L1 misses that
  neither Redis nor a concurrent request answered). Counting upstream calls at the
  proxy no longer works since answers are proven: a miss makes a varying number of
  calls (blocks, headers, receipts) and prefetching adds more;
- the cache, circuit-breaker and db scenarios, each in its own process.

A run with errors, or a paced run that achieved less than 98 % of its offered rate,
is a failed measurement (bizra_bench.validity): the report shows it as such and never
counts it towards a goal or uses it as a denominator.

Writes suite-*.{json,md} and suite-*.png charts to the results folder (bench/results/
of the checkout, or `bizra-node bench --out DIR suite`); prints a progress line per
step and the summary (goals, the plan's table) at the end. `--quick` runs everything
shortened (about 3 minutes); see --help for every knob.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from bizra_bench import charts, report, runner, validity
from bizra_bench.loadgen import OUTSIDE, Server, have_wrk, wrk
from bizra_bench.measure import Recorder, Run
from bizra_bench.nginx import NginxCache, have_nginx
from bizra_bench.results import ENV_VAR, results_dir, write_results
from bizra_bench.stack import (
    ProxyProcess,
    clear_redis_prefix,
    drop_database,
    redis_up,
    scratch_database,
    start_node,
)
from bizra_bench.workload import (
    Req,
    Workload,
    rpc_request,
    seed_workload,
    tx_batch_body,
    validation_request,
    zipf_sequence,
)
from bizra_node.devnet import Anvil, free_port, seed

SUBSCENARIOS: dict[str, tuple[list[str], list[str]]] = {  # name: (full run, --quick) options
    "cache": ([], ["--quick"]),
    "circuit-breaker": ([], ["--calls", "20000"]),
    "db": (["--records", "100000", "--iterations", "100", "--rounds", "10"], ["--quick"]),
}
ANSWER_KINDS = ("transaction", "block", "address")


def node_counts(base: str) -> dict[str, float]:
    """A node's cache counts so far, summed over its workers, from its /metrics:
    ``lookups`` (L1 hits and misses of the answer kinds: one per answer it served) and
    ``computed`` (validations it went upstream for: L1 misses less those Redis answered
    and those that joined a computation already in flight)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(base + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    lookups = computed = 0.0
    for fam in text_string_to_metric_families(text):
        for sample in fam.samples:
            labels = sample.labels
            if labels.get("kind") not in ANSWER_KINDS:
                continue
            l1 = labels.get("tier") == "l1"
            if sample.name in ("cache_misses_total", "cache_hits_total") and l1:
                lookups += sample.value
            if sample.name == "cache_misses_total" and l1:
                computed += sample.value
            elif ((sample.name == "cache_hits_total" and labels.get("tier") == "l2")
                  or sample.name == "deduplicated_requests_total"):
                computed -= sample.value
    return {"lookups": lookups, "computed": computed}


def computed_validations(base: str) -> float:
    """Validations a node computed so far (:func:`node_counts`)."""
    return node_counts(base)["computed"]

Step = tuple[int, Callable[[Recorder], None]]
Target = tuple[str, str, str, bytes | None, list[int]]
"""A hit-path target: run key, label, URL, POST body (None: GET), PIDs to watch."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bizra-node bench suite", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="every run shortened (~3 min)")
    p.add_argument("--duration", type=float, default=OUTSIDE.duration, help="wrk run, s")
    p.add_argument("--repeat", type=int, default=OUTSIDE.rounds,
                   help="rounds of the hit-path wrk runs (goals: median of the rounds' ratios)")
    p.add_argument("--connections", type=int, default=OUTSIDE.connections,
                   help="wrk connections")
    p.add_argument("--wrk-threads", type=int, default=OUTSIDE.threads,
                   help="wrk threads (1, as the side-by-side check: on 2 cores a "
                   "second wrk thread takes CPU from the server under test)")
    p.add_argument("--wrk-warmup", type=float, default=OUTSIDE.warmup,
                   help="s of load on each hit-path target before its rounds, not counted")
    p.add_argument("--also-wrk-threads", type=int, default=2,
                   help="the hit path measured again with this many wrk threads, reported "
                   "beside (on 2 cores it moves the node's CPU per request by a quarter: "
                   "docs/performance.md); 0: not")
    p.add_argument("--workers", type=int, default=2, help="granian workers of the node")
    p.add_argument("--rate", type=float, default=1000, help="paced runs, requests/s")
    p.add_argument("--paced-duration", type=float, default=30, help="paced runs, s")
    p.add_argument("--latency", type=float, default=0.05, help="added upstream latency, s")
    p.add_argument("--txs", type=int, default=10_000, help="transactions seeded")
    p.add_argument("--zipf-s", type=float, default=1.0, help="Zipf exponent of the mix")
    p.add_argument("--warmup", type=float, default=15, help="mixed workload cold phase, s")
    p.add_argument("--miss-rate", type=float, default=20, help="miss-path runs, requests/s")
    p.add_argument("--miss-count", type=int, default=300, help="keys per miss-path run")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0",
                   help="Redis for the node's L2 (keys under a unique prefix, deleted "
                   "afterwards); '' for L1 only")
    p.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/postgres",
                   help="PostgreSQL server (admin DSN) where the node records validations, in "
                   "a scratch database dropped afterwards; '' records nothing")
    p.add_argument("--no-nginx", action="store_true")
    p.add_argument("--no-subscenarios", action="store_true")
    p.add_argument("--skip", default="", help="comma-separated groups to skip: "
                   "hit,miss,validation,mixed,before")
    return p


def _shorten(args: argparse.Namespace) -> None:
    args.duration = min(args.duration, 3)
    args.repeat = 1
    args.paced_duration = min(args.paced_duration, 5)
    args.warmup = min(args.warmup, 5)
    args.miss_count = min(args.miss_count, 60)
    args.txs = min(args.txs, 4000)


def _post(url: str, body: bytes | None) -> bytes:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return bytes(resp.read())


class Suite:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
        self.anvil: Anvil | None = None
        self.proxy: ProxyProcess | None = None
        self.work: Workload | None = None
        self.redis = ""
        self.database = ""
        self.node: Server | None = None
        self.nginx_cache: NginxCache | None = None
        self.prefixes: list[str] = []
        self.hit_rates: dict[str, dict[str, Any]] = {}
        self.subs: dict[str, Any] = {}
        self.info: dict[str, Any] = {}

    # --- plan -------------------------------------------------------------------------
    def plan(self) -> list[Step]:
        """The steps of this run, each with the number of progress lines it prints."""
        a, skip = self.args, self.skip
        steps: list[Step] = [(1, self.setup)]
        if not {"hit", "miss", "validation"} <= skip:
            steps.append((1, lambda r: self.start("node", r)))
            if "hit" not in skip:
                with_nginx = not a.no_nginx and have_nginx()
                also = a.also_wrk_threads and a.also_wrk_threads != a.wrk_threads
                runs = (6 if with_nginx else 5) * a.repeat * (2 if also else 1)
                steps += [(runs + (1 if with_nginx else 0), self.hit_wrk),
                          (4 if with_nginx else 3, self.hit_paced)]
            if "miss" not in skip:
                steps += [(1, self.miss_node), (1, self.miss_direct)]
            if "validation" not in skip:
                steps.append((9, self.validation))
            steps.append((1, self.stop))
            if "hit" not in skip:
                steps.append((3, self.head_refresh_off))
        if "before" not in skip:
            steps.append((1, lambda r: self.start("before", r)))
            if "miss" not in skip:
                steps.append((1, self.miss_before))
            if "mixed" not in skip:
                steps.append((3, lambda r: self.mixed("before", r)))
            steps.append((1, self.stop))
        if "mixed" not in skip:
            steps += [(1, lambda r: self.start("node", r)),
                      (3, lambda r: self.mixed("node", r)), (1, self.stop)]
        if not a.no_subscenarios:
            steps += [(1, functools.partial(self.sub, name, opts[1 if a.quick else 0]))
                      for name, opts in SUBSCENARIOS.items()]
        return steps

    # --- setup / teardown -------------------------------------------------------------------
    def setup(self, rec: Recorder) -> None:
        a = self.args
        rec.begin(f"seeding a devnet with {a.txs} transactions; latency proxy +{a.latency * 1000:g} ms")
        self.anvil = Anvil().start()
        seed(self.anvil.url)
        t0 = time.monotonic()
        self.work = seed_workload(self.anvil.url, txs=a.txs)
        self.info["seed_s"] = round(time.monotonic() - t0, 1)
        self.info["keys"] = self.work.summary()
        self.proxy = ProxyProcess(self.anvil.url, a.latency).start()
        self.redis = a.redis if redis_up(a.redis) else ""
        if a.redis and not self.redis:
            rec.note(f"Redis at {a.redis} not answering: the node runs with L1 only")
        self.info["redis_l2"] = bool(self.redis)
        self.database = scratch_database(a.db) if a.db else ""
        if a.db and not self.database:
            rec.note(f"PostgreSQL at {a.db} not answering: the node records nothing")
        self.info["postgres_records"] = bool(self.database)
        rec.say(f"keys: {self.work.summary()} in {self.info['seed_s']} s; proxy {self.proxy.url}")

    def start(self, profile: str, rec: Recorder, tuning: dict[str, Any] | None = None) -> None:
        assert self.proxy is not None
        rec.begin(f"starting the node ({profile}, {self.args.workers} workers) {tuning or ''}")
        self.node, prefix = start_node(self.proxy.url, profile, workers=self.args.workers,
                                       redis_url=self.redis, database_url=self.database,
                                       tuning=tuning)
        self.prefixes.append(prefix)

    def stop(self, rec: Recorder) -> None:
        rec.begin("stopping the node")
        if self.node is not None:
            self.node.stop()
            self.node = None

    def close(self) -> None:
        if self.nginx_cache is not None:
            self.nginx_cache.stop()
        if self.node is not None:
            self.node.stop()
        if self.proxy is not None:
            self.proxy.stop()
        if self.anvil is not None:
            self.anvil.stop()
        if self.redis:
            for prefix in self.prefixes:
                clear_redis_prefix(self.redis, prefix)
        if self.database:
            drop_database(self.args.db, self.database)

    # --- hit path --------------------------------------------------------------------------
    def _watch(self) -> list[int]:
        assert self.node is not None
        return self.node.pids()

    def _start_nginx(self, rec: Recorder) -> NginxCache | None:
        """(d): nginx proxy_cache on POST in front of the upstream, warmed up."""
        assert self.anvil is not None and self.work is not None
        if self.args.no_nginx or not have_nginx():
            return None
        rec.begin("nginx proxy_cache on POST in front of the upstream")
        self.nginx_cache = NginxCache(f"127.0.0.1:{self.anvil.port}", free_port(),
                                      workers=self.args.workers).start()
        for _ in range(3):
            _post(self.nginx_cache.base + "/", rpc_request(self.work.hot_tx).body)
        return self.nginx_cache

    def hit_wrk(self, rec: Recorder) -> None:
        """Each target in turn, ``--repeat`` rounds: a burst of load from elsewhere on
        the machine then hits every target alike, and the best of each is kept."""
        assert self.node is not None and self.work is not None
        a, base, hot = self.args, self.node.base, self.work.hot_tx
        post, get = validation_request("transaction", hot), validation_request("transaction", hot, "get")
        rpc = rpc_request(hot)
        for req in (post, get, rpc, rpc):
            _post(base + req.path, req.body)
        nginx = self._start_nginx(rec)
        if nginx is not None:
            rec.say("nginx answers from its cache (X-Cache: HIT)")
        watch = self._watch()
        targets: list[Target] = [
            ("bare.get", "bare GET /_bench/constant (same server)", base + "/_bench/constant",
             None, watch),
            ("bare.post", "bare POST /_bench/constant (same server)", base + "/_bench/constant",
             post.body, watch),
            ("hit.post", "POST validate/transaction, L1 hit", base + post.path, post.body, watch),
            ("hit.get", "GET transactions/{hash}, L1 hit", base + get.path, None, watch),
            ("rpc.post", "POST /rpc eth_getTransactionByHash", base + rpc.path, rpc.body, watch)]
        if nginx is not None:
            targets.insert(0, ("nginx.post", "nginx proxy_cache, POST JSON-RPC (cached)",
                               nginx.base + "/", rpc.body, nginx.pids()))
        self._hit_rounds(rec, targets, a.wrk_threads, "")
        if a.also_wrk_threads and a.also_wrk_threads != a.wrk_threads:
            # reported beside, as `<key>@t<N>`: the goals use the first
            self._hit_rounds(rec, targets, a.also_wrk_threads, f"@t{a.also_wrk_threads}")

    def _hit_rounds(self, rec: Recorder, targets: list[Target], threads: int,
                    suffix: str) -> None:
        """Every target warmed up (as the gate: connections opened, every worker's L1
        filled), then ``--repeat`` rounds taking each in turn with ``threads`` wrk
        threads; run keys end with ``suffix``."""
        a = self.args
        if a.wrk_warmup > 0:
            rec.say(f"warm-up (wrk -t{threads}): {a.wrk_warmup:g} s of the same load on each "
                    "target, not counted")
            for _, _, url, body, _ in targets:
                wrk(url, url, duration=a.wrk_warmup, connections=a.connections, threads=threads,
                    body=body)
        for _ in range(a.repeat):
            for key, label, url, body, pids in targets:
                rec.wrk(key + suffix, label + (f" (wrk -t{threads})" if suffix else ""), url,
                        body=body, watch=pids, duration=a.duration, connections=a.connections,
                        threads=threads)

    def hit_paced(self, rec: Recorder) -> None:
        assert self.node is not None and self.work is not None
        a, base, hot = self.args, self.node.base, self.work.hot_tx
        post, get = validation_request("transaction", hot), validation_request("transaction", hot, "get")
        run = dict(watch=self._watch(), rate=a.rate, duration=a.paced_duration)
        rec.paced("bare.get.paced", "bare GET /_bench/constant", base + "/_bench/constant", **run)
        rec.paced("hit.post.paced", "POST validate/transaction, L1 hit", base + post.path,
                  body=post.body, **run)
        rec.paced("hit.get.paced", "GET transactions/{hash}, L1 hit", base + get.path, **run)
        if self.nginx_cache is not None:
            rpc = rpc_request(hot)
            rec.paced("nginx.post.paced", "nginx proxy_cache, POST JSON-RPC (cached)",
                      self.nginx_cache.base + "/", body=rpc.body, watch=self.nginx_cache.pids(),
                      rate=a.rate, duration=a.paced_duration)
            self.nginx_cache.stop()
            self.nginx_cache = None

    def head_refresh_off(self, rec: Recorder) -> None:
        """The hit path as it was before the head was refreshed ahead of expiry
        (Tuning.head_refresh_ahead 0), to compare with hit.post.paced of this run."""
        assert self.work is not None
        self.start("node", rec, tuning={"head_refresh_ahead": 0.0})
        assert self.node is not None
        post = validation_request("transaction", self.work.hot_tx)
        _post(self.node.base + post.path, post.body)
        try:
            rec.paced("hit.post.paced.norefresh", "POST validate/transaction, L1 hit, "
                      "head refresh ahead 0 (before the change)", self.node.base + post.path,
                      body=post.body, watch=self._watch(), rate=self.args.rate,
                      duration=self.args.paced_duration)
        finally:
            self.stop(rec)

    # --- miss path ---------------------------------------------------------------------------
    def _miss_keys(self) -> list[str]:
        assert self.work is not None
        return self.work.miss.transaction[:self.args.miss_count]

    def _miss_run(self, key: str, label: str, rec: Recorder) -> None:
        assert self.node is not None
        keys = self._miss_keys()
        reqs = [validation_request("transaction", k) for k in keys]
        # no warm-up: each request must ask for a key nobody asked for before
        rec.paced(key, label, self.node.base, watch=self._watch(), rate=self.args.miss_rate,
                  duration=len(keys) / self.args.miss_rate, requests=reqs, warmup=0)

    def miss_node(self, rec: Recorder) -> None:
        self._miss_run("miss.node", "node: POST validate/transaction, miss (new key each)", rec)

    def miss_before(self, rec: Recorder) -> None:
        self._miss_run("miss.before", "before: POST validate/transaction, miss", rec)

    def miss_direct(self, rec: Recorder) -> None:
        """(b): the node's miss batch sent to the upstream (through the same proxy)."""
        assert self.proxy is not None
        keys = self._miss_keys()
        reqs = [Req("POST", "", tx_batch_body(k)) for k in keys]
        rec.paced("miss.direct", "upstream called directly: the same JSON-RPC batch",
                  self.proxy.url, watch=self.proxy.pids(), rate=self.args.miss_rate,
                  duration=len(keys) / self.args.miss_rate, requests=reqs, warmup=0)

    # --- validation ---------------------------------------------------------------------------
    def validation(self, rec: Recorder) -> None:
        assert self.node is not None and self.work is not None
        a, base = self.args, self.node.base
        for kind in ("transaction", "block", "address"):
            keys = self.work.cold.of(kind)[:a.miss_count]
            reqs = [validation_request(kind, k) for k in keys]
            rec.paced(f"val.{kind}.cold", f"validate/{kind}: cold (miss)", base,
                      watch=self._watch(), rate=a.miss_rate, duration=len(reqs) / a.miss_rate,
                      requests=reqs, warmup=0)
            rec.paced(f"val.{kind}.warm", f"validate/{kind}: warm (hit)", base,
                      watch=self._watch(), rate=a.rate, duration=a.paced_duration / 2,
                      requests=reqs)
            rec.wrk(f"val.{kind}.wrk", f"validate/{kind}: warm (hit)", base, watch=self._watch(),
                    duration=a.duration / 2, connections=a.connections, threads=a.wrk_threads,
                    requests=reqs)

    # --- mixed Zipf workload --------------------------------------------------------------------
    def _counts(self) -> dict[str, float]:
        """The node's lookups and computed validations so far, summed over its workers
        (its /metrics merges them; each worker flushes within METRICS_FLUSH_INTERVAL)."""
        assert self.node is not None
        time.sleep(1.2)  # the other workers' last flush
        return node_counts(self.node.base)

    def _hit_rate(self, run: Run, before: dict[str, float],
                  after: dict[str, float]) -> dict[str, Any]:
        """The phase's hit rate from the node's counts (validity.hit_rate: an
        impossible count is no rate, and makes the run a failed measurement)."""
        assert self.proxy is not None
        # a lower bound of the answers that passed the cache: wrk counts non-2xx answers
        # in its requests and socket errors apart, the paced client counts every request
        answered = max(run.requests - run.errors, 0)
        hr = validity.hit_rate(answered, after["lookups"] - before["lookups"],
                               after["computed"] - before["computed"])
        hr["upstream_calls"] = self.proxy.stats()["calls"]
        run.extra["hit_rate"] = hr["hit_rate"]
        if hr["failure"]:
            run.extra["hit_rate_failure"] = hr["failure"]
        return hr

    def mixed(self, profile: str, rec: Recorder) -> None:
        assert self.node is not None and self.work is not None and self.proxy is not None
        a, base = self.args, self.node.base
        # three independent samples of the same law: a phase never replays the keys
        # (and so the cache contents) of the phase before
        seq = zipf_sequence(self.work.zipf, 400_000, s=a.zipf_s, rng_seed=11)
        paced_seq = zipf_sequence(self.work.zipf, int(a.rate * a.paced_duration) + 1, s=a.zipf_s,
                                  rng_seed=12)
        steady_seq = zipf_sequence(self.work.zipf, 400_000, s=a.zipf_s, rng_seed=13)
        name = "node" if profile == "node" else "before"
        phases: list[tuple[str, str, Callable[[], Run]]] = [
            ("cold", f"{name}: Zipf mix from a cold cache", lambda: rec.wrk(
                f"mixed.{profile}.cold", f"{name}: Zipf mix, cold cache", base,
                watch=self._watch(), duration=a.warmup, connections=a.connections,
                threads=a.wrk_threads, requests=seq)),
            ("paced", f"{name}: Zipf mix, steady", lambda: rec.paced(
                f"mixed.{profile}.paced", f"{name}: Zipf mix, steady", base, watch=self._watch(),
                rate=a.rate, duration=a.paced_duration, requests=paced_seq, warmup=0)),
            ("wrk", f"{name}: Zipf mix, steady", lambda: rec.wrk(
                f"mixed.{profile}.wrk", f"{name}: Zipf mix, steady", base, watch=self._watch(),
                duration=a.duration, connections=a.connections, threads=a.wrk_threads,
                requests=steady_seq)),
        ]
        for phase, _, fn in phases:
            self.proxy.reset()
            before = self._counts()
            run = fn()
            hr = self._hit_rate(run, before, self._counts())
            self.hit_rates[f"{profile}.{phase}"] = hr
            rec.say(f"   hit rate {hr['hit_rate'] if not hr['failure'] else 'not measured'} "
                    f"({hr['upstream_validations']} validations computed for {hr['lookups']} "
                    f"lookups, {hr['requests']} answers to the client)"
                    + (f": {hr['failure']}" if hr["failure"] else ""))

    # --- other scenarios ------------------------------------------------------------------------
    def sub(self, name: str, extra: list[str], rec: Recorder) -> None:
        rec.begin(f"scenario {name} {' '.join(extra)} (own process)")
        if name not in runner.available():
            rec.note(f"scenario {name} is not in this harness: skipped")
            return
        cmd = [sys.executable, "-m", "bizra_node.cli", "bench", name, *extra]
        folder = results_dir()
        t0 = time.monotonic()
        proc = subprocess.run(cmd, env={**os.environ, ENV_VAR: str(folder)}, capture_output=True,
                              text=True, timeout=900)
        if proc.returncode != 0:
            rec.note(f"scenario {name} failed (exit {proc.returncode}): {proc.stderr[-300:]}")
            return
        path = folder / f"{name}-latest.json"
        self.subs[name] = json.loads(path.read_text()) if path.is_file() else {}
        rec.say(f"-> done in {time.monotonic() - t0:.0f} s ({path.name})")


def run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.quick:
        _shorten(args)
    if not have_wrk():
        print("wrk is not installed: run `make bench-tools`", file=sys.stderr)
        return 2
    suite = Suite(args)
    steps = suite.plan()
    rec = Recorder(sum(lines for lines, _ in steps))
    started = time.monotonic()
    try:
        for _, fn in steps:
            fn(rec)
    finally:
        suite.close()
    data = report.assemble(args, rec, suite.hit_rates, suite.subs, suite.info,
                           time.monotonic() - started)
    folder = results_dir()
    data["charts"] = charts.draw(data, folder, "suite")
    md = report.markdown(data)
    path = write_results("suite", data, md)
    print(report.summary(data))
    print(f"results: {path} (+ {len(data['charts'])} charts in {folder})", file=sys.stderr)
    return 0
