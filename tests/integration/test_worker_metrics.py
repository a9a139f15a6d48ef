"""A worker process without the API serves /metrics on a port of its own, and the metrics of
issue 7 (lag, timers, deferred sends) appear there."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from orchestrator.service import Service
from orchestrator.settings import Settings


@pytest.mark.timeout(60)
async def test_worker_process_without_api_serves_metrics(settings: Settings) -> None:
    service = Service(settings, workers=["decision", "dispatcher"], api=False)
    try:
        await service.start()
        await service.wait_consuming(timeout=45)
        (server,) = [s for s in service.http_servers if s.name == "metrics"]
        async with httpx.AsyncClient() as http:
            body = ""
            deadline = 20.0
            loop_start = asyncio.get_running_loop().time()
            # The samples, not the HELP lines: each loop sets its gauges on its first tick.
            while "continuum_deferred_sends{" not in body or "continuum_timers{" not in body:
                assert asyncio.get_running_loop().time() - loop_start < deadline
                response = await http.get(f"{server.url}/metrics")
                assert response.status_code == 200
                body = response.text
                await asyncio.sleep(0.1)
        assert 'continuum_worker_consuming{worker="decision"} 1.0' in body
        assert 'continuum_timers{state="due"} 0.0' in body
        assert 'continuum_deferred_sends{state="waiting"} 0.0' in body
    finally:
        await service.stop()
