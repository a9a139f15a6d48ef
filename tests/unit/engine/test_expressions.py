"""The sandbox: counted work, capped output, strict names, and durations."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator.durations import parse_duration
from orchestrator.engine import expressions
from orchestrator.engine.expressions import (
    MAX_OUTPUT_CHARS,
    WORK_BUDGET,
    ExpressionError,
    check_expression,
    check_template,
    evaluate,
    render,
)


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}x{% endfor %}",
        "{{ range(WORK + 1) | length }}".replace("WORK", str(WORK_BUDGET)),
        "{{ ('ab' * 5001) | length }}",
        "{{ (5001 * 'ab') | length }}",
        "{{ ([1] * 100000) | length }}",
        "{% for i in range(6000) %}{% for j in range(6000) %}{% endfor %}{% endfor %}",
        "{{ 2 ** 65 }}",
        "{{ 'x' * 4000 }}{{ 'y' * 4000 }}",
    ],
)
def test_runaway_templates_are_errors_not_hangs(source: str) -> None:
    with pytest.raises(ExpressionError):
        render(source, {})


def test_work_up_to_the_budget_is_fine_and_each_evaluation_gets_a_fresh_budget() -> None:
    source = "{{ range(" + str(WORK_BUDGET) + ") | length }}"
    assert render(source, {}) == str(WORK_BUDGET)
    assert render(source, {}) == str(WORK_BUDGET)
    assert render("{{ ('ab' * 5000) | length }}", {}) == "10000"
    assert evaluate("range(3) | list", {}) == [0, 1, 2]


def test_output_is_capped() -> None:
    assert len(render("{{ 'x' * " + str(MAX_OUTPUT_CHARS) + " }}", {})) == MAX_OUTPUT_CHARS
    with pytest.raises(ExpressionError, match="characters"):
        render("{{ 'x' * " + str(MAX_OUTPUT_CHARS + 1) + " }}", {})


@pytest.mark.parametrize(
    "source",
    ["{{ customer.__class__.__mro__[1].__subclasses__() }}", "{{ 1 / 0 }}", "{{ x.y() }}"],
)
def test_unsafe_or_failing_templates_raise_expression_error(source: str) -> None:
    with pytest.raises(ExpressionError):
        render(source, {"customer": {}, "x": {}})


def test_check_template_names_unknown_variables_and_syntax() -> None:
    assert check_template("{{ customer.fields.a }} {{ now }} {{ range(2) | list }}") is None
    assert "unknown variable(s) user" in (check_template("{{ user }}") or "")
    assert "syntax error" in (check_template("{{ event.text | nosuchfilter }}") or "")
    assert "syntax error" in (check_template("{% if %}") or "")
    assert check_expression("answer | length > 3", ("answer",)) is None
    assert "answer" in (check_expression("answer | length > 3") or "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("PT24H", timedelta(hours=24)),
        ("P1DT2H", timedelta(hours=26)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "3 fortnights", "-1h", "1.5h", "h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_a_template_is_compiled_once_then_rendered_from_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from orchestrator.engine import expressions

    source = "Hello {{ customer.name }}, {{ 2 + 3 }} (compile-once)"
    assert render(source, {"customer": {"name": "Ann"}}) == "Hello Ann, 5 (compile-once)"
    assert evaluate("customer.n + 1", {"customer": {"n": 1}}) == 2

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled during rendering")

    monkeypatch.setattr(expressions.FlowEnvironment, "from_string", refuse)
    monkeypatch.setattr(expressions.FlowEnvironment, "compile_expression", refuse)
    assert render(source, {"customer": {"name": "Bo"}}) == "Hello Bo, 5 (compile-once)"
    assert evaluate("customer.n + 1", {"customer": {"n": 41}}) == 42


def test_a_cached_template_still_gets_a_fresh_budget_each_time() -> None:
    source = "{% for i in range(WORK) %}{% endfor %}ok".replace("WORK", str(WORK_BUDGET - 10))
    assert [render(source, {}) for _ in range(3)] == ["ok", "ok", "ok"]


def test_a_syntax_error_is_raised_every_time_not_cached_as_a_result() -> None:
    for _ in range(2):
        with pytest.raises(ExpressionError):
            render("{{ oops(", {})


def test_each_render_has_its_own_budget_even_when_two_run_at_once() -> None:
    # two renders interleaved (generators, as two event loops' tasks could interleave them):
    # each spends its own budget; with one shared counter the second would reset the first's
    # or the two would add up past the limit
    source = "{% for i in range(WORK) %}{% endfor %}ok".replace("WORK", str(WORK_BUDGET - 10))
    first = expressions._template(source).generate({expressions.BUDGET: expressions._Budget()})
    second = expressions._template(source).generate({expressions.BUDGET: expressions._Budget()})
    assert "".join([*second, *first]) == "okok"
    assert not hasattr(expressions.environment(), "_budget")  # the shared env keeps no state


def test_sandboxed_code_run_outside_render_has_no_budget_and_fails() -> None:
    with pytest.raises(ExpressionError, match="no work budget"):
        "".join(expressions._template("{{ range(3) | list }}").generate({}))
