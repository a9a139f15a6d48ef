"""Fault rules for the sandbox: what may go wrong, and which rule a send meets. No I/O here.

A rule names a provider (or ``"*"``), a ``kind`` of misbehaviour, optionally a ``match`` on the
recipient (``to``) or a substring of the text (``text``), and how often it fires: with
``probability`` (0-1, default 1) and at most ``count`` times (unbounded by default). The
:class:`FaultBook` holds the rules in the order they were added; for each send the first rule
that matches *and* fires is the one applied (a rule whose probability roll fails lets the next
one try). A rule with a ``count`` expires once it has fired that many times; it stays listed
(``expired``) until cleared. The random source is injected, so a seeded ``random.Random`` makes
a sequence of sends deterministic. :mod:`channels.sandbox.injection` applies the rule.

Example::

    book = FaultBook(random.Random(7))
    book.add(FaultRule(provider="twilio", kind="throttle", retry_after=2, count=3))
    rule = book.pick("twilio", to="+15550001", text="hi")   # the throttle rule, 3 times
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FaultKind = Literal[
    "latency", "error", "throttle", "timeout", "drop_receipt", "delay_receipt", "reject", "down"
]
KINDS: tuple[FaultKind, ...] = (
    "latency",
    "error",
    "throttle",
    "timeout",
    "drop_receipt",
    "delay_receipt",
    "reject",
    "down",
)
PROVIDERS = ("twilio", "vonage", "meta", "sendgrid", "generic")
"""The fakes that consult the faults (``provider`` of a rule is one of them, or ``"*"``)."""

_PARAMETERS: dict[str, frozenset[str]] = {
    "latency": frozenset({"seconds"}),
    "error": frozenset({"status", "message"}),
    "throttle": frozenset({"retry_after"}),
    "timeout": frozenset({"seconds"}),
    "drop_receipt": frozenset(),
    "delay_receipt": frozenset({"seconds"}),
    "reject": frozenset({"code", "message", "at"}),
    "down": frozenset(),
}
"""The kind parameters each kind takes; giving another kind's is refused (a likely mistake)."""
_KIND_PARAMETERS = frozenset().union(*_PARAMETERS.values())
DEFAULT_SECONDS: dict[str, float] = {"latency": 1.0, "timeout": 30.0, "delay_receipt": 5.0}
"""``seconds`` when a rule gives none: a timeout outlasts an ordinary client timeout."""


class Match(BaseModel):
    """Which sends a rule applies to; an empty match is every send of its provider."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    to: str | None = Field(
        None, min_length=1, description="the recipient, exactly (a leading '+' is ignored)"
    )
    text: str | None = Field(None, min_length=1, description="a substring of the message text")


class FaultRule(BaseModel):
    """One fault: ``POST /_sandbox/faults`` takes it as JSON, ``GET`` lists it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(
        default_factory=lambda: "f_" + secrets.token_hex(4),
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="names the rule for DELETE /_sandbox/faults/{id} (generated when absent)",
    )
    provider: Literal["twilio", "vonage", "meta", "sendgrid", "generic", "*"] = Field(
        description="the provider fake it applies to, or * for every one"
    )
    kind: FaultKind
    match: Match = Field(default_factory=Match)
    probability: float = Field(1.0, ge=0, le=1, description="chance it fires on a matching send")
    count: int | None = Field(None, ge=1, description="fire at most this many times, then expire")
    seconds: float | None = Field(
        None, ge=0, le=600, description="latency / timeout / delay_receipt: how long"
    )
    status: int = Field(500, ge=400, le=599, description="error: the HTTP status answered")
    retry_after: int = Field(1, ge=0, le=3600, description="throttle: the Retry-After seconds")
    code: str | None = Field(
        None, min_length=1, max_length=32, description="reject: the provider's error code"
    )
    message: str | None = Field(
        None, max_length=500, description="error / reject: the provider's error text"
    )
    at: Literal["send", "receipt"] = Field(
        "send", description="reject: in the send's answer, or as a failed receipt after accepting"
    )

    @model_validator(mode="before")
    @classmethod
    def _only_its_kind_parameters(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("kind"), str):
            allowed = _PARAMETERS.get(data["kind"], _KIND_PARAMETERS)
            stray = sorted(k for k in data if k in _KIND_PARAMETERS - allowed)
            if stray:
                takes = ", ".join(sorted(allowed)) or "no parameters"
                verb = "does" if len(stray) == 1 else "do"
                raise ValueError(
                    f"{', '.join(stray)} {verb} not apply to kind {data['kind']} (it takes {takes})"
                )
        return data

    @property
    def duration(self) -> float:
        """``seconds``, or the kind's default."""
        return self.seconds if self.seconds is not None else DEFAULT_SECONDS.get(self.kind, 0.0)

    def matches(self, provider: str, to: str, text: str) -> bool:
        """Whether a send of ``provider`` to ``to`` with ``text`` is one this rule is about."""
        if self.provider not in ("*", provider):
            return False
        wanted = self.match
        if wanted.to is not None and _address(wanted.to) != _address(to):
            return False
        return wanted.text is None or wanted.text in text


def _address(value: str) -> str:
    """A recipient compared as providers spell it: Vonage and Meta take no '+', email any case."""
    return value.strip().removeprefix("+").casefold()


@dataclass(slots=True)
class _Entry:
    rule: FaultRule
    fired: int = 0

    @property
    def expired(self) -> bool:
        return self.rule.count is not None and self.fired >= self.rule.count


class DuplicateFault(ValueError):
    """Raised by :meth:`FaultBook.add` when a rule with that id is already held."""


class FaultBook:
    """The rules in force, in order, and how many times each has fired."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()  # noqa: S311 - fault odds, not secrets
        self._entries: list[_Entry] = []

    def add(self, rule: FaultRule) -> None:
        """Append ``rule`` (tried after those already held); :class:`DuplicateFault` on a
        repeated id."""
        if any(e.rule.id == rule.id for e in self._entries):
            raise DuplicateFault(f"a fault with id {rule.id!r} exists already")
        self._entries.append(_Entry(rule))

    def remove(self, fault_id: str) -> bool:
        """Forget the rule ``fault_id``; whether there was one."""
        kept = [e for e in self._entries if e.rule.id != fault_id]
        found = len(kept) != len(self._entries)
        self._entries = kept
        return found

    def clear(self) -> int:
        """Forget every rule; how many there were."""
        count = len(self._entries)
        self._entries = []
        return count

    def seed(self, value: int) -> None:
        """Restart the random source from ``value`` (a test's deterministic odds)."""
        self._rng.seed(value)

    def pick(self, provider: str, to: str, text: str) -> FaultRule | None:
        """The rule that fires for this send, counted as fired, or None.

        Rules are tried in order; expired rules are skipped; a matching rule fires when the
        random draw is under its ``probability`` (a probability of 1 draws nothing)."""
        for entry in self._entries:
            rule = entry.rule
            if entry.expired or not rule.matches(provider, to, text):
                continue
            if rule.probability < 1 and self._rng.random() >= rule.probability:
                continue
            entry.fired += 1
            return rule
        return None

    def listing(self) -> list[dict[str, Any]]:
        """Every rule as JSON, with ``fired`` (times applied) and ``expired`` (count used up)."""
        return [{**describe(e.rule), "fired": e.fired, "expired": e.expired} for e in self._entries]


def describe(rule: FaultRule) -> dict[str, Any]:
    """``rule`` as JSON, with only its own kind's parameters and only the match keys it has."""
    data = rule.model_dump(mode="json", exclude_none=True)
    for name in _KIND_PARAMETERS - _PARAMETERS[rule.kind]:
        data.pop(name, None)
    if "seconds" in _PARAMETERS[rule.kind]:
        data["seconds"] = rule.duration
    data.setdefault("count", None)
    return data


def validation_reason(exc: ValidationError) -> str:
    """A rule's validation errors as one line: ``field: problem; field: problem``."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        problem = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {problem}" if where else problem)
    return "; ".join(parts)
