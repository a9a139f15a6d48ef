"""Durations in flow files: ``30m``, ``24h``, ``7d``, ``2w`` or ISO 8601 (``PT24H``, ``P1DT2H``)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

_SHORT = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_ISO = re.compile(
    r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)
PATTERN = r"^\s*(\d+\s*[smhdw]|[Pp](\d+[Ww])?(\d+[Dd])?([Tt](\d+[Hh])?(\d+[Mm])?(\d+[Ss])?)?)\s*$"
"""What :func:`parse_duration` accepts, as a JSON Schema ``pattern`` (ECMA 262 syntax)."""
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """Parse a duration; raise ``ValueError`` naming the accepted forms.

    Example::

        parse_duration("24h") == parse_duration("PT24H") == timedelta(hours=24)
    """
    value = text.strip()
    short = _SHORT.match(value)
    if short:
        return timedelta(**{_UNITS[short.group(2)]: int(short.group(1))})
    iso = _ISO.match(value.upper())
    if iso and value.upper() not in ("P", "PT"):
        parts = {k: int(v) for k, v in iso.groupdict().items() if v}
        return timedelta(
            weeks=parts.get("w", 0),
            days=parts.get("d", 0),
            hours=parts.get("h", 0),
            minutes=parts.get("m", 0),
            seconds=parts.get("s", 0),
        )
    raise ValueError(f"{text!r} is not a duration (use 30m, 24h, 7d, 2w or ISO 8601 like PT24H)")


def duration_schema(schema: dict[str, Any]) -> None:
    """JSON Schema for a duration field: a string matching :data:`PATTERN`. pydantic's own
    ``format: duration`` means ISO 8601 only, which ``24h`` is not."""
    schema.pop("format", None)
    schema.update(type="string", pattern=PATTERN, examples=["24h", "30m", "PT24H"])
