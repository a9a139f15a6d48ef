"""``POST /v1/flows/reload``: a refused reload is answered with its reasons and logged."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from orchestrator.api.flows import flows_router
from orchestrator.engine.catalogue import Catalogue
from orchestrator.errors import FlowError
from orchestrator.metrics import Metrics
from orchestrator.settings import ApiSettings, Settings

TOKEN = "operator-secret"
PROBLEM = "flows/help.yaml:12: steps.0.next: no step 'nowhere'"


async def _refuse() -> Catalogue:
    raise FlowError([PROBLEM])


def _client(token: str | None) -> httpx.AsyncClient:
    api = ApiSettings(operator_token=SecretStr(token) if token else None)
    deps = SimpleNamespace(
        settings=Settings(api=api), metrics=Metrics(CollectorRegistry()), reload_flows=_refuse
    )
    app = FastAPI()
    app.include_router(flows_router(deps))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


async def test_an_invalid_set_is_refused_with_its_problems_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="orchestrator.api.flows")
    async with _client(TOKEN) as http:
        resp = await http.post("/v1/flows/reload", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 422
    assert resp.json() == {"status": "rejected", "errors": [PROBLEM]}
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        f"POST /v1/flows/reload refused, the running set stays: {PROBLEM}"
    )


@pytest.mark.parametrize(
    ("token", "header", "status"),
    [(None, f"Bearer {TOKEN}", 403), (TOKEN, "Bearer guessed-token", 401), (TOKEN, None, 401)],
)
async def test_an_unauthorised_reload_is_refused_and_logged_without_the_token(
    caplog: pytest.LogCaptureFixture, token: str | None, header: str | None, status: int
) -> None:
    caplog.set_level(logging.INFO, logger="orchestrator.api.flows")
    headers = {"Authorization": header} if header else {}
    async with _client(token) as http:
        resp = await http.post("/v1/flows/reload", headers=headers)
    assert resp.status_code == status
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert f"refused ({status})" in record.getMessage()
    assert "guessed-token" not in record.getMessage()
    assert TOKEN not in record.getMessage()
