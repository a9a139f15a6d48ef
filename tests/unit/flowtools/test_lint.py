"""``flows lint``: each rule fires on a flow that breaks it and stays quiet on one that does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.flowtools.lint import lint
from tests.unit.flowtools.helpers import ROOT, flow_yaml, load

Rules = list[tuple[str | None, str, str]]
SEND = "  - {id: hi, type: send, purpose: service, template: hi}\n"


def _rules(tmp_path: Path, text: str) -> Rules:
    return [(f.step_id, f.rule, f.severity) for f in lint(load(tmp_path, text))]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param(
            SEND + "  - {id: done, type: end}\n  - {id: orphan, type: set, add_tags: [x]}\n",
            [("orphan", "unreachable_step", "warning")],
            id="after-end",
        ),
        pytest.param(
            "  - id: pick\n    type: switch\n    cases: [{when: 'true', next: b}]\n"
            "    default: c\n"
            "  - {id: a, type: set, add_tags: [x]}\n"
            "  - {id: b, type: set, add_tags: [x], next: c}\n"
            "  - {id: c, type: end}\n",
            [("a", "unreachable_step", "warning")],
            id="switch-with-default-skips-next",
        ),
        pytest.param(
            "  - id: pick\n    type: split\n    weights: {x: 1, y: 1}\n"
            "    branches: {x: b, y: b}\n"
            "  - {id: a, type: set, add_tags: [x]}\n"
            "  - {id: b, type: end}\n",
            [("a", "unreachable_step", "warning")],
            id="split",
        ),
    ],
)
def test_unreachable_steps(tmp_path: Path, steps: str, expected: Rules) -> None:
    assert _rules(tmp_path, flow_yaml(steps)) == expected


def test_implicit_next_and_branches_reach_every_step(tmp_path: Path) -> None:
    steps = (
        "  - id: pick\n    type: switch\n    cases: [{when: 'true', next: c}]\n"  # no default
        "  - {id: a, type: set, add_tags: [x]}\n"
        "  - id: lookup\n    type: call\n    url: http://127.0.0.1:8090/x\n"
        "    on_error: b\n    on_timeout: c\n"
        "  - {id: w, type: wait, event: paid, timeout: 1h, timeout_next: d}\n"
        "  - {id: b, type: end}\n  - {id: c, type: end}\n  - {id: d, type: end}\n"
    )
    assert _rules(tmp_path, flow_yaml(steps)) == []


ASK = (
    "  - id: q\n    type: ask\n    purpose: service\n    template: ok?\n{extra}"
    "    categories: [{{name: yes, test: has_any_word, args: [yes]}},"
    " {{name: no, test: has_any_word, args: [no]}}]\n"
    "    branches: {branches}\n"
    "  - {{id: a, type: end}}\n  - {{id: b, type: end}}\n"
)


@pytest.mark.parametrize(
    ("extra", "branches", "expected"),
    [
        pytest.param("    timeout: 1h\n", "{yes: a, no: b}", [], id="all-handled"),
        pytest.param("    timeout: 1h\n", "{yes: a, other: b}", [], id="other-handles"),
        pytest.param(
            "    timeout: 1h\n",
            "{yes: a}",  # `no` falls through to `a`, so nothing reaches `b`
            [("q", "unhandled_category", "warning"), ("b", "unreachable_step", "warning")],
            id="unhandled",
        ),
        pytest.param(
            "",
            "{yes: a, no: b}",
            [("q", "ask_without_timeout", "warning")],
            id="no-timeout",
        ),
        pytest.param(
            "",
            "{yes: a, no: b, timeout: a}",
            [("q", "ask_without_timeout", "warning"), ("q", "dead_timeout_branch", "warning")],
            id="dead-timeout-branch",
        ),
    ],
)
def test_ask_rules(tmp_path: Path, extra: str, branches: str, expected: Rules) -> None:
    steps = ASK.format(extra=extra, branches=branches)
    assert _rules(tmp_path, flow_yaml(steps)) == expected


@pytest.mark.parametrize(
    ("stage", "purpose", "expected"),
    [
        pytest.param("renewal", "", [("hi", "missing_purpose", "error")], id="marketing-stage"),
        pytest.param("win-back", "", [("hi", "missing_purpose", "error")], id="win-back"),
        pytest.param("support", "", [("hi", "missing_purpose", "warning")], id="service-stage"),
        pytest.param("awareness", "purpose: marketing, ", [], id="explicit"),
        pytest.param("support", "purpose: transactional, ", [], id="explicit-service"),
    ],
)
def test_missing_purpose(tmp_path: Path, stage: str, purpose: str, expected: Rules) -> None:
    steps = f"  - {{id: hi, type: send, {purpose}template: hi}}\n"
    assert _rules(tmp_path, flow_yaml(steps, stage=stage)) == expected


def test_missing_purpose_message_says_it_defaults_to_service(tmp_path: Path) -> None:
    [finding] = lint(load(tmp_path, flow_yaml("  - {id: hi, type: send, template: hi}\n")))
    assert str(finding) == "t.hi: warning: missing_purpose: no `purpose`: defaults to service"


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        pytest.param(
            "{id: w, type: wait, event: paid}", [("w", "wait_without_timeout", "warning")], id="bad"
        ),
        pytest.param("{id: w, type: wait, event: paid, timeout: 2h}", [], id="good"),
        pytest.param("{id: w, type: wait, duration: 2h}", [], id="duration"),
        pytest.param(
            "{id: w, type: wait, event: paid, timeout_next: w}",
            [("w", "wait_without_timeout", "warning"), ("w", "dead_timeout_branch", "warning")],
            id="dead-timeout-next",
        ),
    ],
)
def test_wait_for_an_event_needs_a_timeout(tmp_path: Path, step: str, expected: Rules) -> None:
    assert _rules(tmp_path, flow_yaml(f"  - {step}\n")) == expected


@pytest.mark.parametrize(
    ("on_error", "expected"),
    [
        pytest.param("", [("c", "call_without_on_error", "warning")], id="bad"),
        pytest.param(", on_error: d", [], id="good"),
    ],
)
def test_call_needs_on_error(tmp_path: Path, on_error: str, expected: Rules) -> None:
    steps = f"  - {{id: c, type: call, url: 'http://127.0.0.1:8090/x'{on_error}}}\n"
    steps += "  - {id: d, type: end}\n"
    assert _rules(tmp_path, flow_yaml(steps)) == expected


def test_next_on_an_end_step_is_ignored(tmp_path: Path) -> None:
    steps = "  - {id: a, type: end, next: b}\n  - {id: b, type: end}\n"
    assert _rules(tmp_path, flow_yaml(steps)) == [
        ("a", "ignored_next", "warning"),
        ("b", "unreachable_step", "warning"),
    ]


def test_cli_exit_status_and_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    load(tmp_path, flow_yaml("  - {id: hi, type: send, template: hi}\n", stage="renewal"))
    assert main(["flows", "lint", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("t.hi: error: missing_purpose: no `purpose` in a renewal flow")


def test_cli_invalid_flows_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text("spec_version: 1\nid: Bad\n", encoding="utf-8")
    assert main(["flows", "lint", str(tmp_path)]) == 2
    assert "bad.yaml" in capsys.readouterr().err


def test_shipped_flows_lint_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flows", "lint", str(ROOT / "flows")]) == 0
    assert ": error: " not in capsys.readouterr().out
