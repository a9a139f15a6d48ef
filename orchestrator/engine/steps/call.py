"""``call``: an HTTP request to an allow-listed host, performed by the executor.

YAML::

    - id: lookup
      type: call
      method: GET
      url: "http://127.0.0.1:8090/_sandbox/api/orders/{{ customer.fields.last_order }}"
      timeout: 5s
      on_error: apologise
      on_timeout: apologise

Emits ``call_http``; the run waits for the ``call_result`` event, whose response is kept in
``run.results.<id>`` as ``{status, json, text, error}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from orchestrator.engine.decisions import CallHttp, derive_id
from orchestrator.engine.expressions import ExpressionError, render
from orchestrator.engine.spec_base import Duration, StepBase, StepRef, to_duration
from orchestrator.engine.steps import Goto, Pause, Result
from orchestrator.engine.steps.markers import Advice, Check, Evaluated, Loc, Target

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.spec import Flow
    from orchestrator.engine.steps.context import StepContext


class CallStep(StepBase):
    """An HTTP request to an allow-listed host; the executor performs it and resumes the flow.

    ``url`` is a template whose scheme and host are literal. The response is kept in
    ``run.results.<step id>`` as ``{status, json, text}``.
    """

    type: Literal["call"]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: Annotated[str, Evaluated()]
    headers: Annotated[dict[str, str], Evaluated()] = Field(default_factory=dict)
    body: Annotated[dict[str, str] | None, Evaluated()] = None
    timeout: Duration = Field(timedelta(seconds=10), le=timedelta(seconds=30))
    """At most 30 s: the call holds up its customer's partition while it runs."""
    on_error: Annotated[StepRef | None, Target()] = None
    on_timeout: Annotated[StepRef | None, Target()] = None

    _t = field_validator("timeout", mode="before")(to_duration)

    def run(self, flow: Flow, current: Run, ctx: StepContext) -> Result:
        """Ask the executor to make the request."""
        variables = ctx.variables(flow, current)
        try:
            url = render(self.url, variables)
            headers = {k: render(v, variables) for k, v in self.headers.items()}
            body = {k: render(v, variables) for k, v in self.body.items()} if self.body else None
        except ExpressionError as exc:
            ctx.note("template_error", flow, self.id, str(exc))
            results = {
                **current.results,
                self.id: {"status": None, "json": None, "text": None, "error": "template_error"},
            }
            following = self.on_error or ctx.next_of(flow, self)
            return Goto(following, replace(current, results=results))
        visit = str(current.visits.get(self.id, 0))
        call_id = derive_id("call", current.run_id, self.id, visit)
        ctx.decide(
            CallHttp(
                call_id,
                self.method,
                url,
                headers,
                body,
                self.timeout.total_seconds(),
                flow.id,
                self.id,
                flow.version,
            )
        )
        return Pause(replace(current, step=self.id, waiting="call", call_id=call_id))

    def on_call(
        self, flow: Flow, current: Run, ctx: StepContext, data: dict[str, Any]
    ) -> Result | None:
        """Keep the response and branch: success → next, timeout → on_timeout, error →
        on_error."""
        error = data.get("error")
        status = data.get("status")
        result = {
            "status": status,
            "json": data.get("json"),
            "text": data.get("text"),
            "error": error,
        }
        current = replace(current, results={**current.results, self.id: result}, call_id=None)
        following = ctx.next_of(flow, self)
        if error == "timeout":
            return Goto(self.on_timeout or self.on_error or following, current)
        if error or not isinstance(status, int) or status >= 400:
            return Goto(self.on_error or following, current)
        return Goto(following, current)

    def exits(self, following: str | None) -> list[tuple[str, str | None]]:
        """Success goes on; an error or a timeout to their branches."""
        return [("ok", following), ("error", self.on_error), ("timeout", self.on_timeout)]

    def problems(self, check: Check) -> Iterator[tuple[Loc, str]]:
        """The URL's scheme and host are literal, and the host is allow-listed."""
        parts = urlsplit(self.url)
        host = (parts.netloc or "").lower()
        if parts.scheme not in ("http", "https") or not host or "{" in host:
            yield ("url",), "the URL's scheme and host must be literal http(s)"
        elif host not in check.allowed_hosts:
            allowed = ", ".join(sorted(check.allowed_hosts)) or "none"
            yield (
                ("url",),
                f"host {host!r} is not allow-listed (CONTINUUM_FLOWS_ALLOWED_HOSTS: {allowed})",
            )

    def advice(self, flow: Flow) -> Iterator[Advice]:
        """A failed request that just goes on."""
        if self.on_error is None:
            yield Advice(
                "call_without_on_error",
                "a failed request goes on to the next step as if it succeeded; set `on_error`",
            )
