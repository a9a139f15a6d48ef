"""Flow-file step errors, each as ``file:line: reason`` at the offending line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.engine.flowfiles import HEAD, SEND, assert_at, only_problem

BAD_STEPS = {
    "unknown key": (
        "  - id: first\n    type: send\n    template: hi\n    colour: red\n",
        11,
        "colour",
    ),
    "unknown step type": ("  - id: first\n    type: teleport\n", 8, "teleport"),
    "bad next": (SEND.replace("hi}", "hi, next: nowhere}"), 8, "no step 'nowhere'"),
    "bad ask branch target": (
        "  - id: q\n    type: ask\n    template: q?\n"
        "    categories: [{name: ok, test: has_any_word, args: [ok]}]\n"
        "    branches:\n      ok: nowhere\n",
        13,
        "no step 'nowhere'",
    ),
    "bad switch case": (
        "  - id: s\n    type: switch\n    cases:\n      - when: 'true'\n        next: nowhere\n",
        12,
        "no step 'nowhere'",
    ),
    "bad switch default": (
        "  - id: s\n    type: switch\n    cases: [{when: 'true', next: s}]\n    default: nowhere\n",
        11,
        "no step 'nowhere'",
    ),
    "bad split branch": (
        "  - id: s\n    type: split\n    weights: {a: 1, b: 1}\n    branches: {a: s, b: nowhere}\n",
        11,
        "no step 'nowhere'",
    ),
    "bad timeout_next": (
        "  - id: w\n    type: wait\n    event: e.x\n    timeout: 1h\n    timeout_next: nowhere\n",
        12,
        "no step 'nowhere'",
    ),
    "bad on_error": (
        "  - id: c\n    type: call\n    url: http://127.0.0.1:8090/x\n    on_error: nowhere\n",
        11,
        "no step 'nowhere'",
    ),
    "duplicate step id": (SEND + SEND, 9, "duplicate step id 'first'"),
    "unknown variable in a template": (
        "  - id: first\n    type: send\n    template: 'hi {{ user.name }}'\n",
        10,
        "user",
    ),
    "unknown variable in a language variant": (
        "  - id: first\n    type: send\n    template:\n      en: hi\n      es: '{{ usr }}'\n",
        12,
        "usr",
    ),
    "unknown variable in an expression": (
        "  - id: s\n    type: switch\n    cases:\n      - when: 'usr.vip'\n        next: s\n",
        11,
        "unknown variable(s) usr",
    ),
    "unknown filter": (
        "  - {id: first, type: send, template: '{{ event.text | shout }}'}\n",
        8,
        "shout",
    ),
    "template syntax": (
        "  - id: first\n    type: send\n    template: 'hi {{ event.text '\n",
        10,
        "syntax error",
    ),
    "bad category regex": (
        "  - id: q\n    type: ask\n    template: q?\n    categories:\n"
        "      - {name: x, test: regex, args: ['(']}\n",
        12,
        "regex",
    ),
    "ask branch for an unknown category": (
        "  - id: q\n    type: ask\n    template: q?\n    branches:\n      maybe: q\n",
        12,
        "no category 'maybe'",
    ),
    "host not allow-listed": (
        "  - id: c\n    type: call\n    url: https://evil.example/x\n",
        10,
        "'evil.example' is not allow-listed",
    ),
    "templated host": (
        "  - id: c\n    type: call\n    url: 'http://{{ event.text }}/x'\n",
        10,
        "must be literal",
    ),
    "bad duration": (
        "  - id: w\n    type: wait\n    duration: 3 fortnights\n",
        10,
        "not a duration",
    ),
    "unknown variable in an email subject": (
        "  - id: first\n    type: send\n    template: hi\n    subject: '{{ usr.name }}'\n",
        11,
        "usr",
    ),
    "template syntax in the HTML body": (
        "  - id: first\n    type: send\n    template: hi\n    html: '<p>{{ event.text </p>'\n",
        11,
        "syntax error",
    ),
    "unknown variable in a button title": (
        "  - id: first\n    type: send\n    template: hi\n    buttons:\n"
        "      - {id: a, title: '{{ usr }}'}\n",
        12,
        "usr",
    ),
    "unknown variable in a menu row": (
        "  - id: first\n    type: send\n    template: hi\n    menu:\n      button: Go\n"
        "      sections:\n        - rows:\n            - id: a\n"
        "              title: A\n              description: '{{ usr }}'\n",
        17,
        "usr",
    ),
    "unknown variable in a template parameter": (
        "  - id: first\n    type: send\n    template: hi\n    whatsapp_template:\n"
        "      name: order_update\n      params: ['{{ usr }}']\n",
        13,
        "usr",
    ),
    "a button title without the default language": (
        "  - id: first\n    type: send\n    template: hi\n    buttons:\n"
        "      - id: a\n        title: {es: Sí}\n",
        13,
        "default_language",
    ),
    "four buttons": (
        "  - id: first\n    type: send\n    template: hi\n    buttons:\n"
        "      - {id: a, title: A}\n      - {id: b, title: B}\n"
        "      - {id: c, title: C}\n      - {id: d, title: D}\n",
        12,
        "at most 3",
    ),
    "buttons and a menu": (
        "  - id: first\n    type: send\n    template: hi\n    buttons: [{id: a, title: A}]\n"
        "    menu: {button: Go, sections: [{rows: [{id: b, title: B}]}]}\n",
        8,
        "not both",
    ),
    "a literal button title over WhatsApp's 20 characters": (
        "  - id: first\n    type: send\n    template: hi\n    buttons:\n"
        "      - {id: a, title: 'Twenty-one characters'}\n",
        12,
        "longer than 20",
    ),
    "two buttons with one id": (
        "  - id: first\n    type: send\n    template: hi\n    buttons:\n"
        "      - {id: a, title: A}\n      - {id: a, title: B}\n",
        8,
        "unique",
    ),
    "a menu of eleven rows": (
        "  - id: first\n    type: send\n    template: hi\n    menu:\n      button: Go\n"
        "      sections:\n        - rows:\n"
        + "".join(f"            - {{id: r{i}, title: R{i}}}\n" for i in range(11)),
        12,
        "at most 10 rows",
    ),
    "a template name that is not Meta's shape": (
        "  - id: first\n    type: send\n    template: hi\n"
        "    whatsapp_template: {name: Order Update}\n",
        11,
        "name",
    ),
    "a tag that is not lower-case": (
        "  - id: t\n    type: tag\n    add:\n      - vip\n      - Gold Member\n",
        12,
        "steps.0.add.1: String should match pattern",
    ),
    "a tag step that changes nothing": ("  - {id: t, type: tag}\n", 8, "needs `add` or `remove`"),
    "a tag both added and removed": (
        "  - {id: t, type: tag, add: [vip], remove: [vip]}\n",
        8,
        "named once in `add` and `remove`: vip",
    ),
}


@pytest.mark.parametrize(("steps", "line", "fragment"), BAD_STEPS.values(), ids=list(BAD_STEPS))
def test_bad_step(tmp_path: Path, steps: str, line: int, fragment: str) -> None:
    problem = only_problem(tmp_path, HEAD + steps + "  - {id: last, type: end}\n")
    assert_at(problem, tmp_path / "t.yaml", line, fragment)


def test_a_flow_whose_only_step_is_invalid_gets_only_that_steps_error(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path, HEAD + "  - {id: first, type: send, template: hi, tempalte: x}\n"
    )
    assert_at(problem, tmp_path / "t.yaml", 8, "steps.0.tempalte: Extra inputs are not permitted")


def test_a_flow_without_steps_is_still_told_so(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, HEAD.replace("steps:\n", "steps: []\n"))
    assert_at(problem, tmp_path / "t.yaml", 7, "steps: Tuple should have at least 1 item")
