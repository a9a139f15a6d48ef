"""deploy/k8s: every manifest is a valid Kubernetes resource, and every worker role scales alone."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from orchestrator.cli import build_parser
from orchestrator.settings import Settings, unknown_variables
from orchestrator.workers import WORKERS

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES = "1.30"  # the oldest release we support; autoscaling/v2 and everything used is GA


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


DOCS = _documents()


def _named(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in DOCS if d["kind"] == kind}


@pytest.mark.parametrize(
    "doc", [d for _, d in DOCS], ids=[f"{f}:{d['kind']}/{d['metadata']['name']}" for f, d in DOCS]
)
def test_every_manifest_is_a_valid_resource(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_an_invalid_manifest_is_caught() -> None:
    """The check has teeth: a misspelt field fails it."""
    deployment = _named("Deployment")["continuum-decision"]
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = kustomization["resources"]
    assert sorted(listed) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"
    )
    assert len(set(listed)) == len(listed)


@pytest.mark.parametrize("role", WORKERS)
def test_every_worker_role_has_a_deployment_and_an_hpa_on_lag(role: str) -> None:
    deployment = _named("Deployment")[f"continuum-{role}"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["continuum", "worker", "--only", role]
    assert build_parser().parse_args(container["args"][1:]).only == role
    assert [next(iter(ref.values()))["name"] for ref in container["envFrom"]] == [
        "continuum-config",
        "continuum-secrets",
    ]
    port = container["ports"][0]["containerPort"]
    assert container["readinessProbe"]["httpGet"]["port"] == container["ports"][0]["name"]
    config = _named("ConfigMap")["continuum-config"]["data"]
    assert int(config["CONTINUUM_METRICS__PORT"]) == port
    hpa = _named("HorizontalPodAutoscaler")[f"continuum-{role}"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": f"continuum-{role}",
    }
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    assert metric["pods"]["metric"]["name"] == "continuum_consumer_lag"
    assert hpa["spec"]["maxReplicas"] <= int(config["CONTINUUM_KAFKA__PARTITIONS"])


def test_no_deployment_for_a_role_that_does_not_exist() -> None:
    roles = {name.removeprefix("continuum-") for name in _named("Deployment")}
    assert roles == {*WORKERS, "api"}


def test_the_api_runs_alone_behind_a_service_with_probes() -> None:
    deployment = _named("Deployment")["continuum-api"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = build_parser().parse_args(container["args"][1:])
    assert (args.command, args.only, args.api) == ("worker", "none", True)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    service = _named("Service")["continuum-api"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_the_config_holds_only_known_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every variable in the ConfigMap and the Secret is a setting, with a valid value."""
    env = {**_named("ConfigMap")["continuum-config"]["data"]}
    env |= _named("Secret")["continuum-secrets"]["stringData"]
    assert unknown_variables(env) == []
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.flows_dir == Path("/etc/continuum/flows")
    assert settings.sandbox.enabled is False
    assert settings.metrics.host == settings.api.host == "0.0.0.0"  # reachable by probes


def test_the_flows_configmap_is_the_flows_folder() -> None:
    spec = importlib.util.spec_from_file_location("flows_configmap", K8S / "flows_configmap.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert _named("ConfigMap")["continuum-flows"] == module.configmap(), (
        "deploy/k8s/flows-configmap.yaml is out of date: "
        ".venv/bin/python deploy/k8s/flows_configmap.py > deploy/k8s/flows-configmap.yaml"
    )


def test_a_worker_is_ready_when_it_consumes_and_alive_while_it_runs() -> None:
    for role in WORKERS:
        container = _named("Deployment")[f"continuum-{role}"]["spec"]["template"]["spec"][
            "containers"
        ][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", role
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", role
