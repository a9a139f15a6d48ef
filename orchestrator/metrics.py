"""Prometheus metrics, in one container built on an injected registry.

Label values are bounded: channels come from a fixed list (anything else is ``other``), stages
and outcomes are fixed by the code, DLQ reasons are the codes of :class:`BadRecord`, and queues
are the ones ``routing.yaml`` names.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from orchestrator.media import MEDIA

STAGES = ("inbound", "events", "decision", "dispatch", "status", "ledger", "webhook")
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_ANSWER_BUCKETS = (5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 1800, 3600)


def channel_label(channel: str | None) -> str:
    """A channel name safe to use as a label value."""
    return channel if channel in MEDIA else "other"


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
            "Time one record spends in a stage: from the start of the batch it came in to the "
            "end of that batch's work (a record is done when its batch is durable).",
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
        self.breaker_state = Gauge(
            "continuum_provider_breaker_state",
            "Each provider's circuit breaker as this process last saw it: 0 closed, "
            "1 half-open, 2 open.",
            ["provider"],
            registry=registry,
        )
        self.breaker_transitions_total = Counter(
            "continuum_provider_breaker_transitions_total",
            "Circuit breaker transitions this process made, by provider and new state.",
            ["provider", "to"],
            registry=registry,
        )
        self.failovers_total = Counter(
            "continuum_failovers_total",
            "Sends moved from one provider to the next after a known failure.",
            ["from", "to"],
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
        self.merge_forwards_total = Counter(
            "continuum_merge_forwards_total",
            "Events that reached a customer id merged into another, by engine event kind and "
            "outcome: forwarded to the survivor, or refused (the merges lead back: a loop).",
            ["kind", "outcome"],
            registry=registry,
        )

        self.consumer_lag = Gauge(
            "continuum_consumer_lag",
            "Records a consumer group is behind the end of a partition, measured after each "
            "batch from the high watermark of the last fetch.",
            ["group", "topic", "partition"],
            registry=registry,
        )
        self.consumer_lag_seconds = Gauge(
            "continuum_consumer_lag_seconds",
            "Age of the newest record of the last batch a worker made durable: how far it runs "
            "behind its producers (the ledger sink's is the ledger's delay).",
            ["worker"],
            registry=registry,
        )
        self.timers = Gauge(
            "continuum_timers",
            "Flow timers not yet fired, by state: waiting (due later), due (due now but not "
            "fired yet: the backlog) and leased (being fired).",
            ["state"],
            registry=registry,
        )
        self.deferred_sends = Gauge(
            "continuum_deferred_sends",
            "Sends held back by the contact policy, by state: waiting (due later), due (due now "
            "but not released yet) and leased (being released).",
            ["state"],
            registry=registry,
        )
        self.time_to_delivered = Histogram(
            "continuum_time_to_delivered_seconds",
            "From the provider accepting a message to its delivered receipt.",
            ["channel", "provider"],
            buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 21600, 86400),
            registry=registry,
        )
        self.delivery_overdue_total = Counter(
            "continuum_delivery_overdue_total",
            "Messages with no delivery receipt status.overdue_s after their send.",
            ["channel", "provider"],
            registry=registry,
        )
        self.fallbacks_total = Counter(
            "continuum_fallbacks_total",
            "Fallback sends on another channel, by the channel fallen back from and why "
            "(permanent, receipt_timeout).",
            ["channel", "reason"],
            registry=registry,
        )
        self.rate_limited_total = Counter(
            "continuum_rate_limited_total",
            "Sends the provider rate limits held back (deferred to when their bucket has room), "
            "by provider (channel type) and lane (reply, bulk).",
            ["provider", "lane"],
            registry=registry,
        )
        self.rate_throttled_total = Counter(
            "continuum_rate_throttled_total",
            "Provider 429 / throttling answers fed to the rate limiter (the bucket is emptied "
            "until Retry-After), by provider.",
            ["provider"],
            registry=registry,
        )

        self.routing_steps = Counter(
            "continuum_routing_steps_total",
            "Contact-centre routing decisions, by queue and step (queued, offered, "
            "offer_timeout, offer_rejected, offer_withdrawn, assigned, overflowed, transferred, "
            "wrapped_up, closed, abandoned, closed_hours, rule_failed; presence: agents set "
            "away for not responding).",
            ["queue", "step"],
            registry=registry,
        )

        self._queue_metrics(registry)

        self.sends_unknown = Gauge(
            "continuum_sends_unknown",
            "Sends whose outcome is unknown (the request went out, no answer came back) and "
            "that no receipt or provider look-up has resolved yet.",
            registry=registry,
        )
        self.reconcile_total = Counter(
            "continuum_reconcile_total",
            "Looks at the provider for unknown sends, by provider and result: found, "
            "not_found (looked again later), not_sent (given up: stays unknown), ambiguous, "
            "unsupported (the provider cannot be asked) and error.",
            ["provider", "result"],
            registry=registry,
        )

    def _queue_metrics(self, registry: CollectorRegistry) -> None:
        """Each routing queue: gauges from the board as this process last committed it,
        counters from the decisions it committed (orchestrator/workers/queue_metrics.py)."""
        self.queue_depth = Gauge(
            "continuum_queue_depth",
            "Conversations in the queue not yet assigned to an agent (waiting or offered).",
            ["queue"],
            registry=registry,
        )
        self.queue_oldest_wait = Gauge(
            "continuum_queue_oldest_wait_seconds",
            "The longest wait, from first arrival, of the queue's conversations not yet "
            "assigned (0 when none waits).",
            ["queue"],
            registry=registry,
        )
        self.queue_agents = Gauge(
            "continuum_queue_agents",
            "Agents with the queue's skills, by presence (available, busy, away, offline).",
            ["queue", "presence"],
            registry=registry,
        )
        self.queue_open = Gauge(
            "continuum_queue_open",
            "1 while the queue takes conversations (its schedule or an operator's override), "
            "0 while it is closed.",
            ["queue"],
            registry=registry,
        )
        self.queue_service_level_target = Gauge(
            "continuum_queue_service_level_target",
            "The queue's service level target, as a fraction: of conversations answered, the "
            "share to answer within its service_level.within.",
            ["queue"],
            registry=registry,
        )
        self.queue_gauges_at = Gauge(
            "continuum_queue_gauges_timestamp_seconds",
            "When this process last set the queue gauges (the time of its board, Unix seconds): "
            "a process whose gauges are old has not committed routing decisions since.",
            registry=registry,
        )
        self.queue_offers = Counter(
            "continuum_queue_offers_total",
            "Offers to agents, by queue and result: made, accepted, timed_out, rejected, "
            "withdrawn.",
            ["queue", "result"],
            registry=registry,
        )
        self.queue_answered = Counter(
            "continuum_queue_answered_total",
            "Conversations assigned to an agent, by whether they waited (from first arrival) "
            "no longer than the queue's service_level.within: service level is yes / (yes + no).",
            ["queue", "within_target"],
            registry=registry,
        )
        self.queue_abandoned = Counter(
            "continuum_queue_abandoned_total",
            "Conversations whose customer stopped waiting before an agent took them.",
            ["queue"],
            registry=registry,
        )
        self.queue_answer_seconds = Histogram(
            "continuum_queue_answer_seconds",
            "From a conversation's first arrival in a queue to its assignment to an agent.",
            ["queue"],
            buckets=_ANSWER_BUCKETS,
            registry=registry,
        )

    def observe(self, stage: str, channel: str | None, outcome: str, seconds: float) -> None:
        """Count one record through ``stage`` and record the time it spent there."""
        label = channel_label(channel)
        self.stage_total.labels(stage, label, outcome).inc()
        self.stage_seconds.labels(stage, label, outcome).observe(seconds)

    def observe_lag(
        self,
        group: str,
        worker: str,
        records: Iterable[Any],
        highwater: Callable[[str, int], int | None],
        now: Callable[[], float] = time.time,
    ) -> None:
        """After a durable batch: each partition's lag (``highwater(topic, partition)`` minus the
        next offset to read) and the age of the newest record (its Kafka timestamp, in ms)."""
        last: dict[tuple[str, int], int] = {}
        newest: int | None = None
        for record in records:
            key = (record.topic, record.partition)
            last[key] = max(last.get(key, -1), record.offset)
            stamp = getattr(record, "timestamp", None)
            if isinstance(stamp, int) and stamp > 0:
                newest = stamp if newest is None else max(newest, stamp)
        for (topic, partition), offset in last.items():
            end = highwater(topic, partition)
            if end is not None:
                lag = max(0, end - offset - 1)
                self.consumer_lag.labels(group, topic, str(partition)).set(lag)
        if newest is not None:
            self.consumer_lag_seconds.labels(worker).set(max(0.0, now() - newest / 1000))


def metrics_app(
    registry: CollectorRegistry, not_ready: Callable[[], str | None] = lambda: None
) -> Starlette:
    """The ASGI app of a process without the API: ``GET /metrics``, ``GET /healthz`` (the
    process runs) and ``GET /readyz``: 200, or 503 with what ``not_ready`` says is missing
    (a worker that has not joined its consumer group yet)."""

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        missing = not_ready()
        if missing is None:
            return PlainTextResponse("ready")
        return PlainTextResponse(f"not ready: {missing}", status_code=503)

    return Starlette(
        routes=[Route("/metrics", metrics), Route("/healthz", healthz), Route("/readyz", readyz)]
    )
