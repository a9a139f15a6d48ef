"""Built-in web chat (medium ``webchat``): sessions, a WebSocket, and a Redis mailbox per session.

``POST /webchat/session`` gives a session id (``wc_…``, the customer's webchat address) and a
signed token (``token.py``); ``GET /webchat/ws?token=…`` is the socket. The browser sends
``{"type": "message", "id", "text"}``; each is published with ``ctx.received`` and answered
``{"type": "ack", "id"}`` once the broker acknowledged it, or ``{"type": "error", "id",
"reason"}`` (the socket stays open). Replies are sent by the dispatcher, in a worker process, so
the adapter appends each to the session's mailbox, the Redis stream ``ct:webchat:{<session>}``
(``MAXLEN ~``, expiring after ``pending_ttl_s``; ``mailbox.py``), and every socket of that
session reads it (``socket.py``): each open socket gets each reply once, and a reply written
while no socket is open waits for the next connection and is delivered once.
"""

from __future__ import annotations

import html
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import httpx
from fastapi import APIRouter, HTTPException, Request, WebSocket
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError

from channels.base import OutboundMessage, SendResult
from channels.errors import ChannelConfigInvalid, ConnectionFailed, RejectedWithReason, SendError
from channels.provider import Provider
from channels.webchat.mailbox import advance_position, mailbox_key, position_key, text
from channels.webchat.sandbox import webchat_sandbox
from channels.webchat.settings import WebchatSettings, origin_allowed
from channels.webchat.socket import serve
from channels.webchat.token import TokenExpired, TokenInvalid, sign, valid, verify
from channels.webhooks import WebhookContext, error

__all__ = [
    "ERROR_CODES",
    "STATUS_MAP",
    "WEBCHAT",
    "WebchatMailbox",
    "WebchatSettings",
    "advance_position",
    "mailbox_key",
    "position_key",
    "webchat_webhooks",
]

RedisClient = Redis | RedisCluster

HERE = Path(__file__).resolve().parent
SESSION_PATH = "/webchat/session"
SOCKET_PATH = "/webchat/ws"

STATUS_MAP: Mapping[str, str] = {"sent": "sent", "delivered": "delivered", "read": "read"}
"""Mailbox write → sent; written on an open socket → delivered; the browser's read → read."""

ERROR_CODES: Mapping[str, type[SendError]] = {}
"""The mailbox has no error codes: a Redis failure is ConnectionFailed (retried)."""


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class WebchatMailbox:
    """Sends a reply by appending it to the session's mailbox (XADD): status ``sent``."""

    channel_type: ClassVar[str] = "webchat.webchat"
    channel: ClassVar[str] = "webchat"
    secret_fields: ClassVar[tuple[str, ...]] = ("secret",)

    def __init__(
        self, config: WebchatSettings, http: httpx.AsyncClient, redis: RedisClient | None = None
    ) -> None:
        self._config, self._redis = config, redis

    async def send(self, msg: OutboundMessage) -> SendResult:
        if self._redis is None:
            raise ChannelConfigInvalid("the webchat adapter needs the service's Redis client")
        if not msg.to.startswith("wc_"):
            raise RejectedWithReason("address", f"{msg.to!r} is not a webchat session id")
        key = mailbox_key(msg.to)
        entry = {"id": msg.message_id, "text": msg.text, "at": _now_iso()}
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.xadd(key, entry, maxlen=self._config.mailbox_maxlen, approximate=True)  # type: ignore[arg-type]
                pipe.expire(key, self._config.pending_ttl_s)
                pipe.expire(position_key(msg.to), self._config.pending_ttl_s)
                added, *_ = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise ConnectionFailed(f"webchat mailbox: {exc}") from exc
        return SendResult(external_ids=(msg.message_id,), status="sent", raw={"entry": text(added)})


class SessionRequest(BaseModel):
    """Body of ``POST /webchat/session``: optionally a token whose session to resume."""

    token: str | None = None


class Session(BaseModel):
    """A session: its id (the webchat address), a token for the socket, and when it expires."""

    session_id: str
    token: str
    expires_at: int


def webchat_webhooks(config: WebchatSettings, ctx: WebhookContext) -> APIRouter:
    """``POST /webchat/session`` and the socket ``/webchat/ws``."""
    router = APIRouter()
    secret = config.secret.get_secret_value()

    def issue(session_id: str) -> Session:
        expires_at = int(time.time()) + config.token_ttl_s
        return Session(
            session_id=session_id, token=sign(secret, session_id, expires_at), expires_at=expires_at
        )

    def cors(request: Request, response: Response) -> None:
        origin = request.headers.get("origin")
        if origin is not None and origin_allowed(origin, config, ctx.public_url):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"

    @router.options(SESSION_PATH, include_in_schema=False)
    async def preflight(request: Request) -> Response:
        response = Response(status_code=204)
        cors(request, response)
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = "content-type"
        return response

    @router.post(
        SESSION_PATH,
        responses={401: error("the token has expired"), 403: error("the token is forged")},
    )
    async def session(
        request: Request, response: Response, body: SessionRequest | None = None
    ) -> Session:
        """A new session, or the session of a valid ``token`` with a fresh token.

        Answers CORS for the origins in ``allowed_origins`` (and the API's own).
        """
        cors(request, response)
        if body is None or not body.token:
            ctx.count("webchat_session", "accepted")
            return issue(f"wc_{secrets.token_urlsafe(16)}")
        try:
            session_id, _ = verify(secret, body.token, time.time())
        except TokenExpired as exc:
            ctx.count("webchat_session", "expired")
            raise HTTPException(401, str(exc)) from None
        except TokenInvalid as exc:
            ctx.count("webchat_session", "bad_signature")
            raise HTTPException(403, str(exc)) from None
        ctx.count("webchat_session", "resumed")
        return issue(session_id)

    widget = (HERE / "widget.js").read_text(encoding="utf-8")
    demo = (HERE / "demo.html").read_text(encoding="utf-8")

    @router.get("/webchat/widget.js", include_in_schema=False)
    async def widget_js() -> Response:
        return Response(widget, media_type="text/javascript; charset=utf-8")

    @router.get("/webchat/", include_in_schema=False)
    async def demo_page() -> HTMLResponse:
        return HTMLResponse(demo.replace("{base}", html.escape(ctx.public_url)))

    @router.websocket(SOCKET_PATH)
    async def socket(ws: WebSocket, token: str = "") -> None:
        """The browser's socket: ``?token=`` opens it, closed 4401 (expired) or 4403."""
        await serve(ws, ctx, config, token)

    return router


WEBCHAT = Provider(
    name="webchat",
    medium="webchat",
    adapter=WebchatMailbox,
    settings=WebchatSettings,
    settings_key="webchat",
    webhooks=webchat_webhooks,
    sandbox=webchat_sandbox,
    verify=valid,
    status_map=STATUS_MAP,
    error_codes=ERROR_CODES,
    needs_redis=True,
)
