"""Customer addresses in one canonical spelling, whatever way they were typed.

Every entry point (the webhooks, the inbound and events workers, ``continuum send``) passes the
address it received through :func:`normalize`, so that ``+1 (555) 123-0001`` and
``+15551230001`` are one identity, one customer and one consent record.

- ``sms``, ``whatsapp``: E.164 (``+15551230001``), parsed with ``phonenumbers``. The number must
  be international (``+`` or ``00`` first) and of a possible length for its country; a
  ``tel:`` or ``whatsapp:`` prefix is dropped. Validity (an assigned range) is not required:
  the ``+1 555`` numbers of the docs and tests are possible but not valid. On ``whatsapp`` a
  number of bare digits (Meta's ``wa_id``, ``15551230001``) is taken as international.
- ``email``: surrounding space and a ``mailto:`` prefix dropped, the domain lower-cased; the
  local part is kept as typed (RFC 5321 lets servers treat it case-sensitively).
- anything else (``webchat`` session ids, ``webhook`` ids): surrounding space dropped.

An address that cannot be normalised raises :class:`InvalidAddress`: callers turn it into a
4xx, a CLI error, or a dead letter with the reason ``invalid_address``. Pure: no I/O.
"""

from __future__ import annotations

import re

import phonenumbers

PHONE_CHANNELS = frozenset({"sms", "whatsapp"})
MAX_LENGTH = 320

_PHONE_CHARS = re.compile(r"\+?[0-9 ().\-/]+")
_PHONE_PREFIXES = ("tel:", "whatsapp:")
_CONTROL_OR_SPACE = re.compile(r"[\s\x00-\x1f\x7f]")


class InvalidAddress(ValueError):
    """Raised when an address cannot be put in its channel's canonical form."""

    reason = "invalid_address"


def normalize(channel: str, address: str) -> str:
    """``address`` in the canonical form of ``channel``, or raise :class:`InvalidAddress`."""
    if channel == "whatsapp" and address.strip().isdigit():
        return normalize_phone("+" + address.strip())  # a wa_id: the number without its "+"
    if channel in PHONE_CHANNELS:
        return normalize_phone(address)
    if channel == "email":
        return normalize_email(address)
    return _normalize_opaque(address)


def normalize_phone(address: str) -> str:
    """An international phone number as E.164, e.g. ``+15551230001``."""
    text = address.strip()
    for prefix in _PHONE_PREFIXES:
        if text.lower().startswith(prefix):
            text = text[len(prefix) :].strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+") or not _PHONE_CHARS.fullmatch(text):
        raise InvalidAddress(f"{address!r} is not an international phone number (+<digits>)")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidAddress(f"{address!r} is not a phone number: {exc}") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidAddress(f"{address!r} has an impossible length for its country code")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(address: str) -> str:
    """``local@domain`` with the domain lower-cased."""
    text = address.strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or "." not in domain.strip("."):
        raise InvalidAddress(f"{address!r} is not an email address (local@domain.tld)")
    if _CONTROL_OR_SPACE.search(text) or len(text) > MAX_LENGTH:
        raise InvalidAddress(f"{address!r} is not an email address (space or control character)")
    return f"{local}@{domain.lower()}"


def _normalize_opaque(address: str) -> str:
    text = address.strip()
    if not text or _CONTROL_OR_SPACE.search(text) or len(text) > MAX_LENGTH:
        raise InvalidAddress(f"{address!r} is empty, too long, or holds a space or control char")
    return text


def normalize_lookup(channel: str, address: str) -> str:
    """``address`` as stored for ``channel`` when it normalises, else as typed: for look-ups
    (``continuum ledger query --address``, ``policy explain --address``), where a spelling that
    matches nothing should find nothing rather than fail."""
    try:
        return normalize(channel, address)
    except InvalidAddress:
        return address.strip()


def guess_channel(address: str) -> str:
    """The channel whose addresses look like ``address``: ``sms`` for numbers, ``email`` for
    ``local@domain``, else ``webchat``; lets a look-up with no channel normalise its argument."""
    text = address.strip()
    if text.startswith(("+", "00", "tel:")):
        return "sms"
    return "email" if "@" in text else "webchat"
