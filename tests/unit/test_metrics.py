"""Metrics: bounded label values, and a container that registers on the registry it is given."""

from __future__ import annotations

import time
from types import SimpleNamespace

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from orchestrator.metrics import Metrics, channel_label, metrics_app


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


def test_stage_seconds_times_each_record_not_a_share_of_the_batch() -> None:
    from orchestrator.workers.base import BatchWorker, Deps

    class _Worker(BatchWorker):
        name, stage = "decision", "decision"

    metrics = Metrics(CollectorRegistry())
    deps = Deps(None, None, metrics, None, None)  # type: ignore[arg-type]
    worker = _Worker(deps, None)  # type: ignore[arg-type]
    started = time.perf_counter() - 0.2  # the batch began 0.2 s ago
    worker.observe([("sms", "ok")] * 4, started, 4)
    labels = {"stage": "decision", "channel": "sms", "outcome": "ok"}
    assert metrics.registry.get_sample_value("continuum_stage_seconds_count", labels) == 4
    # every record waited for the whole batch: 4 x >= 0.2 s, not 0.2 s shared among them
    assert metrics.registry.get_sample_value("continuum_stage_seconds_sum", labels) >= 0.8


def test_lag_per_group_and_partition_and_age_of_the_newest_record() -> None:
    metrics = Metrics(CollectorRegistry())
    records = [
        SimpleNamespace(topic="t", partition=0, offset=7, timestamp=1_000_000),
        SimpleNamespace(topic="t", partition=0, offset=9, timestamp=1_004_000),
        SimpleNamespace(topic="t", partition=1, offset=3, timestamp=1_002_000),
    ]
    ends = {("t", 0): 15, ("t", 1): 4}
    metrics.observe_lag("g.ledger", "ledger", records, lambda t, p: ends[(t, p)], lambda: 1_010.0)
    value = metrics.registry.get_sample_value
    assert (
        value("continuum_consumer_lag", {"group": "g.ledger", "topic": "t", "partition": "0"}) == 5
    )
    assert (
        value("continuum_consumer_lag", {"group": "g.ledger", "topic": "t", "partition": "1"}) == 0
    )
    assert value("continuum_consumer_lag_seconds", {"worker": "ledger"}) == 6.0


async def test_metrics_app_serves_the_registry() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.timers.labels("due").set(3)
    transport = httpx.ASGITransport(app=metrics_app(metrics.registry))
    async with httpx.AsyncClient(transport=transport, base_url="http://worker") as http:
        response = await http.get("/metrics")
        assert (await http.get("/healthz")).text == "ok"
    assert response.status_code == 200
    assert 'continuum_timers{state="due"} 3.0' in response.text


async def test_metrics_app_is_ready_only_when_the_process_says_so() -> None:
    missing: list[str | None] = ["not consuming yet: decision"]
    app = metrics_app(Metrics(CollectorRegistry()).registry, lambda: missing[0])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://worker") as http:
        waiting = await http.get("/readyz")
        missing[0] = None
        ready = await http.get("/readyz")
    assert (waiting.status_code, waiting.text) == (503, "not ready: not consuming yet: decision")
    assert (ready.status_code, ready.text) == (200, "ready")
