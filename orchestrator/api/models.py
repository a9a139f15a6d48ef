"""The API's request and response bodies, for validation where parsed and for the OpenAPI document.

The Twilio webhooks read their forms by hand (the signature covers every field, repeated ones
included), so their form models only describe the body in the OpenAPI document.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FORM = "application/x-www-form-urlencoded"


class ErrorBody(BaseModel):
    """Every refusal: FastAPI's ``{"detail": ...}``."""

    detail: str = Field(description="why the request was refused")


class Health(BaseModel):
    """``GET /healthz``."""

    status: Literal["ok"]


class Readiness(BaseModel):
    """``GET /readyz``: 200 when every check is ``ok``, else 503 with the same body."""

    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(description="per dependency: `ok`, or what is wrong")


class FlowRef(BaseModel):
    """One loaded flow."""

    id: str
    version: int


class FlowsReloaded(BaseModel):
    """``POST /v1/flows/reload`` accepted the new set."""

    status: Literal["reloaded"]
    flows: list[FlowRef]


class FlowsRejected(BaseModel):
    """``POST /v1/flows/reload`` refused the set; the running flows stay."""

    status: Literal["rejected"]
    errors: list[str] = Field(description="one `file:line: reason` per problem")


class _Form(BaseModel):
    model_config = ConfigDict(extra="allow")


class TwilioStatusForm(_Form):
    """Twilio's message status callback (any further Twilio fields are signed and ignored)."""

    MessageSid: str = Field(description="Twilio's message id (SM...)")
    MessageStatus: str = Field(
        description="accepted, scheduled, queued, sending, sent, delivered, undelivered, "
        "failed, canceled, read"
    )
    AccountSid: str | None = None
    ErrorCode: str | None = None
    ErrorMessage: str | None = None


class TwilioInboundForm(_Form):
    """Twilio's incoming message webhook (``MediaUrl<i>`` for i < ``NumMedia``)."""

    MessageSid: str = Field(description="Twilio's message id, the dedupe key")
    From: str = Field(description="the sender, normalised to E.164; else 400 invalid_address")
    To: str = Field(description="our number they wrote to")
    Body: str = Field(description="the text")
    NumMedia: int = Field(0, ge=0, description="how many MediaUrl<i> fields follow")
    AccountSid: str | None = None


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
