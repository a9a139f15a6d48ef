"""The agent page: ``GET /agent``, one static file of HTML with its script and style inline.

The page asks for the agent's token (kept in the tab's ``sessionStorage``) and drives the agent
API with ``Authorization: Bearer``: presence, offers with the time left, conversations, the
history across channels, replies, notes, transfer and close. It reads ``GET /v1/agent/stream``
with ``fetch()`` rather than ``EventSource``, which cannot send a header, so the token never
appears in a URL or an access log. Its Content-Security-Policy lets in only the page's own
script and style (by hash) and requests to this origin.

Example::

    app.include_router(agent_page_router())  # then open http://127.0.0.1:8000/agent
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

PAGE = Path(__file__).with_name("agent_page.html")


def agent_page_router() -> APIRouter:
    """The route of the page (no token needed for the page itself: every call it makes does)."""
    page = PAGE.read_text(encoding="utf-8")
    headers = {
        "Content-Security-Policy": content_security_policy(page),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
    router = APIRouter()

    @router.get("/agent", include_in_schema=False)
    async def agent_page() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)

    return router


def content_security_policy(page: str) -> str:
    """A policy that allows the page's inline ``<script>`` and ``<style>`` by their hashes,
    and nothing else but requests to its own origin."""

    def hashes(tag: str) -> str:
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
        digests = (base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() for b in bodies)
        return " ".join(f"'sha256-{d}'" for d in digests)

    return (
        f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
        "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
