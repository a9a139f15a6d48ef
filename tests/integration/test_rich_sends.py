"""What a flow's message carries besides its text, through the real pipeline and the sandbox:
the shipped ``delivery-problem`` question goes as WhatsApp reply buttons inside the customer's
window, as the approved template with its parameters outside it, and as an email with the
flow's subject. Each customer writes first (HELP), so quiet hours never hold the answer."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import orjson

from channels.meta import WEBHOOK_PATH
from channels.sendgrid import INBOUND_PATH as SENDGRID_INBOUND
from orchestrator.settings import Settings
from tests.integration.helpers import Pipeline, eventually

QUESTION = "Would you like a call from our delivery team?"
WINDOW_S = 2
REPO = Path(__file__).resolve().parents[2]


def _delayed(event_id: str, customer: dict[str, str], order_id: str) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "/orders",
            "type": "event.order.delayed",
            "data": {"customer": customer, "order_id": order_id, "eta": "2026-11-28"},
        }
    )


async def _sent(pipe: Pipeline, **filters: str) -> list[dict[str, Any]]:
    resp = await pipe.http.get(f"{pipe.sandbox_url}/_sandbox/messages", params=filters)
    listed: list[dict[str, Any]] = resp.json()
    return listed


async def _question(pipe: Pipeline, **filters: str) -> dict[str, Any]:
    found = await eventually(
        lambda: _sent(pipe, **filters), lambda m: any(QUESTION in str(x["body"]) for x in m)
    )
    return next(x for x in found if QUESTION in str(x["body"]))


async def _inbound(pipe: Pipeline, provider: str, body: dict[str, str]) -> None:
    resp = await pipe.http.post(f"{pipe.sandbox_url}/_sandbox/{provider}/inbound", json=body)
    assert resp.status_code == 200, resp.text


async def test_inside_the_window_the_question_has_reply_buttons(pipeline: Pipeline) -> None:
    number = "+15551230041"
    meta = {"url": pipeline.api_url + WEBHOOK_PATH, "from": number}
    await _inbound(pipeline, "meta", {**meta, "text": "HELP"})
    await eventually(lambda: _sent(pipeline, provider="meta"), lambda m: len(m) == 1)
    customer = {"channel": "whatsapp", "address": number}
    await pipeline.produce(pipeline.service.topics.events, _delayed("d-41", customer, "4101"))
    question = await _question(pipeline, provider="meta")
    assert question["body"] == (
        "We're sorry: your order 4101 is running late and should now arrive by 2026-11-28. "
        f"{QUESTION} [Yes, call me | No, thanks]"
    )
    await _inbound(pipeline, "meta", {**meta, "text": "Yes, call me"})  # the button's title
    await eventually(
        lambda: pipeline.ledger(number), lambda t: any(r.step == "handed_off" for r in t)
    )


async def test_outside_the_window_the_approved_template_goes_with_its_parameters(
    settings: Settings, tmp_path: Path
) -> None:
    # the shipped flows, with a WhatsApp window of 2 s instead of 24 h
    folder = tmp_path / "flows"
    shutil.copytree(REPO / "flows", folder)
    policy = (folder / "policy.yaml").read_text()
    assert "session_window: 24h" in policy
    (folder / "policy.yaml").write_text(
        policy.replace("session_window: 24h", f"session_window: {WINDOW_S}s")
    )
    async with Pipeline.running(settings.model_copy(update={"flows_dir": folder})) as pipe:
        number = "+15551230042"
        meta = {"url": pipe.api_url + WEBHOOK_PATH, "from": number, "text": "HELP"}
        wrote = time.monotonic()
        await _inbound(pipe, "meta", meta)
        await eventually(lambda: _sent(pipe, provider="meta"), lambda m: len(m) == 1)
        # the window closes by the clock (quiet hours still count the HELP as 15 minutes' grace)
        await asyncio.sleep(max(0.0, wrote + WINDOW_S + 0.5 - time.monotonic()))
        customer = {"channel": "whatsapp", "address": number}
        await pipe.produce(pipe.service.topics.events, _delayed("d-42", customer, "4202"))
        sent = await eventually(lambda: _sent(pipe, provider="meta"), lambda m: len(m) == 2)
        assert sent[-1]["body"] == "template order_delayed_v1 (en_US): 4202, 2026-11-28"
        trail = await eventually(
            lambda: pipe.ledger(number),
            lambda t: any(
                r.step == "message_queued" and r.flow_id == "delivery-problem" for r in t
            ),
        )
    [queued] = [r for r in trail if r.step == "message_queued" and r.flow_id == "delivery-problem"]
    assert queued.detail["template_name"] == "order_delayed_v1"
    assert queued.detail["content"]["params"] == ["4202", "2026-11-28"]


async def test_an_email_gets_the_flow_s_subject_and_the_choices_under_its_text(
    pipeline: Pipeline,
) -> None:
    address = "carl@example.com"
    email = {"url": pipeline.api_url + SENDGRID_INBOUND, "from": address, "to": "care@example.com"}
    await _inbound(pipeline, "sendgrid", {**email, "subject": "hi", "text": "HELP"})
    await eventually(lambda: _sent(pipeline, provider="sendgrid"), lambda m: len(m) == 1)
    customer = {"channel": "email", "address": address}
    await pipeline.produce(pipeline.service.topics.events, _delayed("d-43", customer, "4303"))
    question = await _question(pipeline, provider="sendgrid")
    assert question["subject"] == "Your order 4303 is running late"
    assert str(question["body"]).endswith(f"{QUESTION}\n\n- Yes, call me\n- No, thanks")
