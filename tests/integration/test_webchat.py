"""The web chat end to end: a browser-like WebSocket client says HELP and gets the HELP flow's
reply on the socket; a reply written while no socket is open waits in the session's mailbox and
is delivered, once, on the next connection."""

from __future__ import annotations

import json

import pytest
import websockets
from redis.asyncio import Redis

from channels.webchat import mailbox_key, position_key
from tests.integration.helpers import Pipeline, eventually
from tests.integration.webchat_helpers import connect, frame, reply, session

pytestmark = pytest.mark.integration

HELP_REPLY = "Continuum Demo Store"


async def test_help_on_the_socket_is_answered_on_the_socket(webchat_pipeline: Pipeline) -> None:
    pipe = webchat_pipeline
    chat = await session(pipe)
    assert chat["session_id"].startswith("wc_")
    async with connect(pipe, chat["token"]) as ws:
        await ws.send(json.dumps({"type": "message", "id": "c1", "text": "HELP"}))
        assert await frame(ws, "ack") == {"type": "ack", "id": "c1"}
        answer = await frame(ws, "message")
        assert HELP_REPLY in answer["text"]
        assert answer["at"]
        await ws.send(json.dumps({"type": "read", "id": answer["id"]}))
        steps = await eventually(
            lambda: pipe.ledger_steps(chat["session_id"]),
            lambda s: ("status_changed", "read") in s,
            timeout=20,
        )
    assert ("inbound_received", "accepted") in steps
    assert ("status_changed", "delivered") in steps


async def test_a_bad_frame_is_answered_with_an_error_and_the_socket_stays_open(
    webchat_pipeline: Pipeline,
) -> None:
    pipe = webchat_pipeline
    chat = await session(pipe)
    async with connect(pipe, chat["token"]) as ws:
        await ws.send(json.dumps({"type": "message", "id": "c1", "text": "x" * 2001}))
        error = await frame(ws, "error")
        assert error["id"] == "c1"
        assert "2000" in error["reason"]
        await ws.send(b"\x00binary")
        assert (await frame(ws, "error"))["reason"] == "not a JSON object"
        await ws.send(json.dumps({"type": "message", "id": "c2", "text": "HELP"}))
        assert await frame(ws, "ack") == {"type": "ack", "id": "c2"}


async def test_forged_and_expired_tokens_are_refused(webchat_pipeline: Pipeline) -> None:
    pipe = webchat_pipeline
    chat = await session(pipe)
    forged = chat["token"][:-2] + ("AA" if not chat["token"].endswith("AA") else "BB")
    resp = await pipe.http.post(f"{pipe.api_url}/webchat/session", json={"token": forged})
    assert resp.status_code == 403
    async with connect(pipe, forged) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403
    resumed = await session(pipe, chat["token"])
    assert resumed["session_id"] == chat["session_id"]


async def test_a_reply_written_while_closed_arrives_once_on_the_next_connection(
    webchat_pipeline: Pipeline, redis: Redis
) -> None:
    pipe = webchat_pipeline
    answer = await pipe.http.post(
        f"{pipe.sandbox_url}/_sandbox/webchat/inbound", json={"url": pipe.api_url, "text": "HELP"}
    )
    body = answer.json()
    assert body["answer"] == {"type": "ack", "id": body["id"]}
    sid = body["session_id"]
    # the sandbox's socket is closed: the HELP reply waits in the mailbox, undelivered
    await eventually(lambda: redis.xlen(mailbox_key(sid)), lambda n: n == 1, timeout=20)
    assert await redis.get(position_key(sid)) is None

    async with connect(pipe, body["token"]) as ws:
        first = await frame(ws, "message")
    assert HELP_REPLY in first["text"]
    (entry_id, _), *_ = await redis.xrange(mailbox_key(sid))
    await eventually(lambda: redis.get(position_key(sid)), lambda pos: pos == entry_id)
    ttl = pipe.service.settings.webchat.pending_ttl_s
    assert 0 < await redis.ttl(position_key(sid)) <= ttl  # the position expires with the mailbox

    await reply(pipe, redis, sid, "later-1", "second")
    async with connect(pipe, body["token"]) as ws:
        again = await frame(ws, "message")
    assert again["id"] == "later-1"  # the first reply is not delivered twice
    assert again["text"] == "second"
