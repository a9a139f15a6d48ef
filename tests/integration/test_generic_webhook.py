"""One message in through the generic webhook, its reply out to the business's URL, and the
business's status callback in the ledger (the sandbox plays the business)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from channels.generic import INBOUND_PATH
from channels.generic.sandbox import SANDBOX_SECRET, SEND_PATH
from orchestrator.settings import Settings
from tests.integration.helpers import Pipeline, eventually

ADDRESS = "crm-contact-4711"


@pytest.fixture
async def webhook_pipeline(settings: Settings) -> AsyncIterator[Pipeline]:
    """The pipeline with the generic provider on the webhook medium, posting to the sandbox."""
    enabled = settings.model_copy(
        update={
            "channels": {**settings.channels, "webhook": ("generic",)},
            "generic": settings.generic.model_copy(
                update={"url": f"http://127.0.0.1:{settings.sandbox.port}{SEND_PATH}"}
            ),
        }
    )
    assert enabled.generic.secret.get_secret_value() == SANDBOX_SECRET
    async with Pipeline.running(enabled) as pipe:
        yield pipe


async def test_an_inbound_webhook_message_is_answered_at_the_business_url(
    webhook_pipeline: Pipeline,
) -> None:
    pipe = webhook_pipeline
    resp = await pipe.http.post(
        f"{pipe.sandbox_url}/_sandbox/generic/inbound",
        json={"url": f"{pipe.api_url}{INBOUND_PATH}", "from": f" {ADDRESS} ", "text": "HELP"},
    )
    assert resp.json()["status_code"] == 204

    sent: list[dict[str, Any]] = await eventually(pipe.sandbox_messages, lambda m: len(m) == 1)
    assert sent[0]["to"] == ADDRESS
    assert sent[0]["provider"] == "generic"
    steps = await eventually(
        lambda: pipe.ledger_steps(ADDRESS), lambda s: ("status_changed", "delivered") in s
    )
    assert ("inbound_received", "accepted") in steps
