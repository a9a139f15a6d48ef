"""Properties of the contact policy that no single case can show (Hypothesis).

(a) marketing never goes inside quiet hours, and a deferral lands outside them in every zone;
(b) nothing goes to a customer without consent for its purpose on the channel it goes on;
(c) decisions made one after another, remembering each send, never exceed a cap.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.policy import consent, quiet_hours
from orchestrator.policy.evaluate import Candidate, Customer, evaluate
from orchestrator.policy.history import Sent, cap_key_matches
from orchestrator.policy.spec import CapSpec, ConsentSpec, Policy, QuietHoursSpec, Window

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True)

ZONES = [
    "UTC",
    "America/Los_Angeles",
    "America/New_York",
    "America/St_Johns",
    "America/Halifax",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Australia/Eucla",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
]
NUMBERS = ["+14155550100", "+17095550100", "+61412345678", "+79161234567", "+15551230001"]
"""Numbers whose possible zones are one (LA), two (709), eight, sixteen, and none (555)."""
PURPOSES = ("transactional", "service", "marketing")
CHANNELS = ("sms", "whatsapp", "email", "webchat")
ADDRESSES = {"sms": "+14155550100", "whatsapp": "+14155550100", "email": "a@example.com"}

moments = st.datetimes(  # hypothesis wants naive bounds; timezones= makes the values aware
    min_value=datetime(2026, 1, 1),  # noqa: DTZ001
    max_value=datetime(2026, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
hhmm = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30]))
windows = st.builds(lambda a, b: Window(start=a, end=b), hhmm, hhmm)
holidays = st.lists(st.dates(date(2026, 1, 1), date(2027, 1, 10)), max_size=3)


def _quiet_policy(window: Window, days: list[Any]) -> Policy:
    return Policy(
        consent=ConsentSpec(require={"marketing": "none"}),
        quiet_hours=QuietHoursSpec(windows={"marketing": window}, holidays=tuple(days)),
    )


@PROPERTY
@given(
    now=moments,
    window=windows,
    days=holidays,
    zone=st.one_of(st.none(), st.sampled_from(ZONES)),
    number=st.sampled_from(NUMBERS),
)
def test_marketing_never_goes_in_quiet_hours(
    now: datetime, window: Window, days: list[Any], zone: str | None, number: str
) -> None:
    policy = _quiet_policy(window, days)
    who = Customer({}, {"sms": number}, zone, {}, [])
    verdict = evaluate(policy, who, Candidate("sms", number, "marketing", "p.s", "h"), now)
    zones = quiet_hours.zones_for(policy, zone, number)
    if verdict.action in ("allow", "template"):
        assert not any(quiet_hours.quiet_now(policy, "marketing", z, now) for z in zones)
    elif verdict.action == "defer":
        assert verdict.not_before is not None
        assert verdict.not_before > now
        if verdict.not_before == now + timedelta(days=8):
            # no moment within 8 days is outside the window in every possible zone (a narrow
            # window and zones far apart): next_allowed gives up and says so with this time
            return
        assert not any(
            quiet_hours.quiet_now(policy, "marketing", z, verdict.not_before) for z in zones
        )


@PROPERTY
@given(
    now=moments,
    window=windows,
    days=holidays,
    zones=st.lists(st.sampled_from(ZONES), min_size=1, max_size=5, unique=True),
)
def test_next_allowed_is_allowed_in_every_zone(
    now: datetime, window: Window, days: list[Any], zones: list[str]
) -> None:
    policy = _quiet_policy(window, days)
    later = quiet_hours.next_allowed(policy, "marketing", zones, now)
    if later is None:
        assert not any(quiet_hours.quiet_now(policy, "marketing", z, now) for z in zones)
        return
    assert later > now
    searched_out = later == now + timedelta(days=8)  # no moment allowed everywhere within 8 days
    if not searched_out:
        assert not any(quiet_hours.quiet_now(policy, "marketing", z, later) for z in zones)
        # and it is the earliest: a minute before, some zone was still quiet
        before = later - timedelta(minutes=1)
        assert before <= now or any(
            quiet_hours.quiet_now(policy, "marketing", z, before) for z in zones
        )


statuses = st.sampled_from(["granted", "confirmed", "revoked", None])


@st.composite
def consents(draw: st.DrawFn) -> dict[str, Any]:
    """Consent records at channel and ``all`` level, for purposes and for ``all`` (opt-outs)."""
    doc: dict[str, Any] = {}
    for scope in ("all", *CHANNELS):
        for purpose in ("all", *PURPOSES):
            status = draw(statuses)
            if status is None or (purpose == "all" and status != "revoked"):
                continue
            doc.setdefault(scope, {})[purpose] = {"status": status, "source": "t", "at": "t"}
    return doc


@PROPERTY
@given(
    doc=consents(),
    double=st.lists(st.sampled_from(CHANNELS), unique=True),
    after_opt_out=st.booleans(),
    purpose=st.sampled_from(PURPOSES),
    channel=st.sampled_from(["sms", "whatsapp", "email"]),
    inside_window=st.booleans(),
    now=moments,
)
def test_nothing_goes_without_consent_on_the_channel_it_goes_on(
    doc: dict[str, Any],
    double: list[str],
    after_opt_out: bool,
    purpose: str,
    channel: str,
    inside_window: bool,
    now: datetime,
) -> None:
    policy = Policy(
        consent=ConsentSpec(
            double_opt_in=tuple(double),
            transactional_after_opt_out=after_opt_out,
        )
    )
    last = {"whatsapp": (now - timedelta(hours=1)).isoformat()} if inside_window else {}
    who = Customer(doc, ADDRESSES, "UTC", last, [])
    verdict = evaluate(
        policy, who, Candidate(channel, ADDRESSES[channel], purpose, "f.s", "h"), now
    )
    if verdict.sends:
        ok, why = consent.check(policy, doc, verdict.channel, purpose)
        assert ok, why
        if consent.opted_out(doc, verdict.channel):
            assert purpose == "transactional"
            assert after_opt_out
        if purpose == "marketing":
            entry = doc.get(verdict.channel, {}).get("marketing") or doc.get("all", {}).get(
                "marketing"
            )
            assert entry is not None
            assert entry["status"] in ("granted", "confirmed")
            if verdict.channel in double:
                assert entry["status"] == "confirmed"


caps = st.builds(
    lambda i, purpose, channel, limit, hours, action: CapSpec(
        id=f"c{i}",
        purpose=purpose,
        channel=channel,
        limit=limit,
        window=timedelta(hours=hours),
        action=action,
    ),
    st.integers(0, 99),
    st.sampled_from(["marketing", "any"]),
    st.sampled_from(["each", "all"]),
    st.integers(0, 3),
    st.integers(1, 72),
    st.sampled_from(["drop", "defer"]),
)


@PROPERTY
@given(
    cap_list=st.lists(caps, min_size=1, max_size=3, unique_by=lambda c: c.id),
    start=moments,
    gaps=st.lists(st.integers(0, 600), min_size=1, max_size=25),
    channels=st.lists(st.sampled_from(["sms", "email"]), min_size=25, max_size=25),
    window=st.one_of(st.none(), windows),
)
def test_caps_are_never_exceeded_by_decisions_one_after_another(
    cap_list: list[CapSpec],
    start: datetime,
    gaps: list[int],
    channels: list[str],
    window: Window | None,
) -> None:
    policy = Policy(  # quiet hours too: they push deferrals later, out of decision order
        consent=ConsentSpec(require={"marketing": "none"}),
        quiet_hours=QuietHoursSpec(windows={"marketing": window} if window else {}),
        caps=tuple(cap_list),
    )
    history: list[Sent] = []
    now = start
    for i, gap in enumerate(gaps):
        now += timedelta(minutes=gap)
        channel = channels[i]
        who = Customer({}, ADDRESSES, "UTC", {}, history)
        cand = Candidate(channel, ADDRESSES[channel], "marketing", f"promo.s{i}", f"h{i}", f"r{i}")
        verdict = evaluate(policy, who, cand, now)
        if verdict.sends:  # as Session.remember_send: at its not_before when deferred
            at = verdict.not_before or now
            history.append(Sent(at, verdict.channel, "marketing", cand.template, f"h{i}", f"r{i}"))
    for cap in cap_list:
        for ch in ("sms", "email"):
            counted = [s.at for s in history if cap_key_matches(cap, "marketing", ch, s)]
            for end in counted:  # every window ending at a send
                inside = [t for t in counted if end - cap.window < t <= end]
                assert len(inside) <= cap.limit, (cap, sorted(counted))
