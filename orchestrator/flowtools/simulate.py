"""``continuum flows simulate``: talk to a flow as a customer, on stdin and stdout.

Each line is a message from the customer; lines starting with ``/`` are commands (``/help``).
The engine is the real, pure one with every flow of the folder loaded, behind a
:class:`~orchestrator.flowtools.script.Conversation` with a fake clock, so ``/advance 24h``
fires the timers that would fire in a day. Nothing is sent anywhere.

Example::

    run(["JOIN", "yes", "/advance 24h", "/quit"], sys.stdout, catalogue, "welcome")
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, TextIO

import orjson

from orchestrator.durations import parse_duration
from orchestrator.engine import spec
from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.decisions import (
    CallHttp,
    CancelConversation,
    CancelTimer,
    Decision,
    EmitEvent,
    ForwardToAgent,
    HandOff,
    Note,
    Outcome,
    SendMessage,
    StartTimer,
)
from orchestrator.engine.model import CustomerState, Event
from orchestrator.flowtools.graph import describe_trigger
from orchestrator.flowtools.script import Conversation
from orchestrator.flowtools.testing import DEFAULT_NOW

HELP = """\
Type a line to send it as the customer. Commands:
  /advance 24h            move the clock, firing the timers due by then
  /event NAME {json}      a business event about the customer
  /call 200 {json}        answer the pending call (/call timeout, /call error: a failure)
  /status failed          a delivery status for the last message
  /start {json}           fire the flow's trigger (event, schedule, timer, status flows)
  /state                  print the customer's state as JSON
  /timers                 list pending timers
  /help, /quit"""

_EARLY_NOTES = frozenset(
    (
        "duplicate_event",
        "migrated",
        "run_expired",
        "exit_criteria_met",
        "run_interrupted",
        "flow_matched",
        "reentry_blocked",
    )
)
"""Notes about what happened before the steps ran: shown before the decisions."""


class _Repl:
    """The loop's memory: the conversation, where output goes, and whether FLOW has started."""

    def __init__(
        self, talk: Conversation, out: TextIO, flow: spec.Flow, channel: str, sender: str
    ) -> None:
        self.talk, self.out, self.flow = talk, out, flow
        self.channel, self.sender = channel, sender
        self.started = self.hinted = False
        self.dim = out.isatty()

    def say(self, line: str) -> None:
        self.out.write(line + "\n")

    def show(self, outcome: Outcome | None) -> None:
        if outcome is None:
            return
        early = [n for n in outcome.notes if n.code in _EARLY_NOTES]
        for note in early:
            self.note(note)
        for decision in outcome.decisions:
            self.say(describe(decision, self.talk.now))
        for note in outcome.notes:
            if note not in early:
                self.note(note)

    def note(self, note: Note) -> None:
        if note.code == "flow_matched" and note.flow_id == self.flow.id:
            self.started = True
        where = " ".join(
            p for p in (note.flow_id, f"({note.step})" if note.step else "", note.detail) if p
        )
        text = f"# note: {note.code}" + (f" {where}" if where else "")
        self.say(f"\x1b[2m{text}\x1b[0m" if self.dim else text)

    def message(self, text: str) -> None:
        self.show(self.talk.message(self.channel, self.sender, text))
        if not self.started and not self.hinted:
            self.hinted = True
            self.hint()

    def advance(self, by: timedelta) -> None:
        """Move the clock in hops from one due timer to the next, showing each as it fires."""
        until = self.talk.now + by
        while True:
            due = [when for when, _ in self.talk.timers.values() if when <= until]
            hop = min(due) if due else until
            for outcome in self.talk.advance(max(hop - self.talk.now, timedelta(0))):
                self.show(outcome)
            if not due:
                break
        self.say(f"# clock: {self.talk.now.isoformat()}")

    def hint(self) -> None:
        trigger = self.flow.trigger
        how = (
            "type a message it matches"
            if isinstance(trigger, spec.MessageTrigger)
            else "type /start to fire it"
        )
        self.say(
            f"# hint: {self.flow.id} did not start: its trigger is "
            f"{describe_trigger(self.flow)}; {how}"
        )

    def start(self, data: dict[str, Any]) -> Outcome | None:
        t, talk = self.flow.trigger, self.talk
        match t:
            case spec.EventTrigger():
                return talk.event(t.name, data)
            case spec.ScheduleTrigger():
                return talk.schedule(self.flow.id)
            case spec.TimerTrigger():
                timer_id = f"tmr_start_{t.name}_{talk.now.isoformat()}"
                return talk.send(Event(timer_id, "timer", timer_id=timer_id, name=t.name))
            case spec.StatusTrigger():
                return talk.status(t.statuses[0], self.channel)
            case _:
                self.say(
                    f"# {describe_trigger(self.flow)} flows start by themselves: "
                    "type a message (or reach the stage in a `set` step)"
                )
                return None

    def command(self, line: str) -> bool:
        """Run one ``/command``; ``False`` to stop."""
        name, _, rest = line[1:].partition(" ")
        first, _, tail = rest.strip().partition(" ")
        talk = self.talk
        match name:
            case "quit" | "exit" | "q":
                return False
            case "help" | "?":
                self.say(HELP)
            case "advance":
                self.advance(parse_duration(first or "1h"))
            case "event":
                self.show(talk.event(first, _json(tail)))
            case "call":
                self.call(first, _json(tail))
            case "status":
                self.show(talk.status(first or "failed", self.channel))
            case "start":
                self.show(self.start(_json(rest)))
            case "state":
                doc = orjson.dumps(talk.state.to_dict(), option=orjson.OPT_INDENT_2)
                self.say(doc.decode())
            case "timers":
                for timer_id, (due, label) in sorted(talk.timers.items(), key=lambda t: t[1][0]):
                    self.say(
                        f"{timer_id[:16]}  due {due.isoformat()} (in {human(due - talk.now)})"
                        + (f"  named {label}" if label else "")
                    )
                if not talk.timers:
                    self.say("# no timers pending")
            case _:
                self.say(f"# unknown command /{name}; /help lists them")
        return True

    def call(self, status: str, body: dict[str, Any]) -> None:
        if status.isdigit():
            data: dict[str, Any] = {
                "status": int(status),
                "json": body or None,
                "text": orjson.dumps(body).decode() if body else "",
            }
        else:
            data = {"error": status or "error"}
        outcome = self.talk.call_result(data)
        if outcome is None:
            self.say("# no call is pending")
        self.show(outcome)


def run(
    lines: Iterable[str],
    out: TextIO,
    catalogue: Catalogue,
    flow_id: str,
    *,
    channel: str = "sms",
    sender: str = "+15551230001",
    state: CustomerState | None = None,
    now: datetime = DEFAULT_NOW,
    echo: bool = False,
    prompt: str = "",
) -> int:
    """Play ``lines`` against the engine, writing what happens to ``out``; return 0.

    ``echo`` repeats each customer line (for transcripts of piped input); ``prompt`` is
    written before each line is read (for a terminal).
    """
    flow = catalogue.get(flow_id)
    if flow is None:
        raise KeyError(flow_id)
    start = state or CustomerState("c1", identities={channel: sender})
    repl = _Repl(Conversation(catalogue, start, now), out, flow, channel, sender)
    how = "" if isinstance(flow.trigger, spec.MessageTrigger) else "; /start fires it"
    repl.say(
        f"# {flow.id} v{flow.version}: trigger {describe_trigger(flow)}{how}; /help lists commands"
    )
    out.write(prompt)
    out.flush()
    for raw in lines:
        line = raw.strip()
        if line.startswith("/"):
            try:
                if not repl.command(line):
                    break
            except ValueError as exc:  # a bad duration or JSON: say so and carry on
                repl.say(f"# error: {exc}")
        elif line:
            if echo:
                repl.say(f"you ({channel}): {line}")
            repl.message(line)
        out.write(prompt)
        out.flush()
    return 0


def describe(decision: Decision, now: datetime) -> str:
    """One line for one decision."""
    match decision:
        case SendMessage():
            return f"bot ({decision.channel}): {_message(decision)}"
        case StartTimer():
            named = f" {decision.name}" if decision.name else ""
            return f"-> timer{named} in {human(decision.due - now)} ({decision.purpose})"
        case CancelTimer():
            return f"-> cancel timer {decision.timer_id[:16]}"
        case CallHttp():
            return f"-> call {decision.method} {decision.url}  (answer: /call 200 {{json}})"
        case HandOff():
            note = f": {' '.join((decision.note or '').split())}" if decision.note else ""
            return f"-> hand off to queue {decision.queue} (priority {decision.priority}){note}"
        case EmitEvent():
            return f"-> emit event.{decision.name} {orjson.dumps(dict(decision.data)).decode()}"
        case ForwardToAgent():
            return f"-> to the agent of conversation {decision.conversation_id}: {decision.text}"
        case CancelConversation():
            return f"-> end conversation {decision.conversation_id} ({decision.reason})"


def _message(d: SendMessage) -> str:
    """The text as the customer sees it: a template by name and parameters, buttons and menu
    rows in brackets after the text, an email's subject before it."""
    content = d.content or {}
    kind = content.get("kind")
    if kind == "template":
        params = ", ".join(str(p) for p in content.get("params", ()))
        return f"(template {content['name']}{': ' + params if params else ''})"
    text = f"[{d.subject}] {d.text}" if d.subject else d.text
    if kind == "buttons":
        return f"{text} [{' | '.join(b['title'] for b in content['buttons'])}]"
    if kind == "list":
        rows = [r["title"] for section in content["sections"] for r in section["rows"]]
        return f"{text} [{content['button']}: {' | '.join(rows)}]"
    return text


def human(delta: timedelta) -> str:
    """``1d2h``, ``30m``, ``0s``: a duration the way flow files write them."""
    seconds = int(delta.total_seconds())
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    parts = [
        (seconds // 86400, "d"),
        (seconds // 3600 % 24, "h"),
        (seconds // 60 % 60, "m"),
        (seconds % 60, "s"),
    ]
    return sign + ("".join(f"{n}{unit}" for n, unit in parts if n) or "0s")


def _json(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {text!r} ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {text!r}")
    return value
