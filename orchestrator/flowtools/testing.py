"""``continuum flows test``: scripted conversations with expectations, and step coverage.

A test file (``tests/flows/<flow>.yaml``)::

    flow: order-status
    cases:
      - name: known order is shipped
        now: "2026-11-22T10:00:00Z"
        state: {fields: {last_order: "12345"}, identities: {sms: "+15551230001"}}
        steps:
          - message: {channel: sms, from: "+15551230001", text: "where is my order?"}
            expect:
              decisions: [{type: call_http, method: GET}]   # in order, as a subsequence
              run: {waiting: call}                           # subset of the run, or null
          - call_result: {status: 200, json: {status: shipped, eta: "2026-11-25"}}
            expect:
              sends: [{channel: sms, text_contains: shipped}]   # exactly these messages
              notes: [flow_ended]                               # codes that must appear
              state: {fields: {last_order: "12345"}}            # subset of the state
          - advance: 24h      # fire timers due by then

A message may carry ``id`` (the provider's id) to replay the same message twice.
Other steps: ``event: {name, data}``, ``status: {status, channel, ...}`` (other keys are the
status event's data: ``final``, ``fallback_to``, ``fallback_from``), ``schedule: {}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator.durations import parse_duration
from orchestrator.engine.catalogue import Catalogue
from orchestrator.engine.decisions import Decision, Outcome, SendMessage
from orchestrator.engine.flowfile import parse_yaml
from orchestrator.flowtools.script import Conversation, initial_state, merge

DEFAULT_NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


class TestFileError(ValueError):
    """Raised when a test file is malformed (not when a test fails)."""


@dataclass
class CaseResult:
    """One case: passed or not, why not, and the steps it visited."""

    file: str
    flow: str
    name: str
    failures: list[str] = field(default_factory=list)
    visited: set[tuple[str, str]] = field(default_factory=set)

    @property
    def passed(self) -> bool:
        """No expectation failed."""
        return not self.failures


def run_file(path: Path, catalogue: Catalogue) -> list[CaseResult]:
    """Run every case of one test file."""
    doc = parse_yaml(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or "flow" not in doc or not isinstance(doc.get("cases"), list):
        raise TestFileError(f"{path}: a test file has `flow:` and a list of `cases:`")
    flow_id = str(doc["flow"])
    if catalogue.get(flow_id) is None:
        raise TestFileError(f"{path}: no flow {flow_id!r} in the flows folder")
    return [run_case(catalogue, flow_id, case, str(path)) for case in doc["cases"]]


def run_case(catalogue: Catalogue, flow_id: str, case: Mapping[str, Any], file: str) -> CaseResult:
    """Run one case's steps in order, checking each step's expectations."""
    name = str(case.get("name", "unnamed"))
    result = CaseResult(file, flow_id, name)
    now = _time(case.get("now")) if case.get("now") else DEFAULT_NOW
    talk = Conversation(catalogue, initial_state(case.get("state")), now)
    for index, step in enumerate(case.get("steps") or []):
        where = f"step {index + 1}"
        try:
            outcome = _play(talk, flow_id, step)
        except (TestFileError, ValueError, KeyError, TypeError) as exc:
            result.failures.append(f"{where}: {exc}")
            break
        for failure in check(outcome, step.get("expect") or {}):
            result.failures.append(f"{where} ({_describe(step)}): {failure}")
    result.visited = talk.visited
    return result


def coverage(
    catalogue: Catalogue, results: Iterable[CaseResult]
) -> dict[str, tuple[int, int, list[str]]]:
    """Per flow under test: steps visited, steps in all, and the ids never visited."""
    visited: set[tuple[str, str]] = set()
    flows: set[str] = set()
    for r in results:
        visited |= r.visited
        flows.add(r.flow)
    report = {}
    for flow_id in sorted(flows):
        flow = catalogue.get(flow_id)
        if flow is None:
            continue
        ids = [s.id for s in flow.steps]
        missing = [i for i in ids if (flow_id, i) not in visited]
        report[flow_id] = (len(ids) - len(missing), len(ids), missing)
    return report


def _play(talk: Conversation, flow_id: str, step: Mapping[str, Any]) -> Outcome:
    if "message" in step:
        m = step["message"]
        return talk.message(
            str(m.get("channel", "sms")),
            str(m.get("from", "+15551230001")),
            str(m.get("text", "")),
            m.get("to"),
            m.get("id"),
        )
    if "event" in step:
        return talk.event(str(step["event"]["name"]), step["event"].get("data"))
    if "status" in step:
        st = step["status"]
        extra = {k: v for k, v in st.items() if k not in ("status", "channel")}
        return talk.status(str(st["status"]), str(st.get("channel", "sms")), extra)
    if "schedule" in step:
        return talk.schedule(str((step["schedule"] or {}).get("flow", flow_id)))
    if "call_result" in step:
        outcome = talk.call_result(step["call_result"] or {})
        if outcome is None:
            raise TestFileError("call_result, but no call is pending")
        return outcome
    if "advance" in step:
        return merge(talk.advance(parse_duration(str(step["advance"]))), talk.state)
    raise TestFileError(
        f"unknown step {sorted(step)}: use message, event, status, schedule, call_result or advance"
    )


def check(outcome: Outcome, expect: Mapping[str, Any]) -> list[str]:
    """Every way ``outcome`` misses ``expect`` (empty when it meets it)."""
    failures: list[str] = []
    if "sends" in expect:
        sends = [d for d in outcome.decisions if isinstance(d, SendMessage)]
        wanted = expect["sends"] or []
        if len(sends) != len(wanted):
            failures.append(
                f"expected {len(wanted)} message(s), got {len(sends)}: {[s.text for s in sends]}"
            )
        for want, got in zip(wanted, sends, strict=False):
            failures.extend(_match_fields(want, _decision_doc(got), "message"))
    if "decisions" in expect:
        failures.extend(_subsequence(expect["decisions"] or [], list(outcome.decisions)))
    codes = [n.code for n in outcome.notes]
    failures.extend(
        f"note {c!r} not emitted (got {codes})" for c in expect.get("notes") or [] if c not in codes
    )
    if "state" in expect:
        failures.extend(_subset(expect["state"], outcome.state.to_dict(), "state"))
    if "run" in expect:
        run = outcome.state.run
        if expect["run"] is None:
            if run is not None:
                failures.append(f"expected no active run, got {run.flow_id} at {run.step}")
        elif run is None:
            failures.append("expected an active run, got none")
        else:
            failures.extend(_subset(expect["run"], run.to_dict(), "run"))
    return failures


def _decision_doc(decision: Decision) -> dict[str, Any]:
    doc = asdict(decision)
    doc["type"] = decision.kind
    return doc


def _subsequence(wanted: list[Mapping[str, Any]], got: list[Decision]) -> list[str]:
    docs = [_decision_doc(d) for d in got]
    position = 0
    for want in wanted:
        while position < len(docs) and _match_fields(want, docs[position], ""):
            position += 1
        if position == len(docs):
            return [
                f"no decision matching {dict(want)} (in order) among {[d['type'] for d in docs]}"
            ]
        position += 1
    return []


def _match_fields(want: Mapping[str, Any], got: Mapping[str, Any], what: str) -> list[str]:
    failures = []
    for key, value in want.items():
        if key == "text_contains":
            if str(value) not in str(got.get("text", "")):
                failures.append(f"{what} text {got.get('text')!r} lacks {value!r}")
        elif isinstance(value, Mapping):
            failures.extend(_subset(value, got.get(key), f"{what}.{key}" if what else key))
        elif _norm(got.get(key)) != _norm(value):
            failures.append(f"{what}.{key}: expected {value!r}, got {got.get(key)!r}")
    return failures


def _subset(want: Any, got: Any, path: str) -> list[str]:
    if isinstance(want, Mapping) and isinstance(got, Mapping):
        return [f for k, v in want.items() for f in _subset(v, got.get(k), f"{path}.{k}")]
    if _norm(want) != _norm(got):
        return [f"{path}: expected {want!r}, got {got!r}"]
    return []


def _norm(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_norm(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _time(value: Any) -> datetime:
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _describe(step: Mapping[str, Any]) -> str:
    kind = next((k for k in step if k != "expect"), "?")
    return kind
