"""The web chat widget in a real browser: Debian's chromium, driven by Playwright, opens the demo
page, types HELP and sees the HELP flow's reply in the chat box."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from orchestrator.settings import Settings
from tests.integration.helpers import Pipeline

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_PRESENT = CHROMIUM.is_file()
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def webchat_pipeline(settings: Settings) -> AsyncIterator[Pipeline]:
    enabled = settings.model_copy(
        update={"channels": {**settings.channels, "webchat": ("webchat",)}}
    )
    async with Pipeline.running(enabled) as pipe:
        yield pipe


async def test_the_widget_sends_help_and_shows_the_reply(webchat_pipeline: Pipeline) -> None:
    assert CHROMIUM_PRESENT, "chromium is missing: apt-get install -y chromium (see .ci/run)"
    pipe = webchat_pipeline
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{pipe.api_url}/webchat/")
            await expect(page.get_by_role("status")).to_have_text("Connected", timeout=20_000)
            box = page.get_by_label("Message")
            await box.fill("HELP")
            await box.press("Enter")
            log = page.get_by_role("log")
            await expect(log.locator(".continuum-webchat-mine")).to_contain_text("HELP")
            reply = log.locator(".continuum-webchat-reply")
            await expect(reply).to_contain_text("Continuum Demo Store", timeout=30_000)
            token = await page.evaluate("Object.values(localStorage)[0]")
            assert token, "the session token is kept to resume the session"
        finally:
            await browser.close()
