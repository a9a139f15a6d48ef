"""The sandbox's own routes, under ``/_sandbox``: inspect and clear accepted messages, health."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from channels.sandbox.runtime import SandboxRuntime


def admin_router(runtime: SandboxRuntime) -> APIRouter:
    """Build the ``/_sandbox`` inspection routes bound to ``runtime``."""
    router = APIRouter(prefix="/_sandbox")

    @router.get("/messages")
    async def list_messages() -> list[dict[str, Any]]:
        return [message.summary() for message in runtime.store]

    @router.delete("/messages")
    async def clear_messages() -> dict[str, Any]:
        return {"ok": True, "deleted": runtime.store.clear()}

    @router.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    return router
