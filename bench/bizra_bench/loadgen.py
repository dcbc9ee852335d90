"""Load generation with wrk (Debian package; `make bench-tools` installs it), and
helpers to run servers under test as subprocesses on free ports."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from bizra_bench.checkout import find_checkout
from bizra_bench.watch import Watch
from bizra_bench.workload import Req

__all__ = ["OUTSIDE", "PREVIOUS_GATE", "Server", "WrkResult", "WrkSetup", "have_wrk",
           "start_server", "wrk"]

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


@dataclass(frozen=True)
class WrkSetup:
    """How wrk loads each hit-path target, in rounds that take every target in turn.

    The defaults are the side-by-side check (nginx proxy_cache beside the
    node, ``wrk -t1 -c64``, 5 s rounds, 3 rounds, medians), which the suite and the gate
    share so that the same machine gives the same numbers in each. ``warmup``: s of the
    same load on each target before the rounds, not counted (connections opened, every
    worker's L1 filled, the first round no different from the others)."""

    threads: int = 1
    connections: int = 64
    duration: float = 5.0
    rounds: int = 3
    warmup: float = 1.0

    def describe(self) -> str:
        return (f"wrk -t{self.threads} -c{self.connections}, {self.rounds} rounds of "
                f"{self.duration:g} s, {self.warmup:g} s warm-up")


OUTSIDE = WrkSetup()
"""The outside check's setup: the default of the suite's hit path and of the gate."""
PREVIOUS_GATE = WrkSetup(threads=2, connections=32, duration=2.0, warmup=0.0)
"""The gate's setup in its earlier setup (kept to report beside: ``bench gate --also-previous``)."""


@dataclass
class WrkResult:
    label: str
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int
    non_2xx: int
    requests: int
    server_cpu_pct: float = 0.0
    server_cpu_us_per_req: float = float("nan")
    """CPU time of the watched processes during the run over the requests answered, µs."""
    server_rss_mb: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        return float("nan")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(label: str, out: str) -> WrkResult:
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"wrk printed no Requests/sec: {out[-500:]!r}")
    rps = float(found.group(1))
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    errors = sum(int(x) for x in re.findall(
        r"(?:connect|read|write|timeout) (\d+)", out.split("Socket errors:", 1)[1])) \
        if "Socket errors:" in out else 0
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    total = int(m.group(1)) if (m := re.search(r"(\d+) requests in", out)) else 0
    return WrkResult(label, rps, _ms(pct.get("50", "nan")), _ms(pct.get("90", "nan")),
                     _ms(pct.get("99", "nan")), errors, non2xx, total)


# A wrk script that cycles through many different requests: the requests are read
# from a side file (one per line: METHOD, path, body, tab-separated) and the order from
# another (request numbers), so that tens of thousands of them need no Lua constants.
# Each thread starts at a different point of the order.
_MULTI_LUA = """
local counter = 0
function setup(thread) thread:set("tid", counter); counter = counter + 1 end
function init(args)
  reqs = {}
  local hdr = {["Content-Type"] = "application/json"}
  for line in io.lines("%(defs)s") do
    local m, p, b = line:match("^(%%u+)\t([^\t]*)\t(.*)$")
    if b == "" then b = nil end
    reqs[#reqs + 1] = wrk.format(m, p, b and hdr or nil, b)
  end
  seq = {}
  for n in io.lines("%(seq)s") do seq[#seq + 1] = tonumber(n) end
  pos = (tid or 0) * math.floor(#seq / %(threads)d)
end
function request()
  pos = pos %% #seq + 1
  return reqs[seq[pos]]
end
"""


def _multi_script(folder: str, requests: Sequence[Req], threads: int) -> str:
    index: dict[Req, int] = {}
    order = [index.setdefault(r, len(index) + 1) for r in requests]
    defs, seq = Path(folder, "defs.tsv"), Path(folder, "seq.txt")
    defs.write_text("".join(f"{r.method}\t{r.path}\t{(r.body or b'').decode()}\n"
                            for r in index))
    seq.write_text("\n".join(map(str, order)) + "\n")
    script = Path(folder, "multi.lua")
    script.write_text(_MULTI_LUA % {"defs": defs, "seq": seq, "threads": threads})
    return str(script)


def wrk(label: str, url: str, *, duration: float, connections: int = 64, threads: int = 2,
        body: bytes | None = None, headers: dict[str, str] | None = None,
        watch: list[int] | None = None, requests: Sequence[Req] | None = None) -> WrkResult:
    """Run wrk against ``url`` (a base URL when ``requests`` is given); POST ``body``
    when given, or cycle through ``requests``. ``watch``: server PIDs whose CPU and
    RSS are sampled during the run."""
    lines = []
    if body is not None:
        lines += ['wrk.method = "POST"', f"wrk.body = [[{body.decode()}]]",
                  'wrk.headers["Content-Type"] = "application/json"']
    for k, v in (headers or {}).items():
        lines.append(f'wrk.headers["{k}"] = "{v}"')
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(int(duration), 1)}s", "--latency", url]
    with tempfile.TemporaryDirectory(prefix="bizra-wrk-") as folder:
        if requests:
            args[1:1] = ["-s", _multi_script(folder, requests, threads)]
        elif lines:
            script = Path(folder, "post.lua")
            script.write_text("\n".join(lines) + "\n")
            args[1:1] = ["-s", str(script)]
        with Watch(watch or []) as watched:
            out = subprocess.run(args, capture_output=True, text=True, timeout=duration + 60,
                                 check=True).stdout
    result = parse_wrk(label, out)
    result.server_cpu_pct = watched.cpu_pct
    if watch and result.requests:
        result.server_cpu_us_per_req = watched.cpu_s / result.requests * 1e6
    result.server_rss_mb = watched.rss_peak_mb
    return result


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base: str

    def pids(self) -> list[int]:
        """The server process and its workers."""
        try:
            parent = psutil.Process(self.proc.pid)
            return [parent.pid, *(c.pid for c in parent.children(recursive=True))]
        except psutil.Error:
            return [self.proc.pid]

    def stop(self) -> None:
        """SIGINT, as Ctrl-C; then any worker still there once the server has exited
        (an orphan would go on holding a core) is terminated, killed if need be."""
        workers = []
        if self.proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                workers = psutil.Process(self.proc.pid).children(recursive=True)
            self.proc.send_signal(2)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        _, alive = psutil.wait_procs(workers, timeout=5)
        for p in alive:
            p.terminate()
        _, alive = psutil.wait_procs(alive, timeout=5)
        for p in alive:
            p.kill()


def start_server(argv: list[str], env: dict[str, str], health_path: str,
                 timeout: float = 60) -> Server:
    """Start ``argv`` (with {port} substituted) in the checkout (``find_checkout``; else
    here) and wait until ``health_path`` answers. A server that does not answer in
    time is stopped with its workers (killing only its main process left granian's
    workers running, orphaned, each holding a share of the cores)."""
    port = _free_port()
    argv = [a.replace("{port}", str(port)) for a in argv]
    proc = subprocess.Popen(argv, env={**os.environ, **env}, cwd=find_checkout(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"{argv[0]} exited: {err[-2000:]}")
        try:
            with urllib.request.urlopen(base + health_path, timeout=0.5):
                return Server(proc, base)
        except OSError:
            time.sleep(0.1)
    Server(proc, base).stop()
    raise TimeoutError(f"{argv} did not answer within {timeout}s")


def node_argv(workers: int, interface: str, *, own_app: bool = True) -> list[str]:
    """`bizra-node serve` for the harness's node (bizra_bench/node.py: the node's app
    with the harness's switches, from BIZRA_BENCH_NODE); ``own_app=False``: the node's
    own factory (another commit's checkout, which has no --app)."""
    from bizra_bench.node import node_argv_app

    return [str(Path(sys.executable).with_name("bizra-node")), "serve", "--port", "{port}",
            "--workers", str(workers), "--interface", interface,
            *(node_argv_app(interface) if own_app else [])]


def granian_argv(target: str, interface: str, workers: int) -> list[str]:
    return [sys.executable, "-m", "granian", "--interface", interface, "--factory",
            "--workers", str(workers), "--port", "{port}", "--no-ws", "--log-level", "warning",
            target]
