"""The web chat end to end: a browser-like WebSocket client says HELP and gets the HELP flow's
reply on the socket; a reply written while no socket is open waits in the session's mailbox and
is delivered, once, on the next connection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from redis.asyncio import Redis

from channels.base import OutboundMessage
from channels.webchat import WebchatMailbox, mailbox_key, position_key
from channels.webchat.sandbox import ws_url
from orchestrator.settings import Settings
from tests.integration.helpers import Pipeline, eventually

pytestmark = pytest.mark.integration

HELP_REPLY = "Continuum Demo Store"


@pytest.fixture
async def webchat_pipeline(settings: Settings) -> AsyncIterator[Pipeline]:
    """The pipeline with the webchat provider on the webchat medium."""
    enabled = settings.model_copy(
        update={"channels": {**settings.channels, "webchat": ("webchat",)}}
    )
    async with Pipeline.running(enabled) as pipe:
        yield pipe


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis)
    try:
        yield client
    finally:
        await client.aclose()


def _connect(pipe: Pipeline, token: str) -> Any:
    return websockets.connect(
        f"{ws_url(pipe.api_url)}?token={token}",
        origin=websockets.Origin(pipe.api_url),
        proxy=None,
        open_timeout=10,
    )


async def _frame(ws: Any, kind: str, timeout: float = 20.0) -> dict[str, Any]:
    """The next frame of ``kind``, skipping others, within ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame["type"] == kind:
                return frame


async def _session(pipe: Pipeline, token: str | None = None) -> dict[str, Any]:
    resp = await pipe.http.post(
        f"{pipe.api_url}/webchat/session", json={"token": token} if token else {}
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_help_on_the_socket_is_answered_on_the_socket(webchat_pipeline: Pipeline) -> None:
    pipe = webchat_pipeline
    session = await _session(pipe)
    assert session["session_id"].startswith("wc_")
    async with _connect(pipe, session["token"]) as ws:
        await ws.send(json.dumps({"type": "message", "id": "c1", "text": "HELP"}))
        assert await _frame(ws, "ack") == {"type": "ack", "id": "c1"}
        reply = await _frame(ws, "message")
        assert HELP_REPLY in reply["text"]
        assert reply["at"]
        await ws.send(json.dumps({"type": "read", "id": reply["id"]}))
        steps = await eventually(
            lambda: pipe.ledger_steps(session["session_id"]),
            lambda s: ("status_changed", "read") in s,
            timeout=20,
        )
    assert ("inbound_received", "accepted") in steps
    assert ("status_changed", "delivered") in steps


async def test_a_bad_frame_is_answered_with_an_error_and_the_socket_stays_open(
    webchat_pipeline: Pipeline,
) -> None:
    pipe = webchat_pipeline
    session = await _session(pipe)
    async with _connect(pipe, session["token"]) as ws:
        await ws.send(json.dumps({"type": "message", "id": "c1", "text": "x" * 2001}))
        error = await _frame(ws, "error")
        assert error["id"] == "c1"
        assert "2000" in error["reason"]
        await ws.send(b"\x00binary")
        assert (await _frame(ws, "error"))["reason"] == "not a JSON object"
        await ws.send(json.dumps({"type": "message", "id": "c2", "text": "HELP"}))
        assert await _frame(ws, "ack") == {"type": "ack", "id": "c2"}


async def test_forged_and_expired_tokens_are_refused(webchat_pipeline: Pipeline) -> None:
    pipe = webchat_pipeline
    session = await _session(pipe)
    forged = session["token"][:-2] + ("AA" if not session["token"].endswith("AA") else "BB")
    resp = await pipe.http.post(f"{pipe.api_url}/webchat/session", json={"token": forged})
    assert resp.status_code == 403
    async with _connect(pipe, forged) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403
    resumed = await _session(pipe, session["token"])
    assert resumed["session_id"] == session["session_id"]


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

    async with _connect(pipe, body["token"]) as ws:
        reply = await _frame(ws, "message")
    assert HELP_REPLY in reply["text"]
    (entry_id, _), *_ = await redis.xrange(mailbox_key(sid))
    await eventually(lambda: redis.get(position_key(sid)), lambda pos: pos == entry_id)
    ttl = pipe.service.settings.webchat.pending_ttl_s
    assert 0 < await redis.ttl(position_key(sid)) <= ttl  # the position expires with the mailbox

    async with httpx.AsyncClient() as http:
        adapter = WebchatMailbox(pipe.service.settings.webchat, http, redis=redis)
        await adapter.send(OutboundMessage(message_id="later-1", to=sid, text="second"))
    async with _connect(pipe, body["token"]) as ws:
        again = await _frame(ws, "message")
    assert again["id"] == "later-1"  # the first reply is not delivered twice
    assert again["text"] == "second"
