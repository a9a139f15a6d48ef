"""The web chat's sandbox part: a test client, since the web chat has no third-party API.

``POST /_sandbox/webchat/inbound`` ({url: the API's base URL, text}) opens a session at
``{url}/webchat/session`` and sends ``text`` on ``{url}/webchat/ws`` as a browser would, then
answers the session id, its token (to reconnect with) and the server's ack or error. Replies
go to the session's mailbox in Redis and out on the socket, so they are not listed at
``GET /_sandbox/messages``: read them on the socket.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import websockets
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from channels.sandbox.runtime import SandboxRuntime

SANDBOX_SECRET = "sandbox-webchat-secret"  # noqa: S105 (the sandbox's, public)
"""The default of ``CONTINUUM_WEBCHAT__SECRET``: production must set its own."""


class InboundRequest(BaseModel):
    """Body of ``POST /_sandbox/webchat/inbound``."""

    url: str = Field(description="the API's base URL (http://host:port)")
    text: str = ""
    token: str | None = Field(None, description="resume this session instead of a new one")


def ws_url(base: str) -> str:
    """The socket URL under the API base ``base``, without the token."""
    root = base.rstrip("/")
    if root.startswith("https://"):
        return "wss://" + root[len("https://") :] + "/webchat/ws"
    return "ws://" + root.removeprefix("http://") + "/webchat/ws"


def webchat_sandbox(runtime: SandboxRuntime) -> APIRouter:
    """``POST /_sandbox/webchat/inbound``: one message sent as a browser would."""
    router = APIRouter()

    @router.post("/_sandbox/webchat/inbound")
    async def simulate_inbound(inbound: InboundRequest) -> JSONResponse:
        base = inbound.url.rstrip("/")
        body = {"token": inbound.token} if inbound.token else {}
        try:
            resp = await runtime.http.post(f"{base}/webchat/session", json=body)
        except httpx.TransportError as exc:
            return JSONResponse({"error": str(exc)}, 502)
        if resp.status_code != 200:
            return JSONResponse({"status_code": resp.status_code, "error": resp.text}, 502)
        session: dict[str, Any] = resp.json()
        mid = f"sbx_{uuid.uuid4().hex}"
        origin = base
        try:
            async with websockets.connect(
                f"{ws_url(base)}?token={session['token']}",
                origin=websockets.Origin(origin),
                proxy=None,
            ) as ws:
                await ws.send(json.dumps({"type": "message", "id": mid, "text": inbound.text}))
                while True:
                    frame = json.loads(await ws.recv())
                    if frame.get("id") == mid and frame.get("type") in ("ack", "error"):
                        break
        except (OSError, websockets.WebSocketException) as exc:
            return JSONResponse({"session_id": session["session_id"], "error": str(exc)}, 502)
        return JSONResponse(
            {
                "id": mid,
                "session_id": session["session_id"],
                "token": session["token"],
                "answer": frame,
            }
        )

    return router
