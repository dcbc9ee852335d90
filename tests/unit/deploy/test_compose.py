"""deploy/compose: the Compose file passes the compose-spec JSON schema (the copy
vendored in check-jsonschema, `vendor.compose-spec`) and `docker-compose config`
(Debian's Compose v1; `docker compose config` is not available here: the docker client
has no compose plugin), its references resolve, and the HAProxy and Prometheus configs
it mounts pass `haproxy -c` and `promtool check config`. Nothing is started: there is
no container engine."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bizra_node.cluster.haproxy import CACHE, CACHE_MARK, cache_rules

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "deploy" / "compose"
FILE = COMPOSE / "compose.yaml"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(FILE.read_text()))


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(path)], capture_output=True, text=True, timeout=120, check=False)


def test_compose_file_passes_the_compose_spec_schema(tmp_path: Path) -> None:
    result = check_jsonschema(FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = compose()
    broken["services"]["redis"]["restart_policy"] = "always"  # not a service key
    bad = tmp_path / "compose.yaml"
    bad.write_text(yaml.safe_dump(broken))
    result = check_jsonschema(bad)
    assert result.returncode != 0 and "restart_policy" in result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("docker-compose") is None,
                    reason="docker-compose missing: run `make compose`")
def test_docker_compose_config_accepts_it_with_the_example_env(tmp_path: Path) -> None:
    def config(env: str) -> subprocess.CompletedProcess[str]:
        env_file = tmp_path / "env"
        env_file.write_text(env)
        return subprocess.run(
            ["docker-compose", "--env-file", str(env_file), "-p", "bizra-node", "-f", str(FILE),
             "config"], capture_output=True, text=True, timeout=120, check=False,
            env={"PATH": os.environ.get("PATH", "")})

    example = (COMPOSE / ".env.example").read_text()
    result = config(example)
    assert result.returncode == 0, result.stdout + result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert "pgbouncer:6432" in resolved["services"]["node"]["environment"]["DATABASE_URL"]
    # a required secret left out is an error at `config` time, not a broken stack
    result = config("\n".join(line for line in example.splitlines()
                              if not line.startswith("POSTGRES_PASSWORD=")))
    assert result.returncode != 0 and "POSTGRES_PASSWORD" in result.stderr


def test_references_resolve() -> None:
    doc = compose()
    services, volumes = doc["services"], set(doc.get("volumes") or {})
    for name, service in services.items():
        for dep in service.get("depends_on") or {}:
            assert dep in services, f"{name} depends on unknown {dep}"
        for mount in service.get("volumes") or []:
            source = mount.split(":", 1)[0]
            if source.startswith("."):
                assert (COMPOSE / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in volumes, f"{name} uses undeclared volume {source}"
        build = service.get("build")
        if build:
            assert (COMPOSE / build["context"] / build["dockerfile"]).is_file()


def test_every_variable_has_an_example() -> None:
    used = set(re.findall(r"\$\{([A-Z_]+)", FILE.read_text()))
    example = {line.split("=", 1)[0] for line in (COMPOSE / ".env.example").read_text()
               .splitlines() if line and not line.startswith("#")}
    assert used <= example, used - example


def test_what_the_stack_holds() -> None:
    services = compose()["services"]
    assert {"node", "balancer", "redis", "postgres-primary", "postgres-replica", "pgbouncer",
            "prometheus", "grafana"} <= set(services)
    node_env = services["node"]["environment"]
    assert "pgbouncer:6432" in node_env["DATABASE_URL"]
    assert "postgres-replica" in node_env["DB_READ_URLS"]
    mounts = " ".join(services["prometheus"]["volumes"] + services["grafana"]["volumes"])
    assert "../prometheus/alerts.yml" in mounts and "../grafana/bizra-node.json" in mounts


@pytest.mark.skipif(shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists(),
                    reason="haproxy missing: run `make haproxy`")
def test_balancer_config_is_valid() -> None:
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    result = subprocess.run([binary, "-c", "-f", str(COMPOSE / "haproxy" / "haproxy.cfg")],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    text = (COMPOSE / "haproxy" / "haproxy.cfg").read_text()
    assert "option httpchk GET /ready" in text


def test_balancer_caches_as_the_local_cluster_does() -> None:
    """The same cache rules as `cluster up` (tested on a real HAProxy in
    tests/integration/cluster/test_balancer_cache.py), with a section of its own size."""
    text = (COMPOSE / "haproxy" / "haproxy.cfg").read_text()
    assert cache_rules() in text and CACHE_MARK in text
    assert re.search(rf"^cache {CACHE}\n    total-max-size \d+\n", text, re.M)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing: make promtool")
def test_prometheus_config_is_valid_with_the_alert_rules(tmp_path: Path) -> None:
    """Checked as mounted: prometheus.yml with alerts.yml beside it."""
    shutil.copy(COMPOSE / "prometheus" / "prometheus.yml", tmp_path)
    shutil.copy(ROOT / "deploy" / "prometheus" / "alerts.yml", tmp_path)
    result = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout + result.stderr


def test_grafana_provisioning_finds_the_dashboard() -> None:
    datasource = yaml.safe_load(
        (COMPOSE / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["type"] == "prometheus"
    provider = yaml.safe_load(
        (COMPOSE / "grafana/provisioning/dashboards/bizra-node.yml").read_text())
    folder = provider["providers"][0]["options"]["path"]
    mounts = compose()["services"]["grafana"]["volumes"]
    assert any(m.endswith(f":{folder}/bizra-node.json:ro") for m in mounts)


def test_dockerfile_builds_the_wheel_and_runs_the_console_script() -> None:
    """The image cannot be built here (no engine); this checks what can be checked."""
    text = (ROOT / "Dockerfile").read_text()
    assert "pip wheel --no-cache-dir --no-deps --no-build-isolation" in text
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.M):
        for item in source.split():
            assert (ROOT / item).exists(), item
    assert 'CMD ["bizra-node", "serve"]' in text
    assert 'bizra-node = "bizra_node.cli:main"' in (ROOT / "pyproject.toml").read_text()
