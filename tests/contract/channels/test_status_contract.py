"""Every provider's delivery receipts decode as its case file's ``status_cases`` say.

A case is a receipt as the provider posts it (``body``: SendGrid's event, Twilio's status
callback form, Meta's webhook) and the :class:`StatusReport` fields it must decode to, ``opted_out``
among them: the provider-neutral signal that the recipient opted out or complained
(docs/channels.md lists each provider's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from harness import ALL_CASE_FILES

from channels.meta.webhooks import parse as meta_parse
from channels.sendgrid import event_report
from channels.twilio.adapter import parse_status_callback
from channels.webhooks import StatusReport


def _sendgrid(body: Any) -> list[StatusReport]:
    report = event_report(body)
    return [] if report is None else [report]


PARSERS: dict[str, Callable[[Any], list[StatusReport]]] = {
    "email.sendgrid": _sendgrid,
    "sms.twilio": lambda body: [parse_status_callback(body)],
    "whatsapp.meta": lambda body: meta_parse(body)[1],
}
"""How each provider with status cases decodes one posted receipt body."""


def load_cases() -> list[Any]:
    return [
        pytest.param(ct, case, id=f"{ct}:{case['label']}")
        for ct, case_file in ALL_CASE_FILES.items()
        for case in case_file.status_cases
    ]


def test_the_providers_with_opt_out_signals_have_status_cases() -> None:
    with_cases = {ct for ct, f in ALL_CASE_FILES.items() if f.status_cases}
    assert with_cases == set(PARSERS)


@pytest.mark.parametrize(("channel_type", "case"), load_cases())
def test_status_case(channel_type: str, case: dict[str, Any]) -> None:
    reports = PARSERS[channel_type](case["body"])
    assert len(reports) == len(case["expected"])
    for report, expected in zip(reports, case["expected"], strict=True):
        want = {"opted_out": False, **expected}  # opted_out is stated or false
        assert {name: getattr(report, name) for name in want} == want
