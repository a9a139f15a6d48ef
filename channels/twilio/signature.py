"""Twilio's ``X-Twilio-Signature``: compute it for webhooks we send, validate it on ones we receive.

Twilio signs a webhook with ``base64(HMAC-SHA1(auth_token, url + name1 + value1 + name2 ...))``
where the form parameters are sorted by name (case-sensitive) and a repeated name contributes
each of its distinct values, sorted, as twilio-python's RequestValidator does. Example::

    form = {"From": "+15550001", "Body": "hi"}
    sig = compute_signature("12345", "https://example.com/hook", form)
    assert validate_signature("12345", "https://example.com/hook", form, sig)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

Params = Mapping[str, str | Sequence[str]]

_DEFAULT_PORTS = {"https": 443, "http": 80}


def compute_signature(auth_token: str, url: str, params: Params) -> str:
    """Return the ``X-Twilio-Signature`` value Twilio would send for this URL and form."""
    parts = [url]
    for name in sorted(params):
        value = params[name]
        values = (value,) if isinstance(value, str) else tuple(value)
        parts.extend(name + item for item in sorted(set(values)))
    digest = hmac.new(auth_token.encode(), "".join(parts).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def validate_signature(auth_token: str, url: str, params: Params, signature: str) -> bool:
    """Say whether ``signature`` signs this request, with or without the URL's default port.

    Twilio may sign ``https://host:443/x`` or ``https://host/x`` depending on how the webhook URL
    was configured, so, like twilio-python, both spellings are tried. Comparison is constant-time.
    """
    given = signature.encode()
    matched = False
    for candidate in _url_variants(url):
        expected = compute_signature(auth_token, candidate, params).encode()
        matched |= hmac.compare_digest(expected, given)
    return matched


def _url_variants(url: str) -> tuple[str, ...]:
    """Return ``url`` plus the same URL with its default port added or removed, when it has one."""
    split = urlsplit(url)
    default = _DEFAULT_PORTS.get(split.scheme.lower())
    start = len(split.scheme) + 3
    if default is None or not split.netloc or url[len(split.scheme) : start] != "://":
        return (url,)
    try:
        port = split.port
    except ValueError:  # a malformed port: nothing to add or strip
        return (url,)
    netloc = split.netloc
    if port is None:
        other = f"{netloc}:{default}"
    elif port == default:
        other = netloc.rpartition(":")[0]
    else:
        return (url,)
    return (url, url[:start] + other + url[start + len(netloc) :])
