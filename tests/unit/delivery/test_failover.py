"""Choosing a provider from the breakers, and which errors move a send (delivery/failover.py)."""

from __future__ import annotations

import pytest

from channels.errors import (
    ChannelConfigInvalid,
    ConnectionFailed,
    ContactStopped,
    OutcomeUnknown,
    RejectedWithReason,
    ResponseStatus,
    SendError,
    Throttled,
)
from orchestrator.delivery.failover import View, choose, moves, result_of, take

CHAIN = ["sms.twilio", "sms.vonage"]
OPEN_T = View("open", 0, 5_000)
OPEN_V = View("open", 0, 3_000)


def test_the_first_provider_goes_while_its_breaker_is_closed() -> None:
    assert choose(CHAIN, {}, ()).provider == "sms.twilio"


def test_an_open_breaker_is_passed_over() -> None:
    assert choose(CHAIN, {"sms.twilio": OPEN_T}, ()).provider == "sms.vonage"


def test_a_tried_provider_is_passed_over() -> None:
    assert choose(CHAIN, {}, ["sms.twilio"]).provider == "sms.vonage"


def test_a_half_open_breaker_with_a_probe_slot_goes_first() -> None:
    views = {"sms.twilio": View("half_open", 1, 9_000)}
    assert choose(CHAIN, views, ()).provider == "sms.twilio"
    take(views, "sms.twilio")  # the slot is used: the next send fails over
    assert choose(CHAIN, views, ()).provider == "sms.vonage"


def test_every_breaker_open_defers_to_the_first_half_opening() -> None:
    choice = choose(CHAIN, {"sms.twilio": OPEN_T, "sms.vonage": OPEN_V}, ())
    assert (choice.provider, choice.retry_ms) == (None, 3_000)


def test_every_provider_tried_gives_no_provider_and_no_time() -> None:
    choice = choose(CHAIN, {}, CHAIN)
    assert (choice.provider, choice.retry_ms) == (None, None)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(ConnectionFailed("refused"), True, id="connection-refused"),
        pytest.param(ConnectionFailed("HTTP 503", status_code=503), True, id="5xx"),
        pytest.param(Throttled("HTTP 429"), False, id="429 waits for Retry-After"),
        pytest.param(OutcomeUnknown("read timeout"), False, id="unknown"),
        pytest.param(RejectedWithReason("21211", "bad number"), False, id="bad-number"),
        pytest.param(ContactStopped("opted out"), False, id="opted-out"),
        pytest.param(ResponseStatus("HTTP 400", status_code=400), False, id="4xx"),
        pytest.param(ChannelConfigInvalid("no token"), False, id="config"),
    ],
)
def test_only_a_known_failure_moves_a_send(error: SendError, expected: bool) -> None:
    assert moves(error) is expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(None, "success", id="accepted"),
        pytest.param(RejectedWithReason("21211", "bad number"), "success", id="refused-is-up"),
        pytest.param(ConnectionFailed("refused"), "connection", id="transport"),
        pytest.param(ConnectionFailed("HTTP 503", status_code=503), "failure", id="5xx"),
        pytest.param(Throttled("HTTP 429"), "success", id="429 is an answer"),
        pytest.param(OutcomeUnknown("read timeout"), "failure", id="unknown"),
    ],
)
def test_what_a_call_tells_the_breaker(error: SendError | None, expected: str) -> None:
    assert result_of(error) == expected
