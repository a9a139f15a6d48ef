"""The sandbox's Email Activity API: ``GET /v3/messages`` over the mail the fake accepted.

Its query language is a strict subset of SendGrid's: equality clauses joined by ``AND``, each
optionally in parentheses, on ``unique_args['<name>']`` or ``to_email``::

    unique_args['continuum_message_id']="msg_1" AND (to_email="ann@example.org")

Anything else is not understood and :func:`parse_query` returns None (the route answers
SendGrid's 400). The fake keeps one custom argument of a mail, ``continuum_message_id``: a
clause on another one matches nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from channels.sandbox.store import SandboxMessage

MARKER_ARG = "continuum_message_id"

_CLAUSE = re.compile(
    r"""\s*(\()?\s*
    (?:unique_args\['(?P<arg>[A-Za-z0-9_.-]+)'\]|(?P<field>to_email))
    \s*=\s*"(?P<value>[^"\\]*)"
    \s*(?(1)\))\s*""",
    re.VERBOSE,
)
_AND = re.compile(r"AND(?=[\s(])")

_STATUS = {
    "accepted": "processed",
    "processed": "processed",
    "deferred": "processed",
    "bounce": "not_delivered",
    "blocked": "not_delivered",
    "dropped": "not_delivered",
}
"""The fake's last event of a mail → Email Activity ``status`` (anything later than delivery,
an open or a spam report, is ``delivered``)."""

Clause = tuple[str, str]
"""``(key, value)``: ``key`` is ``to_email``, or ``arg:<name>`` for ``unique_args['<name>']``."""


def parse_query(text: str) -> list[Clause] | None:
    """The equality clauses of ``text``, or None when it is not in the supported subset."""
    clauses: list[Clause] = []
    pos = 0
    while True:
        m = _CLAUSE.match(text, pos)
        if m is None:
            return None
        clauses.append((f"arg:{m['arg']}" if m["arg"] else "to_email", m["value"]))
        pos = m.end()
        if pos == len(text):
            return clauses
        if (joined := _AND.match(text, pos)) is None:
            return None
        pos = joined.end()


def _matches(message: SandboxMessage, clauses: Sequence[Clause]) -> bool:
    for key, value in clauses:
        if key == "to_email" and message.to != value:
            return False
        if key.startswith("arg:") and (key != f"arg:{MARKER_ARG}" or message.account_sid != value):
            return False
    return True


def sg_message_id(sid: str) -> str:
    """The full SendGrid message id of the mail whose ``X-Message-Id`` is ``sid``."""
    return f"{sid}.filterdrecv-sandbox-0"


def activity_messages(
    messages: Iterable[SandboxMessage], clauses: Sequence[Clause], limit: int
) -> dict[str, Any]:
    """The ``GET /v3/messages`` body: the matching mail, newest first, ``limit`` at most."""
    found = [m for m in reversed(list(messages)) if _matches(m, clauses)][:limit]
    return {
        "messages": [
            {
                "from_email": m.sender,
                "msg_id": sg_message_id(m.sid),
                "subject": m.subject or "",
                "to_email": m.to,
                "status": _STATUS.get(m.status, "delivered"),
                "opens_count": m.callbacks.count("open"),
                "clicks_count": m.callbacks.count("click"),
                "last_event_time": m.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            for m in found
        ]
    }
