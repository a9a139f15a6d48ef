"""The address normaliser: one canonical spelling per address, and a clear refusal otherwise."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.addresses import (
    MAX_LENGTH,
    InvalidAddress,
    guess_channel,
    normalize,
    normalize_lookup,
)


@pytest.mark.parametrize(
    "typed",
    [
        "+15551230001",
        "+1 (555) 123-0001",
        " +1 555 123 0001 ",
        "+1.555.123.0001",
        "001 555 123 0001",
        "tel:+15551230001",
        "whatsapp:+15551230001",
    ],
)
@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
def test_phone_spellings_become_one_e164_number(channel: str, typed: str) -> None:
    assert normalize(channel, typed) == "+15551230001"


def test_a_number_of_another_country_keeps_its_country_code() -> None:
    assert normalize("sms", "+44 20 7946 0958") == "+442079460958"


@pytest.mark.parametrize(
    "typed",
    [
        "hello",
        "",
        "   ",
        "555-123-0001",  # no country: we do not guess one
        "+1555123000155555",  # too long for +1
        "+999 1234",  # no such country code
        "+1555abc0001",
        "call +15551230001",
        "+15551230001\x00",
    ],
)
def test_what_is_not_an_international_number_is_refused(typed: str) -> None:
    with pytest.raises(InvalidAddress) as info:
        normalize("sms", typed)
    assert info.value.reason == "invalid_address"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("ada@example.com", "ada@example.com"),
        ("Ada@Example.COM", "Ada@example.com"),
        (" mailto:ann@EXAMPLE.com ", "ann@example.com"),
        ('"a@b"@example.com', '"a@b"@example.com'),
    ],
)
def test_email_domain_is_lower_cased_and_local_part_kept(typed: str, expected: str) -> None:
    assert normalize("email", typed) == expected


@pytest.mark.parametrize(
    "typed", ["hello", "@example.com", "ada@", "ada@localhost", "a da@example.com", "x" * 321]
)
def test_what_is_not_an_email_address_is_refused(typed: str) -> None:
    with pytest.raises(InvalidAddress):
        normalize("email", typed)


def test_webchat_session_ids_are_trimmed_but_otherwise_opaque() -> None:
    assert normalize("webchat", " Sess-42 ") == "Sess-42"
    for bad in ("", "two words", "a\nb"):
        with pytest.raises(InvalidAddress):
            normalize("webchat", bad)


def test_webhook_addresses_are_opaque_ids_trimmed_and_bounded() -> None:
    assert normalize("webhook", " crm-contact-4711 ") == "crm-contact-4711"
    assert normalize("webhook", "CRM:Contact/4711") == "CRM:Contact/4711"
    assert normalize("webhook", "x" * MAX_LENGTH) == "x" * MAX_LENGTH
    for bad in ("", "   ", "two words", "a\tb", "x" * (MAX_LENGTH + 1)):
        with pytest.raises(InvalidAddress):
            normalize("webhook", bad)


@given(channel=st.sampled_from(["sms", "whatsapp", "email", "webchat"]), text=st.text())
def test_normalising_is_idempotent_and_never_raises_anything_else(channel: str, text: str) -> None:
    try:
        once = normalize(channel, text)
    except InvalidAddress:
        return
    assert normalize(channel, once) == once


def test_continuum_send_refuses_an_address_it_cannot_normalise(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from orchestrator.cli import main

    assert main(["send", "sms", "hi", "--from", "hello"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("continuum: invalid_address: --from 'hello'")


@pytest.mark.parametrize(
    ("address", "channel", "looked_up"),
    [
        ("+1 (555) 123-0001", "sms", "+15551230001"),
        ("Ann@Example.COM", "email", "Ann@example.com"),
        (" web-42 ", "webchat", "web-42"),
    ],
)
def test_lookups_use_the_canonical_spelling(address: str, channel: str, looked_up: str) -> None:
    assert guess_channel(address) == channel
    assert normalize_lookup(channel, address) == looked_up


def test_a_lookup_of_an_address_that_does_not_normalise_keeps_it_as_typed() -> None:
    assert normalize_lookup("sms", " hello ") == "hello"


def test_a_whatsapp_wa_id_of_bare_digits_is_the_international_number() -> None:
    assert normalize("whatsapp", "15551230001") == "+15551230001"
    assert normalize("whatsapp", "+15551230001") == "+15551230001"
    with pytest.raises(InvalidAddress):
        normalize("sms", "15551230001")  # only Meta sends numbers without their "+"
