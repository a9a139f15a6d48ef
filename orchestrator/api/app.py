"""The FastAPI application. Built by :func:`create_app` from injected parts; nothing at import."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from orchestrator.api.agent_page import agent_page_router
from orchestrator.api.agents import agents_router, utc_now
from orchestrator.api.customers import customers_router
from orchestrator.api.flows import flows_router
from orchestrator.api.models import FlowsRejected, FlowsReloaded, Health, Readiness, error
from orchestrator.api.webhooks import webhooks_router
from orchestrator.engine.catalogue import Catalogue
from orchestrator.ledger.store import LedgerStore
from orchestrator.metrics import Metrics
from orchestrator.providers import enabled
from orchestrator.redis_client import RedisClient
from orchestrator.settings import Settings
from orchestrator.state.store import RedisStateStore
from orchestrator.topics import Topics
from orchestrator.workers.publisher import Publisher
from orchestrator.workers.routing import Router

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
    redis: RedisClient | None = None
    """The service's Redis client: what ``ctx.redis`` gives providers with ``needs_redis``."""
    store: RedisStateStore | None = None
    """Customers and identities, for ``/v1/customers`` (None: those routes answer 503)."""
    router: Router | None = None
    """The routing board, for the agent API (None: those routes answer 503)."""
    ledger: LedgerStore | None = None
    """The ledger, for a conversation's history (None: that route answers 503)."""


_OPERATOR = HTTPBearer(
    scheme_name="operatorToken",
    description="`CONTINUUM_API__OPERATOR_TOKEN`; when it is unset, operator endpoints answer 403",
    auto_error=False,  # declares the scheme; flows.py checks the token and answers 401/403
)
_OPERATOR_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": FlowsReloaded, "description": "the new set is running"},
    401: error(
        "no `Authorization: Bearer <operator token>`, or the wrong token",
        {"WWW-Authenticate": ("`Bearer`", "string")},
    ),
    403: error("operator endpoints are disabled: CONTINUUM_API__OPERATOR_TOKEN is unset"),
    422: {"model": FlowsRejected, "description": "the set is invalid; the running set stays"},
}


def create_app(deps: ApiDeps) -> FastAPI:
    """The API application."""
    app = FastAPI(title="Continuum", version="0.1.0", docs_url="/docs", redoc_url=None)

    @app.get("/healthz", response_model=Health)
    async def healthz() -> dict[str, str]:
        """Alive: the process answers."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "some check is not ok"}},
    )
    async def readyz() -> JSONResponse:
        """Ready: Kafka, Redis and PostgreSQL reachable, and every worker consuming."""
        checks = {name: await probe() for name, probe in deps.probes.items()}
        ready = all(v is None for v in checks.values())
        body = {
            "status": "ready" if ready else "not ready",
            "checks": {k: v or "ok" for k, v in checks.items()},
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"description": "metrics", "content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def metrics() -> Response:
        """Prometheus text format."""
        return Response(generate_latest(deps.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    providers = [p for chain in enabled(deps.settings).values() for p in chain]
    app.include_router(webhooks_router(deps, providers))
    app.include_router(
        flows_router(deps),
        dependencies=[Security(_OPERATOR)],
        responses=_OPERATOR_RESPONSES,
    )
    app.include_router(
        customers_router(deps),
        dependencies=[Security(_OPERATOR)],
        responses={k: v for k, v in _OPERATOR_RESPONSES.items() if k in (401, 403)},
    )
    app.include_router(agents_router(deps, deps.router, utc_now))
    app.include_router(agent_page_router())
    return app
