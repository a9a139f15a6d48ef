"""The tests that classify a reply into an ask step's categories, by name (one registry).

Each test takes the reply text and the category's arguments and returns the matched value, or
``None`` when the reply does not match. ``expression`` is evaluated by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

import phonenumbers

Test = Callable[[str, Sequence[str | int | float], datetime], str | None]

_WORD = re.compile(r"[\w']+", re.UNICODE)
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DMY_DATE = re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b")


def has_any_word(text: str, args: Sequence[str | int | float], now: datetime) -> str | None:
    """Any word of the reply is one of ``args`` (case-insensitive): the word."""
    wanted = {str(a).casefold() for a in args}
    words: list[str] = _WORD.findall(text.casefold())
    return next((w for w in words if w in wanted), None)


def has_number_between(text: str, args: Sequence[str | int | float], now: datetime) -> str | None:
    """A number in the reply between ``args[0]`` and ``args[1]`` inclusive: the number."""
    low, high = float(args[0]), float(args[1])
    found: list[str] = _NUMBER.findall(text)
    for raw in found:
        value = float(raw.replace(",", "."))
        if low <= value <= high:
            return raw
    return None


def has_date(text: str, args: Sequence[str | int | float], now: datetime) -> str | None:
    """A date (YYYY-MM-DD, DD/MM/YYYY, today, tomorrow): the ISO date."""
    lowered = text.casefold()
    if "tomorrow" in lowered:
        return (now.date() + timedelta(days=1)).isoformat()
    if "today" in lowered:
        return now.date().isoformat()
    for pattern, order in ((_ISO_DATE, (1, 2, 3)), (_DMY_DATE, (3, 2, 1))):
        for m in pattern.finditer(text):
            try:
                y, mo, d = (int(m.group(i)) for i in order)
                return date(y, mo, d).isoformat()
            except ValueError:
                continue
    return None


def has_email(text: str, args: Sequence[str | int | float], now: datetime) -> str | None:
    """An email address: the address."""
    m = _EMAIL.search(text)
    return m.group(0) if m else None


def has_phone(text: str, args: Sequence[str | int | float], now: datetime) -> str | None:
    """A phone number (``args[0]``: default region, e.g. US): the E.164 number."""
    region = str(args[0]) if args else "US"
    for match in phonenumbers.PhoneNumberMatcher(text, region):
        return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    return None


def regex(text: str, args: Sequence[str | int | float], now: datetime) -> str | None:
    """The regular expression ``args[0]`` matches (case-insensitive): the match."""
    m = re.search(str(args[0]), text, re.IGNORECASE)
    return m.group(0) if m else None


TESTS: dict[str, Test] = {
    "has_any_word": has_any_word,
    "has_number_between": has_number_between,
    "has_date": has_date,
    "has_email": has_email,
    "has_phone": has_phone,
    "regex": regex,
}
"""Every test but ``expression``, by the name flow files use."""
