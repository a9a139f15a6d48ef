"""The Messages API's hot route served as plain ASGI, in front of FastAPI.

A provider sandbox must answer thousands of sends a second. Through FastAPI's router, request
object and form parser, ``POST .../Messages.json`` cost three times its own work; here the one
route the dispatcher calls is matched on the raw scope, its urlencoded body parsed with the
standard library, and the same :func:`~channels.twilio.sandbox.accept_message` answers. Every
other request (and a Messages.json post that is not urlencoded) goes to the FastAPI app.

This is not a second sandbox: :class:`SandboxApp` *is* the sandbox app
(:func:`~channels.sandbox.app.create_sandbox_app` builds it), so every registered provider's
fake, the admin routes and the order API are served as before, through FastAPI. Only the
shortcut is Twilio's, on purpose: ``continuum bench`` (``orchestrator/bench/``) drives SMS
through the default SMS provider, ``twilio``, so Messages.json is the one provider route under
load; Vonage's ``/sms/json`` and the generic webhook's ``/generic/messages`` are not on any
bench path and keep FastAPI's parsing (their answers are the same either way). A provider whose
route a benchmark starts to load would get its shortcut here, answering through the same
function its FastAPI route calls, as Twilio's does.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from channels.sandbox.runtime import SandboxRuntime
from channels.twilio.sandbox import accept_message, twilio_error

_MESSAGES = re.compile(r"/2010-04-01/Accounts/([^/]+)/Messages\.json")
_URLENCODED = b"application/x-www-form-urlencoded"
MAX_BODY = 1 << 20
"""Bytes a Messages.json body may have (Twilio's own cap on a message is 1,600 characters)."""


class SandboxApp(FastAPI):
    """The sandbox's FastAPI app, with the Messages API's create route taken before routing."""

    runtime: SandboxRuntime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _MESSAGES.fullmatch(scope["path"])
            if match is not None:
                headers = dict(scope["headers"])
                if headers.get(b"content-type", b"").startswith(_URLENCODED):
                    await self._create_message(match.group(1), scope, headers, receive, send)
                    return
        await super().__call__(scope, receive, send)

    async def _create_message(
        self,
        account_sid: str,
        scope: Scope,
        headers: dict[bytes, bytes],
        receive: Receive,
        send: Send,
    ) -> None:
        body = await _read_body(receive)
        if body is None:
            reply = twilio_error(413, 20001, f"Request body over {MAX_BODY} bytes")
        else:
            form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
            raw_auth = headers.get(b"authorization")
            auth = raw_auth.decode("latin-1") if raw_auth is not None else None
            reply = await accept_message(self.runtime, account_sid, scope["path"], auth, form)
        raw = [(b"content-type", b"application/json")]
        raw.append((b"content-length", str(len(reply.body)).encode()))
        raw.extend((k.lower().encode(), v.encode()) for k, v in (reply.headers or {}).items())
        await send({"type": "http.response.start", "status": reply.status, "headers": raw})
        await send({"type": "http.response.body", "body": reply.body})


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
