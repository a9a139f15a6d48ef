"""The provider registry: every provider declares every part, and unknown names are refused."""

from __future__ import annotations

import inspect

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import BaseModel

from channels import ADAPTERS, PROVIDERS, find
from channels.errors import SendError
from channels.provider import UnknownProvider
from channels.sandbox.config import SandboxConfig
from channels.sandbox.runtime import SandboxRuntime
from channels.webhooks import InboundMessage, StatusReport
from orchestrator.media import MEDIA
from orchestrator.settings import Settings

STATUSES = {"queued", "sent", "delivered", "read", "failed", "undelivered", "unknown"}
ALL = sorted(PROVIDERS)


class NullContext:
    """A WebhookContext that is never called: building the routes needs none of it."""

    public_url = "http://api.test"

    def count(self, route: str, outcome: str) -> None:
        raise AssertionError("not called while building routes")

    async def received(self, route: str, msg: InboundMessage) -> None:
        raise AssertionError("not called while building routes")

    async def status(self, route: str, report: StatusReport) -> None:
        raise AssertionError("not called while building routes")


def _paths(router: APIRouter) -> set[str]:
    return {r.path for r in router.routes if isinstance(r, APIRoute)}


def test_the_registry_holds_twilio() -> None:
    assert "sms.twilio" in ALL
    assert {ct: p.adapter for ct, p in PROVIDERS.items()} == ADAPTERS


@pytest.mark.parametrize("channel_type", ALL)
def test_a_provider_is_keyed_by_its_medium_and_name(channel_type: str) -> None:
    provider = PROVIDERS[channel_type]
    assert provider.channel_type == channel_type == provider.adapter.channel_type
    assert provider.medium in MEDIA
    assert provider.adapter.channel == provider.medium
    assert find(provider.medium, provider.name) is provider


@pytest.mark.parametrize("channel_type", ALL)
def test_a_provider_has_a_settings_section(channel_type: str) -> None:
    provider = PROVIDERS[channel_type]
    assert issubclass(provider.settings, BaseModel)
    section = getattr(Settings(), provider.settings_key)
    assert type(section) is provider.settings  # CONTINUUM_<SETTINGS_KEY>__* fills it
    assert set(provider.adapter.secret_fields) <= set(provider.settings.model_fields)


@pytest.mark.parametrize("channel_type", ALL)
def test_a_provider_has_webhook_routes_including_its_status_path(channel_type: str) -> None:
    provider = PROVIDERS[channel_type]
    section = getattr(Settings(), provider.settings_key)
    paths = _paths(provider.webhooks(section, NullContext()))
    # SMTP alone receives nothing over HTTP (no status callbacks; inbound email is an event)
    assert paths or (provider.name == "smtp" and provider.status_path is None), "a webhook"
    # the built-in web chat is the browser's API, not a provider's webhook: it lives at /webchat/
    prefix = "/webchat/" if provider.medium == "webchat" else f"/webhooks/{provider.name}/"
    assert all(p.startswith(prefix) for p in paths)
    if provider.status_path is not None:
        assert provider.status_path in paths


@pytest.mark.parametrize("channel_type", ALL)
def test_a_provider_has_a_sandbox_fake(channel_type: str) -> None:
    provider = PROVIDERS[channel_type]
    runtime = SandboxRuntime(SandboxConfig())
    router = provider.sandbox(runtime)
    if provider.name == "smtp":  # its server runs beside the app
        assert len(runtime.services) == 1
    assert f"/_sandbox/{provider.name}/inbound" in _paths(router)


@pytest.mark.parametrize("channel_type", ALL)
def test_a_provider_maps_statuses_and_error_codes(channel_type: str) -> None:
    provider = PROVIDERS[channel_type]
    assert provider.status_map, "a status map"
    assert set(provider.status_map.values()) <= STATUSES
    for code, kind in provider.error_codes.items():
        assert isinstance(code, str)
        assert issubclass(kind, SendError)
    assert callable(provider.verify)
    assert inspect.signature(provider.verify).parameters, "a signature check takes arguments"


def test_an_unknown_provider_is_refused_with_the_known_ones() -> None:
    with pytest.raises(
        UnknownProvider, match=r"unknown sms provider 'nope' \(known: twilio, vonage\)"
    ):
        find("sms", "nope")
    with pytest.raises(UnknownProvider, match=r"unknown email provider 'twilio' \(known: none\)"):
        find("email", "twilio", {})  # a registry without email providers
