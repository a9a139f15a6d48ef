"""Messages kept outside the sandbox's store (the web chat's mailboxes) at
``GET /_sandbox/messages``: merged by arrival, filtered, and named when unreadable."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from fastapi import FastAPI

from channels.sandbox.admin import UNLISTED_HEADER, admin_router
from channels.sandbox.config import SandboxConfig
from channels.sandbox.runtime import SandboxRuntime
from channels.sandbox.store import ListingUnavailable, SandboxMessage
from channels.webchat.mailbox import entry_order, mailbox_key, position_key, session_of

AT = datetime(2026, 12, 1, tzinfo=UTC)


def _message(sid: str, at: float, provider: str = "twilio", to: str = "+1555") -> SandboxMessage:
    channel = "webchat" if provider == "webchat" else "sms"
    return SandboxMessage(
        sid, "", to, "x", sid, AT, provider=provider, channel=channel, received_at=at
    )


class FakeListing:
    provider = "webchat"

    def __init__(self, messages: list[SandboxMessage], down: bool = False) -> None:
        self.messages, self.down, self.asked = messages, down, 0

    async def matching(
        self, channel: str | None = None, to: str | None = None
    ) -> list[SandboxMessage]:
        self.asked += 1
        if self.down:
            raise ListingUnavailable("redis is down")
        return [m for m in self.messages if to in (None, m.to) and channel in (None, m.channel)]

    async def clear(self) -> int:
        count, self.messages = len(self.messages), []
        return count


async def _get(runtime: SandboxRuntime, **params: str) -> httpx.Response:
    app = FastAPI()
    app.include_router(admin_router(runtime))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sb") as c:
        return await c.get("/_sandbox/messages", params=params)


def _runtime(listing: FakeListing) -> SandboxRuntime:
    runtime = SandboxRuntime(SandboxConfig())
    runtime.store.add(_message("SM1", 1.0))
    runtime.store.add(_message("SM3", 3.0))
    runtime.listings.append(listing)
    return runtime


async def test_a_listings_messages_are_merged_in_arrival_order() -> None:
    listing = FakeListing([_message("wc-a", 2.0, "webchat", "wc_1")])
    resp = await _get(_runtime(listing))
    assert [m["id"] for m in resp.json()] == ["SM1", "wc-a", "SM3"]
    assert UNLISTED_HEADER not in resp.headers
    only = await _get(_runtime(listing), provider="webchat", to="wc_1")
    assert [m["id"] for m in only.json()] == ["wc-a"]


async def test_another_providers_filter_does_not_read_the_listing() -> None:
    listing = FakeListing([_message("wc-a", 2.0, "webchat", "wc_1")], down=True)
    resp = await _get(_runtime(listing), provider="twilio")
    assert [m["id"] for m in resp.json()] == ["SM1", "SM3"]
    assert listing.asked == 0


async def test_an_unreadable_listing_is_named_and_the_rest_still_listed() -> None:
    resp = await _get(_runtime(FakeListing([], down=True)))
    assert resp.status_code == 200
    assert [m["id"] for m in resp.json()] == ["SM1", "SM3"]
    assert resp.headers[UNLISTED_HEADER] == "webchat: redis is down"


def test_mailbox_keys_name_their_session_and_entries_order_numerically() -> None:
    assert session_of(mailbox_key("wc_abc")) == "wc_abc"
    assert session_of(position_key("wc_abc")) is None
    assert session_of("ct:cust:{c1}") is None
    assert entry_order("10-0") > entry_order("9-12") > entry_order("9-2")
