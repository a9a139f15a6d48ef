"""Redis failing right after a provider call: the redelivery records the real outcome.

Before (issue 7, A7) the send ledger entry stayed ``pending``, the rewound batch came back,
and the dispatcher recorded ``provider_unknown`` for a message the provider had accepted.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from orchestrator.service import Service
from orchestrator.settings import Settings
from tests.integration.hardening_faults import FakeTwilio, FaultyProxy
from tests.integration.helpers import Pipeline, eventually
from tests.integration.test_policy_send_time import PHONE, add_customer, send_record


def _retries(service: Service, worker: str) -> float:
    value = service.metrics.registry.get_sample_value(
        "continuum_batch_retries_total", {"worker": worker}
    )
    return value or 0.0


@pytest.mark.timeout(90)
async def test_a_redis_failure_after_the_provider_call_keeps_the_real_outcome(
    settings: Settings,
) -> None:
    await add_customer(settings, "cus_outcome")
    redis = urlsplit(settings.redis)
    proxy = FaultyProxy(redis.hostname or "127.0.0.1", redis.port or 6379)
    await proxy.start()

    async def break_redis() -> None:
        proxy.fail()  # the provider has the message; Redis goes away before it is recorded

    provider = FakeTwilio(before_answer=break_redis)
    async with provider.serving() as provider_url:
        faulty = settings.model_copy(
            update={
                "redis_url": f"redis://127.0.0.1:{proxy.port}/0",
                "twilio": settings.twilio.model_copy(update={"base_url": provider_url}),
            }
        )
        service = Service(faulty, workers=["dispatcher", "ledger"], api=False)
        try:
            await service.start()
            await service.wait_consuming()
            async with Pipeline.open(service) as pipe:
                record = send_record("msg_outcome_1", "cus_outcome", "Hello", purpose="service")
                await pipe.produce(service.topics.outbound("sms"), record, "cus_outcome")

                # The call was made, then the batch was rewound at least once on Redis.
                await eventually(lambda: _async(len(provider.sent)), lambda n: n == 1)
                await eventually(lambda: _async(_retries(service, "dispatcher")), lambda n: n >= 1)
                proxy.heal()
                steps = await eventually(
                    lambda: pipe.ledger_steps(PHONE),
                    lambda s: any(step == "duplicate_send_refused" for step, _ in s),
                    timeout=30,
                )
                assert ("provider_accepted", "queued") in steps
                assert not [s for s in steps if s[0] == "provider_unknown"]
                assert ("duplicate_send_refused", "accepted") in steps
                assert len(provider.started) == 1
        finally:
            await service.stop()
            await proxy.stop()


async def _async(value: float) -> float:
    return value
