"""The sandbox's background webhooks: signed status callbacks with retries, inbound SMS."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from sandbox_harness import SANDBOX_CONFIG, Sandbox, wait_until

from channels.sandbox import create_sandbox_app
from channels.sandbox.callbacks import status_form
from channels.sandbox.runtime import SandboxRuntime, Step
from channels.sandbox.store import SandboxMessage
from channels.twilio.adapter import parse_inbound, parse_status_callback
from channels.twilio.signature import validate_signature

HOOK = "https://continuum.test/webhooks/twilio/status?tenant=t1"
FORM = {"To": "+15550001", "From": "+15559999", "Body": "hello", "StatusCallback": HOOK}


async def send(sandbox: Sandbox, **extra: str) -> str:
    resp = await sandbox.client.post(
        sandbox.messages_path, data={**FORM, **extra}, auth=sandbox.auth
    )
    assert resp.status_code == 201, resp.text
    sid: str = resp.json()["sid"]
    return sid


async def listed(sandbox: Sandbox) -> dict[str, object]:
    messages = (await sandbox.client.get("/_sandbox/messages")).json()
    assert len(messages) == 1
    message: dict[str, object] = messages[0]
    return message


async def test_status_callbacks_arrive_in_order_signed(sandbox: Sandbox) -> None:
    sid = await send(sandbox)

    async def all_delivered() -> bool:
        return (await listed(sandbox))["callbacks"] == ["queued", "sent", "delivered"]

    await sandbox.wait_until(all_delivered)
    hooks = sandbox.webhooks.hooks
    assert [h.form["MessageStatus"] for h in hooks] == ["queued", "sent", "delivered"]
    token = sandbox.config.twilio_auth_token.get_secret_value()
    for hook in hooks:
        assert hook.url == HOOK
        assert hook.signature is not None
        assert validate_signature(token, HOOK, hook.form, hook.signature)
        assert not validate_signature("other-token", HOOK, hook.form, hook.signature)
        assert hook.form["SmsStatus"] == hook.form["MessageStatus"]
        assert (hook.form["MessageSid"], hook.form["SmsSid"]) == (sid, sid)
        assert hook.form["AccountSid"] == sandbox.config.twilio_account_sid
        assert (hook.form["From"], hook.form["To"]) == ("+15559999", "+15550001")
        assert hook.form["ApiVersion"] == "2010-04-01"
        assert "ErrorCode" not in hook.form
        assert parse_status_callback(hook.form).external_id == sid
    assert (await listed(sandbox))["status"] == "delivered"


async def test_status_advances_without_callback(sandbox: Sandbox) -> None:
    form = {k: v for k, v in FORM.items() if k != "StatusCallback"}
    resp = await sandbox.client.post(sandbox.messages_path, data=form, auth=sandbox.auth)
    assert resp.status_code == 201

    async def delivered() -> bool:
        return (await listed(sandbox))["status"] == "delivered"

    await sandbox.wait_until(delivered)
    assert sandbox.webhooks.hooks == []
    assert (await listed(sandbox))["callbacks"] == []


@pytest.mark.parametrize(
    "failure",
    [503, httpx.ConnectError("refused")],
    ids=["5xx", "connect-error"],
)
async def test_failed_callback_is_retried(sandbox: Sandbox, failure: int | Exception) -> None:
    sandbox.webhooks.script[HOOK] = [failure, failure]
    await send(sandbox)
    await sandbox.wait_until(lambda: sandbox.runtime.pending == 0)
    statuses = [h.form["MessageStatus"] for h in sandbox.webhooks.hooks]
    assert statuses == ["queued", "queued", "queued", "sent", "delivered"]
    assert (await listed(sandbox))["callbacks"] == ["queued", "sent", "delivered"]


async def test_retries_are_bounded(sandbox: Sandbox) -> None:
    sandbox.webhooks.script[HOOK] = [500] * 9
    await send(sandbox)
    await sandbox.wait_until(lambda: sandbox.runtime.pending == 0)
    assert len(sandbox.webhooks.hooks) == 3 * sandbox.config.callback_attempts
    message = await listed(sandbox)
    assert (message["status"], message["callbacks"]) == ("delivered", [])


async def test_4xx_callback_is_not_retried(sandbox: Sandbox) -> None:
    sandbox.webhooks.script[HOOK] = [403]
    await send(sandbox)
    await sandbox.wait_until(lambda: sandbox.runtime.pending == 0)
    assert [h.form["MessageStatus"] for h in sandbox.webhooks.hooks] == [
        "queued",
        "sent",
        "delivered",
    ]
    assert (await listed(sandbox))["callbacks"] == ["sent", "delivered"]


async def test_shutdown_cancels_pending_callbacks() -> None:
    config = SANDBOX_CONFIG.model_copy(update={"status_delay_s": 30.0})
    path = f"/2010-04-01/Accounts/{config.twilio_account_sid}/Messages.json"
    auth = (config.twilio_account_sid, config.twilio_auth_token.get_secret_value())
    hooks = httpx.MockTransport(lambda _request: httpx.Response(200))
    async with httpx.AsyncClient(transport=hooks) as hooks_http:
        app = create_sandbox_app(config, http=hooks_http)
        runtime = app.state.sandbox
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://sb"
            ) as client,
        ):
            resp = await client.post(path, data=FORM, auth=auth)
            assert resp.status_code == 201
            assert runtime.pending == 1
        assert runtime.pending == 0


def test_failed_status_form_carries_error_code() -> None:
    message = SandboxMessage("SM1", "AC1", "+1", "+2", "x", created_at=datetime.now(UTC))
    assert status_form(message, "failed", "30007")["ErrorCode"] == "30007"
    assert status_form(message, "undelivered")["ErrorCode"] == "30008"
    assert "ErrorCode" not in status_form(message, "sent")


INBOUND_URL = "https://continuum.test/webhooks/twilio/inbound"


async def test_simulated_inbound_sms(sandbox: Sandbox) -> None:
    sandbox.webhooks.script[INBOUND_URL] = [204]
    payload = {"url": INBOUND_URL, "from": "+15550001", "to": "+15559999", "body": "STOP"}
    resp = await sandbox.client.post("/_sandbox/twilio/inbound", json=payload)
    assert resp.status_code == 200
    assert resp.json()["status_code"] == 204
    [hook] = sandbox.webhooks.hooks
    token = sandbox.config.twilio_auth_token.get_secret_value()
    assert hook.signature is not None
    assert validate_signature(token, INBOUND_URL, hook.form, hook.signature)
    inbound = parse_inbound(hook.form)
    assert (inbound.id, inbound.sender, inbound.recipient, inbound.text) == (
        resp.json()["sid"],
        "+15550001",
        "+15559999",
        "STOP",
    )
    assert hook.form["SmsStatus"] == "received"
    assert hook.form["NumMedia"] == "0"
    assert hook.form["NumSegments"] == "1"
    assert hook.form["SmsSid"] == hook.form["SmsMessageSid"] == inbound.id


async def test_simulated_inbound_unreachable(sandbox: Sandbox) -> None:
    sandbox.webhooks.script[INBOUND_URL] = [httpx.ConnectError("refused")]
    payload = {"url": INBOUND_URL, "from": "+15550001", "to": "+15559999", "body": "hi"}
    resp = await sandbox.client.post("/_sandbox/twilio/inbound", json=payload)
    assert resp.status_code == 502
    assert resp.json()["sid"].startswith("SM")


async def test_a_failing_step_is_logged_and_the_next_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []

    async def boom() -> None:
        raise RuntimeError("boom")

    async def after() -> None:
        ran.append("after")

    runtime = SandboxRuntime(SANDBOX_CONFIG, http=None)
    async with runtime.running():
        await runtime.submit([boom, after])
        await wait_until(lambda: runtime.pending == 0)
    assert "background task failed" in caplog.text
    assert ran == ["after"]


async def test_callbacks_use_a_fixed_set_of_tasks_and_a_bounded_backlog() -> None:
    config = SANDBOX_CONFIG.model_copy(update={"callback_senders": 3, "callback_backlog": 5})
    gate = asyncio.Event()
    started: list[int] = []

    def step(i: int) -> Step:
        async def run() -> None:
            started.append(i)
            await gate.wait()

        return run

    runtime = SandboxRuntime(config, http=None)
    async with runtime.running():
        tasks_before = len(asyncio.all_tasks())
        for i in range(5):
            await runtime.submit([step(i)])
        assert len(asyncio.all_tasks()) == tasks_before  # no task per message
        sixth = asyncio.create_task(runtime.submit([step(5)]))
        await wait_until(lambda: len(started) == 3)  # three senders, three steps at a time
        assert not sixth.done()  # the backlog is full: submit waits
        assert runtime.pending == 5
        gate.set()
        await sixth
        await wait_until(lambda: runtime.pending == 0)
    assert sorted(started) == [0, 1, 2, 3, 4, 5]


async def test_the_owned_client_pool_is_sized_to_the_senders() -> None:
    config = SANDBOX_CONFIG.model_copy(update={"callback_senders": 7})
    runtime = SandboxRuntime(config, http=None)
    async with runtime.running():
        pool = runtime.http._transport._pool  # type: ignore[attr-defined]
        assert (pool._max_connections, pool._max_keepalive_connections) == (7, 7)
