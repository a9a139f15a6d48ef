"""Text that PostgreSQL cannot store, made storable without losing what it said.

PostgreSQL's ``text`` and ``jsonb`` refuse the NUL character (``\\x00``, JSON ``\\u0000``), and
a Python string can hold lone surrogates (``\\ud800``) that are not UTF-8 at all. Every string of
a ledger row, column or anywhere inside ``detail`` (keys too), is passed through
:func:`storable_row`: such characters are replaced by their escape as visible text
(``\\x00`` becomes the six characters ``\\u0000``), and the original of every string that was
changed is kept, base64 of its UTF-8 bytes (lone surrogates as their three-byte forms), in
``detail["_original_b64"]`` under the path of the field (``address``, ``detail.text``,
``detail.items.0``; a changed key of ``detail`` under its path and ``#key``). Escaping alone
would be ambiguous (the customer may have typed ``\\u0000``); with the originals nothing is
lost.
"""

from __future__ import annotations

import base64
import re
from typing import Any

ORIGINALS = "_original_b64"

# NUL and every lone surrogate: the characters PostgreSQL text cannot hold.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def storable_text(value: str) -> str | None:
    """``value`` escaped, or None when it is storable as it is."""
    if _UNSTORABLE.search(value) is None:
        return None
    return _UNSTORABLE.sub(_escape, value)


class _Escaper:
    def __init__(self) -> None:
        self.originals: dict[str, str] = {}

    def text(self, value: str, path: str) -> str:
        escaped = storable_text(value)
        if escaped is None:
            return value
        raw = value.encode("utf-8", "surrogatepass")
        self.originals[path] = base64.b64encode(raw).decode()
        return escaped

    def any(self, value: Any, path: str) -> Any:
        if isinstance(value, str):
            return self.text(value, path)
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for k, v in value.items():
                key = storable_text(k) or k
                if key != k:  # the key itself: its original under the path with "#key"
                    self.text(k, f"{path}.{key}#key")
                out[key] = self.any(v, f"{path}.{key}")
            return out
        if isinstance(value, list | tuple):
            return [self.any(v, f"{path}.{i}") for i, v in enumerate(value)]
        return value


def storable_row(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of a ledger row's fields that PostgreSQL accepts, originals kept in ``detail``."""
    escaper = _Escaper()
    out = {k: escaper.any(v, k) for k, v in doc.items() if k != "detail"}
    detail = escaper.any(doc.get("detail") or {}, "detail")
    if escaper.originals:
        detail = {**detail, ORIGINALS: escaper.originals}
    out["detail"] = detail
    return out
