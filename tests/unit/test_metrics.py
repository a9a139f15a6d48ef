"""Metrics: bounded label values, and a container that registers on the registry it is given."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from orchestrator.metrics import Metrics, channel_label


@pytest.mark.parametrize(
    ("channel", "label"),
    [("sms", "sms"), ("whatsapp", "whatsapp"), ("email", "email"), ("webchat", "webchat"),
     ("SMS", "other"), ("telegram", "other"), ("", "other"), (None, "other"),
     ("sms\"} 1\n", "other")],
)  # fmt: skip
def test_channel_label_is_bounded(channel: str | None, label: str) -> None:
    assert channel_label(channel) == label


def test_observe_counts_and_times() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.observe("inbound", "sms", "ok", 0.02)
    metrics.observe("inbound", "sms", "ok", 0.03)
    metrics.observe("inbound", "carrier-pigeon", "dlq", 0.5)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("continuum_stage_total", stage="inbound", channel="sms", outcome="ok") == 2
    assert value("continuum_stage_total", stage="inbound", channel="other", outcome="dlq") == 1
    sms_ok = {"stage": "inbound", "channel": "sms", "outcome": "ok"}
    assert value("continuum_stage_seconds_count", **sms_ok) == 2
    assert value("continuum_stage_seconds_sum", **sms_ok) == pytest.approx(0.05)
    assert value("continuum_stage_seconds_bucket", **sms_ok, le="0.025") == 1
    assert (
        value("continuum_stage_seconds_count", stage="inbound", channel="other", outcome="dlq") == 1
    )
    exposed = generate_latest(registry).decode()
    assert "continuum_stage_total{" in exposed
    assert "continuum_stage_seconds_bucket{" in exposed
    assert "carrier-pigeon" not in exposed


def test_each_container_uses_only_its_own_registry() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    Metrics(first).observe("status", "email", "ok", 0.1)
    Metrics(second)  # a second container does not clash: nothing is registered globally
    assert (
        first.get_sample_value(
            "continuum_stage_total", {"stage": "status", "channel": "email", "outcome": "ok"}
        )
        == 1
    )
    assert (
        second.get_sample_value(
            "continuum_stage_total", {"stage": "status", "channel": "email", "outcome": "ok"}
        )
        is None
    )
