"""`bizra-node bench profile`: where one worker's CPU goes on a hit path under wrk.

One node worker (granian RSGI, BIZRA_LOOP as set, uvloop by default) on a seeded
anvil; the chosen hit (``--target post``: POST validate/transaction, ``get``: GET
transactions/{hash}, ``rpc``: POST /rpc eth_getTransactionByHash) is loaded with wrk
three times, ``--duration`` s each, and measured three ways:

1. CPU per request by thread: the worker's Python thread (the event loop, our code,
   granian's calls into Python) and granian's runtime threads (Rust: sockets, HTTP
   parsing), from /proc thread times (psutil);
2. ``perf record`` (when perf is there) of the worker: self time by thread and shared
   object (granian's Rust library, the event loop's, libpython, the kernel, ...);
3. ``py-spy record`` of the worker's Python thread: samples by the innermost frame of
   ours -- the adapter (api/rsgi.py), reading the body and handing the answer to
   granian (calls into granian from the adapter), the dispatcher (api/core.py), the
   route match, the input parse, and the answer itself (the route's hit handler and
   the cache); samples with no frame of ours are the event loop and granian's
   callbacks (cli.py, where the worker's loop was started, is not counted as ours).
   py-spy pauses the process to sample: its run's req/s is lower, the
   shares still say where the time goes.

Options: --target post|get|rpc, --duration S (10), --connections N (32),
--rate HZ (py-spy and perf sampling rate, 199), --loop uvloop|asyncio|rloop (BIZRA_LOOP).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from bizra_bench.loadgen import have_wrk, wrk
from bizra_bench.results import write_results
from bizra_bench.stack import ProxyProcess, start_node
from bizra_bench.workload import Req, rpc_request, validation_request
from bizra_node.devnet import Anvil, seed

PY_CATEGORIES: list[tuple[str, Callable[[str, str], bool]]] = [
    # (category, test on (file, function) of the innermost frame of ours)
    ("granian: answer handed over (proto.response_bytes)", lambda f, fn: fn == "_send"),
    ("granian: body read (await proto())", lambda f, fn: fn == "_read_body"),
    ("adapter (api/rsgi.py)", lambda f, fn: f.endswith("api/rsgi.py")),
    ("request object, request id (api/http.py)", lambda f, fn: f.endswith("api/http.py")),
    ("route match (api/routing.py)", lambda f, fn: f.endswith("api/routing.py")),
    ("dispatcher (api/core.py: lane, metrics)", lambda f, fn: f.endswith("api/core.py")),
    ("guard (api/guard.py)", lambda f, fn: f.endswith("api/guard.py")),
    ("body read deadline (api/body_timeout.py)", lambda f, fn: f.endswith("api/body_timeout.py")),
    ("input parse (api/inputs.py, msgspec)", lambda f, fn: f.endswith("api/inputs.py")),
    ("answer (hit handler, L1 lookup, splice)", lambda f, fn: True),
]
NO_FRAME = "event loop and granian callbacks (no frame of ours)"
_FRAME = re.compile(r"^(?P<fn>.+?) \((?P<file>[^:]+)(?::\d+)?\)$")


def _target(kind: str, hot: str) -> Req:
    if kind == "get":
        return validation_request("transaction", hot, "get")
    if kind == "rpc":
        return rpc_request(hot)
    return validation_request("transaction", hot)


def _send(url: str, body: bytes | None) -> None:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()


def _thread_times(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of ``pid``."""
    with contextlib.suppress(psutil.Error):
        return {t.id: t.user_time + t.system_time for t in psutil.Process(pid).threads()}
    return {}


def _thread_name(pid: int, tid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
    return "?"


def _load(url: str, req: Req, duration: float, connections: int,
          during: Any = None) -> tuple[float, int]:
    """wrk for ``duration`` s; ``during()`` runs meanwhile in a thread. req/s, requests."""
    thread = threading.Thread(target=during) if during else None
    if thread:
        thread.start()
    r = wrk(url, url + req.path, duration=duration, connections=connections, body=req.body)
    if thread:
        thread.join()
    return r.rps, r.requests


def _by_thread(pid: int, url: str, req: Req, a: argparse.Namespace) -> dict[str, Any]:
    before = _thread_times(pid)
    rps, n = _load(url, req, a.duration, a.connections)
    after = _thread_times(pid)
    main = min(after)  # the main thread's id is the process id, the lowest
    rows: dict[str, float] = collections.defaultdict(float)
    for tid, t in after.items():
        name = "python thread (event loop, our code)" if tid == main else \
            f"granian runtime threads ({_thread_name(pid, tid)})"
        rows[name] += (t - before.get(tid, 0.0)) / n * 1e6
    return {"rps": round(rps), "requests": n,
            "cpu_us": {k: round(v, 2) for k, v in sorted(rows.items(), key=lambda kv: -kv[1])}}


def _perf(pid: int, url: str, req: Req, a: argparse.Namespace, folder: str) -> dict[str, Any]:
    if shutil.which("perf") is None:
        return {"skipped": "perf is not installed"}
    data = os.path.join(folder, "perf.data")

    def record() -> None:
        subprocess.run(["perf", "record", "-F", str(a.rate), "-p", str(pid), "-o", data,
                        "--", "sleep", str(max(a.duration - 2, 1))], capture_output=True,
                       check=False)

    rps, _ = _load(url, req, a.duration, a.connections, record)
    out = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "pid,dso",
                          "--stdio"], capture_output=True, text=True, check=False).stdout
    shares: dict[str, float] = collections.defaultdict(float)
    for line in out.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\d+):\S+\s+(\S.*)$", line)
        if m:
            thread = "python thread" if int(m.group(2)) == pid else "granian runtime threads"
            shares[f"{thread}: {m.group(3).strip()}"] += float(m.group(1))
    return {"rps": round(rps), "self_pct_by_thread_and_dso": {
        k: round(v, 1) for k, v in sorted(shares.items(), key=lambda kv: -kv[1]) if v >= 0.5}}


def _pyspy(pid: int, url: str, req: Req, a: argparse.Namespace, folder: str) -> dict[str, Any]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return {"skipped": "py-spy is not installed (pip install -e '.[dev]')"}
    raw = os.path.join(folder, "pyspy.txt")

    def record() -> None:
        subprocess.run([spy, "record", "-p", str(pid), "-r", str(a.rate), "-d",
                        str(max(int(a.duration) - 2, 1)), "-f", "raw", "-o", raw],
                       capture_output=True, check=False)

    rps, _ = _load(url, req, a.duration, a.connections, record)
    counts: collections.Counter[str] = collections.Counter()
    functions: collections.Counter[str] = collections.Counter()
    text = Path(raw).read_text() if Path(raw).exists() else ""
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        ours = [m for m in (_FRAME.match(f) for f in stack.split(";"))
                if m and "bizra_node/" in m["file"] and not m["file"].endswith("bizra_node/cli.py")]
        if not ours:
            counts[NO_FRAME] += int(count)
            continue
        leaf = ours[-1]
        functions[f"{leaf['fn']} ({leaf['file'].split('bizra_node/')[-1]})"] += int(count)
        for name, test in PY_CATEGORIES:
            if test(leaf["file"], leaf["fn"]):
                counts[name] += int(count)
                break
    total = sum(counts.values()) or 1
    return {"rps_while_sampled": round(rps), "samples": total,
            "share_pct": {k: round(100 * v / total, 1) for k, v in counts.most_common()},
            "top_functions_pct": {k: round(100 * v / total, 1)
                                  for k, v in functions.most_common(12)}}


def run(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="bizra-node bench profile")
    p.add_argument("--target", choices=("post", "get", "rpc"), default="post")
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--rate", type=int, default=199)
    p.add_argument("--loop", default="", help="BIZRA_LOOP for the node (default: its own)")
    a = p.parse_args(argv)
    if not have_wrk():
        print("wrk is not installed: run `make bench-tools`", file=sys.stderr)
        return 2
    anvil = Anvil().start()
    proxy = node = None
    try:
        m = seed(anvil.url)
        proxy = ProxyProcess(anvil.url, 0.05).start()
        node, _ = start_node(proxy.url, workers=1,
                             extra={"BIZRA_LOOP": a.loop} if a.loop else None)
        pid = node.pids()[-1]  # the one worker, child of the server process
        req = _target(a.target, m.legacy_tx)
        for _ in range(3):
            _send(node.base + req.path, req.body)
        with tempfile.TemporaryDirectory(prefix="bizra-profile-") as folder:
            doc = {"target": a.target, "loop": a.loop or "default",
                   "load_before": os.getloadavg()[0],
                   "threads": _by_thread(pid, node.base, req, a),
                   "perf": _perf(pid, node.base, req, a, folder),
                   "pyspy": _pyspy(pid, node.base, req, a, folder)}
    finally:
        if node is not None:
            node.stop()
        if proxy is not None:
            proxy.stop()
        anvil.stop()
    lines = [f"# bench profile: {a.target} hit, one worker, loop {doc['loop']}, "
             f"wrk {a.connections} connections x {a.duration:g} s (load {doc['load_before']:.2f})",
             "", f"## CPU µs per request by thread ({doc['threads']['rps']} req/s)", ""]
    lines += [f"- {k}: {v}" for k, v in doc["threads"]["cpu_us"].items()]
    lines += ["", f"## perf: self time by thread and shared object ({doc['perf'].get('rps')} "
              "req/s)", ""]
    lines += [f"- {k}: {v} %" for k, v in
              (doc["perf"].get("self_pct_by_thread_and_dso") or {}).items()]
    lines += [f"- {doc['perf']['skipped']}"] if "skipped" in doc["perf"] else []
    spy = doc["pyspy"]
    lines += ["", f"## py-spy: the Python thread's samples ({spy.get('samples')}, "
              f"{spy.get('rps_while_sampled')} req/s while sampled)", ""]
    lines += [f"- {k}: {v} %" for k, v in (spy.get("share_pct") or {}).items()]
    lines += ["", "innermost function of ours:", ""]
    lines += [f"- {k}: {v} %" for k, v in (spy.get("top_functions_pct") or {}).items()]
    text = "\n".join(lines) + "\n"
    write_results(f"profile-{a.target}", doc, text)
    print(text)
    return 0
