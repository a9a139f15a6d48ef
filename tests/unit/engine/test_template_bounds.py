"""Output bombs: no template or expression builds more than a small bound, whatever its filters
and the customer's text. Each is refused (an ``ExpressionError``, which the engine turns into a
``template_error`` note) before the large value is built: allocation is measured, not timed."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from orchestrator.engine.bounds import MAX_VALUE
from orchestrator.engine.decide import decide
from orchestrator.engine.expressions import (
    MAX_OUTPUT_CHARS,
    ExpressionError,
    check_template,
    evaluate,
    render,
)
from orchestrator.engine.model import Context, CustomerState, Event
from orchestrator.flowfiles import load_flows

PEAK_BYTES = 1024 * 1024
"""What one refused render may allocate at its peak (the bound is 64 Ki characters)."""
TEXT = "a" * 1600  # a long SMS of the letter every bomb below multiplies
VARS: dict[str, Any] = {"event": {"text": TEXT}}

BOMBS = [
    "{{ 'A'|center(50000000) }}",
    "{{ '%50000000s'|format('x') }}",
    "{{ '%50000000s' % 'x' }}",
    "{{ '%.50000000f' % 1.5 }}",
    "{{ '%*s' % (50000000, 'x') }}",
    "{{ 'A'.ljust(50000000) }}",
    "{{ 'A'.rjust(50000000) }}",
    "{{ 'A'.center(50000000) }}",
    "{{ 'A'.zfill(50000000) }}",
    "{{ 'a\tb'.expandtabs(50000000) }}",
    "{{ 'aaaaaaaaaa'|replace('a', 'aaaaaaaaaa')|replace('a', 'aaaaaaaaaa')"
    "|replace('a', 'aaaaaaaaaa')|replace('a', 'aaaaaaaaaa')|replace('a', 'aaaaaaaaaa') }}",
    "{{ event.text|replace('a', event.text) }}",
    "{{ event.text.replace('a', event.text) }}",
    "{{ event.text.translate({97: event.text}) }}",
    "{{ '{:>50000000}'.format('x') }}",
    "{{ '{0:>{1}}'.format('x', 50000000) }}",
    "{{ ('{0}' * 3000).format(event.text) }}",
    "{{ ('%s' * 3000) % ((event.text,) * 3000) }}",
    "{{ ((event.text,) * 3000)|join }}",
    "{{ event.text.join((event.text,) * 3000) }}",
    "{{ [1]|batch(50000000, 'x')|list|length }}",
    "{{ [1]|slice(50000000)|list|length }}",
    "{{ event.text|wordwrap(1, wrapstring=event.text) }}",
    "{{ ([[1] * 5000] * 2000)|sum(start=[])|length }}",
    "{% for a in event.text %}{{ event.text }}{% endfor %}",
    "{% for a in event.text %}{% for b in event.text %}{{ a }}{% endfor %}{% endfor %}",
    "{{ (event.text * 40)|length }}",
]


def peak_of(run: Callable[[], object]) -> tuple[int, object]:
    tracemalloc.start()
    try:
        try:
            result: object = run()
        except ExpressionError as exc:
            result = exc
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("source", BOMBS)
def test_each_bomb_is_refused_before_it_is_built(source: str) -> None:
    peak, result = peak_of(lambda: render(source, VARS))
    assert isinstance(result, ExpressionError), result
    assert peak < PEAK_BYTES


@pytest.mark.parametrize(
    "expression",
    [
        "'A'|center(50000000)",
        "event.text|replace('a', event.text)|length > 3",
        "('%50000000s' % 'x')|length",
        "(event.text ~ event.text ~ event.text) * 1",
    ],
)
def test_expressions_are_bounded_too(expression: str) -> None:
    big = {"event": {"text": "a" * 30000}}
    peak, result = peak_of(lambda: evaluate(expression, big))
    assert isinstance(result, ExpressionError), result
    assert peak < PEAK_BYTES


def test_concatenation_and_addition_are_bounded() -> None:
    big = {"event": {"text": "a" * (MAX_VALUE // 2 + 1)}}
    with pytest.raises(ExpressionError, match="over the limit"):
        evaluate("event.text ~ event.text", big)
    with pytest.raises(ExpressionError, match="over the limit"):
        evaluate("event.text + event.text", big)
    assert evaluate("(event.text ~ 'b')|length", big) == MAX_VALUE // 2 + 2


@pytest.mark.parametrize(
    "tag",
    [
        "{% set x %}{{ event.text }}{% endset %}{{ x }}",
        "{% filter upper %}{{ event.text }}{% endfilter %}",
        "{% macro f(s) %}{{ s }}{% endmacro %}{{ f(event.text) }}",
    ],
)
def test_tags_that_collect_output_in_a_buffer_are_refused_at_load(tag: str) -> None:
    assert "not allowed in flow templates" in (check_template(tag) or "")


def test_every_loop_iteration_draws_on_the_work_budget() -> None:
    quiet = "{% for a in event.text %}{% for b in event.text %}{% endfor %}{% endfor %}done"
    with pytest.raises(ExpressionError, match="work budget"):
        render(quiet, VARS)  # 1600 x 1600 iterations that print nothing
    assert render("{% for i in range(6000) %}{% endfor %}ok", {}) == "ok"  # range paid once
    assert render("{% for c in [1, 2, 3] %}{{ c }}{% endfor %}", {}) == "123"
    assert render("{% for c in event.text %}{{ loop.length if loop.last }}{% endfor %}", VARS) == (
        "1600"
    )


def test_lists_cannot_grow_in_place() -> None:
    source = "{% set l = [1] %}{% for i in range(40) %}{{ l.extend(l) }}{% endfor %}"
    with pytest.raises(ExpressionError, match="unsafe"):
        render(source, {})


def test_ordinary_templates_still_render() -> None:
    variables = {"event": {"text": "Hello"}, "customer": {"name": "Ada"}}
    assert render("{{ 'Hi %s' % customer.name }}, {{ event.text|center(9) }}", variables) == (
        "Hi Ada,   Hello"
    )
    assert render("{{ '{:>6}'.format(event.text) }}|{{ 'x'.join(['a', 'b']) }}", variables) == (
        "Hello|axb"
    )
    assert render("{{ [1, 2, 3]|join(', ') }} {{ [[1], [2]]|sum(start=[]) }}", {}) == (
        "1, 2, 3 [1, 2]"
    )
    assert render("{{ event.text|replace('l', 'L') ~ '!' }}", variables) == "HeLLo!"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ 1 + 2 }} {{ 7 % 3 }} {{ 2 * 3 }} {{ 2 ** 3 }}", "3 1 6 8"),
        ("{{ [1] + [2] }} {{ 'a' + 'b' }} {{ 'a' ~ 1 }}", "[1, 2] ab a1"),
        ("{{ '%(n)s items' % {'n': 3} }} {{ '%05.1f' % 2.25 }}", "3 items 002.2"),
        ("{{ '{n}!'.format_map({'n': 'hi'}) }} {{ ('<b>'|e).format() }}", "hi! &lt;b&gt;"),
        ("{{ 'a-a-a'|replace('a', 'b', 2) }} {{ 'a b c'|wordwrap(3) }}", "b-b-a a b\nc"),
        (
            "{{ [1, 2, 3]|batch(2, 0)|list }} {{ [1, 2, 3]|slice(2)|list }}",
            "[[1, 2], [3, 0]] [[1, 2], [3]]",
        ),
        ("{{ [{'n': 'a'}, {'n': 'b'}]|join(',', attribute='n') }}", "a,b"),
        (
            "{{ [{'n': 1}, {'n': 2}]|sum(attribute='n') }} {{ [[1], [2]]|sum(start=[]) }}",
            "3 [1, 2]",
        ),
        ("{{ 'ab'.center(6, '*') }} {{ ''.join(['x', 'y']) }} {{ 'ab'.upper() }}", "**ab** xy AB"),
    ],
)
def test_ordinary_operations_keep_their_meaning(source: str, expected: str) -> None:
    assert render(source, {}) == expected


def test_an_over_large_argument_is_measured_without_building_its_text() -> None:
    big = {"event": {"text": "a" * (MAX_VALUE + 1), "numbers": list(range(MAX_VALUE + 1))}}
    with pytest.raises(ExpressionError, match="over the limit"):
        evaluate("'%s' % event.text", big)
    with pytest.raises(ExpressionError, match="over the limit"):
        evaluate("'%s' % (event.numbers,)", big)
    with pytest.raises(ExpressionError, match="over the limit"):
        evaluate("'%(t)s%(t)s' % {'t': event.text[:40000]}", big)


def test_a_bomb_in_a_flow_is_a_template_error_note_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(
        """
spec_version: 1
id: bomb
version: 1
stage: support
owner: qa
trigger: {type: message, match: keyword, words: [BOOM]}
steps:
  - {id: reply, type: send, template: "{{ event.text|center(50000000) }}"}
"""
    )
    cat = load_flows(tmp_path)
    state = CustomerState("c1", identities={"sms": "+15551230001"})
    event = Event(event_id="e1", kind="message", channel="sms", sender="+15551230001", text="BOOM")
    outcome = decide(cat, state, event, Context(now=datetime(2026, 1, 1, tzinfo=UTC)))
    assert [n.code for n in outcome.notes if n.code == "template_error"] == ["template_error"]
    assert not outcome.decisions


_WIDTH = st.integers(0, 10**8)
_SMALL = st.text(alphabet="ab %s{}", max_size=6)
_FILTER = st.one_of(
    _WIDTH.map(lambda w: f"center({w})"),
    _WIDTH.map(lambda w: f"truncate({w})"),
    st.tuples(_SMALL, _SMALL).map(lambda p: f"replace({p[0]!r}, {p[1]!r})"),
    st.just("replace('a', event.text)"),
    _SMALL.map(lambda s: f"join({s!r})"),
    _WIDTH.map(lambda w: f"wordwrap({max(w, 1)}, wrapstring=event.text)"),
    _WIDTH.map(lambda w: f"batch({w}, 'x')|list|join"),
    _WIDTH.map(lambda w: f"slice({w})|list|join"),
    _WIDTH.map(lambda w: f"string|format({w})"),
    st.sampled_from(["upper", "title", "e|string", "urlencode", "tojson", "list|join", "trim"]),
)


@hsettings(deadline=None, derandomize=True, max_examples=200)  # allocation is bounded, not time
@given(
    text=st.text(alphabet="aAbß %s{}<\t", max_size=3000),
    chain=st.lists(_FILTER, min_size=1, max_size=5),
    wrap=st.sampled_from(["{}", "'%50000s'|format({})", "({} ~ {})", "'{{:>{{}}}}'.format({}, 9)"]),
)
def test_any_chain_of_filters_on_any_text_is_bounded_or_refused(
    text: str, chain: list[str], wrap: str
) -> None:
    source = "{{ " + wrap.replace("{}", "(event.text|" + "|".join(chain) + ")") + " }}"
    peak, result = peak_of(lambda: render(source, {"event": {"text": text}}))
    if not isinstance(result, ExpressionError):
        assert isinstance(result, str)
        assert len(result) <= MAX_OUTPUT_CHARS
    assert peak < 4 * PEAK_BYTES
