"""Unknown outcomes resolved where the provider allows (real Redis, the sandbox over HTTP, Kafka).

A Twilio send whose answer comes after the adapter's timeout is ``unknown``; the reconciler
asks the sandbox's list of messages, finds it, records it accepted with its sid, and the receipt
that came before (parked) is handed back and matches. A send the sandbox never stored stays
unknown after the reconciler gives up, is listed by ``continuum dispatch resend --unknown``, and
re-sent by it exactly once.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import httpx
import orjson
import pytest
from pydantic import SecretStr

from channels.sandbox import SandboxConfig
from channels.twilio.adapter import TwilioSms
from channels.twilio.sandbox import HOLD_ACCEPTED_TO, HOLD_DROPPED_TO
from channels.twilio.settings import TwilioConfig
from orchestrator.commands.dispatch import resend
from orchestrator.commands.ledger import query
from orchestrator.delivery.resend import RESEND_OF
from orchestrator.events import MESSAGE_SEND, MESSAGE_STATUS, CloudEvent, new_event
from orchestrator.ledger.store import LedgerStore
from orchestrator.redis_client import RedisClient, make_redis
from orchestrator.service import Service
from orchestrator.settings import ReconcileSettings, Settings
from orchestrator.state import keys
from orchestrator.state.codec import load_entry
from orchestrator.state.unknown_sends import UnknownSend, UnknownSends
from orchestrator.topics import Topics
from tests.integration.helpers import Pipeline, eventually
from tests.integration.unknown_rig import Rig, now, unknown_rig

ACCOUNT, TOKEN = "AC" + "7" * 32, "reconcile-token"


@pytest.fixture
async def rig(settings: Settings) -> AsyncIterator[Rig]:
    config = SandboxConfig(twilio_account_sid=ACCOUNT, twilio_auth_token=SecretStr(TOKEN))

    def twilio(url: str, http: httpx.AsyncClient) -> TwilioSms:
        auth = SecretStr(TOKEN)
        config = TwilioConfig(
            account_sid=ACCOUNT, auth_token=auth, base_url=url, from_number="+15559990000"
        )
        return TwilioSms(config, http)

    async with unknown_rig(settings, config, twilio) as rig:
        yield rig


async def entry(client: RedisClient, message_id: str) -> dict[str, object]:
    raw = await client.get(keys.send_key(message_id))
    assert raw is not None
    return load_entry(raw)


def args(since: datetime, **flags: bool) -> argparse.Namespace:
    return argparse.Namespace(
        unknown=True,
        since=since,
        until=None,
        dry_run=flags.get("dry_run", False),
        yes=flags.get("yes", False),
    )


def ledger_args(since: datetime) -> argparse.Namespace:
    return argparse.Namespace(
        customer=None,
        address=None,
        since=since,
        until=None,
        step="provider_unknown",
        outcome=None,
        flow=None,
        channel=None,
        format="table",
        limit=100,
    )


@pytest.mark.timeout(60)
async def test_a_timed_out_send_the_provider_has_is_reconciled_and_its_receipt_matches(
    rig: Rig, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    started = now()
    await rig.dispatch("msg_held", HOLD_ACCEPTED_TO, "Your code is 4711")
    assert (await entry(rig.client, "msg_held"))["state"] == "unknown"
    assert [step for step, _ in rig.steps()] == ["provider_unknown"]
    assert await rig.index.count() == 1
    [stored] = rig.runtime.store.matching(provider="twilio", to=HOLD_ACCEPTED_TO)

    # Its receipt comes first: no send has that sid yet, so it is parked.
    receipt = new_event(
        MESSAGE_STATUS,
        "rcpt_1",
        "/test",
        {"provider": "sms.twilio", "external_id": stored.sid, "status": "delivered"},
    )
    await rig.receipt(receipt.to_bytes())
    assert rig.pub.audits[-1].message_id is None  # unmatched, kept

    assert await rig.reconciler(ReconcileSettings(delay_s=0)).reconcile_due() is False
    done = await entry(rig.client, "msg_held")
    assert (done["state"], done["external_ids"]) == ("accepted", [stored.sid])
    assert rig.steps()[-1] == ("provider_reconciled", "accepted")
    assert rig.pub.audits[-1].external_id == stored.sid
    assert await rig.index.count() == 0
    found = rig.metrics.reconcile_total.labels("sms.twilio", "found")._value.get()
    assert found == 1

    # The parked receipt is handed back, and now matches the message.
    [handed] = [e for t, e in rig.pub.published if t == Topics().status]
    await rig.receipt(handed.to_bytes())
    matched = rig.pub.audits[-1]
    assert (matched.step, matched.outcome, matched.message_id) == (
        "status_changed",
        "delivered",
        "msg_held",
    )

    # Known now: the operator's command has nothing to re-send.
    assert await resend(settings, args(started, dry_run=True)) == 0
    assert "no send is still unknown" in capsys.readouterr().out


@pytest.mark.timeout(90)
async def test_a_send_the_provider_never_got_stays_unknown_and_is_resent_once(
    rig: Rig,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = now() - timedelta(seconds=1)
    await rig.dispatch("msg_lost", HOLD_DROPPED_TO, "Your code is 1234")
    assert (await entry(rig.client, "msg_lost"))["state"] == "unknown"
    assert rig.runtime.store.matching(provider="twilio", to=HOLD_DROPPED_TO) == []

    gives_up = ReconcileSettings(delay_s=0, interval_s=3600, keep_s=1)
    await rig.reconciler(gives_up).reconcile_due()
    assert rig.steps()[-1] == ("provider_reconciled", "not_sent")
    assert (await entry(rig.client, "msg_lost"))["state"] == "unknown"
    assert await rig.index.count() == 1  # still unknown, for the operator
    assert await rig.reconciler(gives_up).reconcile_due() is False  # not looked at again
    assert rig.steps().count(("provider_reconciled", "not_sent")) == 1

    # The ledger lists its provider_unknown row and says it is still unknown.
    pool = await asyncpg.create_pool(settings.database, min_size=1, max_size=1)
    try:
        ledger = LedgerStore(pool)
        await ledger.migrate()
        await ledger.insert([r for r in rig.pub.audits if r.step == "provider_unknown"])
    finally:
        await pool.close()
    capsys.readouterr()
    assert await query(settings, ledger_args(started)) == 0
    listed = capsys.readouterr()
    assert "provider_unknown" in listed.out
    assert "1 of these 1 sends are still unknown" in listed.err

    assert await resend(settings, args(started, dry_run=True)) == 0
    assert "msg_lost" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal
    assert await resend(settings, args(started)) == 2
    assert "--yes" in capsys.readouterr().err

    assert await resend(settings, args(started, yes=True)) == 0
    assert await resend(settings, args(started, yes=True)) == 0  # nothing left: no second
    assert "no send is still unknown" in capsys.readouterr().out
    assert await rig.index.count() == 0

    topics = Topics(settings.kafka.topic_prefix)
    async with Pipeline.open(_Shim(settings)) as pipe:  # type: ignore[arg-type]
        sent = await pipe.read_topic(topics.outbound("sms"), 2, timeout=5.0)
        audits = await pipe.read_topic(topics.audit, 2, timeout=5.0)
    [again] = [CloudEvent.model_validate_json(r.value) for r in sent]
    assert again.id == "msg_lost.r1"
    assert (again.data or {})["message_id"] == "msg_lost.r1"
    assert (again.model_extra or {})[RESEND_OF] == "msg_lost"
    rows = [orjson.loads(r.value) for r in audits]
    assert [(r["data"]["step"], r["data"]["message_id"]) for r in rows] == [
        ("operator_resend", "msg_lost.r1")
    ]


@dataclass
class _Shim:
    """What :meth:`Pipeline.open` and ``read_topic`` need of a service: its settings."""

    settings: Settings


@pytest.mark.timeout(90)
async def test_the_service_runs_the_reconciler_beside_its_dispatcher(settings: Settings) -> None:
    fast = settings.model_copy(update={"reconcile": ReconcileSettings(delay_s=0, tick_s=0.1)})
    client = make_redis(settings.redis)
    event = new_event(
        MESSAGE_SEND,
        "msg_x",
        "/test",
        {
            "message_id": "msg_x",
            "customer_id": "cus_1",
            "channel": "sms",
            "to": "+15550001",
            "text": "x",
        },
        time=now(),
    )
    lost = UnknownSend("msg_x", "cus_1", "sms", "sms.gone", now(), now(), event.to_bytes().decode())
    await UnknownSends(client).add([lost])
    service = Service(fast, workers=["dispatcher"], api=False)
    try:
        await service.start()
        unsupported = service.metrics.reconcile_total.labels("sms.gone", "unsupported")
        await eventually(lambda: _value(unsupported), lambda v: v == 1, timeout=30)
        assert await UnknownSends(client).count() == 1  # stays unknown, for the operator
    finally:
        await service.stop()
        await client.aclose()


async def _value(counter: object) -> float:
    return float(counter._value.get())  # type: ignore[attr-defined]
