"""Operator endpoints for customers: look one up, link an address to one (and merge).

``POST /v1/customers/{id}/identities`` checks what it can answer at once (the address, the
customer, who owns the address) and then publishes the business event ``event.identity.link``
to ``continuum.events``, answering 202 once the broker has it; the events worker does the link
(and the merge) as it does for a link event any system sends (:mod:`orchestrator.workers.events`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from orchestrator.addresses import InvalidAddress, normalize
from orchestrator.api.flows import authorize
from orchestrator.api.models import UNAVAILABLE, error
from orchestrator.api.webhooks import publish_now
from orchestrator.engine.decisions import derive_id
from orchestrator.events import BUSINESS_PREFIX, new_event
from orchestrator.media import MEDIA
from orchestrator.state.store import RedisStateStore

if TYPE_CHECKING:
    from orchestrator.api.app import ApiDeps

ROUTE = "customer_identities"
LINK_TYPE = f"{BUSINESS_PREFIX}identity.link"


class LinkRequest(BaseModel):
    """``POST /v1/customers/{id}/identities``."""

    channel: str = Field(description="one of the media: sms, whatsapp, email, webchat, webhook")
    address: str = Field(min_length=1, max_length=320, description="normalised as on inbound")
    merge: bool = Field(
        False,
        description="when another customer owns the address: merge that customer into this "
        "one (true) instead of answering 409",
    )


class LinkAccepted(BaseModel):
    """The link (and merge) is on ``continuum.events``; the events worker applies it."""

    status: Literal["accepted", "already_linked"]
    customer_id: str = Field(description="the customer linked to (after merge redirects)")
    channel: str
    address: str = Field(description="as normalised")
    merges: str | None = Field(None, description="the customer merged into this one, if any")
    event_id: str | None = Field(None, description="the `event.identity.link` published")


class CustomerView(BaseModel):
    """``GET /v1/customers/{id}``."""

    customer_id: str
    identities: dict[str, str]
    merged_into: str | None = None
    last_channel: str | None = None
    preferred_channel: str | None = None


_LINK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": LinkAccepted, "description": "the address is already this customer's"},
    202: {"model": LinkAccepted, "description": "stored on continuum.events; applied shortly"},
    400: error("the channel is unknown or the address does not normalise"),
    404: error("no such customer"),
    409: error('another customer owns the address; send `"merge": true` to merge it in'),
    503: UNAVAILABLE,
}


def customers_router(deps: ApiDeps) -> APIRouter:
    """``GET /v1/customers/{id}``, ``POST /v1/customers/{id}/identities``."""
    router = APIRouter()

    def store() -> RedisStateStore:
        if deps.store is None:
            raise HTTPException(503, "no state store in this process", {"Retry-After": "1"})
        return deps.store

    @router.get(
        "/v1/customers/{customer_id}",
        response_model=CustomerView,
        responses={404: error("no such customer")},
    )
    async def show(customer_id: str, authorization: str | None = Header(None)) -> JSONResponse:
        """A customer's identities (an id merged away answers with the survivor)."""
        authorize(deps, authorization, "GET /v1/customers")
        cid = (await store().redirects([customer_id]))[customer_id]
        if not await store().exists(cid):
            raise HTTPException(404, f"no customer {customer_id!r}")
        state = (await store().load_states([cid]))[cid]
        view = CustomerView(
            customer_id=cid,
            identities=state.identities,
            merged_into=state.merged_into,
            last_channel=state.last_channel,
            preferred_channel=state.preferred_channel,
        )
        return JSONResponse(view.model_dump(mode="json"))

    @router.post(
        "/v1/customers/{customer_id}/identities",
        response_model=LinkAccepted,
        status_code=202,
        responses=_LINK_RESPONSES,
    )
    async def link(
        customer_id: str, body: LinkRequest, authorization: str | None = Header(None)
    ) -> JSONResponse:
        """Link ``{channel, address}`` to the customer (merging its owner in if asked)."""
        authorize(deps, authorization, "POST /v1/customers/{id}/identities")
        count = deps.metrics.webhook_total.labels
        if body.channel not in MEDIA:
            count(ROUTE, "invalid").inc()
            raise HTTPException(400, f"invalid_channel: {body.channel!r} is not one of {MEDIA}")
        try:
            address = normalize(body.channel, body.address)
        except InvalidAddress as exc:
            count(ROUTE, "invalid").inc()
            raise HTTPException(400, f"{exc.reason}: {exc}") from None
        cid = (await store().redirects([customer_id]))[customer_id]
        if not await store().exists(cid):
            count(ROUTE, "unknown_customer").inc()
            raise HTTPException(404, f"no customer {customer_id!r}")
        [owner] = await store().owners([(body.channel, address)])
        owner = (await store().redirects([owner]))[owner] if owner else None
        answer: dict[str, Any] = {"customer_id": cid, "channel": body.channel, "address": address}
        if owner == cid:
            count(ROUTE, "already").inc()
            return JSONResponse({**answer, "status": "already_linked"})
        if owner is not None and not body.merge:
            count(ROUTE, "conflict").inc()
            raise HTTPException(
                409,
                f"conflict: {body.channel}:{address} belongs to customer {owner}; "
                'send "merge": true to merge it into this one',
            )
        link: dict[str, Any] = {"customer": cid, "channel": body.channel, "address": address}
        if owner:
            link["merge"] = True
        link_id = derive_id("lnk", cid, body.channel, address, owner or "")
        event = new_event(LINK_TYPE, link_id, "/continuum/api", link)
        await publish_now(deps, ROUTE, deps.topics.events, event, cid)
        count(ROUTE, "accepted").inc()
        body_out = {**answer, "status": "accepted", "merges": owner, "event_id": event.id}
        return JSONResponse(body_out, status_code=202)

    return router
