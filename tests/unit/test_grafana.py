"""The Grafana dashboard parses, and every metric it queries is one orchestrator/metrics.py
exports (with the suffix its type gets on the wire)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from orchestrator.metrics import STAGES, Metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "continuum.json"
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
}


def _exported() -> set[str]:
    registry = CollectorRegistry()
    Metrics(registry)
    return {
        family.name + suffix for family in registry.collect() for suffix in _SUFFIXES[family.type]
    }


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in _panels(dashboard["panels"]) for t in p.get("targets", [])]


def test_dashboard_parses_and_has_panels_with_unique_ids() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "continuum"
    ids = [p["id"] for p in _panels(dashboard["panels"])]
    assert len(ids) == len(set(ids)) > 10


def test_every_queried_metric_is_exported() -> None:
    exprs = _exprs()
    referenced = {m for e in exprs for m in re.findall(r"\b(continuum_[a-z_]+)", e)}
    exported = _exported()
    assert referenced <= exported, referenced - exported
    stages = {s for e in exprs for s in re.findall(r'stage="([a-z_]+)"', e)}
    assert stages <= set(STAGES)


def test_the_issue_7_metrics_are_on_the_dashboard() -> None:
    queried = " ".join(_exprs())
    for name in (
        "continuum_consumer_lag",
        "continuum_consumer_lag_seconds",
        "continuum_timers",
        "continuum_deferred_sends",
        "continuum_stage_seconds_bucket",
    ):
        assert re.search(rf"\b{name}\b", queried), name


def test_the_queue_metrics_are_on_the_dashboard() -> None:
    queried = " ".join(_exprs())
    for name in (
        "continuum_queue_depth",
        "continuum_queue_oldest_wait_seconds",
        "continuum_queue_answered_total",
        "continuum_queue_service_level_target",
        "continuum_queue_agents",
    ):
        assert re.search(rf"\b{name}\b", queried), name
