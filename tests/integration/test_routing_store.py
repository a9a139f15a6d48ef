"""The routing board in real Redis (a single server and a 3-master cluster): what a router
commits is what the next one loads, and routers racing on one board never double-assign a
conversation nor fill an agent past its capacity: the loser's commit finds a record moved on,
reloads, and decides again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.redis_client import RedisClient, make_redis
from orchestrator.routing.board import Board, Refused
from orchestrator.routing.model import Conversation
from orchestrator.routing.spec import Routing
from orchestrator.state.routing_board import (
    Conflict,
    RoutingStore,
    agent_json,
    conversation_json,
    touched,
)
from orchestrator.workers.routing import Router

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
ROUTING = Routing.model_validate(
    {
        "queues": {
            "billing": {
                "skills": {"billing": 1},
                "max_wait": "5m",
                "overflow": "general",
                "rules": [
                    {
                        "name": "vip",
                        "when": 'conversation.tier == "gold"',
                        "priority": 8,
                        "targets": [
                            {"name": "last", "last_agent": True, "timeout": "20s"},
                            {"name": "any"},
                        ],
                    },
                    {"name": "default"},
                ],
            },
            "general": {},
        },
    }
)


@pytest.fixture(params=["single", "cluster"])
async def redis(request: pytest.FixtureRequest) -> AsyncIterator[RedisClient]:
    """An emptied client of a single Redis or of a Redis Cluster."""
    url = request.getfixturevalue("redis_url" if request.param == "single" else "redis_cluster_url")
    client = make_redis(url)
    await client.ping()
    await RoutingStore(client).clear()
    try:
        yield client
    finally:
        await RoutingStore(client).clear()
        await client.aclose()


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def chat(conversation_id: str, **attributes: str) -> Conversation:
    return Conversation(conversation_id, "billing", "webchat", NOW, attributes=attributes)


async def seeded(store: RoutingStore, *agents: tuple[str, int]) -> Router:
    """A router whose agents (id, capacity) are available, committed."""
    router = await Router.open(store, ROUTING)
    for agent_id, capacity in agents:
        await router.apply(
            NOW,
            lambda b, a=agent_id, c=capacity: b.agent_joined(a, {"billing": 3}, NOW, c),
            agents=[agent_id],
        )
        await router.apply(
            NOW, lambda b, a=agent_id: b.presence(a, "available", NOW), agents=[agent_id]
        )
    return router


def records(board: Board) -> tuple[dict[str, object], dict[str, object]]:
    agents = {a: agent_json(x) for a, x in board.agents.items()}
    conversations = {c: conversation_json(x) for c, x in board.conversations.items()}
    return agents, conversations


async def test_what_is_committed_is_what_loads(redis: RedisClient) -> None:
    store = RoutingStore(redis)
    router = await seeded(store, ("ana", 100), ("bo", 100))
    await router.apply(NOW, lambda b: b.arrive(chat("c1", tier="gold"), NOW))
    out = await router.apply(at(1), lambda b: b.arrive(chat("c2"), at(1)))
    assert out[-1].agent == "ana"  # type: ignore[attr-defined]  # a tie on idle time: by id
    await router.apply(at(2), lambda b: b.accept("c2", "ana", at(2)))
    await router.apply(at(3), lambda b: b.presence("bo", "busy", at(3)), agents=["bo"])
    await router.apply(at(4), lambda b: b.override("general", "closed", at(4)), queues=["general"])
    assert router.board.conversations["c2"].status == "assigned"

    fresh = await Router.open(store, ROUTING)
    assert records(fresh.board) == records(router.board)
    assert fresh.board.overrides == {"general": "closed"}
    assert fresh.board.clock == at(4)


async def test_a_closed_conversation_is_gone_from_redis(redis: RedisClient) -> None:
    store = RoutingStore(redis)
    router = await seeded(store, ("ana", 100))
    await router.apply(NOW, lambda b: b.arrive(chat("c1"), NOW))
    await router.apply(at(1), lambda b: b.accept("c1", "ana", at(1)))
    out = await router.apply(at(9), lambda b: b.close("c1", at(9), "resolved"))
    assert [s.step for s in out] == ["wrapped_up", "closed"]
    fresh = await Router.open(store, ROUTING)
    assert fresh.board.conversations == {}
    assert fresh.board.agents["ana"].load == 0


async def test_a_stale_router_cannot_fill_an_agent_twice(redis: RedisClient) -> None:
    store = RoutingStore(redis)
    first = await seeded(store, ("ana", 25))  # room for one chat
    second = await Router.open(store, ROUTING)  # reads ana with room, before the offer
    out = await first.apply(NOW, lambda b: b.arrive(chat("c1"), NOW))
    assert [s.step for s in out] == ["queued", "offered"]
    out = await second.apply(NOW, lambda b: b.arrive(chat("c2"), NOW))
    assert [s.step for s in out] == ["queued"]  # reloaded after the conflict: ana is full
    board = (await Router.open(store, ROUTING)).board
    assert board.agents["ana"].offers == {"c1"}
    assert board.agents["ana"].load == 25
    assert board.conversations["c2"].status == "waiting"


async def test_a_stale_commit_writes_nothing(redis: RedisClient) -> None:
    store = RoutingStore(redis)
    await seeded(store, ("ana", 25))
    board, revisions = await store.load(ROUTING)
    stale = dict(revisions)
    out = board.arrive(chat("c1"), NOW)
    await store.commit(board, touched(out), revisions)
    again = board.presence("ana", "away", at(1))
    with pytest.raises(Conflict, match="a:ana"):
        await store.commit(board, touched(again, agents=["ana"]), stale)
    assert (await store.load(ROUTING))[0].agents["ana"].presence == "available"


async def test_racing_routers_never_double_assign(
    redis: RedisClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="orchestrator.workers.routing")
    store = RoutingStore(redis)
    await seeded(store, *[(f"agent{i}", 25) for i in range(5)])
    routers = [await Router.open(store, ROUTING) for _ in range(8)]

    async def arrivals(r: int) -> None:
        for n in range(6):
            cid = f"c{r}-{n}"
            await routers[r].apply(NOW, lambda b, c=cid: b.arrive(chat(c), NOW))

    await asyncio.gather(*(arrivals(r) for r in range(len(routers))))
    assert "reloading" in caplog.text  # they did race: some commits found a record moved on
    board = (await Router.open(store, ROUTING)).board
    offered = [c for c in board.conversations.values() if c.offer is not None]
    assert len(board.conversations) == 48
    assert len(offered) == 5  # one chat each: every agent full, none twice
    assert sorted(c.offer.agent for c in offered if c.offer) == [f"agent{i}" for i in range(5)]
    for agent in board.agents.values():
        assert agent.load == 25
        assert len(agent.offers) == 1

    accepts = [
        routers[i % 8].apply(at(1), lambda b, c=c.id, a=c.offer.agent: b.accept(c, a, at(1)))
        for i, c in enumerate(offered)
        if c.offer
    ]
    await asyncio.gather(*accepts)
    board = (await Router.open(store, ROUTING)).board
    assigned = [c for c in board.conversations.values() if c.status == "assigned"]
    assert len({c.agent for c in assigned}) == len(assigned) == 5


async def test_a_refused_event_changes_nothing(redis: RedisClient) -> None:
    store = RoutingStore(redis)
    router = await seeded(store, ("ana", 100))
    await router.apply(NOW, lambda b: b.arrive(chat("c1"), NOW))
    before = records((await Router.open(store, ROUTING)).board)
    with pytest.raises(Refused, match="not offered to 'bo'"):
        await router.apply(at(1), lambda b: b.accept("c1", "bo", at(1)))
    assert records((await Router.open(store, ROUTING)).board) == before


async def test_a_router_opened_later_catches_up_on_what_fell_due(redis: RedisClient) -> None:
    store = RoutingStore(redis)
    router = await seeded(store, ("ana", 100), ("bo", 100))
    out = await router.apply(NOW, lambda b: b.arrive(chat("c1"), NOW))
    first = out[-1].agent  # type: ignore[attr-defined]
    later = await Router.open(store, ROUTING)  # e.g. after the first router's process died
    out = await later.advance(at(45))
    steps = [(s.step, getattr(s, "agent", None)) for s in out]
    assert steps[:2] == [("offer_timeout", first), ("presence", first)]
    assert steps[2][0] == "offered"
    assert steps[2][1] != first
    fresh = (await Router.open(store, ROUTING)).board
    assert fresh.agents[first].presence == "away"
    assert fresh.conversations["c1"].offer is not None


async def test_a_router_reloads_when_another_committed(redis: RedisClient) -> None:
    store = RoutingStore(redis)
    first = await seeded(store, ("ana", 100))
    second = await Router.open(store, ROUTING)
    await first.apply(NOW, lambda b: b.arrive(chat("c1"), NOW))
    assert "c1" not in second.board.conversations
    await second.apply(at(1), lambda b: b.agent_joined("bo", {"billing": 2}, at(1)), agents=["bo"])
    assert second.board.conversations["c1"].offer is not None  # read before it decided
    assert set(second.board.agents) == {"ana", "bo"}


async def test_a_router_alone_on_the_board_never_reloads_it(
    redis: RedisClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its own commits keep its copy current: a reload (the whole board read again) is for
    when another writer committed. Before, every call reloaded, because the commit of nothing
    fell due (no write, the generation unchanged) looked like another writer's."""
    store = RoutingStore(redis)
    router = await seeded(store, ("ana", 100), ("bo", 100))
    reloads = 0
    real = router.reload

    async def counted(routing: Routing | None = None) -> None:
        nonlocal reloads
        reloads += 1
        await real(routing)

    monkeypatch.setattr(router, "reload", counted)
    for n in range(6):
        out = await router.apply(at(n), lambda b, n=n: b.arrive(chat(f"c{n}"), at(n)))
        offer = next(s for s in out if s.step == "offered")
        agent = offer.agent
        await router.apply(at(n), lambda b, n=n, a=agent: b.accept(f"c{n}", a, at(n)))
        await router.apply(at(n + 1), lambda b, n=n: b.close(f"c{n}", at(n + 1), "done"))
    assert reloads == 0
    other = await Router.open(store, ROUTING)
    await other.apply(at(9), lambda b: b.presence("bo", "away", at(9)), agents=["bo"])
    await router.apply(at(10), lambda b: b.arrive(chat("c9"), at(10)))
    assert reloads == 1  # another writer committed: read once, then decided
