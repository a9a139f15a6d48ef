"""Twilio vocabulary: status table, status callbacks and inbound SMS webhooks."""

from __future__ import annotations

import pytest

from channels.twilio.adapter import STATUS_MAP, InboundSms, parse_inbound, parse_status_callback
from channels.twilio.settings import TwilioConfig
from channels.webhooks import StatusReport

CONTINUUM_STATUSES = {"queued", "sent", "delivered", "read", "failed", "undelivered", "unknown"}
TWILIO_STATUSES = {
    "accepted", "scheduled", "queued", "sending", "sent", "delivered",
    "undelivered", "failed", "receiving", "received", "read", "canceled",
}  # fmt: skip


def test_status_map_covers_twilio_vocabulary() -> None:
    assert set(STATUS_MAP) == TWILIO_STATUSES
    assert set(STATUS_MAP.values()) <= CONTINUUM_STATUSES


def test_status_callback_delivered() -> None:
    form = {
        "MessageSid": "SM1",
        "SmsSid": "SM1",
        "MessageStatus": "delivered",
        "AccountSid": "AC1",
        "ErrorCode": "",
    }
    assert parse_status_callback(form) == StatusReport("SM1", "delivered", "delivered", None, None)


def test_status_callback_failed_carries_error() -> None:
    form = {
        "MessageSid": "SM2",
        "MessageStatus": "undelivered",
        "ErrorCode": "30003",
        "ErrorMessage": "Unreachable destination handset",
    }
    report = parse_status_callback(form)
    assert report.status == "undelivered"
    assert (report.error_code, report.error_message) == ("30003", "Unreachable destination handset")


def test_status_callback_falls_back_to_sms_fields_and_unknown_status() -> None:
    report = parse_status_callback({"SmsSid": "SM3", "SmsStatus": "warped"})
    assert (report.external_id, report.status, report.provider_status) == (
        "SM3",
        "unknown",
        "warped",
    )


@pytest.mark.parametrize(
    ("form", "missing"),
    [
        ({"MessageStatus": "sent"}, "MessageSid"),
        ({"MessageSid": "SM1"}, "MessageStatus"),
        ({}, "MessageSid, MessageStatus"),
    ],
)
def test_status_callback_missing_fields(form: dict[str, str], missing: str) -> None:
    with pytest.raises(ValueError, match=f"missing {missing}"):
        parse_status_callback(form)


INBOUND = {
    "MessageSid": "SM9",
    "AccountSid": "AC1",
    "From": "+15550001",
    "To": "+15559999",
    "Body": "STOP",
    "NumMedia": "0",
}


def test_inbound_text() -> None:
    assert parse_inbound(INBOUND) == InboundSms("SM9", "+15550001", "+15559999", "STOP", ())


def test_inbound_media_in_order() -> None:
    form = {**INBOUND, "NumMedia": "2", "MediaUrl1": "https://m/1", "MediaUrl0": "https://m/0"}
    assert parse_inbound(form).attachments == ("https://m/0", "https://m/1")


def test_inbound_without_num_media_has_no_attachments() -> None:
    form = {k: v for k, v in INBOUND.items() if k != "NumMedia"}
    assert parse_inbound(form).attachments == ()


@pytest.mark.parametrize("name", ["MessageSid", "From", "To", "Body"])
def test_inbound_missing_field(name: str) -> None:
    form = {k: v for k, v in INBOUND.items() if k != name}
    with pytest.raises(ValueError, match=name):
        parse_inbound(form)


def test_inbound_empty_sid() -> None:
    with pytest.raises(ValueError, match="MessageSid"):
        parse_inbound({**INBOUND, "MessageSid": ""})


@pytest.mark.parametrize(
    ("num_media", "match"),
    [("two", "not a number"), ("3", "MediaUrl1, MediaUrl2 missing"), ("-1", "negative")],
)
def test_inbound_bad_media(num_media: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_inbound({**INBOUND, "NumMedia": num_media, "MediaUrl0": "https://m/0"})


def test_config_is_frozen_and_hides_token() -> None:
    config = TwilioConfig.model_validate({"account_sid": "AC1", "auth_token": "s3cret"})
    assert config.base_url == "https://api.twilio.com"
    assert config.from_number is None
    assert "s3cret" not in repr(config)
    with pytest.raises(ValueError, match="frozen"):
        config.account_sid = "AC2"  # type: ignore[misc]
    for name, info in TwilioConfig.model_fields.items():
        assert info.description, name
