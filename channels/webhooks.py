"""What a provider's webhook routes produce, and the context the API hands them.

A provider's ``webhooks`` factory (see :class:`channels.provider.Provider`) builds a FastAPI
router from its settings and a :class:`WebhookContext`. The routes verify the provider's
signature, parse its body into an :class:`InboundMessage` or a :class:`StatusReport`, and hand
that to the context, which normalises the address, wraps it in Continuum's event, publishes it
and waits for the broker (answering 400 or 503 itself by raising). So the provider never
imports ``orchestrator``. Example::

    def webhooks(config: AcmeSettings, ctx: WebhookContext) -> APIRouter:
        router = APIRouter()

        @router.post("/webhooks/acme/inbound", status_code=204)
        async def inbound(request: Request) -> None:
            body = await request.json()
            await ctx.received("acme_inbound", InboundMessage(body["id"], body["from"], ...))

        return router

The OpenAPI helpers (:class:`ErrorBody`, :func:`error`, :func:`form_body`,
:data:`UNAVAILABLE`) let routes describe their answers the way the rest of the API does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, Field

FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message a customer sent, as the provider's webhook gave it.

    ``id`` is the provider's message id (the dedupe key); ``sender_field`` names the request
    field ``sender`` came from, so that a 400 for an invalid address can point at it.
    """

    id: str
    sender: str
    recipient: str
    text: str
    attachments: tuple[str, ...] = ()
    sender_field: str = "from"


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One delivery receipt, decoded: which message, its mapped and raw status, and why.

    ``opted_out`` is the provider saying the recipient opted out or complained (SendGrid's
    ``spamreport``, Twilio's error 21610): Continuum then opts the customer out of the medium
    as an opt-out keyword would, without a confirmation (docs/policy.md, "Provider opt-outs").
    ``opt_out_purpose`` narrows it to one purpose on the medium (Meta's 131050: the user stopped
    *marketing* messages); None is a whole opt-out.
    """

    external_id: str
    status: str
    provider_status: str
    error_code: str | None = None
    error_message: str | None = None
    opted_out: bool = False
    opt_out_purpose: str | None = None


class WebhookContext(Protocol):
    """What the API gives one provider's routes (built per provider by the API)."""

    @property
    def public_url(self) -> str:
        """Where providers reach the API, without a trailing slash: signatures cover it."""
        ...

    @property
    def redis(self) -> Any:
        """The service's Redis client (``redis.asyncio``), for providers with ``needs_redis``."""
        ...

    def count(self, route: str, outcome: str) -> None:
        """Count one request in ``continuum_webhook_total{route, outcome}``."""

    async def received(self, route: str, msg: InboundMessage) -> None:
        """Publish a ``message.received`` on the provider's medium and wait for the broker.

        Raises an HTTP 400 (address not valid for the medium) or 503 (broker did not
        acknowledge in time) for the framework to answer with.
        """

    async def status(self, route: str, report: StatusReport) -> None:
        """Publish a ``message.status`` and wait for the broker; raises an HTTP 503 likewise."""


def e164(digits: str) -> str:
    """A phone number a provider sends without its ``+`` (Vonage's msisdn, WhatsApp's wa_id)
    as E.164; one that has it is kept."""
    return digits if digits.startswith("+") else f"+{digits}"


def within_window(timestamp: str, window_s: float, now: float) -> bool:
    """Whether ``timestamp`` (Unix seconds, as the provider sent it) is within ``window_s`` of
    ``now``: the replay check of the providers that sign a timestamp."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    return abs(now - sent) <= window_s


class ErrorBody(BaseModel):
    """Every refusal: FastAPI's ``{"detail": ...}``."""

    detail: str = Field(description="why the request was refused")


def form_body(model: type[BaseModel]) -> dict[str, Any]:
    """An ``openapi_extra`` declaring a required form body of ``model``'s shape."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {FORM: {"schema": schema}}}}


def error(description: str, headers: dict[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """A ``responses`` entry for an error answered as :class:`ErrorBody`.

    ``headers`` maps a response header's name to (its description, its JSON Schema type).
    """
    entry: dict[str, Any] = {"model": ErrorBody, "description": description}
    if headers:
        entry["headers"] = {
            name: {"description": text, "schema": {"type": kind}}
            for name, (text, kind) in headers.items()
        }
    return entry


UNAVAILABLE = error(
    "the broker did not store the event within `api.publish_timeout_s` (or refused it): "
    "retry after the given seconds",
    {"Retry-After": ("seconds to wait before retrying", "integer")},
)
