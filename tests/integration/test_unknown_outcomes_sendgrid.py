"""A SendGrid send whose outcome is unknown, reconciled through the Email Activity API (real
Redis, the sandbox over HTTP).

The sandbox's ``timeout`` fault accepts the mail and holds the answer past the adapter's
timeout, so the send is ``unknown``; the reconciler asks ``GET /v3/messages`` for the mail
whose ``continuum_message_id`` is ours, records it accepted with its ``X-Message-Id``, and a
receipt that names the mail only by ``sg_message_id`` (SendGrid drops custom args from some
bounces), parked before, is handed back and matches.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from channels.sandbox import SandboxConfig
from channels.sandbox.faults import FaultRule
from channels.sendgrid import SendGridEmail, SendGridSettings
from orchestrator.events import MESSAGE_STATUS, new_event
from orchestrator.settings import ReconcileSettings, Settings
from orchestrator.topics import Topics
from tests.integration.test_unknown_outcomes import entry
from tests.integration.unknown_rig import Rig, unknown_rig

PROVIDER = "email.sendgrid"
TO = "ann@example.org"


@pytest.fixture
async def rig(settings: Settings) -> AsyncIterator[Rig]:
    def sendgrid(url: str, http: httpx.AsyncClient) -> SendGridEmail:
        return SendGridEmail(SendGridSettings(base_url=url), http)

    async with unknown_rig(settings, SandboxConfig(), sendgrid) as rig:
        yield rig


@pytest.mark.timeout(60)
async def test_a_timed_out_sendgrid_send_is_reconciled_and_its_receipt_matches(rig: Rig) -> None:
    rig.runtime.faults.add(FaultRule(provider="sendgrid", kind="timeout", seconds=2, count=1))
    await rig.dispatch("msg_mail", TO, "Your code is 4711")
    assert (await entry(rig.client, "msg_mail"))["state"] == "unknown"
    assert [step for step, _ in rig.steps()] == ["provider_unknown"]
    [stored] = rig.runtime.store.matching(provider="sendgrid", to=TO)  # SendGrid has it

    # A receipt naming the mail by SendGrid's id only: no send has it yet, so it is parked.
    receipt = new_event(
        MESSAGE_STATUS,
        "rcpt_1",
        "/test",
        {"provider": PROVIDER, "external_id": stored.sid, "status": "delivered"},
    )
    await rig.receipt(receipt.to_bytes())
    assert rig.pub.audits[-1].message_id is None

    assert await rig.reconciler(ReconcileSettings(delay_s=0)).reconcile_due() is False
    done = await entry(rig.client, "msg_mail")
    assert (done["state"], done["external_ids"]) == ("accepted", [stored.sid])
    assert rig.steps()[-1] == ("provider_reconciled", "accepted")
    assert rig.pub.audits[-1].external_id == stored.sid
    assert await rig.index.count() == 0
    assert rig.metrics.reconcile_total.labels(PROVIDER, "found")._value.get() == 1

    [handed] = [e for t, e in rig.pub.published if t == Topics().status]
    await rig.receipt(handed.to_bytes())
    matched = rig.pub.audits[-1]
    assert (matched.step, matched.outcome, matched.message_id) == (
        "status_changed",
        "delivered",
        "msg_mail",
    )
