"""Signed webhook posts from the sandbox: status callbacks (with retries) and inbound SMS."""

from __future__ import annotations

import asyncio
import logging
from functools import partial

import httpx

from channels.sandbox.runtime import SandboxRuntime, Step
from channels.sandbox.store import SandboxMessage
from channels.twilio.signature import compute_signature

logger = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
STATUS_SEQUENCE = ("queued", "sent", "delivered")


def status_form(
    message: SandboxMessage, status: str, error_code: str | None = None
) -> dict[str, str]:
    """Return Twilio's status callback fields; ErrorCode only for failed or undelivered."""
    form = {
        "MessageSid": message.sid,
        "SmsSid": message.sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": message.account_sid,
        "From": message.sender,
        "To": message.to,
        "ApiVersion": API_VERSION,
    }
    if status in ("failed", "undelivered"):
        form["ErrorCode"] = error_code or "30008"  # Twilio's "Unknown error"
    return form


async def post_signed(
    http: httpx.AsyncClient, url: str, form: dict[str, str], auth_token: str
) -> httpx.Response:
    """Post ``form`` to ``url`` with the ``X-Twilio-Signature`` Twilio would send."""
    signature = compute_signature(auth_token, url, form)
    return await http.post(url, data=form, headers={"X-Twilio-Signature": signature})


async def post_with_retries(runtime: SandboxRuntime, url: str, form: dict[str, str]) -> bool:
    """Post a signed callback; retry connection errors and 5xx with backoff, never 4xx."""
    config = runtime.config
    token = config.twilio_auth_token.get_secret_value()
    for attempt in range(config.callback_attempts):
        if attempt:
            await asyncio.sleep(config.callback_backoff_s * 2 ** (attempt - 1))
        try:
            resp = await post_signed(runtime.http, url, form, token)
        except httpx.TransportError as exc:
            logger.warning(
                "callback to %s failed (try %d): %s %s", url, attempt + 1, type(exc).__name__, exc
            )
            continue
        if resp.status_code < 500:
            return resp.is_success
        logger.warning("callback to %s answered %d (try %d)", url, resp.status_code, attempt + 1)
    return False


def status_steps(runtime: SandboxRuntime, message: SandboxMessage) -> list[Step]:
    """The steps that walk ``message`` through queued → sent → delivered, for
    :meth:`SandboxRuntime.submit`: each sets the status and posts it when a callback is asked."""
    return [partial(deliver_status, runtime, message, status) for status in STATUS_SEQUENCE]


def failed_steps(runtime: SandboxRuntime, message: SandboxMessage, error_code: str) -> list[Step]:
    """The steps of a message the carrier did not deliver: queued → sent → undelivered, the
    last carrying ``ErrorCode`` (a ``reject`` fault at receipt; 30006 is Twilio's landline)."""
    steps: list[Step] = [partial(deliver_status, runtime, message, s) for s in STATUS_SEQUENCE[:2]]
    steps.append(partial(deliver_status, runtime, message, "undelivered", error_code))
    return steps


async def deliver_status(
    runtime: SandboxRuntime, message: SandboxMessage, status: str, error_code: str | None = None
) -> None:
    """Set ``message``'s status and post the callback, if it asked for one."""
    message.status = status
    url = message.status_callback
    form = status_form(message, status, error_code)
    if url and await post_with_retries(runtime, url, form):
        message.callbacks.append(status)
