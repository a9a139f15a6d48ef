"""Built-in web chat (medium ``webchat``): sessions, a WebSocket, and a Redis mailbox per session.

``POST /webchat/session`` gives a session id (``wc_…``, the customer's webchat address) and a
signed token (``token.py``); ``GET /webchat/ws?token=…`` is the socket. The browser sends
``{"type": "message", "id", "text"}``; each is published with ``ctx.received`` and answered
``{"type": "ack", "id"}`` once the broker acknowledged it, or ``{"type": "error", "id",
"reason"}`` (the socket stays open). Replies are sent by the dispatcher, in a worker process, so
the adapter appends each to the session's mailbox, the Redis stream ``ct:webchat:{<session>}``
(``MAXLEN ~``, expiring after ``pending_ttl_s``), and every socket of that session reads it from
the position it last delivered (``ct:webchat:{<session>}:pos``): a reply written while no socket
is open waits for the next one, and is delivered once.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
from fastapi import APIRouter, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisError

from channels.base import OutboundMessage, SendResult
from channels.errors import ChannelConfigInvalid, ConnectionFailed, RejectedWithReason, SendError
from channels.provider import Provider
from channels.webchat.sandbox import SANDBOX_SECRET, webchat_sandbox
from channels.webchat.token import TokenExpired, TokenInvalid, sign, valid, verify
from channels.webhooks import InboundMessage, StatusReport, WebhookContext, error

__all__ = [
    "ERROR_CODES",
    "STATUS_MAP",
    "WEBCHAT",
    "WebchatMailbox",
    "WebchatSettings",
    "mailbox_key",
    "position_key",
    "webchat_webhooks",
]

log = logging.getLogger(__name__)

RedisClient = Redis | RedisCluster

HERE = Path(__file__).resolve().parent
SESSION_PATH = "/webchat/session"
SOCKET_PATH = "/webchat/ws"
ROUTE = "webchat_inbound"
STATUS_ROUTE = "webchat_status"
CLOSE_EXPIRED, CLOSE_FORGED, CLOSE_ORIGIN = 4401, 4403, 4403

STATUS_MAP: Mapping[str, str] = {"sent": "sent", "delivered": "delivered", "read": "read"}
"""Mailbox write → sent; written on an open socket → delivered; the browser's read → read."""

ERROR_CODES: Mapping[str, type[SendError]] = {}
"""The mailbox has no error codes: a Redis failure is ConnectionFailed (retried)."""


class WebchatSettings(BaseModel):
    """``CONTINUUM_WEBCHAT__*``; ``secret``'s default is the sandbox's: production sets its own."""

    model_config = ConfigDict(frozen=True)

    secret: SecretStr = Field(
        SecretStr(SANDBOX_SECRET),
        description="signs session tokens (HMAC-SHA256); the default is public: set it",
    )
    token_ttl_s: int = Field(86_400, gt=0, description="how long a session token is valid")
    allowed_origins: tuple[str, ...] = Field(
        ("http://127.0.0.1:8080", "http://localhost:8080"),
        description="origins allowed by CORS and the socket's Origin check (the API's own "
        "origin is always allowed)",
    )
    max_message_chars: int = Field(2000, gt=0, description="longest text a browser may send")
    pending_ttl_s: int = Field(
        86_400, gt=0, description="how long an undelivered reply waits in the mailbox"
    )
    mailbox_maxlen: int = Field(200, gt=0, description="replies a mailbox keeps at most")


def mailbox_key(session_id: str) -> str:
    """The session's reply stream; the hash tag keeps it and its position on one cluster slot."""
    return f"ct:webchat:{{{session_id}}}"


def position_key(session_id: str) -> str:
    """The id of the last mailbox entry a socket delivered."""
    return f"ct:webchat:{{{session_id}}}:pos"


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


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
        return SendResult(
            external_ids=(msg.message_id,), status="sent", raw={"entry": _text(added)}
        )


class SessionRequest(BaseModel):
    """Body of ``POST /webchat/session``: optionally a token whose session to resume."""

    token: str | None = None


class Session(BaseModel):
    """A session: its id (the webchat address), a token for the socket, and when it expires."""

    session_id: str
    token: str
    expires_at: int


def _origin_allowed(origin: str | None, config: WebchatSettings, public_url: str) -> bool:
    """A socket without Origin is not a browser; one with must be allowed."""
    if origin is None:
        return True
    return origin.rstrip("/") in {public_url.rstrip("/"), *config.allowed_origins}


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
        if origin is not None and _origin_allowed(origin, config, ctx.public_url):
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
        await _serve(ws, ctx, config, token)

    return router


async def _serve(ws: WebSocket, ctx: WebhookContext, config: WebchatSettings, token: str) -> None:
    """Check the origin and token, then relay frames both ways until the browser leaves."""
    await ws.accept()
    if not _origin_allowed(ws.headers.get("origin"), config, ctx.public_url):
        ctx.count(ROUTE, "bad_origin")
        await ws.close(code=CLOSE_ORIGIN, reason="origin not allowed")
        return
    try:
        session_id, _ = verify(config.secret.get_secret_value(), token, time.time())
    except TokenInvalid as exc:
        expired = isinstance(exc, TokenExpired)
        ctx.count(ROUTE, "expired" if expired else "bad_signature")
        await ws.close(code=CLOSE_EXPIRED if expired else CLOSE_FORGED, reason=str(exc))
        return
    pump = asyncio.create_task(_pump(ws, ctx, config, session_id), name=f"webchat-{session_id}")
    try:
        await _listen(ws, ctx, config, session_id)
    except WebSocketDisconnect:
        pass
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump


async def _listen(
    ws: WebSocket, ctx: WebhookContext, config: WebchatSettings, session_id: str
) -> None:
    """Each browser frame: a message (published, then acked) or a read receipt."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        try:
            frame: Any = json.loads(message.get("text") or "")
        except ValueError:  # a binary frame, or not JSON
            frame = None
        if not isinstance(frame, dict):
            ctx.count(ROUTE, "invalid")
            await ws.send_json({"type": "error", "id": None, "reason": "not a JSON object"})
            continue
        kind, fid = frame.get("type"), frame.get("id")
        if kind == "read" and isinstance(fid, str) and fid:
            try:
                await ctx.status(STATUS_ROUTE, StatusReport(fid, "read", "read"))
            except HTTPException as exc:
                await ws.send_json({"type": "error", "id": fid, "reason": exc.detail})
            continue
        text = frame.get("text")
        if kind != "message" or not isinstance(text, str) or not text.strip():
            ctx.count(ROUTE, "invalid")
            await ws.send_json({"type": "error", "id": fid, "reason": "not a message with text"})
            continue
        if len(text) > config.max_message_chars:
            ctx.count(ROUTE, "invalid")
            reason = f"text longer than {config.max_message_chars} characters"
            await ws.send_json({"type": "error", "id": fid, "reason": reason})
            continue
        mid = fid if isinstance(fid, str) and 0 < len(fid) <= 128 else f"wcm_{secrets.token_hex(8)}"
        msg = InboundMessage(
            id=f"{session_id}:{mid}",
            sender=session_id,
            recipient="webchat",
            text=text,
            sender_field="session",
        )
        try:
            await ctx.received(ROUTE, msg)
        except HTTPException as exc:
            await ws.send_json({"type": "error", "id": mid, "reason": str(exc.detail)})
            continue
        ctx.count(ROUTE, "accepted")
        await ws.send_json({"type": "ack", "id": mid})


async def _pump(
    ws: WebSocket, ctx: WebhookContext, config: WebchatSettings, session_id: str
) -> None:
    """Replies from the mailbox to the socket, from the last delivered position, each once."""
    redis = ctx.redis
    key, pos_key = mailbox_key(session_id), position_key(session_id)
    last: str | None = None
    while True:
        try:
            if last is None:
                last = _text(await redis.get(pos_key) or b"0-0")
            answer = await redis.xread({key: last}, count=10, block=1000)
            for _stream, entries in answer or ():
                for entry_id, fields in entries:
                    data = {_text(k): _text(v) for k, v in fields.items()}
                    frame = {"type": "message", "id": data.get("id"), "text": data.get("text")}
                    await ws.send_json({**frame, "at": data.get("at")})
                    last = _text(entry_id)
                    await redis.set(pos_key, last, ex=config.pending_ttl_s)
                    with contextlib.suppress(HTTPException):
                        report = StatusReport(data.get("id", ""), "delivered", "delivered")
                        await ctx.status(STATUS_ROUTE, report)
        except (RedisError, OSError) as exc:
            log.warning("webchat %s: mailbox read failed: %s", session_id, exc)
            await asyncio.sleep(1)  # back off from a failing Redis, then read again


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
