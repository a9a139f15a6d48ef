"""The Twilio webhooks while the broker stalls: a bounded wait, then 503 + Retry-After, counted.

A dedicated Tansu is started for this test and frozen with SIGSTOP: its connections stay open
and nothing is answered, which is what a paused or overloaded broker looks like to a producer.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from channels.twilio.signature import compute_signature
from channels.twilio.webhooks import INBOUND_PATH, STATUS_PATH
from orchestrator.api.app import ApiDeps, create_app
from orchestrator.metrics import Metrics
from orchestrator.servers import EmbeddedServer, free_port, start_kafka
from orchestrator.settings import Settings
from orchestrator.topics import Topics
from orchestrator.workers.publisher import Publisher
from orchestrator.workers.runtime import make_broker

TOKEN = "sandbox-auth-token"
PUBLIC = "http://api.test"


@pytest.fixture
def tansu(tmp_path: Path) -> Iterator[EmbeddedServer]:
    server = start_kafka(free_port(), log_dir=tmp_path)
    try:
        yield server
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


@pytest.fixture
async def api(tansu: EmbeddedServer) -> AsyncIterator[tuple[httpx.AsyncClient, Metrics]]:
    settings = Settings(
        kafka={"bootstrap_servers": tansu.url}, api={"public_url": PUBLIC}
    )  # publish_timeout_s left at its default, 5 s
    topics = Topics(settings.kafka.topic_prefix)
    broker = make_broker(settings, "stall-test")
    await broker.connect()
    metrics = Metrics(CollectorRegistry())

    async def reload_flows() -> Any:
        raise AssertionError("not used")

    deps = ApiDeps(settings, metrics, topics, Publisher(broker, topics, "/api"), {}, reload_flows)
    transport = httpx.ASGITransport(app=create_app(deps))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC, timeout=30) as http:
            yield http, metrics
    finally:
        os.kill(tansu.process.pid, signal.SIGCONT)
        await broker.stop()


async def _signed(http: httpx.AsyncClient, path: str, form: dict[str, str]) -> httpx.Response:
    sig = compute_signature(TOKEN, PUBLIC + path, form)
    return await http.post(path, data=form, headers={"X-Twilio-Signature": sig})


def _status(sid: str) -> dict[str, str]:
    return {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": "AC0"}


def _inbound(sid: str) -> dict[str, str]:
    return {"MessageSid": sid, "From": "+15551230001", "To": "+15559990000", "Body": "HI"}


async def test_a_stalled_broker_gets_503_with_retry_after_within_the_timeout(
    api: tuple[httpx.AsyncClient, Metrics], tansu: EmbeddedServer
) -> None:
    http, metrics = api
    # The broker works: both routes answer 2xx once it has stored the event.
    assert (await _signed(http, STATUS_PATH, _status("SM1"))).status_code == 204
    assert (await _signed(http, INBOUND_PATH, _inbound("SM2"))).status_code == 200

    os.kill(tansu.process.pid, signal.SIGSTOP)
    for path, form, route in [
        (STATUS_PATH, _status("SM3"), "twilio_status"),
        (INBOUND_PATH, _inbound("SM4"), "twilio_inbound"),
    ]:
        started = time.monotonic()
        resp = await _signed(http, path, form)
        elapsed = time.monotonic() - started
        assert resp.status_code == 503, resp.text
        assert resp.headers["Retry-After"] == "5"
        assert "did not acknowledge within 5s" in resp.json()["detail"]
        assert 4.5 <= elapsed < 6.5, f"{route} answered after {elapsed:.1f}s"
        count = metrics.registry.get_sample_value(
            "continuum_webhook_total", {"route": route, "outcome": "publish_timeout"}
        )
        assert count == 1.0
