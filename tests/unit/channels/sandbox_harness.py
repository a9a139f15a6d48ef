"""Sandbox test harness: a started sandbox app whose outgoing webhooks are recorded.

Imported by conftest.py (which exposes the fixtures) and by the sandbox tests (for the types).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from channels.sandbox import SandboxConfig, create_sandbox_app
from channels.sandbox.runtime import SandboxRuntime

SANDBOX_CONFIG = SandboxConfig(
    twilio_account_sid="AC" + "1" * 32,
    twilio_auth_token=SecretStr("unit-test-token"),
    status_delay_s=0.01,
    callback_attempts=3,
    callback_backoff_s=0.001,
)


@dataclass
class Hook:
    """One webhook post the sandbox made."""

    url: str
    form: dict[str, str]
    signature: str | None


@dataclass
class RecordingWebhooks:
    """MockTransport handler standing in for Continuum's webhooks: records posts, answers as told.

    ``script`` holds per-URL answers consumed in order (a status code or an exception); once it
    is empty the answer is 200.
    """

    hooks: list[Hook] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    """Every post as sent (raw body and headers), for providers whose webhooks are not forms."""
    script: dict[str, list[int | Exception]] = field(default_factory=dict)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        self.hooks.append(Hook(url, form, request.headers.get("X-Twilio-Signature")))
        self.requests.append(request)
        answers = self.script.get(url)
        answer = answers.pop(0) if answers else 200
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer)


@dataclass
class Sandbox:
    """A started sandbox app, a client for it, and the webhooks it posted."""

    app: FastAPI
    client: httpx.AsyncClient
    webhooks: RecordingWebhooks
    config: SandboxConfig

    @property
    def runtime(self) -> SandboxRuntime:
        runtime: SandboxRuntime = self.app.state.sandbox
        return runtime

    @property
    def auth(self) -> tuple[str, str]:
        return self.config.twilio_account_sid, self.config.twilio_auth_token.get_secret_value()

    @property
    def messages_path(self) -> str:
        return f"/2010-04-01/Accounts/{self.config.twilio_account_sid}/Messages.json"

    async def wait_until(
        self, check: Callable[[], Awaitable[bool] | bool], within_s: float = 3.0
    ) -> None:
        """Poll ``check`` until it holds or the deadline passes (then fail)."""
        await wait_until(check, within_s)


async def wait_until(check: Callable[[], Awaitable[bool] | bool], within_s: float = 3.0) -> None:
    """Poll ``check`` until it holds; fail once ``within_s`` seconds have passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert loop.time() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.005)


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SANDBOX_CONFIG


@pytest.fixture
async def sandbox(sandbox_config: SandboxConfig) -> AsyncIterator[Sandbox]:
    webhooks = RecordingWebhooks()
    async with httpx.AsyncClient(transport=httpx.MockTransport(webhooks)) as hooks_http:
        app = create_sandbox_app(sandbox_config, http=hooks_http)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
                yield Sandbox(app, client, webhooks, sandbox_config)
