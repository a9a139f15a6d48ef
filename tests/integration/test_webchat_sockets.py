"""A web chat session open on several sockets (tabs): every open socket sees each reply exactly
once, the delivered position of the session never moves back, and a reply queued while no
socket was open is delivered once, to the next connection, and not again after it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis

from channels.webchat import advance_position, mailbox_key, position_key
from tests.integration.helpers import Pipeline, eventually
from tests.integration.webchat_helpers import connect, frame, reply, session

pytestmark = pytest.mark.integration


async def _ids(ws: Any, count: int) -> list[str]:
    """The ids of the next ``count`` reply frames on ``ws``."""
    return [(await frame(ws, "message"))["id"] for _ in range(count)]


async def _position(redis: Redis, session_id: str) -> bytes | None:
    value: bytes | None = await redis.get(position_key(session_id))
    return value


async def test_two_open_sockets_each_get_every_reply_once(
    webchat_pipeline: Pipeline, redis: Redis
) -> None:
    pipe = webchat_pipeline
    chat = await session(pipe)
    sid = chat["session_id"]
    async with connect(pipe, chat["token"]) as tab1, connect(pipe, chat["token"]) as tab2:
        await reply(pipe, redis, sid, "r1", "one")
        await reply(pipe, redis, sid, "r2", "two")
        first = await asyncio.gather(_ids(tab1, 2), _ids(tab2, 2))
        # a third reply is each socket's next frame: neither got r1 or r2 a second time
        await reply(pipe, redis, sid, "r3", "three")
        after = await asyncio.gather(_ids(tab1, 1), _ids(tab2, 1))
    assert first == [["r1", "r2"], ["r1", "r2"]]
    assert after == [["r3"], ["r3"]]


async def test_a_reply_two_sockets_took_is_not_delivered_again_on_reconnect(
    webchat_pipeline: Pipeline, redis: Redis
) -> None:
    pipe = webchat_pipeline
    chat = await session(pipe)
    sid = chat["session_id"]
    for round_ in range(5):  # each round gives the two sockets' positions a chance to race
        async with connect(pipe, chat["token"]) as tab1, connect(pipe, chat["token"]) as tab2:
            ids = [f"a{round_}-{n}" for n in range(3)]
            for mid in ids:
                await reply(pipe, redis, sid, mid, mid)
            got = await asyncio.gather(_ids(tab1, 3), _ids(tab2, 3))
            assert got == [ids, ids]
            *_, (last, _) = await redis.xrange(mailbox_key(sid))
            await eventually(lambda: _position(redis, sid), lambda pos, last=last: pos == last)
        await reply(pipe, redis, sid, f"b{round_}", "after")
        async with connect(pipe, chat["token"]) as tab3:
            assert await _ids(tab3, 1) == [f"b{round_}"]


async def test_a_queued_reply_goes_once_to_the_next_connection_not_to_a_later_tab(
    webchat_pipeline: Pipeline, redis: Redis
) -> None:
    pipe = webchat_pipeline
    chat = await session(pipe)
    sid = chat["session_id"]
    await reply(pipe, redis, sid, "q1", "queued while closed")
    async with connect(pipe, chat["token"]) as tab1:
        assert await _ids(tab1, 1) == ["q1"]
        (entry, _), *_ = await redis.xrange(mailbox_key(sid))
        await eventually(lambda: _position(redis, sid), lambda pos: pos == entry)
        async with connect(pipe, chat["token"]) as tab2:
            await reply(pipe, redis, sid, "q2", "to both tabs")
            got = await asyncio.gather(_ids(tab1, 1), _ids(tab2, 1))
    assert got == [["q2"], ["q2"]]  # tab2 opened after q1 was delivered: it does not get q1


async def test_the_position_only_moves_forward(webchat_pipeline: Pipeline, redis: Redis) -> None:
    ttl = webchat_pipeline.service.settings.webchat.pending_ttl_s
    key = position_key("wc_forward")
    assert await advance_position(redis, key, "5-1", ttl) is True
    assert await advance_position(redis, key, "5-0", ttl) is False  # a slower socket, behind
    assert await advance_position(redis, key, "4-9", ttl) is False
    assert await advance_position(redis, key, "5-1", ttl) is False  # the same entry again
    assert await redis.get(key) == b"5-1"
    assert await advance_position(redis, key, "10-0", ttl) is True  # numeric, not text, order
    assert await redis.get(key) == b"10-0"
    assert 0 < await redis.ttl(key) <= ttl
