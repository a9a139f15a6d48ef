"""``ask``: send a question, wait for the reply, classify it, branch by category.

YAML::

    - id: consent
      type: ask
      template: "Can we send you offers? Reply YES or NO"
      timeout: 24h
      categories:
        - {name: yes, test: has_any_word, args: [yes, y, ok]}
        - {name: no, test: has_any_word, args: [no, n, stop]}
      branches: {yes: record_yes, no: record_no, other: consent, timeout: end}

Emits ``send_message`` and ``start_timer`` (the timeout); on the reply, ``cancel_timer`` and
``run.results.<id> = {category, value}``. A reply matching nothing is ``other``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator

from orchestrator.engine.expressions import ExpressionError, truthy
from orchestrator.engine.matchers import TESTS
from orchestrator.engine.spec_base import Duration, Spec, StepRef, optional_duration
from orchestrator.engine.steps import Goto, Pause, Result, Stop
from orchestrator.engine.steps._message import MessageStep
from orchestrator.engine.steps.markers import (
    Advice,
    Check,
    Expression,
    Loc,
    Marked,
    Regex,
    Target,
)

if TYPE_CHECKING:
    from orchestrator.engine.model import Event, Run
    from orchestrator.engine.spec import Flow
    from orchestrator.engine.steps.context import StepContext


class Category(Spec):
    """One way to classify a reply: a named test with its arguments."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    test: Literal[
        "has_any_word",
        "has_number_between",
        "has_date",
        "has_email",
        "has_phone",
        "regex",
        "expression",
    ]
    args: tuple[str | int | float, ...] = ()

    def markers(self) -> Iterator[Marked]:
        """``expression`` and ``regex`` tests take an expression or a pattern."""
        if self.test == "expression":
            source = str(self.args[0]) if self.args else ""
            yield ("args",), Expression(extra=("answer",)), source
        elif self.test == "regex" and len(self.args) == 1:
            yield ("args",), Regex(), str(self.args[0])

    def problems(self, check: Check) -> Iterator[tuple[Loc, str]]:
        """Each test's arguments."""
        if self.test in ("regex", "expression") and len(self.args) != 1:
            yield ("args",), f"{self.test} takes exactly one argument"
        elif self.test == "has_number_between":
            if len(self.args) != 2 or not all(isinstance(a, int | float) for a in self.args):
                yield ("args",), "has_number_between takes two numbers: [low, high]"
        elif self.test == "has_any_word" and not self.args:
            yield ("args",), "has_any_word needs at least one word"


class AskStep(MessageStep):
    """Send a question, wait for the reply, classify it, and branch by category."""

    type: Literal["ask"]
    timeout: Duration | None = None
    categories: tuple[Category, ...] = ()
    branches: Annotated[dict[str, StepRef], Target()] = Field(default_factory=dict)

    _t = field_validator("timeout", mode="before")(optional_duration)

    def run(self, flow: Flow, current: Run, ctx: StepContext) -> Result:
        """Ask, then wait for the reply (and the timeout, if any)."""
        ctx.send(flow, current, self)
        timer = ctx.start_timer(flow, current, self.id, self.timeout, "ask_timeout")
        return Pause(replace(current, step=self.id, waiting="reply", timer_id=timer))

    def on_reply(self, flow: Flow, current: Run, ctx: StepContext, event: Event) -> Result | None:
        """Classify the reply and take the matching branch."""
        ctx.cancel_timer(current.timer_id)
        current = replace(current, channel=event.channel, timer_id=None, waiting=None)
        category, value = self.classify(event.text, ctx.now, ctx.variables(flow, current))
        results = {**current.results, self.id: {"category": category, "value": value}}
        current = replace(current, results=results)
        target = self.branches.get(category)
        if target is None and category != "other":
            target = self.branches.get("other") if category not in self.branches else None
        return Goto(target or ctx.next_of(flow, self), current)

    def on_timer(self, flow: Flow, current: Run, ctx: StepContext) -> Result | None:
        """No reply in time: the ``timeout`` branch, else the run ends."""
        results = {**current.results, self.id: {"category": "timeout", "value": None}}
        current = replace(current, results=results)
        target = self.branches.get("timeout")
        if target is None:
            ctx.note("ask_timeout", flow, self.id, "no reply before the timeout; the run ends")
            return Stop(current)
        return Goto(target, current)

    def classify(
        self, text: str, now: datetime, variables: dict[str, Any]
    ) -> tuple[str, str | None]:
        """The first category the reply matches, and the matched value; else ``other``."""
        for category in self.categories:
            if category.test == "expression":
                try:
                    if truthy(str(category.args[0]), {**variables, "answer": text}):
                        return category.name, text
                except ExpressionError:
                    continue
                continue
            value = TESTS[category.test](text, category.args, now)
            if value is not None:
                return category.name, value
        return "other", text

    def exits(self, following: str | None) -> list[tuple[str, str | None]]:
        """Each branch; unbranched categories and ``other`` fall through to ``next``."""
        found: list[tuple[str, str | None]] = list(self.branches.items())
        if "other" not in self.branches:
            found.append(("other", following))
        return found

    def problems(self, check: Check) -> Iterator[tuple[Loc, str]]:
        """A branch must name a category (or ``other``, ``timeout``)."""
        names = {c.name for c in self.categories}
        for branch in self.branches:
            if branch not in names | {"other", "timeout"}:
                yield ("branches", branch), f"no category {branch!r} in this ask"

    def advice(self, flow: Flow) -> Iterator[Advice]:
        """No timeout, a dead timeout branch, categories that fall through; no purpose."""
        if self.timeout is None:
            yield Advice("ask_without_timeout", "waits for a reply forever; set `timeout`")
            if "timeout" in self.branches:
                yield Advice(
                    "dead_timeout_branch", "the `timeout` branch is never taken without `timeout`"
                )
        if "other" not in self.branches:
            following = self.next or flow.after(self.id)
            where = f"goes on to {following!r}" if following else "ends the flow"
            for category in self.categories:
                if category.name not in self.branches:
                    yield Advice(
                        "unhandled_category",
                        f"category {category.name!r} has no branch and there is no `other` "
                        f"branch: it {where}",
                    )
        yield from super().advice(flow)
