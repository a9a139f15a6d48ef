"""The routing board in Redis: agents, conversations and overrides, committed atomically.

A router applies an event to its in-memory :class:`~orchestrator.routing.board.Board` (pure),
then commits what the event touched with **one script**: every touched record carries a
revision, and the script writes them all only if none changed since the router read it (else
nothing is written, and the router reloads and applies the event again). So two routers, or a
router and a stale one that lost its partition, can never both offer or assign the same
conversation, nor fill one agent twice over: the second commit finds a revision moved on.

Every key shares the hash tag ``{routing}`` (:func:`keys.routing_key`), so the script works on
Redis Cluster. Records are JSON (orjson): an agent as its skills, capacity, presence, load,
idle time and the conversations it holds and is offered; a conversation as every field of
:class:`~orchestrator.routing.model.Conversation`.

Example::

    store = RoutingStore(redis)
    board, revisions = await store.load(routing)
    out = board.accept("c1", "ana", now)
    await store.commit(board, touched(out, agents={"ana"}, conversations={"c1"}), revisions)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from orchestrator.redis_client import RedisClient
from orchestrator.routing import decisions as d
from orchestrator.routing.board import Board
from orchestrator.routing.model import Agent, Conversation, Offer
from orchestrator.routing.spec import Routing
from orchestrator.state import keys

# KEYS: agents, conversations, overrides, revisions (hashes), clock, generation (strings).
# ARGV: the board's clock (epoch ms), then triples of (revision field, expected revision,
# record JSON or '' to delete), the record's hash given by the field's first letter (a, c, o).
# Returns {1, the new generation} when written, else {0, the field that moved on}.
_COMMIT = """
local hashes = {a = KEYS[1], c = KEYS[2], o = KEYS[3]}
for i = 2, #ARGV, 3 do
  local rev = tonumber(redis.call('HGET', KEYS[4], ARGV[i])) or 0
  if rev ~= tonumber(ARGV[i + 1]) then return {0, ARGV[i]} end
end
local clock = tonumber(redis.call('GET', KEYS[5])) or 0
if tonumber(ARGV[1]) > clock then redis.call('SET', KEYS[5], ARGV[1]) end
for i = 2, #ARGV, 3 do
  local kind, id = string.sub(ARGV[i], 1, 1), string.sub(ARGV[i], 3)
  if ARGV[i + 2] == '' then
    redis.call('HDEL', hashes[kind], id)
  else
    redis.call('HSET', hashes[kind], id, ARGV[i + 2])
  end
  redis.call('HINCRBY', KEYS[4], ARGV[i], 1)
end
return {1, redis.call('INCR', KEYS[6])}
"""

# KEYS: as the commit's. One consistent snapshot of them all.
_SNAPSHOT = """
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]),
        redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[4]),
        redis.call('GET', KEYS[5]) or '', redis.call('GET', KEYS[6]) or '0'}
"""


GENERATION = ""
"""The revisions' entry holding the generation of the board they were read with."""


class Conflict(Exception):
    """Another writer changed a record this commit read (``field``): reload and apply again."""

    def __init__(self, field: str) -> None:
        super().__init__(f"routing record {field} changed since it was read")
        self.field = field


@dataclass
class Touched:
    """The records one event changed (or removed)."""

    agents: set[str] = field(default_factory=set)
    conversations: set[str] = field(default_factory=set)
    queues: set[str] = field(default_factory=set)
    """Queues whose override changed."""


def touched(
    out: Iterable[d.Step],
    agents: Iterable[str] = (),
    conversations: Iterable[str] = (),
    queues: Iterable[str] = (),
) -> Touched:
    """What an event's decisions changed, plus the records the event itself named."""
    result = Touched(set(agents), set(conversations), set(queues))
    for step in out:
        agent = getattr(step, "agent", None)
        if agent:
            result.agents.add(agent)
        conversation = getattr(step, "conversation", None)
        if conversation:
            result.conversations.add(conversation)
    return result


class RoutingStore:
    """Loads a board from Redis, and commits what each event changed."""

    def __init__(self, redis: RedisClient, board: str = "routing") -> None:
        self._redis = redis
        parts = ("agents", "conversations", "overrides", "revisions", "clock", "generation")
        self._keys = [keys.routing_key(part, board) for part in parts]
        self._commit = redis.register_script(_COMMIT)
        self._snapshot = redis.register_script(_SNAPSHOT)

    async def load(self, routing: Routing) -> tuple[Board, dict[str, int]]:
        """The board as Redis holds it, on ``routing``, and the revision of every record (and,
        under ``""``, the board's generation: how many commits made it)."""
        snapshot = await self._snapshot(keys=self._keys)
        agents, conversations, overrides, revisions, clock, generation = snapshot
        board = Board(routing)
        if clock:
            board.clock = datetime.fromtimestamp(int(clock) / 1000, UTC)
        for raw in _pairs(agents).values():
            agent = agent_from(orjson.loads(raw))
            board.agents[agent.id] = agent
        for raw in _pairs(conversations).values():
            conversation = conversation_from(orjson.loads(raw))
            board.conversations[conversation.id] = conversation
        for queue, value in _pairs(overrides).items():
            board.overrides[queue] = value.decode()  # type: ignore[assignment]
        numbers = {k: int(v) for k, v in _pairs(revisions).items()}
        numbers[GENERATION] = int(generation)
        return board, numbers

    async def generation(self) -> int:
        """How many commits made the board Redis holds (a router whose board is older reloads
        before it decides)."""
        return int(await self._redis.get(self._keys[5]) or 0)

    async def commit(self, board: Board, what: Touched, revisions: dict[str, int]) -> bool:
        """Write the touched records as ``board`` has them, if none moved on since read;
        ``revisions`` is updated. Whether anything was written (nothing touched: no round
        trip, and the generation stays). Raises :class:`Conflict` (and writes nothing) when a
        record moved on."""
        clock = board.clock
        args: list[Any] = [round(clock.timestamp() * 1000) if clock is not None else 0]
        fields: list[str] = []
        for agent_id in sorted(what.agents):
            agent = board.agents.get(agent_id)
            fields.append(f"a:{agent_id}")
            args += [fields[-1], revisions.get(fields[-1], 0), _json(agent_json(agent))]
        for conversation_id in sorted(what.conversations):
            conversation = board.conversations.get(conversation_id)
            fields.append(f"c:{conversation_id}")
            args += [
                fields[-1],
                revisions.get(fields[-1], 0),
                _json(conversation_json(conversation)),
            ]
        for queue in sorted(what.queues):
            fields.append(f"o:{queue}")
            args += [fields[-1], revisions.get(fields[-1], 0), board.overrides.get(queue, "")]
        if not fields:
            return False
        written, value = await self._commit(keys=self._keys, args=args)
        if not written:
            raise Conflict(value.decode() if isinstance(value, bytes) else str(value))
        for name in fields:
            revisions[name] = revisions.get(name, 0) + 1
        revisions[GENERATION] = int(value)
        return True

    async def clear(self) -> None:
        """Forget every agent, conversation and override (tests, and a fresh start)."""
        await self._redis.delete(*self._keys)


def _pairs(raw: Any) -> dict[str, bytes]:
    """A Lua ``HGETALL`` reply (a flat list) as a mapping."""
    items = [x if isinstance(x, bytes) else str(x).encode() for x in (raw or [])]
    return {k.decode(): v for k, v in zip(items[::2], items[1::2], strict=True)}


def _json(record: Mapping[str, Any] | None) -> bytes | str:
    return orjson.dumps(record) if record is not None else ""


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _required(value: str | None, what: str) -> datetime:
    parsed = _parse(value)
    if parsed is None:
        raise ValueError(f"a routing record has no {what}")
    return parsed


def agent_json(agent: Agent | None) -> dict[str, Any] | None:
    """An agent as its record (``None`` for an agent that is gone)."""
    if agent is None:
        return None
    return {
        "id": agent.id,
        "skills": dict(agent.skills),
        "capacity": agent.capacity,
        "presence": agent.presence,
        "load": agent.load,
        "idle_since": _time(agent.idle_since),
        "holding": sorted(agent.holding),
        "offers": sorted(agent.offers),
    }


def agent_from(doc: Mapping[str, Any]) -> Agent:
    """An agent from its record."""
    return Agent(
        doc["id"],
        dict(doc["skills"]),
        int(doc["capacity"]),
        doc["presence"],
        int(doc["load"]),
        _parse(doc["idle_since"]),
        set(doc["holding"]),
        set(doc["offers"]),
    )


def conversation_json(conversation: Conversation | None) -> dict[str, Any] | None:
    """A conversation as its record (``None`` once it is closed)."""
    if conversation is None:
        return None
    offer = conversation.offer
    return {
        "id": conversation.id,
        "queue": conversation.queue,
        "channel": conversation.channel,
        "arrived_at": _time(conversation.arrived_at),
        "customer_id": conversation.customer_id,
        "priority": conversation.priority,
        "skills": list(conversation.skills),
        "attributes": dict(conversation.attributes),
        "last_agent": conversation.last_agent,
        "last_agent_at": _time(conversation.last_agent_at),
        "queued_at": _time(conversation.queued_at),
        "rule": conversation.rule,
        "base_priority": conversation.base_priority,
        "passed": sorted(conversation.passed),
        "pinned": conversation.pinned,
        "status": conversation.status,
        "offer": None
        if offer is None
        else {
            "agent": offer.agent,
            "target": offer.target,
            "cost": offer.cost,
            "expires_at": _time(offer.expires_at),
        },
        "agent": conversation.agent,
        "cost": conversation.cost,
    }


def conversation_from(doc: Mapping[str, Any]) -> Conversation:
    """A conversation from its record."""
    offer = doc["offer"]
    return Conversation(
        doc["id"],
        doc["queue"],
        doc["channel"],
        _required(doc["arrived_at"], "arrival time"),
        customer_id=doc["customer_id"],
        priority=int(doc["priority"]),
        skills=tuple(doc["skills"]),
        attributes=dict(doc["attributes"]),
        last_agent=doc["last_agent"],
        last_agent_at=_parse(doc["last_agent_at"]),
        queued_at=_parse(doc["queued_at"]),
        rule=doc["rule"],
        base_priority=int(doc["base_priority"]),
        passed=set(doc["passed"]),
        pinned=doc["pinned"],
        status=doc["status"],
        offer=None
        if offer is None
        else Offer(
            offer["agent"],
            offer["target"],
            int(offer["cost"]),
            _required(offer["expires_at"], "offer end"),
        ),
        agent=doc["agent"],
        cost=int(doc["cost"]),
    )
