"""Bot to human and back, on every real server: a flow routes the customer, the router offers
the conversation to the agent who set itself available through the API, the agent accepts;
the customer's next message, on SMS, goes to the agent (its live stream) and not to flows; the
agent's reply reaches the customer on SMS through the sandbox provider; the customer goes on on
WhatsApp and the same agent sees it; the agent closes with a disposition and the CSAT flow
starts on ``conversation.closed``; the bot answers again after. With the queue closed, the
customer gets the closed-hours reply. Every step is in the ledger."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from orchestrator.settings import Settings
from orchestrator.state.store import RedisStateStore
from tests.integration.helpers import Pipeline, customer_of, eventually, sms_event

ROUTE_FLOW = """\
spec_version: 1
id: ask-for-a-person
version: 1
stage: support
owner: contact-centre
channels: [sms, whatsapp]
trigger: {type: message, match: keyword, words: [AGENT]}
steps:
  - {id: to_desk, type: route, queue: desk, skills: [orders], priority: 4}
"""
FALLBACK_FLOW = """\
spec_version: 1
id: bot
version: 1
stage: support
owner: contact-centre
channels: [sms, whatsapp]
priority: -1
trigger: {type: message, match: catch_all}
steps:
  - {id: answer, type: send, channel: reply, purpose: service, template: "The bot answers"}
"""
CSAT_FLOW = """\
spec_version: 1
id: csat
version: 1
stage: support
owner: cx
channels: [sms, whatsapp]
trigger:
  type: event
  name: conversation.closed
  when: "event.data.get('agent')"
steps:
  - id: ask
    type: send
    channel: reply
    purpose: service
    template: "How did {{ event.data.agent }} do ({{ event.data.disposition }})? Reply 1 to 5."
"""
ROUTING = """\
queues:
  desk:
    skills: {orders: 1}
agents:
  ana: {skills: {orders: 3}}
"""
PHONE, WA = "+15551230088", "15551230088"
TOKEN = "ana-secret"
ANA = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def centre(settings: Settings, tmp_path: Path) -> AsyncIterator[Pipeline]:
    folder = tmp_path / "flows"
    folder.mkdir()
    for name, text in [
        ("route.yaml", ROUTE_FLOW),
        ("bot.yaml", FALLBACK_FLOW),
        ("csat.yaml", CSAT_FLOW),
        ("routing.yaml", ROUTING),
    ]:
        (folder / name).write_text(text)
    api = settings.api.model_copy(update={"agent_tokens": {"ana": SecretStr(TOKEN)}})
    async with Pipeline.running(settings.model_copy(update={"flows_dir": folder, "api": api})) as p:
        yield p


def whatsapp_event(event_id: str, sender: str, text: str) -> bytes:
    doc = orjson.loads(sms_event(event_id, sender, text))
    doc["source"] = "/channels/whatsapp/meta"
    doc["data"] = {**doc["data"], "channel": "whatsapp", "to": "15559990000"}
    return orjson.dumps(doc)


async def sent_on(pipe: Pipeline, channel: str) -> list[str]:
    """What the sandbox provider took for the customer's number on ``channel``."""
    messages = await pipe.sandbox_messages()
    return [m["body"] for m in messages if m["channel"] == channel and m["to"].endswith(WA)]


class Stream:
    """The agent's live stream (server-sent events), read in the background."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._task = asyncio.create_task(self._read(http, url))
        self.open = asyncio.Event()

    async def _read(self, http: httpx.AsyncClient, url: str) -> None:
        async with http.stream("GET", url, headers=ANA, timeout=None) as resp:
            kind = ""
            async for line in resp.aiter_lines():
                self.open.set()
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    self.events.append((kind, orjson.loads(line[6:])))

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@pytest.mark.timeout(120)
async def test_bot_to_agent_across_channels_and_back_to_automation(
    centre: Pipeline, settings: Settings
) -> None:
    pipe, topics, api = centre, centre.service.topics, centre.api_url
    resp = await pipe.http.put(
        f"{api}/v1/agent/presence", json={"presence": "available"}, headers=ANA
    )
    assert resp.status_code == 200, resp.text
    stream = Stream(pipe.http, f"{api}/v1/agent/stream")
    await asyncio.wait_for(stream.open.wait(), 10)
    try:
        # the customer asks for a person: routed, offered to ana at once
        await pipe.produce(topics.inbound("sms"), sms_event("SMa1", PHONE, "AGENT please"), PHONE)
        me = await eventually(lambda: _me(pipe, api), lambda m: len(m["offers"]) == 1, timeout=30)
        conversation = me["offers"][0]["conversation_id"]
        cid = await customer_of(pipe, PHONE)
        resp = await pipe.http.post(f"{api}/v1/conversations/{conversation}/accept", headers=ANA)
        assert resp.status_code == 200, resp.text

        # the customer's state knows who owns the conversation (the router told it)
        redis = Redis.from_url(settings.redis)
        try:
            store = RedisStateStore(redis)

            async def owner() -> Any:
                return (await store.load_states([cid]))[cid].conversation

            owned = await eventually(owner, lambda c: c is not None and c["agent"], timeout=30)
            assert (owned["id"], owned["agent"], owned["queue"]) == (conversation, "ana", "desk")
        finally:
            await redis.aclose()

        # the customer writes on SMS: to the agent, not to the bot
        await pipe.produce(topics.inbound("sms"), sms_event("SMa2", PHONE, "where is it?"), PHONE)
        await eventually(
            lambda: asyncio.sleep(0, stream.events),
            lambda ev: any(k == "message" and e["text"] == "where is it?" for k, e in ev),
            timeout=30,
        )
        # the agent replies, and the customer has it on SMS, where they wrote
        resp = await pipe.http.post(
            f"{api}/v1/conversations/{conversation}/messages",
            json={"text": "It left the depot this morning"},
            headers=ANA,
        )
        assert resp.status_code == 202, resp.text
        message_id = resp.json()["message_id"]
        await eventually(
            lambda: sent_on(pipe, "sms"),
            lambda s: "It left the depot this morning" in s,
            timeout=30,
        )
        rows = await pipe.service.ledger.query(customer_id=cid)
        queued = [r for r in rows if r.step == "message_queued" and r.message_id == message_id]
        assert [(r.channel, r.flow_id, r.flow_step) for r in queued] == [
            ("sms", "conversation", "agent:ana")
        ]

        # the customer goes on on WhatsApp from the same number (one customer on both: identity
        # resolution shares a phone number across media): the same agent sees it
        await pipe.produce(
            topics.inbound("whatsapp"), whatsapp_event("wamid.a3", WA, "any news?"), WA
        )
        await eventually(
            lambda: asyncio.sleep(0, stream.events),
            lambda ev: any(k == "message" and e["text"] == "any news?" for k, e in ev),
            timeout=30,
        )
        messages = [e for k, e in stream.events if k == "message"]
        assert [(e["channel"], e["conversation"], e["agent"]) for e in messages] == [
            ("sms", conversation, "ana"),
            ("whatsapp", conversation, "ana"),
        ]
        rows = await pipe.service.ledger.query(customer_id=cid)
        assert sum(r.step == "forwarded_to_agent" for r in rows) == 2
        assert "The bot answers" not in await sent_on(pipe, "sms") + await sent_on(pipe, "whatsapp")

        # the history across channels, from the ledger
        resp = await pipe.http.get(f"{api}/v1/conversations/{conversation}", headers=ANA)
        assert resp.status_code == 200, resp.text
        lines = [(h["kind"], h["channel"], h["text"]) for h in resp.json()["history"]]
        for line in [
            ("in", "sms", "AGENT please"),
            ("in", "sms", "where is it?"),
            ("out", "sms", "It left the depot this morning"),
            ("in", "whatsapp", "any news?"),
        ]:
            assert line in lines, lines

        # closed: back to automation; the CSAT flow asks on the customer's channel
        resp = await pipe.http.post(
            f"{api}/v1/conversations/{conversation}/close",
            json={"disposition": "resolved"},
            headers=ANA,
        )
        assert resp.status_code == 200, resp.text
        await eventually(
            lambda: sent_on(pipe, "whatsapp"),
            lambda s: "How did ana do (resolved)? Reply 1 to 5." in s,
            timeout=30,
        )
        await pipe.produce(topics.inbound("sms"), sms_event("SMa4", PHONE, "thanks"), PHONE)
        await eventually(lambda: sent_on(pipe, "sms"), lambda s: "The bot answers" in s, timeout=30)
        steps = {r.step for r in await pipe.service.ledger.query(customer_id=cid)}
        assert {"queued", "offered", "assigned", "wrapped_up", "closed"} <= steps
    finally:
        await stream.close()


async def _me(pipe: Pipeline, api: str) -> Any:
    return (await pipe.http.get(f"{api}/v1/agent", headers=ANA)).json()


CLOSED_REPLY = """\
spec_version: 1
id: closed-reply
version: 1
stage: support
owner: contact-centre
channels: [sms]
trigger: {type: event, name: never.sent}  # the queue names it: it runs whatever its trigger
steps:
  - id: tell
    type: send
    channel: reply
    purpose: service
    template: "We are closed ({{ event.data.queue }}); we answer from 09:00."
"""


@pytest.mark.timeout(120)
async def test_with_the_queue_closed_the_customer_gets_the_closed_hours_reply(
    settings: Settings, tmp_path: Path
) -> None:
    today = datetime.now(UTC).date()
    holidays = [str(today + timedelta(days=n)) for n in (-1, 0, 1)]  # closed whatever the hour
    routing = (
        "schedules:\n"
        f"  shut: {{timezone: UTC, hours: {{mon-sun: '00:00-23:59'}}, holidays: {holidays}}}\n"
        "queues:\n"
        "  desk:\n"
        "    skills: {orders: 1}\n"
        "    schedule: shut\n"
        "    when_closed: {action: flow, flow: closed-reply}\n"
    )
    folder = tmp_path / "flows"
    folder.mkdir()
    for name, text in [
        ("route.yaml", ROUTE_FLOW),
        ("closed.yaml", CLOSED_REPLY),
        ("routing.yaml", routing),
    ]:
        (folder / name).write_text(text)
    async with Pipeline.running(settings.model_copy(update={"flows_dir": folder})) as pipe:
        await pipe.produce(
            pipe.service.topics.inbound("sms"), sms_event("SMc1", PHONE, "AGENT"), PHONE
        )
        await eventually(
            lambda: sent_on(pipe, "sms"),
            lambda s: "We are closed (desk); we answer from 09:00." in s,
            timeout=30,
        )
        rows = await pipe.ledger(PHONE)
    closed = [r for r in rows if r.step == "closed_hours"]
    assert [(r.outcome, r.detail["action"], r.detail["flow"]) for r in closed] == [
        ("desk", "flow", "closed-reply")
    ]
    assert not any(r.step in ("queued", "offered") for r in rows)
