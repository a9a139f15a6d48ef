"""Prometheus metrics, in one container built on an injected registry.

Label values are bounded: channels come from a fixed list (anything else is ``other``), stages
and outcomes are fixed by the code, and DLQ reasons are the codes of :class:`BadRecord`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from orchestrator.settings import CHANNELS

STAGES = ("inbound", "events", "decision", "dispatch", "status", "ledger", "webhook")
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def channel_label(channel: str | None) -> str:
    """A channel name safe to use as a label value."""
    return channel if channel in CHANNELS else "other"


class Metrics:
    """Every metric Continuum exports."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.stage_total = Counter(
            "continuum_stage_total",
            "Records handled by each pipeline stage, by channel and outcome.",
            ["stage", "channel", "outcome"],
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "continuum_stage_seconds",
            "Time one record spends in a stage (batch time divided by batch size).",
            ["stage", "channel", "outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "continuum_batch_seconds",
            "Time to process one consumed batch, commit included.",
            ["worker"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.dlq_total = Counter(
            "continuum_dlq_total",
            "Records dead-lettered, by stage and reason.",
            ["stage", "reason"],
            registry=registry,
        )
        self.provider_seconds = Histogram(
            "continuum_provider_seconds",
            "Latency of provider API calls, by adapter and outcome.",
            ["channel_type", "outcome"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.webhook_total = Counter(
            "continuum_webhook_total",
            "Provider webhook requests, by route and outcome.",
            ["route", "outcome"],
            registry=registry,
        )
        self.worker_up = Gauge(
            "continuum_worker_consuming",
            "1 while the worker is a member of its consumer group, 0 otherwise.",
            ["worker"],
            registry=registry,
        )
        self.batch_retries = Counter(
            "continuum_batch_retries_total",
            "Batches rewound and retried because Redis, PostgreSQL or the broker failed.",
            ["worker"],
            registry=registry,
        )
        self.policy_total = Counter(
            "continuum_policy_total",
            "Contact policy verdicts that held a message back, by rule (cap ids folded into "
            "`cap`), action (blocked, deferred) and where it was taken (decision, send).",
            ["rule", "action", "at"],
            registry=registry,
        )

    def observe(self, stage: str, channel: str | None, outcome: str, seconds: float) -> None:
        """Count one record through ``stage`` and record its share of the batch time."""
        label = channel_label(channel)
        self.stage_total.labels(stage, label, outcome).inc()
        self.stage_seconds.labels(stage, label, outcome).observe(seconds)
