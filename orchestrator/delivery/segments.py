"""How many SMS segments a text needs: what a provider counts against a sender's rate. PURE.

A text that fits the GSM-7 alphabet (3GPP TS 23.038: the basic table, plus the extension table
whose characters, ``^{}\\[~]|€`` and form feed, take an escape septet each: 2 septets) is sent
in GSM-7: 160 septets in a single segment, 153 a part once it needs several (each part gives 7
bytes to its concatenation header). Any other character makes the whole text UCS-2, counted in
UTF-16 code units (an emoji outside the basic plane is 2): 70 in one segment, 67 a part.

Like Twilio's segment calculator, a part never splits an escape sequence or a surrogate pair:
a character that does not fit what is left of a part starts the next one, so 67 emoji (134
code units) need 3 parts, not 2.

Example::

    assert count_segments("Hello") == 1
    assert count_segments("x" * 161) == 2
    assert segments("Grüße ☺").encoding == "UCS-2"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""The GSM-7 basic character table (the escape character itself aside): one septet each."""
GSM_EXTENDED = frozenset("\f^{}\\[~]|€")
"""The GSM-7 extension table characters: an escape septet and their own, two each."""

_LIMITS: dict[Encoding, tuple[int, int]] = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """A text's encoding, its size in that encoding's units, and the segments it needs."""

    encoding: Encoding
    units: int
    segments: int


def encoding_of(text: str) -> Encoding:
    """GSM-7 when every character is in its tables, else UCS-2."""
    gsm = all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in text)
    return "GSM-7" if gsm else "UCS-2"


def segments(text: str) -> SegmentCount:
    """The encoding, units and segment count of ``text`` (an empty text is one segment)."""
    encoding = encoding_of(text)
    sizes = [_units(ch, encoding) for ch in text]
    total = sum(sizes)
    single, part = _LIMITS[encoding]
    if total <= single:
        return SegmentCount(encoding, total, 1)
    parts, room = 1, part
    for size in sizes:  # a character never straddles two parts
        if size > room:
            parts, room = parts + 1, part
        room -= size
    return SegmentCount(encoding, total, parts)


def count_segments(text: str) -> int:
    """How many segments ``text`` needs (see the module docstring)."""
    return segments(text).segments


def _units(ch: str, encoding: Encoding) -> int:
    if encoding == "GSM-7":
        return 2 if ch in GSM_EXTENDED else 1
    return 2 if ord(ch) > 0xFFFF else 1
