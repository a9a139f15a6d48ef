"""A receipt that comes before the dispatcher has recorded its send (a provider that calls back
fast, a dispatcher batch that is slow to settle) is not lost: the status worker records it
unmatched and parks it, and the dispatcher's settle hands it back to be matched.

Real Redis for the parking itself; the real pipeline (API, status worker, ledger) for the
receipt's two ledger rows."""

from __future__ import annotations

import asyncpg
import orjson
from redis.asyncio import Redis

from channels.twilio.signature import compute_signature
from channels.twilio.webhooks import STATUS_PATH
from orchestrator.state.store import FinishedSend, RedisStateStore
from tests.integration.helpers import Pipeline, eventually

ENTRY = {
    "state": "accepted",
    "message_id": "msg_early",
    "customer_id": "cus_early",
    "channel": "sms",
    "to": "+15551230077",
    "provider": "sms.twilio",
}


async def test_a_parked_receipt_is_taken_once_by_whichever_side_comes_second(
    redis_url: str,
) -> None:
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    store = RedisStateStore(redis)
    # the receipt first: parked, nothing to take yet
    assert (
        await store.park_receipts([("sms.twilio", "SM1", b"r1"), ("sms.twilio", "SM1", b"r2")])
        == []
    )
    # the send's record takes both, in order, and only once
    send = FinishedSend("msg_1", ENTRY, "sms.twilio", ("SM1",))
    assert await store.settle_sends([send]) == [b"r1", b"r2"]
    assert await store.settle_sends([send]) == []
    # a receipt parked after its send was recorded is given straight back to the parker
    assert await store.park_receipts([("sms.twilio", "SM1", b"r3")]) == [b"r3"]
    assert await store.settle_sends([send]) == []
    await redis.aclose()


async def test_a_receipt_before_its_send_is_recorded_unmatched_then_matched(
    pipeline: Pipeline,
) -> None:
    url = pipeline.api_url + STATUS_PATH
    form = {
        "MessageSid": "SMearly1",
        "MessageStatus": "delivered",
        "AccountSid": "AC00000000000000000000000000000000",
    }
    sig = compute_signature("sandbox-auth-token", url, form)
    resp = await pipeline.http.post(url, data=form, headers={"X-Twilio-Signature": sig})
    assert resp.status_code == 204

    async def rows() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(pipeline.service.settings.database_url)
        try:
            return list(
                await conn.fetch(
                    "SELECT step, outcome, message_id, reason, detail FROM ledger"
                    " WHERE external_id = 'SMearly1' ORDER BY recorded_at",
                )
            )
        except asyncpg.UndefinedTableError:
            return []
        finally:
            await conn.close()

    [unmatched] = await eventually(rows, lambda r: len(r) == 1, timeout=30)
    assert (unmatched["step"], unmatched["outcome"], unmatched["message_id"]) == (
        "status_changed",
        "delivered",
        None,
    )
    assert unmatched["reason"].startswith("no sent message has this id")
    # the dispatcher records the send now, and hands the parked receipt back (as it does)
    redis = Redis.from_url(str(pipeline.service.settings.redis_url))
    taken = await RedisStateStore(redis).settle_sends(
        [FinishedSend("msg_early", ENTRY, "sms.twilio", ("SMearly1",))]
    )
    await redis.aclose()
    [raw] = taken
    await pipeline.produce(pipeline.service.topics.status, raw, "SMearly1")
    found = await eventually(rows, lambda r: len(r) == 2, timeout=30)
    late = found[1]
    assert (late["step"], late["outcome"], late["message_id"]) == (
        "status_changed",
        "delivered",
        "msg_early",
    )
    assert orjson.loads(late["detail"])["late"] is True
