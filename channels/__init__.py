"""The provider registry: every provider Continuum knows, keyed by ``channel_type``.

``channel_type`` is ``"<medium>.<provider>"`` (``"sms.twilio"``). A provider is listed here
explicitly in the tuple below (not registered by an import side effect); see ``docs/channels.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from channels.base import ChannelAdapter
from channels.generic import GENERIC
from channels.meta import META
from channels.provider import Provider, UnknownProvider
from channels.sendgrid import SENDGRID
from channels.smtp import SMTP
from channels.twilio import TWILIO
from channels.vonage import VONAGE
from channels.webchat import WEBCHAT

PROVIDERS: Mapping[str, Provider] = {
    p.channel_type: p for p in (TWILIO, VONAGE, GENERIC, META, SENDGRID, SMTP, WEBCHAT)
}
"""Every provider, by ``channel_type``."""

ADAPTERS: Mapping[str, type[ChannelAdapter]] = {k: p.adapter for k, p in PROVIDERS.items()}
"""Every provider's adapter class, by ``channel_type`` (what the contract tests run)."""


def find(medium: str, name: str, registry: Mapping[str, Provider] = PROVIDERS) -> Provider:
    """The provider ``name`` of ``medium``, or raise :class:`UnknownProvider` listing the known."""
    found = registry.get(f"{medium}.{name}")
    if found is None:
        raise UnknownProvider(
            f"unknown {medium} provider {name!r} (known: {known(medium, registry.values())})"
        )
    return found


def known(medium: str, providers: Iterable[Provider]) -> str:
    """The names of ``medium``'s providers, comma-separated, or ``none``."""
    return ", ".join(sorted(p.name for p in providers if p.medium == medium)) or "none"
