"""Sending through the Cloud API: ``POST {base_url}/{api_version}/{phone_number_id}/messages``.

``OutboundMessage.text`` alone is a ``text`` message. ``OutboundMessage.content`` (a mapping,
see :class:`channels.base.OutboundMessage`) asks for something richer; its ``kind`` is one of:

- ``template``: ``{"kind": "template", "name": "order_update", "language": "en_US",
  "params": ["A12", "Tuesday"]}``, a pre-approved template with its body parameters (what a
  message must be once the customer's 24-hour window has closed);
- ``buttons``: ``{"kind": "buttons", "buttons": [{"id": "yes", "title": "Yes"}, ...]}``, the
  text with up to three reply buttons;
- ``list``: ``{"kind": "list", "button": "Choose", "sections": [{"title": "...", "rows":
  [{"id": "r1", "title": "...", "description": "..."}]}]}``, the text with a list of choices.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from channels._http import parse_json, raise_for_send_status, transport_error
from channels.base import OutboundMessage, SendResult
from channels.errors import (
    ChannelConfigInvalid,
    ConnectionFailed,
    MarketingStopped,
    RejectedWithReason,
    ResponseUnparseable,
    SendError,
    Throttled,
)
from channels.meta.settings import MetaSettings

ERROR_CODES: Mapping[str, type[SendError]] = {
    "0": ChannelConfigInvalid,  # AuthException: the token was invalidated
    "3": ChannelConfigInvalid,  # API Method: capability or permission missing
    "10": ChannelConfigInvalid,  # Permission denied
    "190": ChannelConfigInvalid,  # Access token has expired
    "200": ChannelConfigInvalid,  # API Permission (200-299)
    "368": ChannelConfigInvalid,  # Temporarily blocked for policies violations
    "131005": ChannelConfigInvalid,  # Access denied
    "131031": ChannelConfigInvalid,  # Business account locked
    "131042": ChannelConfigInvalid,  # Business eligibility: payment issue
    "133010": ChannelConfigInvalid,  # Phone number not registered
    "4": Throttled,  # API Too Many Calls: the app's rate limit
    "80007": Throttled,  # the business account's rate limit
    "130429": Throttled,  # Cloud API throughput reached
    "131048": Throttled,  # Spam rate limit hit
    "131056": Throttled,  # (business, consumer) pair rate limit hit
    "2": ConnectionFailed,  # API Service: temporary downtime or overload
    "131000": ConnectionFailed,  # Something went wrong
    "131016": ConnectionFailed,  # Service unavailable
    "131057": ConnectionFailed,  # Business account in maintenance mode
    "131050": MarketingStopped,  # the user stopped marketing messages from the business
}
"""Cloud API ``error.code`` → SendError; any other code is RejectedWithReason with the code as
``ext_code``: 100 Invalid parameter, 131008 Required parameter missing, 131009 Parameter value
not valid, 131021 Recipient cannot be sender, 131026 Message undeliverable, 131047
Re-engagement message (more than 24 h since the customer last wrote: send a template),
131049 Meta chose not to deliver, 131051 Unsupported message type, 132000-132016 template
errors, 135000 Generic user error, ..."""

_URL = re.compile(r"https?://", re.IGNORECASE)


def payload(msg: OutboundMessage) -> dict[str, Any]:
    """The JSON body of the send: ``text``, or what ``msg.content`` asks for."""
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": msg.to.lstrip("+"),
    }
    content = msg.content
    if content is None:
        preview = bool(_URL.search(msg.text))
        return {**body, "type": "text", "text": {"body": msg.text, "preview_url": preview}}
    kind = content.get("kind")
    if kind == "template":
        template: dict[str, Any] = {
            "name": content["name"],
            "language": {"code": content.get("language", "en_US")},
        }
        params = [{"type": "text", "text": str(p)} for p in content.get("params", ())]
        if params:
            template["components"] = [{"type": "body", "parameters": params}]
        return {**body, "type": "template", "template": template}
    if kind == "buttons":
        buttons = [
            {"type": "reply", "reply": {"id": str(b["id"]), "title": str(b["title"])}}
            for b in content["buttons"]
        ]
        action: dict[str, Any] = {"buttons": buttons}
        interactive = {"type": "button", "body": {"text": msg.text}, "action": action}
    elif kind == "list":
        sections = [
            {
                **({"title": str(s["title"])} if s.get("title") else {}),
                "rows": [
                    {
                        "id": str(r["id"]),
                        "title": str(r["title"]),
                        **({"description": str(r["description"])} if r.get("description") else {}),
                    }
                    for r in s["rows"]
                ],
            }
            for s in content["sections"]
        ]
        action = {"button": str(content.get("button", "Choose")), "sections": sections}
        interactive = {"type": "list", "body": {"text": msg.text}, "action": action}
    else:
        raise RejectedWithReason("content", f"no WhatsApp message of content kind {kind!r}")
    return {**body, "type": "interactive", "interactive": interactive}


def _rejection(resp: httpx.Response) -> SendError | None:
    """The SendError of a Graph API error body, or None when it has no ``error.code``."""
    try:
        data: Any = resp.json()
    except ValueError:
        return None
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict) or err.get("code") is None:
        return None
    code = str(err["code"])
    data_ = err.get("error_data")
    details = data_.get("details") if isinstance(data_, dict) else None
    text = str(err.get("message", "")) + (f": {details}" if details else "")
    kind = ERROR_CODES.get(code)
    if kind is None:
        return RejectedWithReason(code, text, status_code=resp.status_code)
    return kind(f"meta error {code}: {text}", status_code=resp.status_code)


class MetaWhatsApp:
    """Sends one message through the WhatsApp Cloud API, with a bearer access token."""

    channel_type: ClassVar[str] = "whatsapp.meta"
    channel: ClassVar[str] = "whatsapp"
    secret_fields: ClassVar[tuple[str, ...]] = ("access_token", "app_secret", "verify_token")

    def __init__(self, config: MetaSettings, http: httpx.AsyncClient) -> None:
        self._config, self._http = config, http

    async def send(self, msg: OutboundMessage) -> SendResult:
        token = self._config.access_token.get_secret_value()
        if not token or not self._config.phone_number_id:
            raise ChannelConfigInvalid("meta access_token and phone_number_id are required")
        try:
            body = payload(msg)
        except (KeyError, TypeError) as exc:
            raise RejectedWithReason("content", f"content lacks {exc}") from None
        c = self._config
        url = f"{c.base_url.rstrip('/')}/{c.api_version}/{c.phone_number_id}/messages"
        headers = {"Authorization": f"Bearer {token}"}
        try:
            resp = await self._http.post(url, json=body, headers=headers)
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        raise_for_send_status(resp, reject=_rejection)
        data = parse_json(resp)
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
            raise ResponseUnparseable("no messages[] in the answer", status_code=resp.status_code)
        ids = tuple(str(m["id"]) for m in messages if isinstance(m, dict) and m.get("id"))
        if not ids:
            raise ResponseUnparseable("messages[] holds no id", status_code=resp.status_code)
        return SendResult(external_ids=ids, status="queued", raw=data)
