"""Driving the web chat from tests as a browser does: a session, a socket, its frames."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import websockets
from redis.asyncio import Redis

from channels.base import OutboundMessage
from channels.webchat import WebchatMailbox
from channels.webchat.sandbox import ws_url
from tests.integration.helpers import Pipeline


def connect(pipe: Pipeline, token: str) -> Any:
    """A socket on the session of ``token``, with the API's own origin, as the widget opens it."""
    return websockets.connect(
        f"{ws_url(pipe.api_url)}?token={token}",
        origin=websockets.Origin(pipe.api_url),
        proxy=None,
        open_timeout=10,
    )


async def frame(ws: Any, kind: str, timeout: float = 20.0) -> dict[str, Any]:
    """The next frame of ``kind``, skipping others, within ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            received: dict[str, Any] = json.loads(await ws.recv())
            if received["type"] == kind:
                return received


async def session(pipe: Pipeline, token: str | None = None) -> dict[str, Any]:
    """A new session, or the one ``token`` resumes."""
    resp = await pipe.http.post(
        f"{pipe.api_url}/webchat/session", json={"token": token} if token else {}
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def reply(pipe: Pipeline, redis: Redis, session_id: str, message_id: str, text: str) -> None:
    """Send a reply to the session as the dispatcher does: through the web chat adapter."""
    async with httpx.AsyncClient() as http:
        adapter = WebchatMailbox(pipe.service.settings.webchat, http, redis=redis)
        await adapter.send(OutboundMessage(message_id=message_id, to=session_id, text=text))
