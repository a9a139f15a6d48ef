"""The consumers' pace: busy waits while records flow, idle waits after a quiet spell, and
no fetch at all while asleep, until a ring or a probe."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from orchestrator.workers.pacing import Pace, Pacer

BUSY, IDLE = Pace(20, 20, 200), Pace(1500, 1000, 5000)


@dataclass
class _Fetcher:
    _fetch_max_wait_ms: int = 20
    _fetcher_timeout: float = 0.2
    _wait_consume_future: asyncio.Future[None] | None = None


@dataclass
class _Consumer:
    """aiokafka's consumer, as far as pausing goes: two assigned partitions."""

    _fetcher: _Fetcher = field(default_factory=_Fetcher)
    assigned: frozenset[str] = frozenset({"tp0", "tp1"})
    paused_tps: set[str] = field(default_factory=set)

    def assignment(self) -> frozenset[str]:
        return self.assigned

    def pause(self, *tps: str) -> None:
        assert set(tps) <= self.assigned, "aiokafka refuses to pause what is not assigned"
        self.paused_tps |= set(tps)

    def paused(self) -> set[str]:
        return set(self.paused_tps)

    def resume(self, *tps: str) -> None:
        self.paused_tps -= set(tps)


@dataclass
class _Subscriber:
    batch_timeout_ms: int = 20
    consumer: Any = None


def _waits(sub: _Subscriber) -> tuple[int, int, float]:
    fetcher = sub.consumer._fetcher
    return fetcher._fetch_max_wait_ms, sub.batch_timeout_ms, fetcher._fetcher_timeout


async def test_idle_then_busy_again_for_every_attached_consumer() -> None:
    pacer = Pacer(BUSY, IDLE, hot_s=3600)
    first, second = _Subscriber(consumer=_Consumer()), _Subscriber()
    pacer.attach(first)
    pacer.attach(second)
    second.consumer = _Consumer()  # started after attaching, as faststream does
    pacer.go_idle()
    assert _waits(first) == _waits(second) == (1500, 1000, 5.0)
    pacer.records_seen()
    assert _waits(first) == _waits(second) == (20, 20, 0.2)
    assert pacer.current is BUSY


async def test_goes_idle_by_itself_after_hot_s() -> None:
    pacer = Pacer(BUSY, IDLE, hot_s=0.0)
    sub = _Subscriber(consumer=_Consumer())
    pacer.attach(sub)
    after = asyncio.Event()  # a timer due after the pacer's: set once the pacer's has run
    asyncio.get_running_loop().call_later(0.001, after.set)
    await after.wait()
    assert pacer.current is IDLE
    assert _waits(sub) == (1500, 1000, 5.0)


async def test_records_keep_it_busy_and_rearm_the_timer() -> None:
    pacer = Pacer(BUSY, IDLE, hot_s=3600)
    sub = _Subscriber(consumer=_Consumer())
    pacer.attach(sub)
    pacer.records_seen()
    pacer.records_seen()
    assert pacer.current is BUSY
    assert _waits(sub) == (20, 20, 0.2)


async def test_going_busy_ends_the_fetch_routine_s_long_idle_wait_at_once() -> None:
    pacer = Pacer(BUSY, IDLE, hot_s=3600)
    sub = _Subscriber(consumer=_Consumer())
    pacer.attach(sub)
    pacer.go_idle()
    waiting = asyncio.get_running_loop().create_future()  # what aiokafka's routine waits on
    sub.consumer._fetcher._wait_consume_future = waiting
    pacer.records_seen()
    assert waiting.done()
    assert _waits(sub) == (20, 20, 0.2)


class _EmptyThenRecords:
    """An aiokafka consumer stand-in: nothing on the first poll, then one record."""

    def __init__(self) -> None:
        self.polls: list[int] = []

    async def getmany(self, *, timeout_ms: int, max_records: int | None) -> dict[str, list[str]]:
        self.polls.append(timeout_ms)
        return {} if len(self.polls) == 1 else {"tp": ["record"]}


async def test_an_empty_poll_is_followed_at_once_by_the_next_one() -> None:
    # faststream's own get_msg sleeps batch_timeout_ms after an empty getmany: a record arriving
    # meanwhile would wait the whole idle timeout (a minute here) before being taken.
    from faststream.kafka import KafkaBroker

    from orchestrator.workers.pacing import fetch_without_pause

    subscriber = KafkaBroker("127.0.0.1:1").subscriber("t", batch=True, group_id="g")
    subscriber.batch_timeout_ms = 60_000
    fetch_without_pause(subscriber)
    consumer = _EmptyThenRecords()
    assert await asyncio.wait_for(subscriber.get_msg(consumer), 5) == ()
    assert await asyncio.wait_for(subscriber.get_msg(consumer), 5) == ("record",)
    assert consumer.polls == [60_000, 60_000]


def _sleepy(**options: Any) -> Pacer:
    return Pacer(BUSY, IDLE, hot_s=3600, sleep_after_s=3600, probe_s=3600, **options)


async def test_asleep_the_consumers_of_internal_topics_pause_and_the_others_wait_long() -> None:
    pacer = _sleepy()
    internal = _Subscriber(consumer=_Consumer())
    inbound = _Subscriber(consumer=_Consumer())
    pacer.attach(internal, ["t.customer"], sleeps=True)
    pacer.attach(inbound, ["t.inbound.sms"], sleeps=False)
    pacer.listening(True)
    pacer.go_idle()
    pacer.go_asleep()
    assert internal.consumer.paused() == {"tp0", "tp1"}
    assert internal.batch_timeout_ms == 3_600_000  # the batch loop waits for the next probe
    assert inbound.consumer.paused() == set()
    assert _waits(inbound) == (1500, 1000, 5.0)  # records from other clients: idle, not asleep


async def test_a_ring_for_a_topic_read_here_wakes_every_consumer_busy() -> None:
    pacer = _sleepy()
    sub = _Subscriber(consumer=_Consumer())
    pacer.attach(sub, ["t.customer"], sleeps=True)
    pacer.listening(True)
    pacer.go_asleep()
    waiting = asyncio.get_running_loop().create_future()
    sub.consumer._fetcher._wait_consume_future = waiting
    pacer.rung("t.outbound.sms")  # not read here: stays asleep
    assert pacer.current is pacer.asleep_pace
    assert sub.consumer.paused() == {"tp0", "tp1"}
    pacer.rung("t.customer")
    assert pacer.current is BUSY
    assert sub.consumer.paused() == set()
    assert _waits(sub) == (20, 20, 0.2)
    assert waiting.done()  # aiokafka's fetch routine does not sleep out its long wait


async def test_nobody_sleeps_while_the_bell_is_not_listening() -> None:
    pacer = _sleepy()
    sub = _Subscriber(consumer=_Consumer())
    pacer.attach(sub, ["t.customer"], sleeps=True)
    pacer.go_asleep()  # never subscribed
    assert pacer.current is BUSY
    pacer.listening(True)
    pacer.go_asleep()
    assert pacer.current is pacer.asleep_pace
    pacer.listening(False)  # the subscription was lost: a ring could be missed
    assert pacer.current is IDLE
    assert sub.consumer.paused() == set()


async def test_a_process_without_sleepers_or_with_sleep_off_never_sleeps() -> None:
    only_inbound = _sleepy()
    only_inbound.attach(_Subscriber(consumer=_Consumer()), ["t.inbound.sms"], sleeps=False)
    off = Pacer(BUSY, IDLE, hot_s=3600, sleep_after_s=0)
    off.attach(_Subscriber(consumer=_Consumer()), ["t.customer"], sleeps=True)
    for pacer in (only_inbound, off):
        pacer.listening(True)
        pacer.go_asleep()
        assert pacer.current is BUSY


async def test_asleep_it_probes_now_and_then_and_goes_back_to_sleep() -> None:
    pacer = Pacer(BUSY, IDLE, hot_s=0.0, sleep_after_s=0.001, probe_s=0.001, probe_awake_s=0.001)
    sub = _Subscriber(consumer=_Consumer())
    pacer.attach(sub, ["t.customer"], sleeps=True)
    pacer.listening(True)
    seen: list[bool] = []
    deadline = asyncio.get_running_loop().time() + 5
    while not ({True, False} <= set(seen)) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0)  # let the pacer's timers run; record what each pace was
        if pacer.current is not BUSY:
            seen.append(bool(sub.consumer.paused()))
    assert {True, False} <= set(seen), "neither asleep (paused) and probing (fetching) seen"
