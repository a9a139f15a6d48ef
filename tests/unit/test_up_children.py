"""The process tree `continuum up` starts: which children, with which /metrics ports."""

from __future__ import annotations

from orchestrator.commands.serve import _children
from orchestrator.settings import Settings
from orchestrator.workers import WORKERS


def _metrics_ports(settings: Settings, processes: dict[str, int]) -> dict[str, int]:
    return {
        c.name: int(c.env["CONTINUUM_METRICS__PORT"])
        for c in _children(settings, processes)
        if c.role in WORKERS
    }


def test_with_a_first_port_the_workers_get_consecutive_metrics_ports_in_order() -> None:
    settings = Settings(metrics={"first_port": 9464})
    ports = _metrics_ports(settings, {"decision": 2})
    names = [f"{w}.1" for w in WORKERS]
    names.insert(names.index("decision.1") + 1, "decision.2")
    assert list(ports) == names
    assert list(ports.values()) == list(range(9464, 9464 + len(names)))


def test_without_one_each_worker_gets_a_distinct_free_port() -> None:
    ports = _metrics_ports(Settings(), {})
    assert len(set(ports.values())) == len(WORKERS)
