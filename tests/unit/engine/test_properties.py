"""Properties of ``decide()``: deterministic, loops always end, timer ids unique."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.engine import spec
from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.decide import decide
from orchestrator.engine.decisions import Outcome, StartTimer
from orchestrator.engine.model import Context, CustomerState, Event, message
from orchestrator.flowtools.testing import DEFAULT_NOW
from tests.unit.engine.conversations import ROOT, catalogue

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True)
CTX = Context(DEFAULT_NOW)
ENGINE = catalogue(ROOT / "tests" / "engine_flows", ("127.0.0.1:8090",))
WORDS = [
    "ASK",
    "SEND",
    "SET",
    "LOOP",
    "VISITS",
    "CALL",
    "SUB",
    "ABORT",
    "KW",
    "EXPIRE",
    "WAITE",
    "BROKEN",
    "yes",
    "no",
    "ok",
    "refund",
    "ticket #123",
    "quit",
    "",
    "?",
    "día",
]
CONDITIONS = [
    "true",
    "false",
    "customer.message_count > 0",
    "event.text == 'GO'",
    "run.step == 's0'",
    "customer.fields.get('f', '') | length > 3",
]


def _waiting_state() -> CustomerState:
    return decide(ENGINE, CustomerState("c1"), message("m0", "sms", "+1555", "ASK"), CTX).state


STARTS = [
    CustomerState("c1"),
    CustomerState(
        "c2",
        tags=("vip",),
        language="es",
        preferred_channel="whatsapp",
        identities={"whatsapp": "w1"},
    ),
    _waiting_state(),
]

texts = st.one_of(
    st.sampled_from(WORDS),
    st.text(max_size=40),
    st.lists(st.sampled_from(WORDS), max_size=4).map(" ".join),
)


@PROPERTY
@given(
    start=st.sampled_from(STARTS),
    text=texts,
    channel=st.sampled_from(spec.CHANNELS),
    event_id=st.text(min_size=1, max_size=12),
)
def test_decide_is_deterministic(
    start: CustomerState, text: str, channel: str, event_id: str
) -> None:
    event = message(event_id, channel, "+15551230001", text)
    first = decide(ENGINE, start, event, CTX)
    assert decide(ENGINE, start, event, CTX) == first
    timer = Event(event_id, "timer", timer_id=event_id, name="e-nudge")
    assert decide(ENGINE, first.state, timer, CTX) == decide(ENGINE, first.state, timer, CTX)


@st.composite
def runaway_flows(draw: st.DrawFn, waits: bool = False) -> spec.Flow:
    """A flow of random switch/set/send/split steps whose ``next`` points back (cycles)."""
    n = draw(st.integers(1, 8))
    kinds = ["switch", "set", "send", "split"] + (["wait", "ask"] if waits else [])
    target = st.integers(0, n - 1).map(lambda i: f"s{i}")
    steps: list[dict[str, Any]] = []
    for i in range(n):
        kind = draw(st.sampled_from(kinds))
        step: dict[str, Any] = {"id": f"s{i}", "type": kind}
        back = draw(st.none() | st.integers(0, i).map(lambda j: f"s{j}"))
        if back:
            step["next"] = back
        if kind == "switch":
            step["cases"] = [
                {"when": draw(st.sampled_from(CONDITIONS)), "next": draw(target)}
                for _ in range(draw(st.integers(1, 2)))
            ]
            if draw(st.booleans()):
                step["default"] = draw(target)
        elif kind == "set":
            step["fields"] = {"f": "{{ customer.fields.get('f', '') }}x"}
            step["timers"] = draw(
                st.dictionaries(
                    st.sampled_from(["t1", "t2"]), st.sampled_from(["1h", "2d"]), max_size=2
                )
            )
        elif kind in ("send", "ask"):
            step["template"] = "at {{ run.step }}"
            if kind == "ask":
                step["timeout"] = draw(st.none() | st.just("1h"))
        elif kind == "split":
            step["weights"] = {"a": draw(st.integers(1, 3)), "b": draw(st.integers(0, 3))}
            step["branches"] = {"a": draw(target), "b": draw(target)}
        else:
            step["duration"] = "1h"
        steps.append(step)
    guards = {
        "max_steps_per_event": draw(st.integers(1, 30)),
        "max_visits_per_step": draw(st.integers(1, 10)),
    }
    return spec.Flow.model_validate(
        {
            "spec_version": 1,
            "id": "loop",
            "version": 1,
            "stage": "support",
            "owner": "tests",
            "trigger": {"type": "message", "match": "keyword", "words": ["GO"]},
            "guards": guards,
            "steps": steps,
            "expires_after": draw(st.none() | st.just("1d")),
        }
    )


def _go(flow: spec.Flow) -> Outcome:
    return decide(Catalogue((flow,)), CustomerState("c1"), message("m1", "sms", "+1555", "GO"), CTX)


@PROPERTY
@given(flow=runaway_flows())
def test_a_guard_always_ends_a_runaway_flow(flow: spec.Flow) -> None:
    outcome = _go(flow)
    guards = flow.guards
    codes = [n.code for n in outcome.notes]
    visits = Counter(step for _, _, step in outcome.trace)
    assert outcome.state.run is None  # nothing here waits: the run ended
    assert len(outcome.trace) <= guards.max_steps_per_event
    assert max(visits.values()) <= guards.max_visits_per_step
    assert (codes.count("guard_tripped"), codes.count("flow_ended")) in ((1, 0), (0, 1))
    if "guard_tripped" in codes:
        assert (
            len(outcome.trace) == guards.max_steps_per_event
            or max(visits.values()) == guards.max_visits_per_step
        )


@PROPERTY
@given(flow=runaway_flows(waits=True))
def test_every_timer_id_in_an_outcome_is_unique(flow: spec.Flow) -> None:
    outcome = _go(flow)
    ids = [d.timer_id for d in outcome.decisions if isinstance(d, StartTimer)]
    assert len(ids) == len(set(ids)), ids
