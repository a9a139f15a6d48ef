"""The FastAPI application. Built by :func:`create_app` from injected parts; nothing at import."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from orchestrator.api.flows import flows_router
from orchestrator.api.twilio import twilio_router
from orchestrator.engine.catalogue import Catalogue
from orchestrator.metrics import Metrics
from orchestrator.settings import Settings
from orchestrator.topics import Topics
from orchestrator.workers.publisher import Publisher

Probe = Callable[[], Awaitable[str | None]]
"""A readiness check: ``None`` when fine, else what is wrong."""


@dataclass(frozen=True, slots=True)
class ApiDeps:
    """What the API needs, built by the composition root."""

    settings: Settings
    metrics: Metrics
    topics: Topics
    publisher: Publisher
    probes: Mapping[str, Probe]
    reload_flows: Callable[[], Awaitable[Catalogue]]


def create_app(deps: ApiDeps) -> FastAPI:
    """The API application."""
    app = FastAPI(title="Continuum", version="0.1.0", docs_url="/docs", redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Alive: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready: Kafka, Redis and PostgreSQL reachable, and every worker consuming."""
        checks = {name: await probe() for name, probe in deps.probes.items()}
        ready = all(v is None for v in checks.values())
        body = {
            "status": "ready" if ready else "not ready",
            "checks": {k: v or "ok" for k, v in checks.items()},
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus text format."""
        return Response(generate_latest(deps.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(twilio_router(deps))
    app.include_router(flows_router(deps))
    return app
