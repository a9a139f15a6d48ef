"""The generic webhook router: mounts the routes of every enabled provider from the registry.

Each provider's routes (``Provider.webhooks``) verify and parse; the :class:`_Context` given to
them here turns what they parsed into Continuum's events, publishes them and waits for the
broker's acknowledgement, at most ``api.publish_timeout_s``, else answers 503 with
``Retry-After`` (``continuum_webhook_total{outcome="publish_timeout"|"publish_error"}``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from aiokafka.errors import KafkaError
from fastapi import APIRouter, HTTPException

from channels.provider import Provider
from channels.webhooks import InboundMessage, StatusReport
from orchestrator.addresses import InvalidAddress, normalize
from orchestrator.engine.decisions import derive_id
from orchestrator.events import (
    MESSAGE_RECEIVED,
    MESSAGE_STATUS,
    CloudEvent,
    MessageStatus,
    new_event,
)
from orchestrator.redis_client import RedisClient

if TYPE_CHECKING:
    from orchestrator.api.app import ApiDeps

log = logging.getLogger(__name__)


def webhooks_router(deps: ApiDeps, providers: Iterable[Provider]) -> APIRouter:
    """One router holding the webhook routes of each of ``providers``."""
    router = APIRouter()
    for provider in providers:
        section = getattr(deps.settings, provider.settings_key)
        router.include_router(provider.webhooks(section, _Context(deps, provider)))
    return router


class _Context:
    """A :class:`channels.webhooks.WebhookContext` for one provider."""

    def __init__(self, deps: ApiDeps, provider: Provider) -> None:
        self._deps, self._provider = deps, provider
        self._source = f"/channels/{provider.medium}/{provider.name}"

    @property
    def public_url(self) -> str:
        return self._deps.settings.api_public_url

    @property
    def redis(self) -> RedisClient:
        if self._deps.redis is None:
            raise RuntimeError(f"{self._provider.channel_type} needs ApiDeps.redis")
        return self._deps.redis

    def count(self, route: str, outcome: str) -> None:
        self._deps.metrics.webhook_total.labels(route, outcome).inc()

    async def received(self, route: str, msg: InboundMessage) -> None:
        medium = self._provider.medium
        try:
            sender = normalize(medium, msg.sender)
        except InvalidAddress as exc:
            self.count(route, "invalid")
            raise HTTPException(400, f"{exc.reason}: {msg.sender_field}: {exc}") from None
        # A dict, not MessageReceived: the inbound worker validates it, and dead-letters it
        data = {  # when it does not fit (a webhook publishes what the provider said)
            "channel": medium,
            "from": sender,
            "to": msg.recipient,
            "text": msg.text,
            "attachments": list(msg.attachments),
        }
        event = new_event(MESSAGE_RECEIVED, msg.id, self._source, data)
        await self._publish_now(route, self._deps.topics.inbound(medium), event, sender)

    async def status(self, route: str, report: StatusReport) -> None:
        data = MessageStatus(
            provider=self._provider.channel_type,
            external_id=report.external_id,
            status=report.status,
            provider_status=report.provider_status,
            error_code=report.error_code,
            error_message=report.error_message,
            opted_out=report.opted_out,
            opt_out_purpose=report.opt_out_purpose,
        )
        event_id = derive_id("st", report.external_id, report.provider_status)
        event = new_event(MESSAGE_STATUS, event_id, self._source, data, exclude_none=True)
        await self._publish_now(route, self._deps.topics.status, event, report.external_id)

    async def _publish_now(self, route: str, topic: str, event: CloudEvent, key: str) -> None:
        """Publish and wait for the broker's ack, at most ``api.publish_timeout_s``; else 503."""
        await publish_now(self._deps, route, topic, event, key)


async def publish_now(deps: ApiDeps, route: str, topic: str, event: CloudEvent, key: str) -> None:
    """Publish and wait for the broker's ack, at most ``api.publish_timeout_s``; else count
    ``publish_timeout``/``publish_error`` and raise 503 with ``Retry-After``."""
    timeout = deps.settings.api.publish_timeout_s
    try:
        async with asyncio.timeout(timeout):
            await deps.publisher.publish_confirmed(topic, event, key)
    except TimeoutError:
        outcome, why = "publish_timeout", f"the broker did not acknowledge within {timeout:g}s"
    except (KafkaError, OSError) as exc:
        outcome, why = "publish_error", f"the broker refused the event: {exc}"
    else:
        return
    deps.metrics.webhook_total.labels(route, outcome).inc()
    log.warning("%s: answering 503: %s", route, why)
    retry_after = str(max(1, math.ceil(timeout)))
    raise HTTPException(
        503, f"the event could not be stored: {why}", headers={"Retry-After": retry_after}
    )
