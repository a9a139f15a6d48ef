"""The web chat's sandbox part: a test client, since the web chat has no third-party API.

``POST /_sandbox/webchat/inbound`` ({url: the API's base URL, text}) opens a session at
``{url}/webchat/session`` and sends ``text`` on ``{url}/webchat/ws`` as a browser would, then
answers the session id, its token (to reconnect with) and the server's ack or error.

Replies go to the session's mailbox in Redis and out on the socket. Given the service's Redis
client (``SandboxRuntime.redis``), the sandbox lists them at ``GET /_sandbox/messages`` by
reading the mailboxes (:class:`MailboxListing`), as the API's sockets do: the product path
writes nothing for the sandbox, and the listed status is the mailbox's own (delivered once a
socket moved the session's position past the reply, queued before).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import websockets
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from channels.sandbox.runtime import SandboxRuntime
from channels.sandbox.store import ListingUnavailable, SandboxMessage
from channels.webchat.mailbox import (
    MAILBOX_MATCH,
    entry_order,
    fields,
    mailbox_key,
    position_key,
    session_of,
    text,
)

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


class MailboxListing:
    """The replies in the web chat's session mailboxes, read from Redis for
    ``GET /_sandbox/messages``: ``provider``/``channel`` ``webchat``, ``to`` the session id,
    ``from`` ``webchat``, ``status`` ``delivered`` once the session's position is at or past the
    entry (a socket took it) and ``queued`` before; ``id`` is Continuum's message id. Only what
    the mailboxes still hold is listed (``mailbox_maxlen``, ``pending_ttl_s``). Clearing
    remembers each mailbox's last entry and lists only later ones; Redis keeps them all."""

    provider = "webchat"

    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._cleared: dict[str, tuple[int, int]] = {}

    async def matching(
        self, channel: str | None = None, to: str | None = None
    ) -> list[SandboxMessage]:
        if channel not in (None, "webchat") or (to is not None and not to.startswith("wc_")):
            return []
        try:
            sessions = [to] if to is not None else await self._sessions()
            found = [m for session in sessions for _, m in await self._mailbox(session)]
        except (RedisError, OSError) as exc:
            raise ListingUnavailable(f"the session mailboxes are unreadable: {exc}") from exc
        return sorted(found, key=lambda message: message.received_at)

    async def clear(self) -> int:
        try:
            mailboxes = {s: await self._mailbox(s) for s in await self._sessions()}
        except (RedisError, OSError) as exc:
            raise ListingUnavailable(f"the session mailboxes are unreadable: {exc}") from exc
        for session, listed in mailboxes.items():
            if listed:
                self._cleared[session] = listed[-1][0]
        return sum(len(listed) for listed in mailboxes.values())

    async def _sessions(self) -> list[str]:
        keys = [text(k) async for k in self._redis.scan_iter(match=MAILBOX_MATCH, _type="STREAM")]
        return sorted({s for k in keys if (s := session_of(k)) is not None})

    async def _mailbox(self, session_id: str) -> list[tuple[tuple[int, int], SandboxMessage]]:
        """The session's replies not cleared, in order, each with its entry's order."""
        entries = await self._redis.xrange(mailbox_key(session_id))
        position = entry_order(text(await self._redis.get(position_key(session_id)) or "0-0"))
        cleared = self._cleared.get(session_id, (-1, -1))
        found = []
        for raw_id, raw in entries:
            order = entry_order(text(raw_id))
            if order <= cleared:
                continue
            data = fields(raw)
            message = SandboxMessage(
                sid=data.get("id", text(raw_id)),
                account_sid="",
                to=session_id,
                sender="webchat",
                body=data.get("text", ""),
                created_at=_parsed(data.get("at")) or datetime.fromtimestamp(order[0] / 1000, UTC),
                provider="webchat",
                channel="webchat",
                status="delivered" if order <= position else "queued",
                received_at=order[0] / 1000,  # the entry id's milliseconds: when it was written
            )
            found.append((order, message))
        return found


def _parsed(stamp: str | None) -> datetime | None:
    """The adapter's ``at`` (UTC ISO 8601 with ``Z``), or None when absent or malformed."""
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None
    except ValueError:
        return None


def webchat_sandbox(runtime: SandboxRuntime) -> APIRouter:
    """``POST /_sandbox/webchat/inbound``: one message sent as a browser would; with the
    service's Redis client, the replies in the mailboxes are listed too."""
    if runtime.redis is not None:
        runtime.listings.append(MailboxListing(runtime.redis))
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
