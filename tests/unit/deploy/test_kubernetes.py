"""deploy/kubernetes: every built-in resource passes kubernetes-validate --strict (the
Kubernetes OpenAPI schemas, unknown fields rejected); the ServiceMonitor, a CRD that tool
has no schema for, is validated against the Prometheus Operator's own schema
(npm @kubernetes-models/prometheus-operator, `make deploy-tools`); and what
docs/scaling.md says of the manifests holds. No cluster is reachable here: nothing is applied."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate import utils as kv

ROOT = Path(__file__).resolve().parents[3]
MANIFESTS = ROOT / "deploy" / "kubernetes"
K8S_VERSION = "1.30.0"
CRD_VALIDATOR = ROOT / ".tools" / "validate-crd.mjs"
OPERATOR_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


def documents() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        out += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return out


def by_kind(kind: str) -> dict[str, Any]:
    found = [doc for _, doc in documents() if doc["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


@pytest.mark.parametrize(("name", "doc"), [
    pytest.param(n, d, id=f"{n}:{d['kind']}") for n, d in documents()
    if d["kind"] not in OPERATOR_KINDS])
def test_builtin_resources_pass_strict_schema(name: str, doc: dict[str, Any]) -> None:
    kv.validate(doc, K8S_VERSION, strict=True)


def test_the_validator_rejects_what_it_should() -> None:
    """The check is real: an unknown field and a wrong type each fail."""
    deployment = json.loads(json.dumps(by_kind("Deployment")))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(deployment, K8S_VERSION, strict=True)
    hpa = json.loads(json.dumps(by_kind("HorizontalPodAutoscaler")))
    hpa["spec"]["minReplicas"] = "three"
    with pytest.raises(kv.ValidationError):
        kv.validate(hpa, K8S_VERSION, strict=True)
    with pytest.raises(kv.SchemaNotFoundError):  # why the ServiceMonitor needs its own check
        kv.validate(by_kind("ServiceMonitor"), K8S_VERSION, strict=True)


def _validate_crds(docs: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not CRD_VALIDATOR.exists():
        pytest.skip("node or .tools/validate-crd.mjs missing: run `make deploy-tools`")
    return subprocess.run([node, str(CRD_VALIDATOR)], capture_output=True, text=True,
                          input="\n".join(json.dumps(d) for d in docs), timeout=60,
                          check=False)


def test_service_monitor_passes_the_operator_schema() -> None:
    monitor = by_kind("ServiceMonitor")
    result = _validate_crds([monitor])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok ServiceMonitor/bizra-node"
    broken = json.loads(json.dumps(monitor))
    broken["spec"]["endpoints"][0]["interval"] = "15 seconds"
    result = _validate_crds([broken])
    assert result.returncode == 1 and "interval" in result.stdout


def test_probes_grace_and_scaling() -> None:
    deployment = by_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    # the grace period outlasts the drain: preStop, then in-flight requests (bounded by
    # REQUEST_DEADLINE), then the cache and write-behind flushes (a few s)
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    deadline = float(by_kind("ConfigMap")["data"]["REQUEST_DEADLINE"])
    assert pod["terminationGracePeriodSeconds"] > pre_stop + deadline + 10
    config, secret = by_kind("ConfigMap"), by_kind("Secret")
    assert {e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e} \
        == {config["metadata"]["name"]}
    assert {e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e} \
        == {secret["metadata"]["name"]}
    # credentials only in the Secret, settings only in the ConfigMap
    assert not any("@" in v for v in config["data"].values())
    assert {"DATABASE_URL", "REDIS_URL"} <= set(secret["stringData"])
    labels = pod and deployment["spec"]["template"]["metadata"]["labels"]
    for kind in ("PodDisruptionBudget", "Service"):
        selector = by_kind(kind)["spec"]["selector"]
        assert (selector.get("matchLabels") or selector).items() <= labels.items(), kind
    hpa = by_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2  # with the PDB, a drain never empties the service
    monitor = by_kind("ServiceMonitor")
    port_names = {p["name"] for p in by_kind("Service")["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= port_names


def test_settings_in_the_config_map_are_real_settings() -> None:
    from bizra_node.settings import Settings

    known = {name.upper() for name in Settings.model_fields}
    data = {**by_kind("ConfigMap")["data"], **by_kind("Secret")["stringData"]}
    assert set(data) <= known, set(data) - known
    Settings(_env_file=None, **{k.lower(): v for k, v in data.items()})  # type: ignore[arg-type]


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in MANIFESTS.glob("*.yaml")
                                    if p.name != "kustomization.yaml")
