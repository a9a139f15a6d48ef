"""SMS segment counting (GSM-7 or UCS-2), so the sandbox reports ``num_segments`` like Twilio."""

from __future__ import annotations

import math

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("\f^{}\\[~]|€")  # each costs an escape septet plus itself


def count_segments(text: str) -> int:
    """Return how many SMS segments ``text`` needs (160/153 GSM-7 septets, 70/67 UCS-2 units)."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in text):
        size, single, multi = sum(2 if ch in _GSM_EXTENDED else 1 for ch in text), 160, 153
    else:
        size, single, multi = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if size <= single else math.ceil(size / multi)
