"""One event being decided: the state as it changes, and the decisions and notes so far.

PURE: a session only computes. :func:`orchestrator.engine.decide.decide` drives it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestrator.engine import spec
from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.conversations import waiting
from orchestrator.engine.customer_view import last_support
from orchestrator.engine.decisions import (
    Alternate,
    CancelTimer,
    Decision,
    HandOff,
    Note,
    SendMessage,
    StartTimer,
    derive_id,
)
from orchestrator.engine.expressions import ExpressionError, render
from orchestrator.engine.model import Context, CustomerState, Event, Run
from orchestrator.engine.parts import pick, render_parts
from orchestrator.engine.steps import Goto, Pause, Stop
from orchestrator.engine.steps.registry import STEP_TYPES
from orchestrator.policy.actions import note_code, of_verdict
from orchestrator.policy.evaluate import Candidate, Customer, Verdict, evaluate
from orchestrator.policy.history import Sent, text_hash, trimmed

__all__ = ["STEP_TYPES", "Session"]


class Session:
    """Mutable working memory of one ``decide()`` call."""

    def __init__(
        self, catalogue: Catalogue, state: CustomerState, event: Event, ctx: Context
    ) -> None:
        self.catalogue = catalogue
        self.state = state
        self.event = event
        self.now: datetime = ctx.now
        self.decisions: list[Decision] = []
        self.notes: list[Note] = []
        self.steps_taken = 0
        self.trace: list[tuple[str, int, str]] = []

    # ------------------------------------------------------------------ recording

    def decide(self, decision: Decision) -> None:
        """Add a decision (a hand-off also marks the customer's conversation as waiting)."""
        self.decisions.append(decision)
        if isinstance(decision, HandOff):
            self.state = replace(self.state, conversation=waiting(decision))

    def note(self, code: str, flow: spec.Flow | None, step: str | None, detail: str = "") -> None:
        """Add a note about ``flow`` (and ``step``)."""
        self.notes.append(
            Note(code, detail, flow.id if flow else None, flow.version if flow else None, step)
        )

    # ------------------------------------------------------------------ variables

    def variables(self, flow: spec.Flow | None, run: Run | None) -> dict[str, Any]:
        """What templates and expressions see."""
        st, ev = self.state, self.event
        return {
            "customer": {
                "customer_id": st.customer_id,
                "fields": st.fields,
                "identities": st.identities,
                "tags": list(st.tags),
                "stage": st.stage,
                "preferred_channel": st.preferred_channel,
                "language": st.language,
                "timezone": st.timezone,
                "consent": st.consent,
                "message_count": st.message_count,
                "last_channel": st.last_channel,
                "last_contact": st.last_contact,
            },
            "event": {
                "id": ev.event_id,
                "kind": ev.kind,
                "channel": ev.channel,
                "from": ev.sender,
                "to": ev.recipient,
                "text": ev.text,
                "name": ev.name,
                "data": dict(ev.data),
            },
            "run": {"id": run.run_id, "results": run.results, "step": run.step} if run else {},
            "flow": (
                {"id": flow.id, "version": flow.version, "stage": flow.stage, "owner": flow.owner}
                if flow
                else {}
            ),
            "now": self.now,
        }

    # ------------------------------------------------------------------ actions used by steps

    def next_of(self, flow: spec.Flow, step: spec.StepBase) -> str | None:
        """Where a step goes by default: its ``next``, else the following step in the file."""
        return step.next or flow.after(step.id)

    def send(self, flow: spec.Flow, run: Run, step: spec.MessageStep) -> None:
        """Render and address a message; note ``unreachable`` when no channel has an address."""
        step_id, channel = step.id, step.channel
        route = self._channels(flow, run, channel)
        if not route:
            self.note("unreachable", flow, step_id, f"no address on {channel}")
            return
        language = self.state.language or flow.default_language
        variables = self.variables(flow, run)
        try:
            text = render(pick(step.template, language, flow.default_language), variables)
        except ExpressionError as exc:
            self.note("template_error", flow, step_id, str(exc))
            return
        purpose = step.purpose or "service"
        own = step.whatsapp_template.name if step.whatsapp_template else None
        verdict, rest = self._police(flow, run, step_id, route, purpose, text, own)
        if verdict is None:
            return
        first = verdict.channel
        try:
            parts = render_parts(
                step, text, first, language, flow.default_language, variables, verdict.template_name
            )
        except ExpressionError as exc:
            self.note("template_error", flow, step_id, str(exc))
            return
        if parts.degraded:
            self.note("choices_as_text", flow, step_id, parts.degraded)
        visit = str(run.visits.get(step_id, 0))
        sender = self.event.recipient if self.event.channel == first else None
        alternates = self._alternates(flow, step, rest, text, language, variables)
        timeout = step.receipt_timeout if isinstance(step, spec.SendStep) else None
        self.decide(
            SendMessage(
                message_id=derive_id("msg", self.event.event_id, run.run_id, step_id, visit),
                channel=first,
                to=self.state.identities[first],
                sender=sender,
                text=parts.text,
                purpose=purpose,
                flow_id=flow.id,
                flow_version=flow.version,
                step=step_id,
                fallback=rest,
                language=language,
                not_before=verdict.not_before,
                template_name=verdict.template_name,
                policy_rule=verdict.rule,
                consent_basis=verdict.consent_basis,
                content=parts.content,
                subject=parts.subject,
                html=parts.html,
                alternates=alternates,
                receipt_timeout_s=timeout.total_seconds() if timeout and alternates else None,
            )
        )
        self.remember_send(
            first, purpose, f"{flow.id}.{step_id}", text, verdict.not_before or self.now, run.run_id
        )

    def _alternates(
        self,
        flow: spec.Flow,
        step: spec.MessageStep,
        channels: tuple[str, ...],
        text: str,
        language: str,
        variables: dict[str, Any],
    ) -> tuple[Alternate, ...]:
        """The fallback ``channels`` that have an address, the message rendered for each (a
        part that fails to render leaves its channel out: the first channel's went)."""
        out: list[Alternate] = []
        for channel in channels:
            to = self.state.identities.get(channel)
            if not to:
                continue
            try:
                parts = render_parts(
                    step, text, channel, language, flow.default_language, variables, None
                )
            except ExpressionError:
                continue
            out.append(Alternate(channel, to, parts.text, parts.content, parts.subject, parts.html))
        return tuple(out)

    def _police(
        self,
        flow: spec.Flow,
        run: Run,
        step_id: str,
        route: list[str],
        purpose: str,
        text: str,
        own_template: str | None = None,
    ) -> tuple[Verdict | None, tuple[str, ...]]:
        """The contact policy's verdict on the first channel of ``route`` it lets through."""
        policy = self.catalogue.policy
        who = self.customer(flow.id)
        first_block: Verdict | None = None
        for i, channel in enumerate(route):
            cand = Candidate(
                channel,
                self.state.identities[channel],
                purpose,
                f"{flow.id}.{step_id}",
                text_hash(text),
                run.run_id,
                own_template,
            )
            verdict = evaluate(policy, who, cand, self.now)
            if verdict.sends:
                if verdict.action == "template" or verdict.channel != channel:
                    verdict = replace(verdict, rule="whatsapp.window")
                if verdict.action != "allow" or verdict.channel != route[0]:
                    self.policy_note(verdict, flow, step_id)
                return verdict, tuple(c for c in route[i + 1 :] if c != verdict.channel)
            first_block = first_block or verdict
        if first_block is not None:
            self.policy_note(first_block, flow, step_id)
        return None, ()

    def customer(self, sending: str = "") -> Customer:
        """The recipient as the contact policy sees them, for a send of flow ``sending``."""
        st = self.state
        history = [Sent.from_dict(e) for e in st.sent_log]
        support = last_support(st, self.catalogue.get, self.now, sending)
        return Customer(st.consent, st.identities, st.timezone, st.last_inbound, history, support)

    def remember_send(
        self, channel: str, purpose: str, template: str, text: str, at: datetime, run_id: str
    ) -> None:
        """Add a send to the customer's recent history (caps and dedupe at decision time)."""
        entry = Sent(at, channel, purpose, template, text_hash(text), run_id).to_dict()
        log = trimmed([*self.state.sent_log, entry], self.now)
        self.state = replace(self.state, sent_log=tuple(log))

    def policy_note(self, verdict: Verdict, flow: spec.Flow | None, step: str | None) -> None:
        """Record what the policy decided, with the rule id and the reason."""
        code = note_code(of_verdict(verdict.action, moved=True))  # an allow here moved channel
        self.notes.append(
            Note(
                code,
                f"{verdict.rule}: {verdict.reason}",
                flow.id if flow else None,
                flow.version if flow else None,
                step,
                {"rule": verdict.rule, "channel": verdict.channel},
            )
        )

    def _channels(self, flow: spec.Flow, run: Run, wanted: str | tuple[str, ...]) -> list[str]:
        st = self.state
        if wanted == "reply":
            order = [run.channel or st.last_channel]
        elif wanted == "preferred":
            # the explicit preference (a set step's), then the channels the customer wrote on,
            # newest first, then the last channel: the policy (``_police``) takes the first of
            # them it lets through, the rest are the send's fallbacks
            order = [st.preferred_channel, *_newest_first(st.last_inbound), st.last_channel]
        else:
            order = list(wanted)
        return [c for c in dict.fromkeys(order) if c and c in st.identities and c in flow.channels]

    def start_timer(
        self, flow: spec.Flow, run: Run, step_id: str, after: timedelta | None, purpose: str
    ) -> str | None:
        """A timer for this run's wait; ``None`` when there is no delay to wait for."""
        if after is None:
            return None
        visit = str(run.visits.get(step_id, 0))
        timer_id = derive_id("tmr", run.run_id, step_id, visit)
        self.decide(StartTimer(timer_id, self.now + after, purpose, None, flow.id, step_id))
        return timer_id

    def start_named_timer(self, flow: spec.Flow, step_id: str, name: str, after: timedelta) -> None:
        """A named customer timer that starts flows whose trigger is ``timer: name``."""
        timer_id = derive_id(  # step and count: unique even when a loop sets it twice
            "tmr", self.state.customer_id, name, self.event.event_id, step_id, str(self.steps_taken)
        )
        self.decide(StartTimer(timer_id, self.now + after, "named", name, flow.id, step_id))

    def cancel_timer(self, timer_id: str | None) -> None:
        """Cancel a pending timer, if there is one."""
        if timer_id:
            self.decide(CancelTimer(timer_id))

    # ------------------------------------------------------------------ running steps

    def run_from(self, flow: spec.Flow, run: Run, step_id: str | None) -> None:
        """Execute steps from ``step_id`` until the run waits or ends."""
        while True:
            if step_id is None:
                parent = self._return_from(flow, run)
                if parent is None:
                    return
                flow, run, step_id = parent
                continue
            tripped = self._guard(flow, run, step_id)
            if tripped:
                self.note("guard_tripped", flow, step_id, tripped)
                self.end_run(run, flow)
                return
            run = replace(run, visits={**run.visits, step_id: run.visits.get(step_id, 0) + 1})
            self.steps_taken += 1
            self.trace.append((flow.id, flow.version, step_id))
            step = flow.step(step_id)
            result = step.run(flow, run, self)
            match result:
                case Goto():
                    run, step_id = result.run, result.step
                    flow = self._flow_of(run) or flow
                case Pause():
                    self.state = replace(self.state, run=result.run, current_flow=flow.id)
                    return
                case Stop():
                    run, step_id = result.run, None

    def _guard(self, flow: spec.Flow, run: Run, step_id: str) -> str | None:
        guards = flow.guards
        if self.steps_taken >= guards.max_steps_per_event:
            return f"more than {guards.max_steps_per_event} steps for one event"
        if run.visits.get(step_id, 0) >= guards.max_visits_per_step:
            return f"step {step_id!r} visited more than {guards.max_visits_per_step} times"
        return None

    def _flow_of(self, run: Run) -> spec.Flow | None:
        return self.catalogue.version(run.flow_id, run.flow_version)

    def _return_from(self, flow: spec.Flow, run: Run) -> tuple[spec.Flow, Run, str | None] | None:
        """The current flow finished: back to the parent flow, or the run ends."""
        if not run.stack:
            self.note("flow_ended", flow, None)
            self.end_run(run, None)
            return None
        frame = run.stack[-1]
        parent = self.catalogue.version(frame.flow_id, frame.flow_version)
        if parent is None:
            self.note("flow_version_unavailable", flow, None, f"parent {frame.flow_id} is gone")
            self.end_run(run, None)
            return None
        self.note("subflow_returned", parent, frame.return_step, f"from {flow.id}")
        back = replace(run, flow_id=parent.id, flow_version=parent.version, stack=run.stack[:-1])
        return parent, back, frame.return_step

    def end_run(self, run: Run | None, flow: spec.Flow | None) -> None:
        """Forget the active run (cancelling what it waited on)."""
        if run is not None:
            self.cancel_timer(run.timer_id)
            expiry = _expiry_timer(run)
            if expiry:
                self.cancel_timer(expiry)
        self.state = replace(self.state, run=None, current_flow=None)
        if self.state.suspended is run:
            self.state = replace(self.state, suspended=None)


def _expiry_timer(run: Run) -> str | None:
    return derive_id("tmr", run.run_id, "expiry") if run.expires_at else None


def _newest_first(last_inbound: dict[str, str]) -> list[str]:
    """The channels of ``state.last_inbound``, the most recent inbound first (an unreadable
    time counts as the oldest)."""

    def when(channel: str) -> datetime:
        try:
            at = datetime.fromisoformat(last_inbound[channel])
        except ValueError:
            return datetime.min.replace(tzinfo=UTC)
        return at if at.tzinfo is not None else at.replace(tzinfo=UTC)

    return sorted(last_inbound, key=when, reverse=True)
