"""One phone number on sms and whatsapp is one customer (``identity.share_phone_across_media``),
through the real Redis and, end to end, the real pipeline."""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from orchestrator.settings import Settings
from orchestrator.state import keys
from orchestrator.state.store import RedisStateStore
from tests.integration.helpers import Pipeline, eventually, sms_event

NUMBER = "+15551230001"


def whatsapp_event(event_id: str, sender: str, text: str) -> bytes:
    """An inbound WhatsApp message as a provider's webhook publishes it."""
    doc = orjson.loads(sms_event(event_id, sender, text))
    doc["source"] = "/channels/whatsapp/meta"
    doc["data"]["channel"] = "whatsapp"
    return orjson.dumps(doc)


async def test_one_number_on_sms_and_whatsapp_is_one_customer(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    store = RedisStateStore(redis)
    sms = await store.resolve([("sms", NUMBER, "cus_a")])
    wa = await store.resolve([("whatsapp", NUMBER, "cus_b")])
    assert (sms[0].customer_id, sms[0].created) == ("cus_a", True)
    assert (wa[0].customer_id, wa[0].created) == ("cus_a", False)
    assert await redis.get(keys.identity_key("phone", NUMBER)) == b"cus_a"
    assert await store.owners([("whatsapp", NUMBER), ("sms", NUMBER)]) == ["cus_a", "cus_a"]
    # both media in one batch: the second finds the first's customer, not a second one
    both = await store.resolve(
        [("sms", "+15551230002", "cus_c"), ("whatsapp", "+15551230002", "cus_d")]
    )
    assert [(r.customer_id, r.created) for r in both] == [("cus_c", True), ("cus_c", False)]
    await redis.aclose()


async def test_switched_off_each_medium_has_its_own_customer(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    store = RedisStateStore(redis, share_phone_across_media=False)
    sms = await store.resolve([("sms", NUMBER, "cus_a")])
    wa = await store.resolve([("whatsapp", NUMBER, "cus_b")])
    assert [r.customer_id for r in (*sms, *wa)] == ["cus_a", "cus_b"]
    assert await redis.get(keys.identity_key("sms", NUMBER)) == b"cus_a"
    assert await redis.get(keys.identity_key("phone", NUMBER)) is None
    await redis.aclose()


async def test_identities_written_before_are_read_then_written_under_phone(
    redis_url: str,
) -> None:
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    await redis.set(keys.identity_key("sms", NUMBER), "cus_old")  # written by an older version
    store = RedisStateStore(redis)
    assert await store.owners([("whatsapp", NUMBER)]) == ["cus_old"]
    found = await store.resolve([("whatsapp", NUMBER, "cus_new")])
    assert (found[0].customer_id, found[0].created) == ("cus_old", False)
    assert await redis.get(keys.identity_key("phone", NUMBER)) == b"cus_old"
    assert await redis.get(keys.customer_key("cus_new")) is None  # no stray customer created
    # and a link made while sharing was on still holds when it is switched off
    off = RedisStateStore(redis, share_phone_across_media=False)
    await redis.delete(keys.identity_key("sms", NUMBER))
    assert await off.owners([("whatsapp", NUMBER)]) == ["cus_old"]
    await redis.aclose()


async def test_sms_then_whatsapp_from_one_number_reach_one_customer(settings: Settings) -> None:
    async with Pipeline.running(settings) as pipe:
        topics = pipe.service.topics

        async def resolved() -> list[tuple[str | None, str | None, str]]:
            rows = await pipe.ledger(NUMBER)
            return [
                (r.channel, r.customer_id, r.outcome) for r in rows if r.step == "customer_resolved"
            ]

        await pipe.produce(topics.inbound("sms"), sms_event("evt_id_sms", NUMBER, "hello"), NUMBER)
        first = await eventually(resolved, lambda r: len(r) == 1, timeout=30)
        # Meta's wa_id has no "+": the inbound worker normalises it to the same E.164 number
        wa = whatsapp_event("evt_id_wa", NUMBER.lstrip("+"), "hello again")
        await pipe.produce(topics.inbound("whatsapp"), wa, NUMBER)
        rows = await eventually(resolved, lambda r: len(r) == 2, timeout=30)
    (channel, customer, outcome) = first[0]
    assert (channel, outcome) == ("sms", "created")
    assert ("whatsapp", customer, "existing") in rows


async def test_stop_on_sms_refuses_a_reply_on_whatsapp_from_the_same_number(
    settings: Settings,
) -> None:
    async with Pipeline.running(settings) as pipe:
        topics = pipe.service.topics
        await pipe.produce(topics.inbound("sms"), sms_event("evt_stop", NUMBER, "STOP"), NUMBER)

        async def confirmations() -> list[dict[str, object]]:
            return [m for m in await pipe.sandbox_messages() if m["to"] == NUMBER]

        [confirmation] = await eventually(confirmations, lambda m: len(m) == 1, timeout=30)
        assert str(confirmation["body"]).startswith("You have been unsubscribed")
        # HELP is transactional, and the shipped policy sends nothing at all after STOP
        help_ = whatsapp_event("evt_help", NUMBER.lstrip("+"), "HELP")
        await pipe.produce(topics.inbound("whatsapp"), help_, NUMBER)

        async def blocks() -> list[tuple[str | None, str | None]]:
            rows = await pipe.ledger(NUMBER)
            return [
                (r.channel, r.reason)
                for r in rows
                if r.step == "decision" and r.outcome == "policy_blocked"
            ]

        [(channel, reason)] = await eventually(blocks, lambda b: len(b) == 1, timeout=30)
        resolved = [r for r in await pipe.ledger(NUMBER) if r.step == "customer_resolved"]
        assert len(await confirmations()) == 1  # nothing more went out
    assert channel == "whatsapp"
    assert "opted out (keyword:stop:sms" in str(reason)
    assert len(resolved) == 2
    assert {r.customer_id for r in resolved} == {resolved[0].customer_id}
