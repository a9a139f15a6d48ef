"""Which providers run, from the settings and the registry: their adapters and callbacks.

``CONTINUUM_CHANNELS__<MEDIUM>`` lists a medium's providers in order (by default ``sms``:
``twilio``, ``whatsapp``: ``meta``, ``email``: ``sendgrid``, ``webchat``: ``webchat``, and
``webhook`` none, as it needs the business's URL); :attr:`Settings.channels` has
already checked every name against :data:`channels.PROVIDERS`. Example::

    adapters = build_adapters(settings, http)   # {"sms": (TwilioSms(...),), "email": (), ...}
    first = primaries(adapters)                 # {"sms": TwilioSms(...)}: what sends today
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from channels import PROVIDERS, find
from channels.base import ChannelAdapter
from channels.provider import Provider
from orchestrator.media import MEDIA
from orchestrator.redis_client import RedisClient
from orchestrator.settings import Settings


def enabled(
    settings: Settings, registry: Mapping[str, Provider] = PROVIDERS
) -> dict[str, tuple[Provider, ...]]:
    """Each medium's providers, in the order the settings list them."""
    return {
        medium: tuple(find(medium, name, registry) for name in settings.channels.get(medium, ()))
        for medium in MEDIA
    }


def build_adapters(
    settings: Settings,
    http: httpx.AsyncClient,
    registry: Mapping[str, Provider] = PROVIDERS,
    redis: RedisClient | None = None,
) -> dict[str, tuple[ChannelAdapter, ...]]:
    """One adapter per enabled provider, per medium, in order (for failover later).

    A provider with ``needs_redis`` is also given ``redis=`` (the service's client).
    """
    return {
        medium: tuple(_adapter(p, settings, http, redis) for p in chain)
        for medium, chain in enabled(settings, registry).items()
    }


def _adapter(
    p: Provider, settings: Settings, http: httpx.AsyncClient, redis: RedisClient | None
) -> ChannelAdapter:
    section = getattr(settings, p.settings_key)
    if p.needs_redis:
        return p.adapter(section, http, redis=redis)  # type: ignore[call-arg]
    return p.adapter(section, http)


def primaries(adapters: Mapping[str, tuple[ChannelAdapter, ...]]) -> dict[str, ChannelAdapter]:
    """The first adapter of each medium that has one: the one the dispatcher sends with today."""
    return {medium: chain[0] for medium, chain in adapters.items() if chain}


def status_callbacks(
    settings: Settings, registry: Mapping[str, Provider] = PROVIDERS
) -> dict[str, str]:
    """Where each enabled provider posts per-message status callbacks, by ``channel_type``."""
    public = settings.api_public_url
    return {
        p.channel_type: public + p.status_path
        for chain in enabled(settings, registry).values()
        for p in chain
        if p.status_path
    }


def console_webhooks(
    settings: Settings, registry: Mapping[str, Provider] = PROVIDERS
) -> dict[str, str]:
    """Where each enabled provider whose webhook is set in its console would be pointed, by
    provider name: what ``continuum up`` configures its sandbox with."""
    public = settings.api_public_url
    return {
        p.name: public + p.console_webhook_path
        for chain in enabled(settings, registry).values()
        for p in chain
        if p.console_webhook_path
    }
