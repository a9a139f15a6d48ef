"""docker-compose.yml is valid Compose and wires Continuum and Prometheus together.

No Docker engine on our machines, so the file is checked against the Compose Specification's
JSON Schema (../shared/schemas/compose-spec.json) instead of `docker compose config`.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator
from prometheus_client import CollectorRegistry

from orchestrator.metrics import STAGES, Metrics
from orchestrator.workers import WORKERS

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO.parent / "shared" / "schemas" / "compose-spec.json"
COMPOSE = REPO / "docker-compose.yml"


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    schema = json.loads(SCHEMA.read_text())
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def _errors(validator: Draft7Validator, document: object) -> list[str]:
    return [error.message for error in validator.iter_errors(document)]


def test_compose_file_matches_the_schema(
    validator: Draft7Validator, compose: dict[str, Any]
) -> None:
    assert _errors(validator, compose) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("services", "redis", "image"), 5),  # image must be a string
        (("services", "continuum", "depends_on", "kafka", "condition"), "service_ready"),
        (("services", "postgres", "healthcheck", "interval"), 5),  # durations are strings
        (("services", "kafka", "restart_policy"), "always"),  # no such service key
        (("servics",), {}),  # misspelt top-level key
    ],
)
def test_schema_rejects_a_broken_copy(
    validator: Draft7Validator, compose: dict[str, Any], path: tuple[str, ...], value: object
) -> None:
    broken = copy.deepcopy(compose)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert _errors(validator, broken), f"schema accepted {path} = {value!r}"


def test_services_are_the_ones_we_document(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"kafka", "redis", "postgres", "continuum", "prometheus"}
    for name in ("kafka", "redis", "postgres"):
        assert "healthcheck" in compose["services"][name], name


def test_continuum_service_is_configured_only_through_its_settings(compose: dict[str, Any]) -> None:
    service = compose["services"]["continuum"]
    env = service["environment"]
    assert isinstance(env, dict)
    assert env, "continuum has no environment"
    assert all(key.startswith("CONTINUUM_") for key in env), sorted(env)
    assert env["CONTINUUM_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert service["command"] == ["continuum", "up"]
    assert (REPO / service["build"]["dockerfile"]).is_file()
    for dependency in ("kafka", "redis", "postgres"):
        assert service["depends_on"][dependency]["condition"] == "service_healthy"


def test_prometheus_config_exists_and_scrapes_continuum_metrics(compose: dict[str, Any]) -> None:
    mounts = [str(v).split(":") for v in compose["services"]["prometheus"]["volumes"]]
    config_mounts = [m for m in mounts if m[1] == "/etc/prometheus/prometheus.yml"]
    assert len(config_mounts) == 1
    config_path = (REPO / config_mounts[0][0]).resolve()
    assert config_path.is_file()

    config = yaml.safe_load(config_path.read_text())
    jobs = config["scrape_configs"]
    scraped = {
        (job.get("metrics_path", "/metrics"), target)
        for job in jobs
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert ("/metrics", "continuum:8080") in scraped
    env = compose["services"]["continuum"]["environment"]
    first = int(env["CONTINUUM_METRICS__FIRST_PORT"])
    assert env["CONTINUUM_METRICS__HOST"] == "0.0.0.0"
    for role, port in zip(WORKERS, range(first, first + len(WORKERS)), strict=True):
        assert ("/metrics", f"continuum:{port}") in scraped, role  # each worker process

    for rule_file in config.get("rule_files", []):
        mounted = [m for m in mounts if m[1] == f"/etc/prometheus/{rule_file}"]
        assert mounted, f"{rule_file} is referenced but not mounted"
        rules = yaml.safe_load((REPO / mounted[0][0]).read_text())
        exprs = " ".join(r["expr"] for g in rules["groups"] for r in g["rules"])
        assert "continuum_dlq_total" in exprs
        _assert_alerts_use_real_series(exprs)


def _assert_alerts_use_real_series(exprs: str) -> None:
    """Every metric and label value an alert names is one the service can emit."""
    registry = CollectorRegistry()
    Metrics(registry)
    exported = {
        name
        for family in registry.collect()
        for name in (family.name, f"{family.name}_total", f"{family.name}_bucket")
    }
    referenced = set(re.findall(r"\b(continuum_[a-z_]+)", exprs))
    assert referenced, "no alert uses a continuum metric"
    assert referenced <= exported, referenced - exported
    stages = set(re.findall(r'stage="([a-z_]+)"', exprs))
    assert stages <= set(STAGES), stages - set(STAGES)


DOCKERFILE = REPO / "Dockerfile"


def _healthcheck_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def test_continuum_has_a_healthcheck_on_readyz_without_curl(compose: dict[str, Any]) -> None:
    command = _healthcheck_command(compose["services"]["continuum"])
    assert command.startswith("CMD python -c ")
    assert "urllib.request.urlopen('http://127.0.0.1:8080/readyz'" in command
    assert "curl" not in command
    prometheus = compose["services"]["prometheus"]
    assert prometheus["depends_on"]["continuum"]["condition"] == "service_healthy"


def test_flows_are_bind_mounted_from_the_repository(compose: dict[str, Any]) -> None:
    mounts = [str(v).split(":") for v in compose["services"]["continuum"]["volumes"]]
    flows = [m for m in mounts if m[1] == f"{_workdir()}/flows"]
    assert len(flows) == 1, mounts
    assert flows[0][0] == "./flows"
    assert (REPO / "flows").is_dir()


def test_kafka_keeps_its_data_in_a_named_volume(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    log_dirs = kafka["environment"]["KAFKA_LOG_DIRS"]
    mounts = [str(v).split(":") for v in kafka["volumes"]]
    assert [m[0] for m in mounts if m[1] == log_dirs] == ["kafka-data"]
    assert "kafka-data" in compose["volumes"]


def _workdir() -> str:
    found = re.findall(r"^WORKDIR\s+(\S+)", DOCKERFILE.read_text(), flags=re.M)
    assert len(found) == 1
    return found[0]


def test_image_runs_unprivileged_with_a_writable_data_folder_and_a_healthcheck() -> None:
    text = DOCKERFILE.read_text()
    user = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert user
    assert user[-1] not in ("root", "0")
    data_dir = re.search(r"CONTINUUM_DATA_DIR=(\S+)", text)
    assert data_dir, "the image sets no CONTINUUM_DATA_DIR"
    # the data folder is created for that user: `install -d -o USER ... DIR` (or chown)
    assert re.search(rf"install -d -o {user[-1]} .*{re.escape(data_dir.group(1))}\b", text)
    assert not data_dir.group(1).startswith(_workdir())  # the code folder stays read-only
    health = re.search(r"^HEALTHCHECK [^\n]*\\\n\s*CMD (\[[^\n]*\])$", text, flags=re.M)
    assert health, "no HEALTHCHECK"
    command = json.loads(health.group(1))
    assert command[:2] == ["python", "-c"]
    assert "/readyz" in command[2]
    assert "urllib.request.urlopen" in command[2]
    assert "curl" not in command[2]
