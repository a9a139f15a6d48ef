"""The agent page as served: HTML, a policy that admits only its own script and style, and no
data written into the page as HTML (the browser test drives it: tests/integration)."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
from fastapi import FastAPI

from orchestrator.api.agent_page import PAGE, agent_page_router


async def test_the_page_is_served_with_its_policy() -> None:
    app = FastAPI()
    app.include_router(agent_page_router())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        resp = await http.get("/agent")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert "/agent" not in app.openapi()["paths"]
    policy = resp.headers["content-security-policy"]
    [script] = re.findall(r"<script>(.*?)</script>", resp.text, flags=re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}';" in policy
    assert "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


def test_the_page_never_writes_html() -> None:
    source = PAGE.read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source
    for origin in ("http://", "https://", "//cdn"):  # no CDN: this origin only
        assert origin not in source
