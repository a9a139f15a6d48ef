"""A provider as one declaration: everything Continuum needs to send, receive and fake it.

Each provider package (``channels/<name>/``) exports one :class:`Provider`, and
``channels/__init__.py`` lists them in :data:`channels.PROVIDERS`, keyed by ``channel_type``
(``"<medium>.<name>"``). The API mounts the ``webhooks`` of every enabled provider, the
dispatcher builds the ``adapter`` of each, the sandbox mounts every ``sandbox`` fake, and the
contract tests read ``tests/contract/channels/cases/<channel_type>.yaml``. Example::

    ACME = Provider(
        name="acme", medium="sms", adapter=AcmeSms, settings=AcmeSettings,
        settings_key="acme", webhooks=acme_webhooks, sandbox=acme_sandbox,
        verify=validate_signature, status_map=STATUS_MAP, error_codes=ERROR_CODES,
        status_path="/webhooks/acme/status",
    )
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from pydantic import BaseModel

from channels.base import ChannelAdapter
from channels.errors import SendError
from channels.webhooks import WebhookContext

if TYPE_CHECKING:
    from channels.sandbox.runtime import SandboxRuntime


@dataclass(frozen=True, slots=True)
class Provider:
    """One provider of one medium, and each part it owns.

    Attributes:
        name: what ``CONTINUUM_CHANNELS__<MEDIUM>`` lists to enable it (``"twilio"``).
        medium: the medium it carries (one of ``orchestrator.media.MEDIA``).
        adapter: its ``send``: built as ``adapter(settings_section, http)``.
        settings: its settings model, the ``CONTINUUM_<SETTINGS_KEY>__*`` section.
        settings_key: the field of the settings tree that holds that section.
        webhooks: builds its inbound and status routes from its settings and the API's context.
        sandbox: builds the fake of its API that the sandbox serves.
        verify: its signature check (the shape of the arguments is the provider's own).
        status_map: its statuses → Continuum's (queued, sent, delivered, read, failed,
            undelivered, unknown).
        error_codes: its error codes → the SendError each raises (others: RejectedWithReason).
        status_path: where, under the API's public URL, its per-message status callbacks go
            (``None`` when the provider is configured with a fixed callback URL instead).
        needs_redis: whether its adapter is built as ``adapter(settings, http, redis=...)``
            with the service's Redis client (its routes read it as ``ctx.redis``).
    """

    name: str
    medium: str
    adapter: type[ChannelAdapter]
    settings: type[BaseModel]
    settings_key: str
    webhooks: Callable[[Any, WebhookContext], APIRouter]
    sandbox: Callable[[SandboxRuntime], APIRouter]
    verify: Callable[..., bool]
    status_map: Mapping[str, str]
    error_codes: Mapping[str, type[SendError]]
    status_path: str | None = None
    console_webhook_path: str | None = None
    needs_redis: bool = False

    @property
    def channel_type(self) -> str:
        """``"<medium>.<name>"``: the registry key, the case file's name and the metrics label."""
        return f"{self.medium}.{self.name}"


class UnknownProvider(ValueError):
    """Raised when settings name a provider the registry does not have."""
