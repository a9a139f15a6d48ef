"""Signed webhook posts from the sandbox: status callbacks (with retries) and inbound SMS."""

from __future__ import annotations

import asyncio
import logging

import httpx

from channels.sandbox.runtime import SandboxRuntime
from channels.sandbox.store import SandboxMessage
from channels.twilio_signature import compute_signature

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
            logger.warning("callback to %s failed (try %d): %s", url, attempt + 1, exc)
            continue
        if resp.status_code < 500:
            return resp.is_success
        logger.warning("callback to %s answered %d (try %d)", url, resp.status_code, attempt + 1)
    return False


async def deliver_statuses(runtime: SandboxRuntime, message: SandboxMessage) -> None:
    """Walk a message through queued → sent → delivered, posting each status when asked to."""
    for index, status in enumerate(STATUS_SEQUENCE):
        if index:
            await asyncio.sleep(runtime.config.status_delay_s)
        message.status = status
        url = message.status_callback
        if url and await post_with_retries(runtime, url, status_form(message, status)):
            message.callbacks.append(status)
