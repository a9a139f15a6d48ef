"""``decide()``: one event and one customer's state in, decisions and the next state out. PURE.

Order of business for each event:

1. a redelivered event (its id already applied) changes nothing;
2. the active run is checked: its flow version (migrating if a rule says so), expiry and exit
   criteria;
3. the event resumes the active run if that run waits for it (a reply, its timer, its call,
   its event), unless a message matches an interrupting trigger;
4. otherwise the event may start a flow: message triggers (by priority), business events,
   statuses, named timers and schedules;
5. a lifecycle stage entered on the way may start a ``stage`` flow.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta

from orchestrator.engine import conversations, identity, opt_outs, spec
from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.decisions import Note, Outcome, StartTimer, derive_id
from orchestrator.engine.expressions import ExpressionError, truthy
from orchestrator.engine.model import APPLIED_EVENTS_KEPT, Context, CustomerState, Event, Run
from orchestrator.engine.session import Session
from orchestrator.engine.steps import Goto, Pause, Result, Stop

_WORD = re.compile(r"[\w']+", re.UNICODE)


def decide(catalogue: Catalogue, state: CustomerState, event: Event, ctx: Context) -> Outcome:
    """Decide what to do about ``event`` for the customer in ``state``.

    Example::

        outcome = decide(catalogue, CustomerState("c1"),
                         message("sms:SM1", "sms", "+15551230001", "HELP"), Context(now))
        outcome.decisions  # (SendMessage(..., flow_id="help", ...),)
    """
    if event.event_id in state.applied:
        return Outcome((), state, (Note("duplicate_event", event.event_id),))
    if state.merged_into and not identity.is_system(event):
        # A record keyed by the old id (a status of an earlier send, its timer, a call result, an
        # event produced before the merge): the decision worker forwards it to the survivor when
        # the note names one. Not a schedule (the survivor gets its own tick), nor to itself.
        survivor = state.merged_into
        if event.kind == "schedule" or survivor == state.customer_id:
            return Outcome((), state, (Note("merged_away", f"merged into {survivor}"),))
        forward = {"survivor": survivor}
        return Outcome((), state, (Note("merged_away", f"merged into {survivor}", data=forward),))
    is_new = state.message_count == 0 and state.run is None and not state.flow_history
    s = Session(catalogue, _touch(state, event, ctx), event, ctx)
    stage_before = s.state.stage
    # links, merges, opt-out / opt-in keywords, a provider's opt-out report, a message for the
    # agent who owns the conversation, an agent's reply: no flow
    if identity.handle(s) or opt_outs.handle(s) or conversations.handle(s):
        return Outcome(tuple(s.decisions), s.state, tuple(s.notes), tuple(s.trace))
    _check_active_run(s)
    if not _resume(s):
        _start_triggered(s, is_new)
    if s.state.stage != stage_before and s.state.stage and s.state.run is None:
        for flow in catalogue.triggered_by("stage"):
            if isinstance(flow.trigger, spec.StageTrigger) and flow.trigger.stage == s.state.stage:
                _start(s, flow)
                break
    _resume_suspended(s)
    return Outcome(tuple(s.decisions), s.state, tuple(s.notes), tuple(s.trace))


def audience_matches(flow: spec.Flow, state: CustomerState, now: datetime) -> bool:
    """Whether a scheduled flow's ``audience`` expression holds for this customer now."""
    if not isinstance(flow.trigger, spec.ScheduleTrigger):
        return False
    s = Session(
        Catalogue((flow,)), state, Event(event_id="audience", kind="schedule"), Context(now)
    )
    try:
        return truthy(flow.trigger.audience, s.variables(flow, None))
    except ExpressionError:
        return False


def _touch(state: CustomerState, event: Event, ctx: Context) -> CustomerState:
    applied = (*state.applied, event.event_id)[-APPLIED_EVENTS_KEPT:]
    if event.kind != "message" or not event.channel:
        return replace(state, applied=applied)
    identities = dict(state.identities)
    if event.sender:
        identities[event.channel] = event.sender
    return replace(
        state,
        applied=applied,
        last_channel=event.channel,
        last_contact=ctx.now.isoformat(),
        message_count=state.message_count + 1,
        identities=identities,
        last_inbound={**state.last_inbound, event.channel: ctx.now.isoformat()},
    )


# ---------------------------------------------------------------------------- the active run


def _check_active_run(s: Session) -> None:
    run = s.state.run
    if run is None:
        return
    flow = _flow_for_run(s, run)
    run = s.state.run
    if flow is None or run is None:
        return
    if run.expires_at and s.now >= datetime.fromisoformat(run.expires_at):
        s.note("run_expired", flow, run.step)
        s.end_run(run, flow)
        return
    variables = s.variables(flow, run)
    for expression in flow.exit_when:
        try:
            if truthy(expression, variables):
                s.note("exit_criteria_met", flow, run.step, expression)
                s.end_run(run, flow)
                return
        except ExpressionError as exc:
            s.note("expression_error", flow, run.step, f"{expression}: {exc}")


def _flow_for_run(s: Session, run: Run) -> spec.Flow | None:
    """The flow a run stands on, after any migration to the current version."""
    current = s.catalogue.get(run.flow_id)
    if current is not None and current.version != run.flow_version and run.step:
        rule = next((m for m in current.migrate if m.from_version == run.flow_version), None)
        if rule is not None and run.step in rule.steps:
            moved = replace(run, flow_version=current.version, step=rule.steps[run.step])
            s.state = replace(s.state, run=moved)
            s.note(
                "migrated", current, moved.step, f"from version {run.flow_version} step {run.step}"
            )
            return current
    flow = s.catalogue.version(run.flow_id, run.flow_version)
    if flow is None:
        s.notes.append(
            Note(
                "flow_version_unavailable",
                f"{run.flow_id} v{run.flow_version}",
                run.flow_id,
                run.flow_version,
                run.step,
            )
        )
        s.end_run(run, None)
    return flow


def _resume(s: Session) -> bool:
    """Resume the active run if this event is what it waits for; say whether it did.

    What the run waits for picks the step's ``on_*`` method; a step that does not take that
    kind of event answers ``None``.
    """
    run, ev = s.state.run, s.event
    if run is None or run.step is None:
        return _expiry_fired(s)
    flow = s.catalogue.version(run.flow_id, run.flow_version)
    if flow is None:
        return False
    step = flow.step(run.step)
    result: Result | None = None
    if ev.kind == "message" and run.waiting == "reply":
        if _interrupting(s) is not None:
            return False
        result = step.on_reply(flow, run, s, ev)
        if result is None:
            return False
    elif ev.kind == "timer" and ev.timer_id and ev.timer_id == run.timer_id:
        result = step.on_timer(flow, replace(run, timer_id=None, waiting=None), s)
    elif (
        ev.kind == "call_result" and run.waiting == "call" and ev.data.get("call_id") == run.call_id
    ):
        result = step.on_call(flow, replace(run, waiting=None), s, dict(ev.data))
    elif _awaited(run, ev):
        result = step.on_event(flow, replace(run, waiting=None), s)
    if result is None:
        return _expiry_fired(s) or (ev.kind == "timer" and _stale_timer(s))
    _continue(s, flow, result)
    return True


def _awaited(run: Run, ev: Event) -> bool:
    """The business event a run waits for, or (``wait status: final``) a final status."""
    if ev.kind == "event":
        return run.waiting == f"event:{ev.name}"
    return ev.kind == "status" and run.waiting == "status:final" and bool(ev.data.get("final"))


def _continue(s: Session, flow: spec.Flow, result: Result) -> None:
    match result:
        case Goto():
            s.run_from(
                s.catalogue.version(result.run.flow_id, result.run.flow_version) or flow,
                result.run,
                result.step,
            )
        case Pause():
            s.state = replace(s.state, run=result.run)
        case Stop():
            s.run_from(flow, result.run, None)


def _expiry_fired(s: Session) -> bool:
    run, ev = s.state.run, s.event
    if run is None or ev.kind != "timer" or ev.timer_id != derive_id("tmr", run.run_id, "expiry"):
        return False
    flow = s.catalogue.version(run.flow_id, run.flow_version)
    s.note("run_expired", flow, run.step)
    s.end_run(run, flow)
    return True


def _stale_timer(s: Session) -> bool:
    if s.event.name:  # a named timer starts flows; it is not stale
        return False
    s.notes.append(Note("stale_timer", s.event.timer_id or ""))
    return True


# ---------------------------------------------------------------------------- starting flows


def _start_triggered(s: Session, is_new: bool) -> None:
    ev = s.event
    if ev.kind == "message":
        flow = _interrupting(s) or _message_flow(s, is_new)
        if flow is None:
            s.notes.append(Note("no_flow_matched"))
            return
        if (
            s.state.run is not None
            and s.state.run.waiting == "reply"
            and not _message_trigger(flow).interrupts
        ):
            s.notes.append(Note("no_flow_matched", "a run is waiting for a reply"))
            return
        _start(s, flow, interrupt=True)
        return
    flow = _other_flow(s)
    if flow is None:
        # Background events (receipts, timers, call results) that start nothing are not news.
        if ev.kind not in ("timer", "call_result", "status"):
            s.notes.append(Note("no_flow_matched"))
        return
    _start(s, flow, interrupt=ev.kind == "event")


def _message_trigger(flow: spec.Flow) -> spec.MessageTrigger:
    if not isinstance(flow.trigger, spec.MessageTrigger):
        raise TypeError(f"{flow.id} is not message-triggered")  # a programming error
    return flow.trigger


def _interrupting(s: Session) -> spec.Flow | None:
    return next(
        (
            f
            for f in s.catalogue.triggered_by("message")
            if _message_trigger(f).interrupts and _message_matches(s, f, False)
        ),
        None,
    )


def _message_flow(s: Session, is_new: bool) -> spec.Flow | None:
    return next(
        (f for f in s.catalogue.triggered_by("message") if _message_matches(s, f, is_new)), None
    )


def _message_matches(s: Session, flow: spec.Flow, is_new: bool) -> bool:
    trigger, ev = _message_trigger(flow), s.event
    if ev.channel not in trigger.channels or ev.channel not in flow.channels:
        return False
    words = [w.casefold() for w in _WORD.findall(ev.text)]
    wanted = {w.casefold() for w in trigger.words}
    match trigger.match:
        case "keyword":
            return bool(words) and words[0] in wanted
        case "any_word":
            return any(w in wanted for w in words)
        case "regex":
            return re.search(trigger.pattern or "", ev.text) is not None
        case "expression":
            return _holds(s, flow, trigger.when)
        case "catch_all":
            return True
        case _:
            return is_new


def _other_flow(s: Session) -> spec.Flow | None:
    ev = s.event
    if ev.kind == "event" and ev.name == conversations.CLOSED_HOURS:
        named = conversations.named_flow(ev.data)
        if named is not None and s.catalogue.get(named) is not None:
            return s.catalogue.get(named)  # the queue's ``when_closed.flow``
    for flow in s.catalogue.flows:
        t = flow.trigger
        hit = (
            (
                ev.kind == "event"
                and isinstance(t, spec.EventTrigger)
                and t.name == ev.name
                and (t.when is None or _holds(s, flow, t.when))
            )
            or (
                ev.kind == "status"
                and isinstance(t, spec.StatusTrigger)
                and ev.name in t.statuses
                and ev.channel in t.channels
            )
            or (ev.kind == "timer" and isinstance(t, spec.TimerTrigger) and t.name == ev.name)
            or (
                ev.kind == "schedule"
                and isinstance(t, spec.ScheduleTrigger)
                and flow.id == ev.name
                and _holds(s, flow, t.audience)
            )
        )
        if hit:
            return flow
    return None


def _holds(s: Session, flow: spec.Flow, expression: str | None) -> bool:
    if not expression:
        return True
    try:
        return truthy(expression, s.variables(flow, None))
    except ExpressionError as exc:
        s.note("expression_error", flow, None, f"{expression}: {exc}")
        return False


def _start(s: Session, flow: spec.Flow, interrupt: bool = True) -> None:
    blocked = _reentry_blocked(s, flow)
    if blocked:
        s.note("reentry_blocked", flow, None, blocked)
        return
    active = s.state.run
    if active is not None:
        if not interrupt:
            s.note("no_flow_matched", flow, None, f"busy in {active.flow_id}")
            return
        _suspend(s, active, flow)
    run_id = derive_id("run", s.event.event_id, flow.id)
    expires = s.now + flow.expires_after if flow.expires_after else None
    run = Run(
        run_id=run_id,
        flow_id=flow.id,
        flow_version=flow.version,
        started_at=s.now.isoformat(),
        channel=s.event.channel or s.state.last_channel,
        expires_at=expires.isoformat() if expires else None,
    )
    s.state = replace(
        s.state,
        flow_history={**s.state.flow_history, flow.id: s.now.isoformat()},
        current_flow=flow.id,
    )
    s.note("flow_matched", flow, flow.steps[0].id)
    if expires is not None:
        s.decide(
            StartTimer(derive_id("tmr", run_id, "expiry"), expires, "expiry", None, flow.id, None)
        )
    s.run_from(flow, run, flow.steps[0].id)


def _suspend(s: Session, active: Run, by: spec.Flow) -> None:
    """Set the active run aside (one level deep: an older suspended run ends)."""
    interrupted = s.catalogue.version(active.flow_id, active.flow_version)
    if s.state.suspended is not None:
        older = s.state.suspended
        s.note(
            "run_interrupted",
            s.catalogue.version(older.flow_id, older.flow_version),
            older.step,
            f"ended: {active.flow_id} was suspended on top of it",
        )
        s.end_run(older, None)
    s.note("run_suspended", interrupted, active.step, f"by {by.id}")
    s.state = replace(s.state, run=None, suspended=active, current_flow=None)


def _resume_suspended(s: Session) -> None:
    """When no run is active any more, the suspended one carries on waiting where it was."""
    held = s.state.suspended
    if held is None or s.state.run is not None:
        return
    flow = s.catalogue.version(held.flow_id, held.flow_version)
    s.state = replace(s.state, run=held, suspended=None, current_flow=held.flow_id)
    s.note("run_resumed", flow, held.step, "the interrupting flow ended")


def _reentry_blocked(s: Session, flow: spec.Flow) -> str | None:
    last = s.state.flow_history.get(flow.id)
    if last is None or flow.reentry.policy == "always":
        return None
    if flow.reentry.policy == "never":
        return "re-entry: never"
    after = flow.reentry.after or timedelta(0)
    if s.now < datetime.fromisoformat(last) + after:
        return f"re-entry after {after} (last started {last})"
    return None
