"""Flow versions: a run stays on the version it started on when the catalogue is replaced; new
runs take the new version; ``migrate`` moves a waiting run; a vanished version ends the run."""

from __future__ import annotations

from typing import Any

from orchestrator.engine import spec
from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.decide import decide
from orchestrator.engine.decisions import Outcome, SendMessage
from orchestrator.engine.model import Context, CustomerState, message
from orchestrator.flowtools.testing import DEFAULT_NOW

CTX = Context(DEFAULT_NOW)


def flow(version: int, question: str, **extra: Any) -> spec.Flow:
    return spec.Flow.model_validate(
        {
            "spec_version": 1,
            "id": "v",
            "version": version,
            "stage": "support",
            "owner": "tests",
            "trigger": {"type": "message", "match": "keyword", "words": ["GO"]},
            "steps": [
                {
                    "id": question,
                    "type": "ask",
                    "template": f"v{version} question?",
                    "timeout": "1h",
                },
                {
                    "id": "done",
                    "type": "send",
                    "template": f"v{version} done: {{{{ event.text }}}}",
                },
            ],
            **extra,
        }
    )


V1 = Catalogue((flow(1, "q1"),))


def say(catalogue: Catalogue, state: CustomerState, text: str, n: int) -> Outcome:
    return decide(catalogue, state, message(f"sms:{n}", "sms", "+15551230001", text), CTX)


def texts(outcome: Outcome) -> list[str]:
    return [d.text for d in outcome.decisions if isinstance(d, SendMessage)]


def waiting_on_v1() -> CustomerState:
    state = say(V1, CustomerState("c1"), "GO", 1).state
    assert state.run is not None
    assert (state.run.flow_version, state.run.step) == (1, "q1")
    return state


def test_a_run_stays_on_its_version_and_new_runs_take_the_new_one() -> None:
    state = waiting_on_v1()
    v2 = Catalogue((flow(2, "q2"),)).succeeding(V1)
    assert v2.version("v", 1) is not None

    outcome = say(v2, state, "hello", 2)
    assert texts(outcome) == ["v1 done: hello"]
    assert outcome.state.run is None
    assert [f for _, f, _ in outcome.trace] == [1]

    fresh = say(v2, CustomerState("c2"), "GO", 3)
    assert texts(fresh) == ["v2 question?"]
    assert fresh.state.run is not None
    assert fresh.state.run.flow_version == 2


def test_succeeding_twice_keeps_every_version_still_needed() -> None:
    v2 = Catalogue((flow(2, "q2"),)).succeeding(V1)
    v3 = Catalogue((flow(3, "q3"),)).succeeding(v2)
    assert [v3.version("v", n) is not None for n in (1, 2, 3)] == [True, True, True]
    rolled_back = Catalogue((flow(1, "q1"),)).succeeding(v3)
    assert rolled_back.version("v", 1) is rolled_back.get("v")
    assert sorted(rolled_back.archive) == [("v", 2), ("v", 3)]


def test_migrate_moves_a_waiting_run_to_the_mapped_step() -> None:
    state = waiting_on_v1()
    migrating = flow(2, "q2", migrate=[{"from_version": 1, "steps": {"q1": "q2"}}])
    catalogue = Catalogue((migrating,)).succeeding(V1)

    outcome = say(catalogue, state, "hello", 2)
    assert [n.code for n in outcome.notes][:1] == ["migrated"]
    assert texts(outcome) == ["v2 done: hello"]
    assert [(f, s) for _, f, s in outcome.trace] == [(2, "done")]


def test_a_step_the_migration_does_not_map_stays_on_the_old_version() -> None:
    state = waiting_on_v1()
    migrating = flow(2, "q2", migrate=[{"from_version": 1, "steps": {"other": "q2"}}])
    outcome = say(Catalogue((migrating,)).succeeding(V1), state, "hello", 2)
    assert "migrated" not in [n.code for n in outcome.notes]
    assert texts(outcome) == ["v1 done: hello"]


def test_a_run_on_a_vanished_version_ends() -> None:
    state = waiting_on_v1()
    outcome = say(Catalogue((flow(2, "q2"),)), state, "hello", 2)  # no archive
    notes = [n.code for n in outcome.notes]
    assert notes[0] == "flow_version_unavailable"
    assert outcome.notes[0].flow_version == 1
    assert outcome.state.run is None
    assert texts(outcome) == []
    assert state.run is not None
    assert state.run.timer_id is not None
    assert any(getattr(d, "timer_id", None) == state.run.timer_id for d in outcome.decisions)
