"""SendGrid's Email Activity API, asked about a send whose outcome is unknown.

``GET /v3/messages?limit=…&query=…`` lists the messages SendGrid keeps, filtered in its query
language; the adapter asks for the ones whose custom argument ``continuum_message_id`` is ours
(SendGrid calls them ``unique_args`` there) and that went to the send's address::

    unique_args['continuum_message_id']="msg_1" AND to_email="ann@example.org"

The API is a paid add-on ("additional email activity history") and needs an API key with Email
Activity access; without either SendGrid answers 401/403, raised as
:class:`~channels.errors.ChannelConfigInvalid` saying so. It is rate limited (6 requests a
minute): a 429 is :class:`~channels.errors.Throttled`, asked again later.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import httpx

from channels._http import parse_json, raise_for_send_status, transport_error
from channels.base import FoundSend, OutboundMessage
from channels.errors import (
    ChannelConfigInvalid,
    RejectedWithReason,
    ResponseUnparseable,
    SendError,
)

MARKER_ARG = "continuum_message_id"
"""The custom argument every send carries (``personalizations[].custom_args``)."""

LIMIT = 10
"""Messages asked for: one id is one send, so more than one is a send SendGrid got twice."""

ACTIVITY_STATUS: Mapping[str, str] = {
    "processed": "sent",
    "delivered": "delivered",
    # bounced, dropped or blocked, or deferred until SendGrid gave up: not known to be final
    "not_delivered": "undelivered",
}
"""Email Activity ``status`` → Continuum status; anything else is ``"unknown"``."""

ADD_ON = (
    "the Email Activity API needs SendGrid's paid email activity history add-on and an API key "
    "with Email Activity access"
)


def activity_query(msg: OutboundMessage) -> str:
    """The query naming ``msg``'s message: its custom argument, and its address when the
    address can be written in the query language (it has no escape for ``"``)."""
    if '"' in msg.message_id or "\\" in msg.message_id:
        raise ChannelConfigInvalid(f"message id {msg.message_id!r} cannot be queried")
    query = f"unique_args['{MARKER_ARG}']=\"{msg.message_id}\""
    if '"' not in msg.to and "\\" not in msg.to:
        query += f' AND to_email="{msg.to}"'
    return query


async def find_sent(
    http: httpx.AsyncClient, base_url: str, key: str, msg: OutboundMessage
) -> list[FoundSend]:
    """SendGrid's messages carrying ``msg``'s id, each marked ours (the query filtered on it).

    Its ``external_id`` is the ``msg_id`` up to its first dot: the ``X-Message-Id`` of the send,
    as the Event Webhook's ``sg_message_id`` gives it, so that later receipts match."""
    url = f"{base_url.rstrip('/')}/v3/messages"
    params = {"limit": str(LIMIT), "query": activity_query(msg)}
    try:
        resp = await http.get(url, params=params, headers={"Authorization": f"Bearer {key}"})
    except httpx.TransportError as exc:
        raise transport_error(exc) from exc
    if resp.status_code == 404:
        return []
    raise_for_send_status(resp, reject=_rejection)
    items = parse_json(resp).get("messages")
    if not isinstance(items, list):
        raise ResponseUnparseable("activity answer has no messages", status_code=resp.status_code)
    return [found for item in items if (found := _found(item, msg)) is not None]


def _found(item: object, msg: OutboundMessage) -> FoundSend | None:
    """One message of the list as ours; None when unreadable or to another address (the
    query asked for ``msg``'s: a SendGrid that ignored a filter is not believed)."""
    if not isinstance(item, dict):
        return None
    msg_id, to = item.get("msg_id"), item.get("to_email")
    if not isinstance(msg_id, str) or not msg_id.split(".", 1)[0]:
        return None
    if not isinstance(to, str) or to.casefold() != msg.to.casefold():
        return None
    return FoundSend(
        external_id=msg_id.split(".", 1)[0],
        status=ACTIVITY_STATUS.get(str(item.get("status")), "unknown"),
        to=to,
        text=None,  # the list gives the subject, never the body
        created_at=_time(item.get("last_event_time")),
        marker=msg.message_id,
    )


def _time(value: object) -> datetime | None:
    """``last_event_time`` (ISO 8601, ``Z``) as a datetime; None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def _rejection(resp: httpx.Response) -> SendError | None:
    """401/403: no add-on or no Email Activity access on the key, said plainly; a 400 with
    SendGrid's ``errors[]`` (the query refused) is rejected with its reason; any other 4xx is
    left to ``ResponseStatus``."""
    try:
        body = resp.json()
    except ValueError:
        body = {}
    errors = body.get("errors") if isinstance(body, dict) else None
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    text = str(first.get("message") or f"HTTP {resp.status_code}")
    if resp.status_code in (401, 403):
        return ChannelConfigInvalid(f"sendgrid: {text} ({ADD_ON})", status_code=resp.status_code)
    if resp.status_code == 400 and first:
        return RejectedWithReason("400", text, status_code=400)
    return None
