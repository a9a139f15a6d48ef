"""``continuum queues`` as a process against the real API on uvicorn, with the routing board in
Redis: the table, the JSON, ``--watch`` until Ctrl-C (exit 0), a refused token (exit 2); and the
queue metrics the API's own decisions feed, on its ``/metrics``."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from orchestrator.api.app import ApiDeps, create_app
from orchestrator.events import AuditRecord
from orchestrator.http_server import HttpServer
from orchestrator.metrics import Metrics
from orchestrator.routing.model import Conversation
from orchestrator.routing.spec import Routing
from orchestrator.servers._ports import free_port
from orchestrator.settings import Settings
from orchestrator.state.routing_board import RoutingStore
from orchestrator.topics import Topics
from orchestrator.workers.routing import Router

ROUTING = Routing.model_validate(
    {
        "queues": {
            "billing": {"skills": {"billing": 1}, "service_level": {"within": "60s"}},
            "general": {},
        },
        "agents": {"ana": {"skills": {"billing": 3}}},
    }
)
OPERATOR = "op-token"
ANA = {"Authorization": "Bearer ana-token"}


@dataclass
class Sink:
    """A publisher that keeps what the API hands it (ledger rows, events for flows)."""

    rows: list[AuditRecord] = field(default_factory=list)

    async def audit(self, record: AuditRecord) -> None:
        self.rows.append(record)

    async def publish(self, topic: str, event: object, key: object) -> None:
        return None

    async def publish_confirmed(self, topic: str, event: object, key: str | None) -> None:
        return None

    async def flush(self) -> None:
        return None


@dataclass
class Api:
    url: str
    http: httpx.AsyncClient
    routing_side: Router


@pytest.fixture
async def api(redis_url: str) -> AsyncIterator[Api]:
    redis = Redis.from_url(redis_url)
    store = RoutingStore(redis)
    await store.clear()
    settings = Settings(api={"agent_tokens": {"ana": "ana-token"}, "operator_token": OPERATOR})
    deps = ApiDeps(
        settings,
        Metrics(CollectorRegistry()),
        Topics(),
        Sink(),  # type: ignore[arg-type]
        {},
        reload_flows=_no_reload,
        redis=redis,
        router=await Router.open(store, ROUTING),
    )
    port = free_port()
    server = HttpServer(create_app(deps), "127.0.0.1", port, "api")
    await server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            yield Api(url, http, await Router.open(store, ROUTING))
    finally:
        await server.stop()
        await store.clear()
        await redis.aclose()


async def _no_reload() -> Any:
    raise AssertionError("not used")


async def arrive(api: Api, conversation_id: str, queue: str = "billing") -> None:
    """A conversation the router role puts on the board."""
    now = datetime.now(UTC)
    conversation = Conversation(conversation_id, queue, "sms", now, customer_id="cus-1")
    await api.routing_side.apply(now, lambda b: b.arrive(conversation, now))


async def a_busy_desk(api: Api) -> None:
    """billing: one conversation answered by ana (at once: within the target), one waiting
    while she is busy; general: one waiting."""
    await arrive(api, "c1")
    resp = await api.http.put("/v1/agent/presence", json={"presence": "available"}, headers=ANA)
    assert [o["conversation_id"] for o in resp.json()["offers"]] == ["c1"]
    assert (await api.http.post("/v1/conversations/c1/accept", headers=ANA)).status_code == 200
    await api.http.put("/v1/agent/presence", json={"presence": "busy"}, headers=ANA)
    await arrive(api, "c2")
    await arrive(api, "c3", "general")


async def continuum(*argv: str, cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orchestrator",
        *argv,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def run(*argv: str, cwd: Path) -> tuple[int, str, str]:
    proc = await continuum(*argv, cwd=cwd)
    out, err = await asyncio.wait_for(proc.communicate(), 8)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.mark.timeout(30)
async def test_the_table_and_the_json(api: Api, tmp_path: Path) -> None:
    await a_busy_desk(api)
    code, out, err = await run("queues", "--api", api.url, "--token", OPERATOR, cwd=tmp_path)
    assert code == 0, err
    header, billing, general, at = out.splitlines()
    assert header.split()[:3] == ["QUEUE", "STATE", "WAITING"]
    cells = billing.split()
    assert cells[:5] == ["billing", "open", "1", "0", "1"]  # waiting, offered, assigned
    assert cells[6:9] == ["0", "1", "0"]  # available, busy (ana), away
    assert cells[9:] == ["100%", "(1/1)"]  # ana answered c1 at once
    assert general.split()[:3] == ["general", "open", "1"]
    assert general.split()[-1] == "-"  # nothing answered there yet
    assert at.startswith("at 20")

    code, out, _ = await run(
        "queues", "--json", "--api", api.url, "--token", OPERATOR, cwd=tmp_path
    )
    assert code == 0
    doc = json.loads(out)
    served = await api.http.get("/v1/queues", headers={"Authorization": f"Bearer {OPERATOR}"})
    assert [q["queue"] for q in doc["queues"]] == [q["queue"] for q in served.json()["queues"]]
    assert {q["queue"]: q["waiting"] for q in doc["queues"]} == {"billing": 1, "general": 1}


@pytest.mark.timeout(30)
async def test_watch_redraws_until_ctrl_c(api: Api, tmp_path: Path) -> None:
    await arrive(api, "c1")
    proc = await continuum(
        "queues", "--watch", "0.2", "--api", api.url, "--token", OPERATOR, cwd=tmp_path
    )
    assert proc.stdout is not None
    frames = 0
    while frames < 3:
        line = await asyncio.wait_for(proc.stdout.readline(), 8)
        assert line, "the watch ended by itself"
        frames += line.startswith(b"every 0.2s; Ctrl-C to stop")
    proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), 8)
    assert proc.returncode == 0, err.decode()


@pytest.mark.timeout(30)
async def test_a_wrong_token_and_no_api_exit_2(api: Api, tmp_path: Path) -> None:
    code, _, err = await run("queues", "--api", api.url, "--token", "nope", cwd=tmp_path)
    assert code == 2
    assert "refused the token (HTTP 401" in err
    code, _, err = await run(
        "queues", "--api", f"http://127.0.0.1:{free_port()}", "--token", OPERATOR, cwd=tmp_path
    )
    assert code == 2
    assert "cannot reach the API" in err
    assert len(err.strip().splitlines()) == 1


async def test_the_apis_decisions_feed_the_queue_metrics(api: Api) -> None:
    await a_busy_desk(api)
    text = (await api.http.get("/metrics")).text
    for line in (
        'continuum_queue_answered_total{queue="billing",within_target="yes"} 1.0',
        'continuum_queue_offers_total{queue="billing",result="made"} 1.0',
        'continuum_queue_offers_total{queue="billing",result="accepted"} 1.0',
        'continuum_queue_answer_seconds_count{queue="billing"} 1.0',
        'continuum_queue_agents{presence="busy",queue="billing"} 1.0',
        'continuum_queue_service_level_target{queue="billing"} 0.8',
    ):
        assert line in text, line
    # the API's board when ana went busy: c2 had not arrived (the router role added it)
    assert 'continuum_queue_depth{queue="billing"} 0.0' in text
