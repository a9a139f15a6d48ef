"""The contact-centre simulation at small scale: seeded and repeatable, no double assignment,
no agent over capacity, and no freed agent left idle while a conversation it could take waits
(matching happens on the event, not on a sweep). The full scale is ``continuum bench
--scenario routing``."""

from __future__ import annotations

from orchestrator.bench.routing_sim import SimConfig, simulate

SMALL = SimConfig(conversations=400, agents=20, seed=11)


def test_the_small_simulation_keeps_every_invariant() -> None:
    report = simulate(SMALL)
    summary = report.summary()
    assert summary["double_assignments"] == 0
    assert summary["over_capacity"] == 0
    assert summary["missed_refills"] == 0
    assert report.assigned + report.abandoned <= report.conversations
    assert report.assigned > report.conversations // 2  # the floor does answer
    assert report.offer_timeouts > 0  # the faults it is meant to have happened
    assert report.rejections > 0
    assert report.refill_ms  # freed capacity was offered work on the close itself


def test_a_seed_repeats_its_run() -> None:
    first, second = simulate(SMALL).summary(), simulate(SMALL).summary()
    for volatile in ("wall_s", "offer_to_assignment_p99_ms", "arrival_to_offer_p99_ms",
                     "capacity_to_offer_p99_ms"):  # fmt: skip
        first.pop(volatile)
        second.pop(volatile)
    assert first == second
    other = simulate(SimConfig(conversations=400, agents=20, seed=12)).summary()
    assert (other["offers"], other["events"]) != (first["offers"], first["events"])
