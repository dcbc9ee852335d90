"""Both nginx configurations of the harness (bizra_bench.nginx.config) are ones nginx
accepts, and differ only where the side-by-side check's differs: the access log, the
cache key and keep-alive to the upstream."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bizra_bench.nginx import config


@pytest.mark.parametrize("plain", [False, True])
def test_config_is_valid(tmp_path: Path, plain: bool) -> None:
    if shutil.which("nginx") is None:
        pytest.skip("nginx missing: make bench-tools")
    (tmp_path / "cache").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(config("127.0.0.1:8545", 18080, 2, tmp_path, plain=plain))
    result = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(conf)],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr


def test_plain_is_what_a_user_writes(tmp_path: Path) -> None:
    plain = config("127.0.0.1:8545", 18080, 2, tmp_path, plain=True)
    harness = config("127.0.0.1:8545", 18080, 2, tmp_path)
    assert f"access_log {tmp_path}/access.log;" in plain and "access_log off;" in harness
    assert 'proxy_cache_key "$request_body";' in plain
    assert 'proxy_cache_key "$request_uri|$request_body";' in harness
    assert "keepalive" not in plain and "keepalive 64;" in harness
    for both in ("worker_processes 2;", "proxy_cache_methods POST;", "proxy_cache_valid 200"):
        assert both in plain and both in harness
