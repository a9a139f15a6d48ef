"""A consent granted in a flow is honoured at send time, whatever order the workers run in.

The decision worker publishes ``message.send`` before it saves the customer's new state, and the
dispatcher checks the state it loaded for its batch; a flow that records marketing consent and
sends a marketing message in the same event was blocked (``consent.marketing``) about one time
in four. The command now carries ``decided_at``, and send time blocks only for a revocation
recorded since (docs/policy.md, "Decision time and send time").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.settings import Settings
from tests.integration.helpers import Pipeline, eventually, sms_event

CUSTOMERS = 40

PROMO = """
spec_version: 1
id: promo
version: 1
stage: consideration
owner: qa
trigger: {type: message, match: keyword, words: [DEAL]}
steps:
  - id: agree
    type: set
    consent: [{purpose: marketing, status: granted}]
  - {id: offer, type: send, purpose: marketing, template: "Here is 20% off, {{ event.text }}"}
"""

POLICY = """
policy_version: 1
quiet_hours: {windows: {}, holidays: []}   # the test runs at any hour
"""


@pytest.mark.timeout(180)
async def test_a_consent_granted_in_the_same_event_is_never_blocked_at_send_time(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "promo.yaml").write_text(PROMO)
    (folder / "policy.yaml").write_text(POLICY)
    phones = [f"+1415555{i:04d}" for i in range(100, 100 + CUSTOMERS)]
    async with Pipeline.running(settings.model_copy(update={"flows_dir": folder})) as pipe:
        topic = pipe.service.topics.inbound("sms")
        for i, phone in enumerate(phones):  # one burst, so that batches hold many customers
            value = sms_event(f"SMdeal{i:03d}", phone, "DEAL")
            await pipe.producer.send(topic, value, key=phone.encode())
        await pipe.producer.flush()

        async def finished() -> dict[str, list[tuple[str, str]]]:
            return {p: await pipe.ledger_steps(p) for p in phones}

        def done(trails: dict[str, list[tuple[str, str]]]) -> bool:
            ends = {"provider_accepted", "policy_blocked", "policy_deferred"}
            return all(any(step in ends for step, _ in t) for t in trails.values())

        trails = await eventually(finished, done, timeout=120)
        sent = await pipe.sandbox_messages()
    blocked = {p: t for p, t in trails.items() if any(s == "policy_blocked" for s, _ in t)}
    assert blocked == {}
    assert all(any(s == "provider_accepted" for s, _ in t) for t in trails.values()), trails
    assert sorted(m["to"] for m in sent) == sorted(phones)
