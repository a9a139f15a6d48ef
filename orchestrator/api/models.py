"""The API's request and response bodies, for validation where parsed and for the OpenAPI document.

The error body and its helpers live in :mod:`channels.webhooks`, shared with the providers'
webhook routes, and are re-exported here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from channels.webhooks import FORM, UNAVAILABLE, ErrorBody, error, form_body

__all__ = ["FORM", "UNAVAILABLE", "ErrorBody", "error", "form_body"]


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
