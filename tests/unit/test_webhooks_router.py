"""The API mounts the webhook routes of exactly the enabled providers, from the registry."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry

from channels.twilio import TWILIO
from channels.twilio.settings import TwilioConfig
from channels.twilio.webhooks import INBOUND_PATH, STATUS_PATH
from channels.webhooks import InboundMessage, StatusReport, WebhookContext
from orchestrator.api.app import ApiDeps, create_app
from orchestrator.api.webhooks import webhooks_router
from orchestrator.events import MessageStatus
from orchestrator.metrics import Metrics
from orchestrator.settings import Settings
from orchestrator.topics import Topics


class RecordingPublisher:
    """Acknowledges every event at once and keeps it."""

    def __init__(self) -> None:
        self.published: list[tuple[str, Any, str | None]] = []

    async def publish_confirmed(self, topic: str, event: Any, key: str | None) -> None:
        self.published.append((topic, event, key))


def _deps(settings: Settings, publisher: Any = None) -> ApiDeps:
    async def reload_flows() -> Any:
        raise AssertionError("not reached in these tests")

    publisher = publisher or RecordingPublisher()
    return ApiDeps(settings, Metrics(CollectorRegistry()), Topics(), publisher, {}, reload_flows)


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api.test")


async def test_an_enabled_provider_has_its_routes() -> None:
    app = create_app(_deps(Settings()))
    async with _client(app) as client:
        for path in (INBOUND_PATH, STATUS_PATH):
            resp = await client.post(path, data={"MessageSid": "SM1"})
            assert resp.status_code == 403, path  # mounted: it checks the signature
    assert {INBOUND_PATH, STATUS_PATH} <= set(app.openapi()["paths"])


async def test_a_provider_disabled_in_settings_has_no_route(monkeypatch: Any) -> None:
    for medium in ("SMS", "WHATSAPP", "EMAIL"):
        monkeypatch.setenv(f"CONTINUUM_CHANNELS__{medium}", "")
    app = create_app(_deps(Settings()))
    async with _client(app) as client:
        for path in (INBOUND_PATH, STATUS_PATH):
            assert (await client.post(path, data={"MessageSid": "SM1"})).status_code == 404
        assert (await client.get("/healthz")).status_code == 200
    assert not [p for p in app.openapi()["paths"] if p.startswith("/webhooks/")]


def _hook_webhooks(config: TwilioConfig, ctx: WebhookContext) -> APIRouter:
    """A provider on the ``webhook`` medium whose routes take JSON and trust it."""
    router = APIRouter()

    @router.post("/webhooks/hook/inbound", status_code=204)
    async def inbound(request: Request) -> Response:
        body = await request.json()
        await ctx.received("hook_inbound", InboundMessage(body["id"], body["from"], "us", "hi"))
        ctx.count("hook_inbound", "accepted")
        return Response(status_code=204)

    @router.post("/webhooks/hook/status", status_code=204)
    async def status(request: Request) -> Response:
        body = await request.json()
        opted_out = bool(body.get("opted_out"))
        report = StatusReport(body["id"], "delivered", "done", opted_out=opted_out)
        await ctx.status("hook_status", report)
        return Response(status_code=204)

    return router


HOOK = replace(TWILIO, name="hook", medium="webhook", webhooks=_hook_webhooks)


async def test_the_router_mounts_only_the_providers_given_and_publishes_their_events() -> None:
    publisher = RecordingPublisher()
    deps = _deps(Settings(), publisher)
    app = FastAPI()
    app.include_router(webhooks_router(deps, [HOOK]))
    async with _client(app) as client:
        assert (await client.post(INBOUND_PATH)).status_code == 404  # Twilio was not given
        ok = await client.post("/webhooks/hook/inbound", json={"id": "h1", "from": " p-1 "})
        assert ok.status_code == 204
        ok = await client.post("/webhooks/hook/status", json={"id": "h1"})
        assert ok.status_code == 204
    (topic, received, key), (status_topic, status, status_key) = publisher.published
    assert (topic, key) == ("continuum.inbound.webhook", "p-1")
    assert received.source == "/channels/webhook/hook"
    assert received.data == {
        "channel": "webhook",
        "from": "p-1",
        "to": "us",
        "text": "hi",
        "attachments": [],
    }
    assert (status_topic, status_key) == (Topics().status, "h1")
    assert status.data["provider"] == "webhook.hook"
    assert orjson.loads(orjson.dumps(status.data))["status"] == "delivered"
    labels = {"route": "hook_inbound", "outcome": "accepted"}
    assert deps.metrics.registry.get_sample_value("continuum_webhook_total", labels) == 1


async def test_a_status_report_s_opted_out_is_carried_on_the_status_event() -> None:
    publisher = RecordingPublisher()
    app = FastAPI()
    app.include_router(webhooks_router(_deps(Settings(), publisher), [HOOK]))
    async with _client(app) as client:
        for body in ({"id": "h1"}, {"id": "h2", "opted_out": True}):
            assert (await client.post("/webhooks/hook/status", json=body)).status_code == 204
    plain, opted = (event.data for _, event, _ in publisher.published)
    assert (plain["opted_out"], opted["opted_out"]) == (False, True)
    assert MessageStatus.model_validate(opted).opted_out is True
