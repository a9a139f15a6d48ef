"""Twilio Programmable Messaging: send SMS/MMS, read status callbacks and inbound SMS webhooks.

Example::

    config = TwilioConfig(account_sid="AC1", auth_token=SecretStr("t"), from_number="+15559999")
    adapter = TwilioSms(config, http)
    result = await adapter.send(OutboundMessage(message_id="m1", to="+15550001", text="Hi"))
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from functools import cached_property
from typing import Any, ClassVar

import httpx

from channels._http import parse_json, raise_for_send_status, transport_error
from channels.base import FoundSend, OutboundMessage, SendResult
from channels.errors import (
    ChannelConfigInvalid,
    ContactStopped,
    RejectedWithReason,
    ResponseUnparseable,
    SendError,
)
from channels.twilio.settings import TwilioConfig
from channels.webhooks import StatusReport

STATUS_MAP: Mapping[str, str] = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "receiving": "unknown",  # inbound-only statuses: not a delivery state of anything we sent
    "received": "unknown",
    "read": "read",
    "canceled": "failed",
}
"""Twilio message status → Continuum status; anything else maps to ``"unknown"``."""

ERROR_CODES: Mapping[str, type[SendError]] = {
    "21610": ContactStopped,  # "Attempt to send to unsubscribed recipient" (they texted STOP)
}
"""Twilio error code → the SendError it raises; any other code is RejectedWithReason."""

OPT_OUT_ERRORS = frozenset({"21610"})
"""Status callback ``ErrorCode``s that mean the recipient opted out: 21610, "Attempt to send to
unsubscribed recipient" (they replied STOP to the sender or its messaging service)."""


@dataclass(frozen=True, slots=True)
class InboundSms:
    """One Twilio inbound SMS/MMS webhook, decoded."""

    id: str
    sender: str
    recipient: str
    text: str
    attachments: tuple[str, ...] = ()


class TwilioSms:
    """Sends one message through Twilio's Messages resource."""

    channel_type: ClassVar[str] = "sms.twilio"
    channel: ClassVar[str] = "sms"
    secret_fields: ClassVar[tuple[str, ...]] = ("auth_token", "api_key_secret")

    def __init__(self, config: TwilioConfig, http: httpx.AsyncClient) -> None:
        self._config, self._http = config, http

    async def send(self, msg: OutboundMessage) -> SendResult:
        """Post the message; return Twilio's sid and mapped status, or raise a SendError."""
        form, headers = self._form(msg), {"Authorization": self._basic}
        try:
            resp = await self._http.post(self._messages_url, data=form, headers=headers)
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        raise_for_send_status(resp, reject=_rejection)
        body = parse_json(resp)
        if body.get("status") == "failed":
            raise RejectedWithReason(
                _text(body.get("error_code")),
                _text(body.get("error_message")),
                status_code=resp.status_code,
            )
        sid = body.get("sid")
        if not isinstance(sid, str) or not sid:
            raise ResponseUnparseable("response has no message sid", status_code=resp.status_code)
        status = STATUS_MAP.get(str(body.get("status")), "unknown")
        return SendResult(external_ids=(sid,), status=status, raw=body)

    async def find_sent(
        self, msg: OutboundMessage, since: datetime, until: datetime
    ) -> Sequence[FoundSend]:
        """Twilio's outbound messages to ``msg.to`` (from its sender, when one is fixed) sent on
        or after ``since``'s day (``DateSent>``: Twilio filters by GMT date), newest first,
        one page. Twilio echoes no reference of ours, so each is given with its body and
        creation time to match (:func:`orchestrator.delivery.reconcile.match`)."""
        headers = {"Authorization": self._basic}
        query = {"To": msg.to, "DateSent>": since.date().isoformat(), "PageSize": "100"}
        if sender := msg.sender or (
            None if self._config.messaging_service_sid else self._config.from_number
        ):
            query["From"] = sender
        try:
            resp = await self._http.get(self._messages_url, params=query, headers=headers)
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        raise_for_send_status(resp, reject=_rejection)
        items = parse_json(resp).get("messages")
        if not isinstance(items, list):
            raise ResponseUnparseable("list has no messages", status_code=resp.status_code)
        return [found for item in items if (found := _found(item)) is not None]

    @cached_property
    def _messages_url(self) -> httpx.URL:
        """The account's Messages resource, parsed once (settings are fixed for a process)."""
        root, account = self._config.base_url.rstrip("/"), self._config.account_sid
        return httpx.URL(f"{root}/2010-04-01/Accounts/{account}/Messages.json")

    @cached_property
    def _basic(self) -> str:
        """:meth:`_authorization`, computed once; an invalid configuration raises on every
        send (nothing is cached then)."""
        return self._authorization()

    def _authorization(self) -> str:
        """The basic ``Authorization`` header, refusing empty credentials before any I/O (a
        header rather than ``httpx.BasicAuth``: no auth flow generator per request).

        With an API key it is ``api_key_sid:api_key_secret``, else
        ``account_sid:auth_token``; the URL names the account either way."""
        config = self._config
        token = config.auth_token.get_secret_value()
        if not config.account_sid or not token:
            raise ChannelConfigInvalid("twilio account_sid and auth_token are required")
        user, password = config.account_sid, token
        if config.api_key_sid is not None and config.api_key_secret is not None:
            user, password = config.api_key_sid, config.api_key_secret.get_secret_value()
            if not password:
                raise ChannelConfigInvalid("twilio api_key_secret is empty")
        pair = f"{user}:{password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def _form(self, msg: OutboundMessage) -> dict[str, str | list[str]]:
        """Build the Messages.json form; MediaUrl repeats once per attachment.

        The sender is the message's own, else the messaging service (``MessagingServiceSid``
        instead of ``From``: the service picks the number), else ``from_number``."""
        form: dict[str, str | list[str]] = {"To": msg.to}
        if msg.sender:
            form["From"] = msg.sender
        elif self._config.messaging_service_sid:
            form["MessagingServiceSid"] = self._config.messaging_service_sid
        elif self._config.from_number:
            form["From"] = self._config.from_number
        else:
            raise ChannelConfigInvalid(
                "no sender: message has none and neither messaging_service_sid nor from_number "
                "is set"
            )
        form["Body"] = msg.text
        if msg.status_callback:
            form["StatusCallback"] = msg.status_callback
        if msg.attachments:
            form["MediaUrl"] = list(msg.attachments)
        return form


def parse_status_callback(form: Mapping[str, str]) -> StatusReport:
    """Decode a status callback form; raise ValueError without MessageSid or MessageStatus."""
    sid = form.get("MessageSid") or form.get("SmsSid")
    raw = form.get("MessageStatus") or form.get("SmsStatus")
    if not sid or not raw:
        missing = [
            name for name, value in (("MessageSid", sid), ("MessageStatus", raw)) if not value
        ]
        raise ValueError(f"twilio status callback is missing {', '.join(missing)}")
    return StatusReport(
        external_id=sid,
        status=STATUS_MAP.get(raw, "unknown"),
        provider_status=raw,
        error_code=form.get("ErrorCode") or None,
        error_message=form.get("ErrorMessage") or None,
        opted_out=form.get("ErrorCode") in OPT_OUT_ERRORS,
    )


def parse_inbound(form: Mapping[str, str]) -> InboundSms:
    """Decode an inbound SMS webhook; raise ValueError when a required field is missing."""
    missing = [name for name in ("MessageSid", "From", "To", "Body") if name not in form]
    if missing or not form["MessageSid"]:
        raise ValueError(f"twilio inbound webhook is missing {', '.join(missing) or 'MessageSid'}")
    try:
        num_media = int(form.get("NumMedia") or "0")
    except ValueError as exc:
        raise ValueError(f"twilio inbound NumMedia is not a number: {form['NumMedia']!r}") from exc
    if num_media < 0:
        raise ValueError(f"twilio inbound NumMedia is negative: {num_media}")
    names = [f"MediaUrl{i}" for i in range(num_media)]
    if absent := [name for name in names if not form.get(name)]:
        raise ValueError(f"twilio inbound NumMedia={num_media} but {', '.join(absent)} missing")
    return InboundSms(
        id=form["MessageSid"],
        sender=form["From"],
        recipient=form["To"],
        text=form["Body"],
        attachments=tuple(form[name] for name in names),
    )


def _found(item: object) -> FoundSend | None:
    """One Message resource of a list as a :class:`FoundSend`; None for an inbound or
    unreadable one."""
    if not isinstance(item, dict) or not str(item.get("direction", "")).startswith("outbound"):
        return None
    sid, created = item.get("sid"), item.get("date_created")
    if not isinstance(sid, str) or not sid:
        return None
    try:
        at = parsedate_to_datetime(created) if isinstance(created, str) else None
    except (TypeError, ValueError):
        at = None
    return FoundSend(
        external_id=sid,
        status=STATUS_MAP.get(str(item.get("status")), "unknown"),
        to=_text(item.get("to")),
        text=item.get("body") if isinstance(item.get("body"), str) else None,
        created_at=at,
    )


def _rejection(resp: httpx.Response) -> SendError | None:
    """Map Twilio's JSON error body (``{"code": 21211, "message": ...}``) to its SendError."""
    try:
        body: Any = resp.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("code") in (None, ""):
        return None
    code, message = _text(body["code"]), _text(body.get("message"))
    if (kind := ERROR_CODES.get(code)) is not None:
        return kind(message, status_code=resp.status_code)
    return RejectedWithReason(code, message, status_code=resp.status_code)


def _text(value: object) -> str:
    """Render an optional provider field as text, with None as the empty string."""
    return "" if value is None else str(value)
