"""Providers whose webhook is set once in their console get it from `continuum up`: the sandbox
it starts is configured as the provider's console would be, so statuses flow without a step."""

from __future__ import annotations

import httpx

from channels.meta.sandbox import SANDBOX_ACCESS_TOKEN, SANDBOX_PHONE_NUMBER_ID
from channels.sandbox import create_sandbox_app
from channels.sandbox.config import SandboxConfig
from channels.sendgrid.sandbox import SANDBOX_API_KEY
from orchestrator.providers import console_webhooks
from orchestrator.settings import Settings

AUTH = {"Authorization": f"Bearer {SANDBOX_API_KEY}"}


def test_the_enabled_console_configured_providers_point_at_the_api() -> None:
    assert console_webhooks(Settings()) == {
        "meta": "http://127.0.0.1:8080/webhooks/meta/whatsapp",
        "sendgrid": "http://127.0.0.1:8080/webhooks/sendgrid/events",
    }
    off = Settings(channels={"whatsapp": "", "email": "smtp"})
    assert console_webhooks(off) == {}


async def _event_settings(config: SandboxConfig) -> dict[str, object]:
    app = create_sandbox_app(config, http=httpx.AsyncClient())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
    ) as http:
        resp = await http.get("/v3/user/webhooks/event/settings", headers=AUTH)
    assert resp.status_code == 200
    body: dict[str, object] = resp.json()
    return body


async def test_the_sendgrid_fake_starts_with_the_configured_event_webhook() -> None:
    url = "http://127.0.0.1:8080/webhooks/sendgrid/events"
    configured = await _event_settings(SandboxConfig(console_webhooks={"sendgrid": url}))
    assert (configured["enabled"], configured["url"]) == (True, url)
    bare = await _event_settings(SandboxConfig())
    assert (bare["enabled"], bare["url"]) == (False, None)


async def test_the_meta_fake_posts_statuses_to_the_configured_callback_url() -> None:
    url = "http://127.0.0.1:8080/webhooks/meta/whatsapp"
    app = create_sandbox_app(
        SandboxConfig(console_webhooks={"meta": url}), http=httpx.AsyncClient()
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
    ) as http:
        sent = await http.post(
            f"/v21.0/{SANDBOX_PHONE_NUMBER_ID}/messages",
            headers={"Authorization": f"Bearer {SANDBOX_ACCESS_TOKEN}"},
            json={
                "messaging_product": "whatsapp",
                "to": "15551230001",
                "type": "text",
                "text": {"body": "hi"},
            },
        )
        assert sent.status_code == 200
        [listed] = (await http.get("/_sandbox/messages")).json()
    assert listed["status_callback"] == url
