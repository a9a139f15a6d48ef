"""Flows on the running pipeline: calls, timers across two decision workers, hot reload."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from orchestrator.service import Service
from orchestrator.settings import Settings
from tests.integration.helpers import Pipeline, eventually, sms_event

REPO = Path(__file__).resolve().parents[2]
TOKEN = "operator-secret"

PING = """
spec_version: 1
id: ping
version: 1
stage: support
owner: qa
trigger: {type: message, match: keyword, words: [PING]}
steps:
  - {id: first, type: send, template: "pong 1"}
  - {id: pause, type: wait, duration: 1s}
  - {id: second, type: send, template: "pong 2"}
"""


def _flows(tmp_path: Path, settings: Settings, *extra: tuple[str, str]) -> Settings:
    folder = tmp_path / "flows"
    shutil.copytree(REPO / "flows", folder)
    sandbox = f"127.0.0.1:{settings.sandbox.port}"
    for name, text in extra:
        (folder / name).write_text(text)
    api = settings.api.model_copy(update={"operator_token": SecretStr(TOKEN)})
    return settings.model_copy(
        update={"flows_dir": folder, "flows_allowed_hosts": (sandbox,), "api": api}
    )


@pytest.fixture
async def live(settings: Settings, tmp_path: Path) -> AsyncIterator[Pipeline]:
    """The whole service on a copy of flows/ (plus a ping flow) that tests may change."""
    async with Pipeline.running(_flows(tmp_path, settings, ("ping.yaml", PING))) as pipe:
        yield pipe


async def _texts_to(pipe: Pipeline, address: str) -> list[str]:
    return [m["body"] for m in await pipe.sandbox_messages() if m["to"] == address]


async def test_order_status_calls_the_order_api_and_answers_with_its_status(
    live: Pipeline,
) -> None:
    customer, topic = "+15551110001", live.service.topics.inbound("sms")
    await live.produce(topic, sms_event("SMo1", customer, "where is my order?"), customer)
    await eventually(lambda: _texts_to(live, customer), lambda t: len(t) == 1)
    await live.produce(topic, sms_event("SMo2", customer, "It's 12340"), customer)

    texts = await eventually(lambda: _texts_to(live, customer), lambda t: len(t) == 2)
    assert "12340" in texts[1]
    assert "shipped" in texts[1]
    steps = await eventually(
        lambda: live.ledger_steps(customer),
        lambda s: ("call_made", "200") in s and ("decision", "flow_ended") in s,
    )
    assert steps.index(("call_made", "200")) < steps.index(("decision", "flow_ended"))


@pytest.mark.timeout(120)
async def test_timers_fire_once_across_two_decision_workers(
    live: Pipeline, settings: Settings, tmp_path: Path
) -> None:
    second = Service(live.service.settings, workers=["decision"], api=False)
    await second.start()
    try:
        await second.wait_consuming(timeout=60)
        await live.service.wait_consuming(timeout=60)
        customers = [f"+1555222{i:04d}" for i in range(20)]
        topic = live.service.topics.inbound("sms")
        for i, customer in enumerate(customers):
            await live.produce(topic, sms_event(f"SMp{i}", customer, "PING"), customer)

        def all_ponged(messages: list[dict[str, str]]) -> bool:
            return sum(m["body"] == "pong 2" for m in messages) >= len(customers)

        messages = await eventually(live.sandbox_messages, all_ponged, timeout=60)
    finally:
        await second.stop()
    for customer in customers:
        assert [m["body"] for m in messages if m["to"] == customer] == ["pong 1", "pong 2"]


async def test_hot_reload_under_traffic_keeps_every_message_and_refuses_a_bad_set(
    live: Pipeline,
) -> None:
    topic = live.service.topics.inbound("sms")
    help_file = live.service.settings.flows_dir / "help.yaml"
    url = f"{live.api_url}/v1/flows/reload"
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def traffic(start: int, count: int) -> list[str]:
        sent = []
        for i in range(start, start + count):
            customer = f"+1555333{i:04d}"
            await live.produce(topic, sms_event(f"SMh{i}", customer, "HELP"), customer)
            sent.append(customer)
            await asyncio.sleep(0.02)  # paced traffic, not a wait for a condition
        return sent

    before = asyncio.create_task(traffic(0, 15))
    await asyncio.sleep(0.1)  # let traffic be in flight during the reload
    v2 = re.sub(r"(?m)^version: 1$", "version: 2", help_file.read_text())
    help_file.write_text(v2.replace("Continuum Demo Store:", "Continuum Demo Store (v2):"))
    assert (await live.http.post(url)).status_code == 401
    reloaded = await live.http.post(url, headers=auth)
    assert reloaded.status_code == 200, reloaded.text
    assert {"id": "help", "version": 2} in reloaded.json()["flows"]
    early = await before
    late = await traffic(100, 10)

    help_file.write_text("spec_version: 1\nid: help\nversion: 3\n")
    refused = await live.http.post(url, headers=auth)
    assert refused.status_code == 422
    assert any("help.yaml:" in e for e in refused.json()["errors"])
    after_bad = await traffic(200, 1)

    everyone = early + late + after_bad
    messages = await eventually(
        live.sandbox_messages, lambda m: len({x["to"] for x in m} & set(everyone)) == 26
    )
    replies = {m["to"]: m["body"] for m in messages}
    assert len([m for m in messages if m["to"] in everyone]) == 26  # one reply each
    assert all("(v2)" in replies[c] for c in late + after_bad)

    async def late_decisions() -> list[tuple[str | None, int | None]]:
        records = [r for c in late for r in await live.ledger(c) if r.step == "decision"]
        return [(r.flow_id, r.flow_version) for r in records if r.outcome == "flow_matched"]

    matched = await eventually(late_decisions, lambda d: len(d) == len(late))
    assert set(matched) == {("help", 2)}


async def test_a_reload_over_http_reaches_every_replica(live: Pipeline) -> None:
    other = Service(live.service.settings, workers=["decision"], api=False)
    await other.start()
    try:
        help_file = live.service.settings.flows_dir / "help.yaml"
        help_file.write_text(re.sub(r"(?m)^version: 1$", "version: 7", help_file.read_text()))
        resp = await live.http.post(
            f"{live.api_url}/v1/flows/reload", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert resp.status_code == 200, resp.text

        async def other_help_version() -> int | None:
            flow = other.catalogue().get("help")
            return flow.version if flow else None

        assert await eventually(other_help_version, lambda v: v == 7) == 7
        assert live.service.catalogue().get("help").version == 7  # type: ignore[union-attr]
    finally:
        await other.stop()
