"""Operator endpoints for flows: hot reload, guarded by a bearer token."""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import JSONResponse

from orchestrator.errors import FlowError

if TYPE_CHECKING:
    from orchestrator.api.app import ApiDeps

log = logging.getLogger(__name__)


def flows_router(deps: ApiDeps) -> APIRouter:
    """``POST /v1/flows/reload``."""
    router = APIRouter()

    @router.post("/v1/flows/reload")
    async def reload(authorization: str | None = Header(None)) -> JSONResponse:
        """Load the flows folder again; an invalid set is refused and the running set stays."""
        authorize(deps, authorization, "POST /v1/flows/reload")
        try:
            catalogue = await deps.reload_flows()
        except FlowError as exc:
            log.error(
                "POST /v1/flows/reload refused, the running set stays: %s",
                "; ".join(exc.problems),
            )
            deps.metrics.webhook_total.labels("flows_reload", "invalid").inc()
            return JSONResponse({"status": "rejected", "errors": exc.problems}, status_code=422)
        deps.metrics.webhook_total.labels("flows_reload", "accepted").inc()
        body: dict[str, Any] = {
            "status": "reloaded",
            "flows": [{"id": f.id, "version": f.version} for f in catalogue.flows],
        }
        return JSONResponse(body)

    return router


def authorize(deps: ApiDeps, authorization: str | None, what: str) -> None:
    """The operator bearer token, or 403 (no token configured) / 401 (missing or wrong)."""
    token = deps.settings.api.operator_token
    if token is None:
        log.warning("%s refused (403): CONTINUUM_API__OPERATOR_TOKEN is unset", what)
        raise HTTPException(
            403, "operator endpoints are disabled: set CONTINUUM_API__OPERATOR_TOKEN"
        )
    scheme, _, given = (authorization or "").partition(" ")
    expected = token.get_secret_value()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected.encode()):
        log.warning("%s refused (401): a missing or wrong bearer token", what)
        raise HTTPException(
            401,
            "a valid `Authorization: Bearer <operator token>` is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
