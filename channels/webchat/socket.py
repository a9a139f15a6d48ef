"""The browser's socket, ``/webchat/ws``: frames in, replies out of the session's mailbox.

Semantics with a session open in several tabs (sockets): every open socket reads the mailbox
from where the session's delivered position stood when it connected, and writes each later
reply to its browser exactly once (it keeps its own read position); the session's position
only moves forward (:func:`~channels.webchat.mailbox.advance_position`), so a reply some
socket delivered is not delivered again to a later connection, and a reply written while no
socket was open is delivered to the next connection, once. The socket that moves the position
past a reply reports it ``delivered``, so each reply is reported once however many tabs show it;
a ``read`` frame for a reply this socket is still reporting waits for that report first, so
``read`` does not overtake ``delivered``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from typing import Any

from fastapi import HTTPException, WebSocket, WebSocketDisconnect
from redis.exceptions import RedisError

from channels.webchat.mailbox import advance_position, fields, mailbox_key, position_key, text
from channels.webchat.settings import WebchatSettings, origin_allowed
from channels.webchat.token import TokenExpired, TokenInvalid, verify
from channels.webhooks import InboundMessage, StatusReport, WebhookContext

log = logging.getLogger(__name__)

ROUTE = "webchat_inbound"
STATUS_ROUTE = "webchat_status"
CLOSE_EXPIRED, CLOSE_FORGED, CLOSE_ORIGIN = 4401, 4403, 4403
REPORT_WAIT_S = 5.0
"""How long a ``read`` frame waits for this socket's ``delivered`` report of the same reply."""


async def serve(ws: WebSocket, ctx: WebhookContext, config: WebchatSettings, token: str) -> None:
    """Check the origin and token, then relay frames both ways until the browser leaves.

    The session's position is read before the handshake completes: a reply written once the
    browser sees the socket open is after it, so it reaches this socket too.
    """
    if not origin_allowed(ws.headers.get("origin"), config, ctx.public_url):
        await ws.accept()
        ctx.count(ROUTE, "bad_origin")
        await ws.close(code=CLOSE_ORIGIN, reason="origin not allowed")
        return
    try:
        session_id, _ = verify(config.secret.get_secret_value(), token, time.time())
    except TokenInvalid as exc:
        await ws.accept()
        expired = isinstance(exc, TokenExpired)
        ctx.count(ROUTE, "expired" if expired else "bad_signature")
        await ws.close(code=CLOSE_EXPIRED if expired else CLOSE_FORGED, reason=str(exc))
        return
    start = await _start(ctx, session_id)
    await ws.accept()
    reporting: dict[str, asyncio.Event] = {}
    pump = asyncio.create_task(
        _pump(ws, ctx, config, session_id, start, reporting), name=f"webchat-{session_id}"
    )
    try:
        await _listen(ws, ctx, config, session_id, reporting)
    except WebSocketDisconnect:
        pass
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump


async def _start(ctx: WebhookContext, session_id: str) -> str | None:
    """Where the session's position stands (``0-0``: nothing delivered yet); None when Redis
    does not answer, and the pump reads it once Redis is back."""
    try:
        return text(await ctx.redis.get(position_key(session_id)) or b"0-0")
    except (RedisError, OSError) as exc:
        log.warning("webchat %s: mailbox position unreadable: %s", session_id, exc)
        return None


async def _listen(
    ws: WebSocket,
    ctx: WebhookContext,
    config: WebchatSettings,
    session_id: str,
    reporting: dict[str, asyncio.Event],
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
            await _read(ws, ctx, fid, reporting.get(fid))
            continue
        text_ = frame.get("text")
        if kind != "message" or not isinstance(text_, str) or not text_.strip():
            ctx.count(ROUTE, "invalid")
            await ws.send_json({"type": "error", "id": fid, "reason": "not a message with text"})
            continue
        if len(text_) > config.max_message_chars:
            ctx.count(ROUTE, "invalid")
            reason = f"text longer than {config.max_message_chars} characters"
            await ws.send_json({"type": "error", "id": fid, "reason": reason})
            continue
        mid = fid if isinstance(fid, str) and 0 < len(fid) <= 128 else f"wcm_{secrets.token_hex(8)}"
        msg = InboundMessage(
            id=f"{session_id}:{mid}",
            sender=session_id,
            recipient="webchat",
            text=text_,
            sender_field="session",
        )
        try:
            await ctx.received(ROUTE, msg)
        except HTTPException as exc:
            await ws.send_json({"type": "error", "id": mid, "reason": str(exc.detail)})
            continue
        ctx.count(ROUTE, "accepted")
        await ws.send_json({"type": "ack", "id": mid})


async def _read(
    ws: WebSocket, ctx: WebhookContext, reply_id: str, delivered: asyncio.Event | None
) -> None:
    """Report ``reply_id`` read, after this socket's ``delivered`` report of it, if pending."""
    if delivered is not None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(REPORT_WAIT_S):
                await delivered.wait()
    try:
        await ctx.status(STATUS_ROUTE, StatusReport(reply_id, "read", "read"))
    except HTTPException as exc:
        await ws.send_json({"type": "error", "id": reply_id, "reason": exc.detail})


async def _pump(
    ws: WebSocket,
    ctx: WebhookContext,
    config: WebchatSettings,
    session_id: str,
    start: str | None,
    reporting: dict[str, asyncio.Event],
) -> None:
    """Replies from the mailbox to the socket, from ``start`` (the session's position when the
    socket opened), each once."""
    redis = ctx.redis
    key, pos_key = mailbox_key(session_id), position_key(session_id)
    last = start  # this socket's own read position
    while True:
        try:
            if last is None:
                last = text(await redis.get(pos_key) or b"0-0")
            answer = await redis.xread({key: last}, count=10, block=1000)
            for _stream, entries in answer or ():
                for entry_id, raw in entries:
                    data = fields(raw)
                    reply_id = data.get("id", "")
                    done = reporting.setdefault(reply_id, asyncio.Event())
                    frame = {"type": "message", "id": reply_id, "text": data.get("text")}
                    try:
                        await ws.send_json({**frame, "at": data.get("at")})
                        last = text(entry_id)
                        if await advance_position(redis, pos_key, last, config.pending_ttl_s):
                            await _delivered(ctx, reply_id)
                    finally:
                        done.set()
                        reporting.pop(reply_id, None)
        except (RedisError, OSError) as exc:
            log.warning("webchat %s: mailbox read failed: %s", session_id, exc)
            await asyncio.sleep(1)  # back off from a failing Redis, then read again


async def _delivered(ctx: WebhookContext, reply_id: str) -> None:
    """Report a reply delivered; a broker that does not take it only costs the report."""
    with contextlib.suppress(HTTPException):
        await ctx.status(STATUS_ROUTE, StatusReport(reply_id, "delivered", "delivered"))
