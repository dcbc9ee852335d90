"""Load generation with wrk (Debian package; `make bench-tools` installs it), and
helpers to run servers under test as subprocesses on free ports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

__all__ = ["Server", "WrkResult", "have_wrk", "start_server", "wrk"]

ROOT = Path(__file__).resolve().parents[1]
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


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
    server_rss_mb: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        return float("nan")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(label: str, out: str) -> WrkResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    errors = sum(int(x) for x in re.findall(
        r"(?:connect|read|write|timeout) (\d+)", out.split("Socket errors:", 1)[1])) \
        if "Socket errors:" in out else 0
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    total = int(m.group(1)) if (m := re.search(r"(\d+) requests in", out)) else 0
    return WrkResult(label, rps, _ms(pct.get("50", "nan")), _ms(pct.get("90", "nan")),
                     _ms(pct.get("99", "nan")), errors, non2xx, total)


def wrk(label: str, url: str, *, duration: float, connections: int = 64, threads: int = 2,
        body: bytes | None = None, headers: dict[str, str] | None = None,
        watch: list[int] | None = None) -> WrkResult:
    """Run wrk against ``url``; POST ``body`` when given. ``watch``: server PIDs whose
    CPU and RSS are sampled during the run."""
    script_path: str | None = None
    lines = []
    if body is not None:
        lines += ['wrk.method = "POST"', f"wrk.body = [[{body.decode()}]]",
                  'wrk.headers["Content-Type"] = "application/json"']
    for k, v in (headers or {}).items():
        lines.append(f'wrk.headers["{k}"] = "{v}"')
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(int(duration), 1)}s", "--latency", url]
    if lines:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write("\n".join(lines) + "\n")
        script_path = script.name
        args[1:1] = ["-s", script_path]
    procs = [psutil.Process(p) for p in (watch or []) if psutil.pid_exists(p)]
    for p in procs:
        p.cpu_percent(None)
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=duration + 30,
                             check=True).stdout
    finally:
        if script_path:
            os.unlink(script_path)
    result = parse_wrk(label, out)
    try:
        result.server_cpu_pct = sum(p.cpu_percent(None) for p in procs)
        result.server_rss_mb = sum(p.memory_info().rss for p in procs) / 2**20
    except psutil.Error:
        pass
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
        if self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_server(argv: list[str], env: dict[str, str], health_path: str,
                 timeout: float = 30) -> Server:
    """Start ``argv`` (with {port} substituted) and wait until ``health_path`` answers."""
    port = _free_port()
    argv = [a.replace("{port}", str(port)) for a in argv]
    proc = subprocess.Popen(argv, env={**os.environ, **env}, cwd=ROOT,
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
    proc.kill()
    raise TimeoutError(f"{argv} did not answer within {timeout}s")


def node_argv(workers: int, interface: str) -> list[str]:
    return [str(Path(sys.executable).with_name("bizra-node")), "serve", "--port", "{port}",
            "--workers", str(workers), "--interface", interface]


def granian_argv(target: str, interface: str, workers: int) -> list[str]:
    return [sys.executable, "-m", "granian", "--interface", interface, "--factory",
            "--workers", str(workers), "--port", "{port}", "--no-ws", "--log-level", "warning",
            target]
