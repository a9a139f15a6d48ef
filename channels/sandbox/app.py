"""Build the sandbox provider: a FastAPI app speaking every registered provider's API on loopback.

Each provider brings its own fake (``Provider.sandbox``, e.g. :mod:`channels.twilio.sandbox`);
this app mounts them all, with the admin routes and the pretend order API.

Example::

    app = create_sandbox_app(SandboxConfig())
    uvicorn.run(app, host="127.0.0.1", port=8099)

Tests drive it with ``httpx.ASGITransport(app)``, which does not run the lifespan, so they enter
``app.router.lifespan_context(app)`` themselves to start and stop the background callbacks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from channels import PROVIDERS
from channels.sandbox.admin import admin_router
from channels.sandbox.config import SandboxConfig
from channels.sandbox.fast import SandboxApp
from channels.sandbox.orders import orders_router
from channels.sandbox.runtime import SandboxRuntime


def create_sandbox_app(
    config: SandboxConfig, http: httpx.AsyncClient | None = None, redis: Any = None
) -> FastAPI:
    """Return the sandbox app; it owns an HTTP client for callbacks unless one is injected.

    ``redis`` (the service's client, not closed here) lets the web chat fake list the replies
    in the session mailboxes; without it they are not listed.
    """
    runtime = SandboxRuntime(config, http, redis)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            yield

    app = SandboxApp(title="Continuum sandbox provider", lifespan=lifespan)
    app.runtime = runtime
    app.state.sandbox = runtime
    for provider in PROVIDERS.values():
        app.include_router(provider.sandbox(runtime))
    app.include_router(admin_router(runtime))
    app.include_router(orders_router())
    return app
