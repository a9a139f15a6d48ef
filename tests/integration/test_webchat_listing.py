"""Web chat replies at the sandbox's ``GET /_sandbox/messages``, read from the session
mailboxes in Redis: ``queued`` while no socket took them, ``delivered`` once one did."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from tests.integration.helpers import Pipeline, eventually
from tests.integration.webchat_helpers import connect, frame, reply, session

pytestmark = pytest.mark.integration

HELP_REPLY = "Continuum Demo Store"


async def _listed(pipe: Pipeline, **filters: str) -> list[dict[str, Any]]:
    resp = await pipe.http.get(f"{pipe.sandbox_url}/_sandbox/messages", params=filters)
    assert resp.status_code == 200, resp.text
    assert "x-sandbox-unlisted" not in resp.headers
    listed: list[dict[str, Any]] = resp.json()
    return listed


async def test_a_flows_reply_is_listed_queued_then_delivered(webchat_pipeline: Pipeline) -> None:
    pipe = webchat_pipeline
    answer = await pipe.http.post(
        f"{pipe.sandbox_url}/_sandbox/webchat/inbound", json={"url": pipe.api_url, "text": "HELP"}
    )
    body = answer.json()
    sid = body["session_id"]
    [queued] = await eventually(lambda: _listed(pipe, provider="webchat"), lambda m: len(m) == 1)
    assert {k: queued[k] for k in ("provider", "channel", "to", "from", "status", "callbacks")} == {
        "provider": "webchat",
        "channel": "webchat",
        "to": sid,
        "from": "webchat",
        "status": "queued",  # the sandbox's socket closed after the ack: no socket took it
        "callbacks": [],
    }
    assert HELP_REPLY in queued["body"]
    assert queued["created_at"]
    [sent] = [r for r in await pipe.ledger(sid) if r.step == "provider_accepted"]
    assert queued["id"] == sent.message_id  # Continuum's message id, as the socket frame has it

    async with connect(pipe, body["token"]) as ws:
        assert (await frame(ws, "message"))["id"] == queued["id"]
        [delivered] = await eventually(
            lambda: _listed(pipe, to=sid), lambda m: m[0]["status"] == "delivered"
        )
    assert delivered["id"] == queued["id"]
    assert await _listed(pipe, channel="sms") == []
    assert await _listed(pipe, provider="twilio", to=sid) == []


async def test_clearing_the_listing_forgets_listed_replies_only(
    webchat_pipeline: Pipeline, redis: Redis
) -> None:
    pipe = webchat_pipeline
    first, second = await session(pipe), await session(pipe)
    await reply(pipe, redis, first["session_id"], "m1", "one")
    await reply(pipe, redis, second["session_id"], "m2", "two")
    listed = await _listed(pipe)
    assert sorted((m["id"], m["to"], m["body"]) for m in listed) == [
        ("m1", first["session_id"], "one"),
        ("m2", second["session_id"], "two"),
    ]
    cleared = await pipe.http.delete(f"{pipe.sandbox_url}/_sandbox/messages")
    assert cleared.json() == {"ok": True, "deleted": 2}
    assert await _listed(pipe) == []
    await reply(pipe, redis, first["session_id"], "m3", "three")
    assert [m["id"] for m in await _listed(pipe)] == ["m3"]
    async with connect(pipe, first["token"]) as ws:  # the mailbox itself keeps every reply
        assert [(await frame(ws, "message"))["id"] for _ in range(2)] == ["m1", "m3"]
