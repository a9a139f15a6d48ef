"""``flows simulate``: a scripted REPL session against the shipped flows."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from orchestrator.engine.decisions import SendMessage
from orchestrator.flowfiles import load_flows
from orchestrator.flowtools.simulate import describe, run
from orchestrator.flowtools.testing import DEFAULT_NOW
from tests.unit.flowtools.helpers import HOSTS, ROOT

CATALOGUE = load_flows(ROOT / "flows", HOSTS)


def _session(flow_id: str, *lines: str, channel: str = "sms") -> list[str]:
    out = io.StringIO()
    assert run(lines, out, CATALOGUE, flow_id, channel=channel) == 0
    return out.getvalue().splitlines()


def _bot(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("bot (")]


def test_help_answers_on_the_channel_asked_on() -> None:
    lines = _session("help", "info?", channel="whatsapp")
    [reply] = _bot(lines)
    assert reply.startswith("bot (whatsapp): Continuum Demo Store: we answer order")
    assert "# note: flow_matched help (reply)" in lines
    assert "# note: flow_ended help" in lines


def test_welcome_consent_then_language() -> None:
    lines = _session("welcome", "JOIN", "yes", "es")
    assert _bot(lines) == [
        lines[lines.index("-> timer in 3d (expiry)") + 1],
        "bot (sms): Thanks, you're in! You'll get our offers and news here. Reply STOP at any "
        "time to opt out.",
        "bot (sms): One last thing: reply EN for English, or ES para español.",
        "bot (sms): ¡Listo! Pregúntanos por un pedido cuando quieras, o escribe HELP para ayuda.",
    ]
    assert _bot(lines)[0].startswith("bot (sms): Welcome to Continuum Demo Store!")
    assert "-> timer in 1d (ask_timeout)" in lines


def test_welcome_silence_times_out_after_advance() -> None:
    lines = _session("welcome", "JOIN", "/timers", "/advance 25h", "/state")
    assert any(line.endswith("(in 1d)") for line in lines)
    assert not _bot(lines[lines.index("# clock: 2026-01-06T11:00:00+00:00") :])
    assert '"marketing_consent": "no",' in "\n".join(lines)


def test_a_message_that_does_not_start_the_flow_gets_a_hint() -> None:
    lines = _session("welcome", "hello", "/quit", "JOIN")
    assert "# note: no_flow_matched" in lines
    assert (
        lines[-1] == "# hint: welcome did not start: its trigger is message keyword JOIN; "
        "type a message it matches"
    )


def test_start_fires_an_event_trigger_and_call_answers_a_call() -> None:
    lines = _session("delivery-problem", '/start {"order_id": "A1", "eta": "Friday"}', "yes")
    bot = _bot(lines)
    assert "your order A1 is running late and should now arrive by Friday" in bot[0]
    assert (
        bot[1] == "bot (sms): Thank you. Someone from our delivery team will call you within "
        "one working day."
    )
    assert any(line.startswith("-> hand off to queue delivery-care (priority 7)") for line in lines)
    assert any(line.startswith("-> emit event.care.recovery_offered") for line in lines)


def test_call_command() -> None:
    lines = _session(
        "order-status",
        "where is my order?",
        "/call 200",
        "12345",
        '/call 200 {"status": "shipped", "order_id": "12345", "carrier": "UPS", "eta": "Mon"}',
    )
    assert "# no call is pending" in lines
    assert any(
        line.startswith("-> call GET http://127.0.0.1:8090/_sandbox/api/orders/12345")
        for line in lines
    )
    assert (
        _bot(lines)[-1] == "bot (sms): Good news: order 12345 has shipped with UPS and should "
        "arrive by Mon."
    )


@pytest.mark.parametrize(
    ("line", "says"),
    [
        pytest.param("/advance soon", "# error: 'soon' is not a duration", id="duration"),
        pytest.param("/event x {nope", "# error: not JSON", id="json"),
        pytest.param("/frobnicate", "# unknown command /frobnicate", id="unknown"),
        pytest.param("/help", "  /advance 24h ", id="help"),
    ],
)
def test_bad_commands_say_why_and_carry_on(line: str, says: str) -> None:
    lines = _session("help", line, "help")
    assert any(out.startswith(says) for out in lines)
    assert len(_bot(lines)) == 1


def test_cli_with_piped_stdin() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestrator",
            "flows",
            "simulate",
            "help",
            "--channel",
            "webchat",
            "--flows",
            str(ROOT / "flows"),
        ],
        input="HELP\n/quit\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1:3] == ["you (webchat): HELP", "# note: flow_matched help (reply)"]
    assert lines[3].startswith("bot (webchat): Continuum Demo Store")


def _say(**parts: object) -> str:
    base = {
        "message_id": "m1",
        "channel": "whatsapp",
        "to": "+15551230001",
        "sender": None,
        "text": "Would you like a call?",
        "purpose": "service",
        "flow_id": "f",
        "flow_version": 1,
        "step": "s",
    }
    return describe(SendMessage(**{**base, **parts}), DEFAULT_NOW)  # type: ignore[arg-type]


def test_the_simulator_shows_buttons_menus_templates_and_subjects() -> None:
    buttons = {
        "kind": "buttons",
        "buttons": [{"id": "y", "title": "Yes"}, {"id": "n", "title": "No"}],
    }
    assert _say(content=buttons) == "bot (whatsapp): Would you like a call? [Yes | No]"
    menu = {"kind": "list", "button": "Choose", "sections": [{"rows": [{"id": "a", "title": "A"}]}]}
    assert _say(content=menu) == "bot (whatsapp): Would you like a call? [Choose: A]"
    template = {"kind": "template", "name": "late_v1", "language": "en", "params": ["A1", "Fri"]}
    assert _say(content=template) == "bot (whatsapp): (template late_v1: A1, Fri)"
    assert _say(channel="email", subject="Late") == "bot (email): [Late] Would you like a call?"
