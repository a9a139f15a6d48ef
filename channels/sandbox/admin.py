"""The sandbox's own routes, under ``/_sandbox``: inspect and clear accepted messages, health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from channels.sandbox.runtime import SandboxRuntime

MESSAGE_FILTERS = ("provider", "channel", "to")
"""The query parameters ``GET /_sandbox/messages`` takes; any other is a 400."""


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
        nothing)."""
        unknown = sorted(set(request.query_params) - set(MESSAGE_FILTERS))
        if unknown:
            known = ", ".join(MESSAGE_FILTERS)
            reason = f"unknown query parameter {', '.join(unknown)} (known: {known})"
            return JSONResponse({"error": reason}, status_code=400)
        found = runtime.store.matching(provider=provider, channel=channel, to=to)
        return [message.summary() for message in found]

    @router.delete("/messages")
    async def clear_messages() -> dict[str, Any]:
        return {"ok": True, "deleted": runtime.store.clear()}

    @router.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    return router
