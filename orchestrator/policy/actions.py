"""What the policy decided: one vocabulary, and the one table of how each place spells it.

Every rule says one of five things about a message: ``allow`` it, send it as an approved
``template``, send it on a later channel of the route (``fallback``), ``defer`` it, or
``block`` it. Older surfaces spell these their own way, and tests, dashboards and stored
ledger rows read those spellings, so they are kept and mapped here, nowhere else:

=========  ==================  ==================  ===============================
action     ``Verdict.action``  ``SendCheck.action``  metrics ``action`` / note code
=========  ==================  ==================  ===============================
allow      ``allow``           ``send``            (none: an allow is not counted)
template   ``template``        (none)              ``template`` / ``policy_template``
fallback   (none: an allow     (none)              ``fallback`` / ``policy_fallback``
           on another channel)
defer      ``defer``           ``defer``           ``deferred`` / ``policy_deferred``
block      ``drop``            ``block``           ``blocked`` / ``policy_blocked``
=========  ==================  ==================  ===============================

A ledger row's outcome is the note code (``policy_blocked`` at decision and at send time).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Action = Literal["allow", "template", "fallback", "defer", "block"]
VerdictAction = Literal["allow", "defer", "drop", "template"]
"""``Verdict.action``, decision time (and ``policy explain``)."""
SendAction = Literal["send", "block", "defer"]
"""``SendCheck.action``, send time."""

_VERDICT: Mapping[Action, VerdictAction] = {
    "allow": "allow",
    "fallback": "allow",
    "template": "template",
    "defer": "defer",
    "block": "drop",
}
_SEND: Mapping[Action, SendAction] = {"allow": "send", "defer": "defer", "block": "block"}
_LABEL: Mapping[Action, str] = {
    "template": "template",
    "fallback": "fallback",
    "defer": "deferred",
    "block": "blocked",
}
NOTE_PREFIX = "policy_"


def verdict_action(action: Action) -> VerdictAction:
    """How ``Verdict.action`` spells ``action``."""
    return _VERDICT[action]


def send_action(action: Literal["allow", "defer", "block"]) -> SendAction:
    """How ``SendCheck.action`` spells ``action`` (templates and fallbacks are decided earlier)."""
    return _SEND[action]


def of_send(spelt: SendAction) -> Action:
    """The action a ``SendCheck.action`` spells."""
    return next(a for a, s in _SEND.items() if s == spelt)


def of_verdict(spelt: str, *, moved: bool = False) -> Action:
    """The action a ``Verdict.action`` spells; an allow on a later channel (``moved``) is a
    fallback."""
    if spelt == "allow":
        return "fallback" if moved else "allow"
    return next(a for a, s in _VERDICT.items() if s == spelt and a != "fallback")


def label(action: Action) -> str:
    """The metrics ``action`` label of a held-back, templated or moved message."""
    return _LABEL[action]


def note_code(action: Action) -> str:
    """The note code (and ledger outcome) of ``action``: ``policy_<label>``."""
    return NOTE_PREFIX + label(action)


NOTE_LABELS: Mapping[str, str] = {note_code(a): label(a) for a in _LABEL}
"""Note code -> metrics ``action`` label, for counting decision-time notes."""
