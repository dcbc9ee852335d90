"""nginx with proxy_cache on POST in front of a JSON-RPC upstream: the cache a user
might set up instead of the node (baseline (d) of the performance suite).

Two configurations: the harness's (``plain=False``: no access log, keyed on
``$request_uri|$request_body``, keep-alive to the upstream) and, with ``plain=True``, the
side-by-side check's as a user writes it: only what a body-keyed POST cache needs, the
rest nginx's defaults (an access log written per request, HTTP/1.0 to the upstream
without keep-alive: the latter matters only on a miss)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

__all__ = ["NginxCache", "config", "have_nginx"]

CONF = """
worker_processes {workers};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    {access_log}
    proxy_cache_path {prefix}/cache levels=1:2 keys_zone=rpc:32m max_size=256m inactive=10m;
    upstream node {{ server {upstream};{keepalive} }}
    server {{
        listen 127.0.0.1:{port};
        client_body_buffer_size 64k;
        location / {{
            proxy_pass http://node;{upstream_http}
            proxy_cache rpc;
            proxy_cache_methods POST;
            proxy_cache_key "{key}";
            proxy_cache_valid 200 10m;
            proxy_ignore_headers Cache-Control Expires Set-Cookie;
            add_header X-Cache $upstream_cache_status;
        }}
        location = /health {{ return 200 "ok"; }}
    }}
}}
"""


_HARNESS = {"access_log": "access_log off;", "keepalive": " keepalive 64;",
            "upstream_http": '\n            proxy_http_version 1.1;'
                             '\n            proxy_set_header Connection "";',
            "key": "$request_uri|$request_body"}
_PLAIN = {"access_log": "access_log {prefix}/access.log;", "keepalive": "", "upstream_http": "",
          "key": "$request_body"}


def config(upstream_hostport: str, port: int, workers: int, prefix: Path, *,
           plain: bool = False) -> str:
    """nginx.conf of one configuration (see the module doc)."""
    options = dict(_PLAIN if plain else _HARNESS)
    options["access_log"] = options["access_log"].format(prefix=prefix)
    return CONF.format(workers=workers, prefix=prefix, upstream=upstream_hostport, port=port,
                       **options)


def have_nginx() -> bool:
    return shutil.which("nginx") is not None


class NginxCache:
    def __init__(self, upstream_hostport: str, port: int, workers: int = 2, *,
                 plain: bool = False) -> None:
        self.port = port
        self.prefix = Path(tempfile.mkdtemp(prefix="bizra-nginx-"))
        (self.prefix / "cache").mkdir()
        # Run as root, nginx drops its workers to an unprivileged user, who must be
        # able to reach the (private, 0700) temporary prefix and write the cache.
        self.prefix.chmod(0o755)
        (self.prefix / "cache").chmod(0o777)
        self.plain = plain
        (self.prefix / "nginx.conf").write_text(config(upstream_hostport, port, workers,
                                                       self.prefix, plain=plain))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> NginxCache:
        self.proc = subprocess.Popen(
            ["nginx", "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"),
             "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=0.5):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("nginx exited: " + (self.proc.stderr.read().decode()
                                                           if self.proc.stderr else "")) from None
                time.sleep(0.05)
        raise TimeoutError("nginx did not start")

    def pids(self) -> list[int]:
        """The master and its worker processes."""
        if self.proc is None:
            return []
        try:
            master = psutil.Process(self.proc.pid)
            return [master.pid, *(c.pid for c in master.children(recursive=True))]
        except psutil.Error:
            return [self.proc.pid]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.prefix, ignore_errors=True)
