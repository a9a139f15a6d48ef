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

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from orchestrator.engine import spec
from orchestrator.engine.decisions import CallHttp, derive_id
from orchestrator.engine.expressions import ExpressionError, render
from orchestrator.engine.steps import Goto, Pause, Result

if TYPE_CHECKING:
    from orchestrator.engine.model import Run
    from orchestrator.engine.session import Session


def run(step: spec.CallStep, flow: spec.Flow, current: Run, s: Session) -> Result:
    """Ask the executor to make the request."""
    variables = s.variables(flow, current)
    try:
        url = render(step.url, variables)
        headers = {k: render(v, variables) for k, v in step.headers.items()}
        body = {k: render(v, variables) for k, v in step.body.items()} if step.body else None
    except ExpressionError as exc:
        s.note("template_error", flow, step.id, str(exc))
        results = {
            **current.results,
            step.id: {"status": None, "json": None, "text": None, "error": "template_error"},
        }
        return Goto(step.on_error or s.next_of(flow, step), replace(current, results=results))
    visit = str(current.visits.get(step.id, 0))
    call_id = derive_id("call", current.run_id, step.id, visit)
    s.decide(
        CallHttp(
            call_id,
            step.method,
            url,
            headers,
            body,
            step.timeout.total_seconds(),
            flow.id,
            step.id,
            flow.version,
        )
    )
    return Pause(replace(current, step=step.id, waiting="call", call_id=call_id))


def answered(
    step: spec.CallStep, flow: spec.Flow, current: Run, s: Session, data: dict[str, Any]
) -> Result:
    """Keep the response and branch: success → next, timeout → on_timeout, error → on_error."""
    error = data.get("error")
    status = data.get("status")
    result = {"status": status, "json": data.get("json"), "text": data.get("text"), "error": error}
    current = replace(current, results={**current.results, step.id: result}, call_id=None)
    following = s.next_of(flow, step)
    if error == "timeout":
        return Goto(step.on_timeout or step.on_error or following, current)
    if error or not isinstance(status, int) or status >= 400:
        return Goto(step.on_error or following, current)
    return Goto(following, current)
