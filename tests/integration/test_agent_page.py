"""The agent page in a real browser: Debian's chromium, driven by Playwright, against the agent
API on uvicorn with the routing board in Redis and the ledger in PostgreSQL. An agent signs in,
goes available, sees an offer arrive on its live stream, accepts it, reads the history across
channels, replies, adds a note, and closes it; a wrong token is refused on the page."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest
from playwright.async_api import Page, async_playwright, expect
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from orchestrator.api.app import ApiDeps, create_app
from orchestrator.engine.conversations import FLOW_ID
from orchestrator.events import AGENT_REPLY, AuditRecord
from orchestrator.http_server import HttpServer
from orchestrator.ledger.records import audit
from orchestrator.ledger.store import LedgerStore
from orchestrator.metrics import Metrics
from orchestrator.provenance import Provenance
from orchestrator.routing.model import Conversation
from orchestrator.routing.spec import Routing
from orchestrator.servers._ports import free_port
from orchestrator.settings import Settings
from orchestrator.state import keys
from orchestrator.state.routing_board import RoutingStore
from orchestrator.topics import Topics
from orchestrator.workers.router import notify
from orchestrator.workers.routing import Router
from tests.integration.test_webchat_browser import ARGS, CHROMIUM, CHROMIUM_PRESENT

pytestmark = pytest.mark.integration

ROUTING = Routing.model_validate(
    {
        "offer_timeout": "60s",
        "queues": {"billing": {"skills": {"billing": 1}}, "general": {}},
        "agents": {"ana": {"skills": {"billing": 3}}},
    }
)
TOKENS = {"ana": "ana-token"}


@dataclass
class LedgerSink:
    """A publisher that writes the API's audit rows to the real ledger on flush, and keeps the
    events it is asked to publish (the decision worker is not running here)."""

    ledger: LedgerStore
    pending: list[AuditRecord] = field(default_factory=list)
    published: list[tuple[str, Any, str | None]] = field(default_factory=list)

    async def audit(self, record: AuditRecord) -> None:
        self.pending.append(record)

    async def flush(self) -> None:
        rows, self.pending = self.pending, []
        await self.ledger.insert(rows)

    async def publish(self, topic: str, event: Any, key: str | None) -> None:
        self.published.append((topic, event, key))

    async def publish_confirmed(self, topic: str, event: Any, key: str | None) -> None:
        self.published.append((topic, event, key))

    def replies(self) -> list[tuple[str, Any, str | None]]:
        return [p for p in self.published if p[1].type == AGENT_REPLY]


@dataclass
class Desk:
    url: str
    routing_side: Router
    redis: Redis
    ledger: LedgerStore
    sink: LedgerSink
    topics: Topics


@pytest.fixture
async def desk(redis_url: str, database_url: str) -> AsyncIterator[Desk]:
    redis = Redis.from_url(redis_url)
    store = RoutingStore(redis)
    await store.clear()
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    ledger = LedgerStore(pool)
    await ledger.migrate()
    sink = LedgerSink(ledger)
    topics = Topics()
    deps = ApiDeps(
        Settings(api={"agent_tokens": TOKENS}),
        Metrics(CollectorRegistry()),
        topics,
        sink,  # type: ignore[arg-type]
        {},
        reload_flows=_no_reload,
        redis=redis,
        router=await Router.open(store, ROUTING),
        ledger=ledger,
    )
    port = free_port()
    server = HttpServer(create_app(deps), "127.0.0.1", port, "api")
    await server.start()
    try:
        routing_side = await Router.open(store, ROUTING)  # the router role, another writer
        yield Desk(f"http://127.0.0.1:{port}", routing_side, redis, ledger, sink, topics)
    finally:
        await server.stop()
        await store.clear()
        await redis.aclose()
        await pool.close()


async def _no_reload() -> Any:
    raise AssertionError("not used")


async def arrive(desk: Desk, conversation_id: str, customer: str) -> None:
    """A conversation the router role puts on the board, after the customer's earlier
    messages on three channels (what the ledger workers would have written)."""
    now = datetime.now(UTC)
    earlier = now - timedelta(minutes=5)
    bot = Provenance("billing_help", 1, "ask")
    await desk.ledger.insert(
        [
            _line("inbound_received", customer, "sms", earlier, "I was charged twice"),
            _line("message_queued", customer, "email", earlier, "<b>Which order?</b>", bot),
            _line(
                "message_queued",
                customer,
                "whatsapp",
                earlier + timedelta(seconds=1),
                "Bo here, looking into it",
                Provenance(FLOW_ID, 0, "agent:bo"),
            ),
        ]
    )
    conversation = Conversation(conversation_id, "billing", "sms", now, customer_id=customer)
    out = await desk.routing_side.apply(now, lambda b: b.arrive(conversation, now))
    await notify(desk.redis, out)


def _line(
    step: str, customer: str, channel: str, at: datetime, text: str, prov: Provenance | None = None
) -> AuditRecord:
    return audit(
        step,
        "ok",
        identity=(customer, channel, text),
        at=at,
        customer_id=customer,
        channel=channel,
        provenance=prov or Provenance(),
        detail={"text": text},
    )


async def customer_writes(desk: Desk, conversation_id: str, customer: str, text: str) -> None:
    """A customer's new message, as the router role forwards it to the agent's stream."""
    now = datetime.now(UTC)
    await desk.ledger.insert([_line("inbound_received", customer, "webchat", now, text)])
    notice = {
        "step": "message",
        "conversation": conversation_id,
        "agent": "ana",
        "customer_id": customer,
        "channel": "webchat",
        "text": text,
        "at": now.isoformat(),
    }
    await desk.redis.publish(keys.routing_key("steps"), orjson.dumps([notice]))


async def sign_in(page: Page, url: str, token: str) -> None:
    await page.goto(f"{url}/agent")
    await page.get_by_label("Agent token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


async def test_an_agent_works_a_conversation_in_the_page(desk: Desk) -> None:
    assert CHROMIUM_PRESENT, "chromium is missing: apt-get install -y chromium (see .ci/run)"
    cid, customer = f"c-{uuid.uuid4().hex[:8]}", f"cus-{uuid.uuid4().hex[:8]}"
    problems: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page()
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.on(
                "console",
                lambda m: problems.append(m.text) if "Content Security" in m.text else None,
            )
            status = page.get_by_role("status")

            await sign_in(page, desk.url, "nope")
            await expect(status).to_contain_text("Error 401")
            await expect(status).to_contain_text("agent token")
            await expect(page.get_by_label("Agent token")).to_be_visible()  # still signed out

            await sign_in(page, desk.url, "ana-token")
            await expect(page.get_by_text("Agent ana")).to_be_visible()
            await page.get_by_label("Presence").select_option("available")
            await expect(status).to_have_text("Presence: available")
            await expect(page.get_by_text("Live updates: on")).to_be_visible()

            offers = page.get_by_role("list", name="Offers")
            await expect(offers).to_contain_text("No offers")
            await arrive(desk, cid, customer)  # only the stream tells the page
            await expect(offers).to_contain_text(cid)
            await expect(offers).to_contain_text(" s left")
            await page.get_by_role("button", name=f"Accept {cid}").click()
            await expect(status).to_have_text(f"Accepted {cid}")
            await expect(offers).to_contain_text("No offers")
            mine = page.get_by_role("list", name="Conversations")
            await expect(mine).to_contain_text(cid)

            await page.get_by_role("button", name=f"Open {cid}").click()
            history = page.get_by_role("log", name="History")
            await expect(history).to_contain_text("customerI was charged twice")
            await expect(history).to_contain_text("automation<b>Which order?</b>")  # as text
            await expect(history).to_contain_text("whatsappboBo here, looking into it")
            await expect(history).to_contain_text("assigned · ana")

            await customer_writes(desk, cid, customer, "Are you there?")
            await expect(history).to_contain_text("webchatcustomerAre you there?")  # live

            await page.get_by_label("Reply").fill("Yes, refunding the second charge now")
            await page.get_by_role("button", name="Send reply").click()
            await expect(status).to_contain_text("Reply sent (msg")
            [(topic, event, key)] = desk.sink.replies()
            assert (topic, key) == (desk.topics.customer, customer)
            assert event.data["agent"] == "ana"
            assert event.data["text"] == "Yes, refunding the second charge now"

            await page.get_by_label("Note").fill("refund ticket R-1")
            await page.get_by_role("button", name="Add note").click()
            await expect(history).to_contain_text("note · anarefund ticket R-1")

            await page.get_by_label("Disposition").fill("refunded")
            await page.get_by_role("button", name="Close conversation").click()
            await expect(status).to_have_text(f"Closed {cid}")
            await expect(mine).to_contain_text("No conversations")
            await expect(history).to_be_hidden()
            assert problems == []
        finally:
            await browser.close()
    rows = await desk.ledger.query(customer_id=customer)
    assert ("wrapped_up", "ana") in [(r.step, r.outcome) for r in rows]
