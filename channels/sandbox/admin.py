"""The sandbox's own routes, under ``/_sandbox``: inspect and clear accepted messages, add and
clear fault rules (``/_sandbox/faults``, see docs/sandbox.md), health."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from channels.sandbox.faults import DuplicateFault, FaultRule, describe, validation_reason
from channels.sandbox.runtime import SandboxRuntime
from channels.sandbox.store import ListingUnavailable

MESSAGE_FILTERS = ("provider", "channel", "to")
"""The query parameters ``GET /_sandbox/messages`` takes; any other is a 400."""
UNLISTED_HEADER = "X-Sandbox-Unlisted"
"""Set on a listing that lacks a provider's messages because they could not be read, and why."""


def admin_router(runtime: SandboxRuntime) -> APIRouter:
    """Build the ``/_sandbox`` inspection routes bound to ``runtime``."""
    router = APIRouter(prefix="/_sandbox")

    @router.get(
        "/messages",
        responses={400: {"description": "an unknown query parameter (the reason says which)"}},
    )
    async def list_messages(
        request: Request,
        provider: str | None = None,
        channel: str | None = None,
        to: str | None = None,
    ) -> Any:
        """Every accepted message of every provider, in arrival order; ``provider``,
        ``channel`` and ``to`` filter by exact match, combined (an unknown value matches
        nothing). A provider whose messages could not be read (the web chat's, with Redis down)
        is named in ``X-Sandbox-Unlisted``."""
        unknown = sorted(set(request.query_params) - set(MESSAGE_FILTERS))
        if unknown:
            known = ", ".join(MESSAGE_FILTERS)
            reason = f"unknown query parameter {', '.join(unknown)} (known: {known})"
            return JSONResponse({"error": reason}, status_code=400)
        found = runtime.store.matching(provider=provider, channel=channel, to=to)
        elsewhere, unlisted = [], []
        for listing in runtime.listings:
            if provider not in (None, listing.provider):
                continue
            try:
                elsewhere += await listing.matching(channel=channel, to=to)
            except ListingUnavailable as exc:
                unlisted.append(f"{listing.provider}: {exc}")
        if elsewhere:  # merged by arrival; a stable sort keeps the store's own order
            found = sorted(found + elsewhere, key=lambda message: message.received_at)
        headers = {UNLISTED_HEADER: "; ".join(unlisted)} if unlisted else None
        return JSONResponse([message.summary() for message in found], headers=headers)

    @router.delete("/messages")
    async def clear_messages() -> dict[str, Any]:
        deleted = runtime.store.clear()
        for listing in runtime.listings:
            with contextlib.suppress(ListingUnavailable):
                deleted += await listing.clear()
        return {"ok": True, "deleted": deleted}

    _fault_routes(router, runtime)

    @router.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    return router


def _fault_routes(router: APIRouter, runtime: SandboxRuntime) -> None:
    """``/_sandbox/faults``: add (POST), list (GET), clear all or one (DELETE), reseed."""
    faults = runtime.faults

    @router.post(
        "/faults",
        status_code=201,
        responses={
            400: {"description": "the body is not a JSON object"},
            409: {"description": "a fault with that id exists already"},
            422: {"description": "the rule is invalid (the reason says why)"},
        },
    )
    async def add_fault(request: Request) -> Any:
        """Add a fault rule (tried after those already held); answers it, id included."""
        body = await _json_object(request)
        if body is None:
            return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
        try:
            rule = FaultRule.model_validate(body)
        except ValidationError as exc:
            return JSONResponse({"error": validation_reason(exc)}, status_code=422)
        try:
            faults.add(rule)
        except DuplicateFault as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse({**describe(rule), "fired": 0, "expired": False}, status_code=201)

    @router.get("/faults")
    async def list_faults() -> list[dict[str, Any]]:
        """Every rule in the order tried, with ``fired`` and ``expired``."""
        return faults.listing()

    @router.delete("/faults")
    async def clear_faults() -> dict[str, Any]:
        return {"ok": True, "deleted": faults.clear()}

    @router.delete("/faults/{fault_id}", responses={404: {"description": "no such fault"}})
    async def delete_fault(fault_id: str) -> Any:
        if not faults.remove(fault_id):
            return JSONResponse({"error": f"no fault with id {fault_id!r}"}, status_code=404)
        return {"ok": True, "deleted": 1}

    @router.post("/faults/seed", responses={422: {"description": "seed is not an integer"}})
    async def seed_faults(request: Request) -> Any:
        """Restart the draws of rules with a probability from ``{"seed": N}``."""
        body = await _json_object(request)
        seed = body.get("seed") if body is not None else None
        if not isinstance(seed, int) or isinstance(seed, bool):
            return JSONResponse({"error": 'the body must be {"seed": <integer>}'}, 422)
        faults.seed(seed)
        return {"ok": True, "seed": seed}


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
