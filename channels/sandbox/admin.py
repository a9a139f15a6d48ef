"""The sandbox's own routes, under ``/_sandbox``: inspect and clear accepted messages, health."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

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

    @router.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    return router
