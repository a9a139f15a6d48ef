"""A web chat session's mailbox in Redis: the reply stream and the delivered position.

The stream ``ct:webchat:{<session>}`` holds the replies (``{id, text, at}``) in order; the
string ``ct:webchat:{<session>}:pos`` holds the id of the last entry a socket of the session
delivered. The position only moves forward (:func:`advance_position`): with two sockets open,
the slower one never sets it back, so a later connection never gets a reply again. The hash tag
keeps both keys on one Redis Cluster slot. Example::

    moved = await advance_position(redis, position_key("wc_abc"), "1700000000000-0", 86_400)
"""

from __future__ import annotations

from typing import Any

MAILBOX_MATCH = "ct:webchat:{wc_*}"
"""A SCAN pattern matching every mailbox stream (and, without a type filter, positions)."""

_ADVANCE = """
local current = redis.call('GET', KEYS[1])
if current then
  local cms, cseq = string.match(current, '^(%d+)-(%d+)$')
  local nms, nseq = string.match(ARGV[1], '^(%d+)-(%d+)$')
  if cms and nms then
    cms, cseq, nms, nseq = tonumber(cms), tonumber(cseq), tonumber(nms), tonumber(nseq)
    if nms < cms or (nms == cms and nseq <= cseq) then
      return 0
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
"""Set the position to ARGV[1] (expiring after ARGV[2] s) unless it is already there or past."""


def mailbox_key(session_id: str) -> str:
    """The session's reply stream; the hash tag keeps it and its position on one cluster slot."""
    return f"ct:webchat:{{{session_id}}}"


def position_key(session_id: str) -> str:
    """The id of the last mailbox entry a socket delivered."""
    return f"ct:webchat:{{{session_id}}}:pos"


def session_of(key: str) -> str | None:
    """The session id a mailbox stream key names, or None for any other key."""
    if key.startswith("ct:webchat:{") and key.endswith("}"):
        return key[len("ct:webchat:{") : -1] or None
    return None


def entry_order(entry_id: str) -> tuple[int, int]:
    """A stream entry id ``<ms>-<seq>`` as numbers, in the order Redis gives the entries.

    >>> entry_order("10-0") > entry_order("9-5")
    True
    """
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def text(value: bytes | str) -> str:
    """A Redis reply as text (the service's clients answer bytes)."""
    return value.decode() if isinstance(value, bytes) else value


def fields(raw: dict[Any, Any]) -> dict[str, str]:
    """A stream entry's fields as text."""
    return {text(k): text(v) for k, v in raw.items()}


async def advance_position(redis: Any, key: str, entry_id: str, ttl_s: int) -> bool:
    """Move the delivered position ``key`` to ``entry_id`` if that is past it (one atomic
    script), refreshing its expiry; whether it moved. A socket that delivered an entry another
    socket had already delivered, or a later one, gets False and leaves the position alone."""
    moved = await redis.eval(_ADVANCE, 1, key, entry_id, ttl_s)
    return bool(int(moved))
