"""Cross-channel fallback: is a failure worth another channel, and which one next. PURE.

A message carries its ``alternates`` (the flow step's ``fallback`` channels, each with the
customer's address and the text rendered for it, resolved at decision time). When it fails
**permanently** on its channel (the provider will never deliver it there: WhatsApp 131026, an
email hard bounce, an SMS to a landline), or no delivery receipt comes within the step's
``receipt_timeout``, the next alternate is sent once, as a new ``message.send`` whose id is
derived from the original's (``<id>.fb1``, ``<id>.fb2``: the send ledger refuses a repeat) and
which carries the alternates still left. The dispatcher's send-time policy runs on it as on any
send.

Example::

    if permanent("whatsapp", "failed", "131026"):
        cmd = next_command(original, "permanent:131026")  # the sms one, or None
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from orchestrator.events import MessageSend

PERMANENT_CODES: Mapping[str, frozenset[str]] = {
    # Meta Cloud API: 131026 message undeliverable (not a WhatsApp user, old app, terms not
    # accepted), 131021 recipient cannot be sender, 131045 phone number not registered.
    "whatsapp": frozenset({"131026", "131021", "131045"}),
    # Twilio: 21211 invalid 'To', 21612 cannot route, 21614 not a mobile number, 30003
    # unreachable handset, 30005 unknown destination, 30006 landline or unreachable carrier;
    # Vonage 33 number de-activated.
    "sms": frozenset({"21211", "21612", "21614", "30003", "30005", "30006", "33"}),
}
"""Provider error codes that mean the message can never be delivered on that medium."""

EMAIL_BOUNCES = frozenset({"bounce", "dropped"})
"""SendGrid events of a hard bounce (a ``blocked`` bounce is soft: ``undelivered``)."""

FAILED = frozenset({"failed", "undelivered"})
DELIVERED = frozenset({"delivered", "read"})
SETTLED = FAILED | DELIVERED
"""Statuses after which no delivery receipt is awaited any more."""

WITHOUT_RECEIPTS = frozenset({"email.smtp"})
"""Providers that never send a delivery receipt (plain SMTP): their messages get no receipt
checks, as none could ever be answered."""

_FALLBACK_ID = re.compile(r"^(?P<root>.+)\.fb(?P<n>\d+)$")


def permanent(
    channel: str, status: str, error_code: str | None, provider_status: str | None = None
) -> bool:
    """Whether a failure (a send refused with ``error_code``, ``status`` ``rejected``, or a
    ``failed``/``undelivered`` receipt) means the medium will never deliver this message."""
    if status not in FAILED and status != "rejected":
        return False
    if channel == "email" and status == "failed":
        return (provider_status or "bounce") in EMAIL_BOUNCES  # a hard bounce
    return error_code is not None and error_code in PERMANENT_CODES.get(channel, frozenset())


def fallback_id(cmd: MessageSend) -> str:
    """The id of ``cmd``'s fallback: ``<original>.fb<n>``, n counting the fallbacks tried."""
    found = _FALLBACK_ID.match(cmd.message_id)
    if found and cmd.fallback_from == found["root"]:
        return f"{found['root']}.fb{int(found['n']) + 1}"
    return f"{cmd.message_id}.fb1"


def next_command(cmd: MessageSend, reason: str) -> MessageSend | None:
    """The ``message.send`` on ``cmd``'s next alternate, or None when none is left. It is the
    same message (purpose, flow step, consent basis) on the other channel, its text rendered
    for it, with the alternates after it, ``fallback_from`` the original id and no
    ``not_before`` (the send-time policy may defer it again)."""
    if not cmd.alternates:
        return None
    alt, rest = cmd.alternates[0], cmd.alternates[1:]
    return cmd.model_copy(
        update={
            "message_id": fallback_id(cmd),
            "channel": alt.channel,
            "to": alt.to,
            "sender": None,
            "text": alt.text,
            "content": alt.content,
            "subject": alt.subject,
            "html": alt.html,
            "template_name": None,
            "not_before": None,
            "fallback": [a.channel for a in rest],
            "alternates": rest,
            "fallback_from": cmd.fallback_from or cmd.message_id,
            "fallback_reason": reason,
            "inbound_at": None,
        }
    )


def permanent_reason(error_code: str | None, provider_status: str | None = None) -> str:
    """The ``fallback_reason`` of a permanent failure: ``permanent:<code>``."""
    return f"permanent:{error_code or provider_status or 'failed'}"


RECEIPT_TIMEOUT = "receipt_timeout"


def expects_receipts(provider: str | None) -> bool:
    """Whether a provider reports delivery, so that its silence means something."""
    return provider is not None and provider not in WITHOUT_RECEIPTS


def check_due(kind: str, current: str | None, has_fallback: bool) -> str | None:
    """What a due receipt check does, given the message's ``current`` status (None: no receipt
    yet): ``fallback`` (a ``receipt_timeout`` check with a fallback to send and no delivery),
    ``overdue`` (an ``overdue`` check and no delivery receipt, failed or delivered, has come),
    or None (nothing to do)."""
    if kind == RECEIPT_TIMEOUT:
        return "fallback" if has_fallback and current not in DELIVERED else None
    if kind == "overdue":
        return "overdue" if current not in SETTLED else None
    return None


def is_final(status: str, fell_back: bool) -> bool:
    """Whether a status settles its message for the flows: delivered or read, or failed with
    no fallback sent after it."""
    return status in DELIVERED or (status in FAILED and not fell_back)
