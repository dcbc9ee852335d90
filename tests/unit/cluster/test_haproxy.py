"""The local cluster's HAProxy config is one HAProxy itself accepts (haproxy -c), with
or without its cache of final answers (what the cache does: tests/integration/cluster/
test_balancer_cache.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bizra_node.cluster.haproxy import CACHE, cache_rules, haproxy_binary, render_config


@pytest.mark.skipif(haproxy_binary() is None, reason="haproxy missing: run `make haproxy`")
@pytest.mark.parametrize("cache_mb", [64, 0])
def test_rendered_config_is_valid(tmp_path: Path, cache_mb: int) -> None:
    text = render_config(port=18090, stats_port=18091, node_ports=[18101, 18102, 18103],
                         pidfile=tmp_path / "haproxy.pid", cache_mb=cache_mb)
    config = tmp_path / "haproxy.cfg"
    config.write_text(text)
    binary = haproxy_binary()
    assert binary is not None
    result = subprocess.run([binary, "-c", "-f", str(config)], capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert text.count(" check\n") == 3 and "option httpchk GET /ready" in text
    assert (cache_rules() in text) == bool(cache_mb)
    assert (f"cache {CACHE}\n    total-max-size {cache_mb}\n" in text) == bool(cache_mb)
