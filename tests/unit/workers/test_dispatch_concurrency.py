"""The dispatcher's sends: a bounded pool of slots, and no retry's pause inside a send."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest

from channels.base import OutboundMessage, SendResult
from channels.errors import ConnectionFailed
from orchestrator.settings import DispatchSettings, Settings
from orchestrator.workers.dispatcher import DispatcherWorker
from tests.unit.sends import bare_dispatcher, message_send


class GatedAdapter:
    """Fails the first call to "+1000" (retryable); every other call waits for ``gate``."""

    channel_type: ClassVar[str] = "sms.test"
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0
        self.calls: list[str] = []
        self.failed = asyncio.Event()
        self.busy = asyncio.Event()  # set when ``in_flight`` reaches ``full``
        self.full = 0

    async def send(self, msg: OutboundMessage) -> SendResult:
        self.calls.append(msg.to)
        if msg.to == "+1000" and self.calls.count("+1000") == 1:
            self.failed.set()
            raise ConnectionFailed("refused")
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        if self.in_flight == self.full:
            self.busy.set()
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        return SendResult(external_ids=(f"SM{msg.message_id}",))


async def call(worker: DispatcherWorker, adapter: GatedAdapter, to: str) -> SendResult:
    """``_call`` as ``_send_all`` makes it: inside one of the worker's slots."""
    async with worker._limit:
        return await worker._call(adapter, message_send(message_id=f"m{to}", to=to))


def dispatcher(concurrency: int, backoff_s: float) -> DispatcherWorker:
    dispatch = DispatchSettings(concurrency=concurrency, attempts=2, backoff_s=backoff_s)
    return bare_dispatcher(Settings(dispatch=dispatch))


async def test_calls_in_flight_never_exceed_the_concurrency_setting() -> None:
    worker, adapter = dispatcher(concurrency=3, backoff_s=0), GatedAdapter()
    adapter.full = 3
    calls = [asyncio.create_task(call(worker, adapter, f"+2{i}")) for i in range(8)]
    await asyncio.wait_for(adapter.busy.wait(), timeout=30)
    for _ in range(20):  # give the other five every chance to start
        await asyncio.sleep(0)
    assert adapter.in_flight == 3
    adapter.gate.set()
    await asyncio.gather(*calls)
    assert adapter.most_in_flight == 3


async def test_a_retryable_failure_returns_at_once_and_frees_its_slot() -> None:
    # A 60 s backoff: the call must not wait for it (the retry is a deferred send now).
    worker, adapter = dispatcher(concurrency=1, backoff_s=60), GatedAdapter()
    with pytest.raises(ConnectionFailed):
        await asyncio.wait_for(call(worker, adapter, "+1000"), timeout=30)
    adapter.gate.set()
    other = await asyncio.wait_for(call(worker, adapter, "+2000"), timeout=30)
    assert other.external_ids == ("SMm+2000",)
    assert adapter.calls == ["+1000", "+2000"]  # tried once: no retry inside the batch
