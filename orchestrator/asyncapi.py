"""The AsyncAPI 3 document of Continuum's topics, generated from :mod:`orchestrator.events`.

``docs/asyncapi.yaml`` is this module's output for the default topic prefix; a unit test fails
when the two differ. Regenerate it after changing an event model or a topic::

    python -m orchestrator.asyncapi --write docs/asyncapi.yaml

Operations are Continuum's own: ``receive`` on the topics it consumes, ``send`` on those it
produces (both, for its internal topics).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from orchestrator import events as ev
from orchestrator.media import MEDIA
from orchestrator.topics import Topics

SCHEMAS = "#/components/schemas/"
KAFKA_BINDING = "0.5.0"


@dataclass(frozen=True, slots=True)
class _Message:
    """One event type as it travels on one kind of topic."""

    name: str
    type_schema: dict[str, Any]
    data: type[BaseModel] | None
    summary: str
    key: str


_MESSAGES = {
    "messageReceived": _Message(
        "message.received",
        {"const": ev.MESSAGE_RECEIVED},
        ev.MessageReceived,
        "A customer wrote to us.",
        "the sender address on inbound topics; the customer id on continuum.customer",
    ),
    "businessEvent": _Message(
        "event.<name>",
        {"pattern": r"^event\..+"},
        ev.BusinessEvent,
        "Something happened to a customer in another system.",
        "the customer id or address",
    ),
    "timerFired": _Message(
        "timer.fired",
        {"const": ev.TIMER_FIRED},
        ev.TimerFired,
        "A flow timer is due.",
        "customer id",
    ),
    "scheduleFired": _Message(
        "schedule.fired",
        {"const": ev.SCHEDULE_FIRED},
        ev.ScheduleFired,
        "A scheduled flow's tick, for one customer.",
        "customer id",
    ),
    "callCompleted": _Message(
        "call.completed",
        {"const": ev.CALL_COMPLETED},
        ev.CallCompleted,
        "The result of a flow's HTTP call.",
        "customer id",
    ),
    "statusForFlows": _Message(
        "message.status",
        {"const": ev.MESSAGE_STATUS},
        ev.StatusForFlows,
        "A delivery receipt matched to a message, for flows' status triggers.",
        "customer id",
    ),
    "messageStatus": _Message(
        "message.status",
        {"const": ev.MESSAGE_STATUS},
        ev.MessageStatus,
        "A provider's delivery receipt.",
        "the provider's message id",
    ),
    "messageSend": _Message(
        "message.send",
        {"const": ev.MESSAGE_SEND},
        ev.MessageSend,
        "The command to deliver one outbound message.",
        "customer id",
    ),
    "auditRecord": _Message(
        "audit.<step>",
        {"pattern": r"^audit\..+"},
        ev.AuditRecord,
        "One ledger record.",
        "customer id, else the address",
    ),
    "deadLetter": _Message(
        "continuum.dead_letter",
        {"const": ev.DEAD_LETTER},
        ev.DeadLetter,
        "A refused record, with the reason and the original bytes.",
        "the original record's key",
    ),
    "agentTask": _Message(
        "agent.task",
        {"const": ev.AGENT_TASK},
        ev.AgentTask,
        "A conversation handed to an agent queue.",
        "customer id",
    ),
    "agentMessage": _Message(
        "agent.message",
        {"const": ev.AGENT_MESSAGE},
        ev.AgentMessage,
        "A customer's message for the agent who owns their conversation.",
        "customer id",
    ),
    "agentCancel": _Message(
        "agent.cancel",
        {"const": ev.AGENT_CANCEL},
        ev.AgentCancel,
        "The customer ended their conversation with people (opted out, or left).",
        "customer id",
    ),
    "agentReply": _Message(
        "agent.reply",
        {"const": ev.AGENT_REPLY},
        ev.AgentReply,
        "An agent's reply, to go out on the customer's current channel.",
        "customer id",
    ),
}


@dataclass(frozen=True, slots=True)
class _Channel:
    address: str
    description: str
    messages: tuple[str, ...]
    actions: tuple[str, ...]  # what Continuum does: receive (consumes), send (produces)


def _channels(topics: Topics) -> dict[str, _Channel]:
    out: dict[str, _Channel] = {}
    for c in MEDIA:
        out[f"inbound_{c}"] = _Channel(
            topics.inbound(c),
            f"Inbound {c} messages, keyed by sender address. Produce yours here.",
            ("messageReceived",),
            ("receive", "send"),
        )
        out[f"outbound_{c}"] = _Channel(
            topics.outbound(c),
            f"Commands to send on {c}, keyed by customer id: the reply lane (replies, "
            "transactional and service messages).",
            ("messageSend",),
            ("send", "receive"),
        )
        out[f"outbound_{c}_bulk"] = _Channel(
            topics.outbound_bulk(c),
            f"Marketing commands to send on {c}, keyed by customer id: the bulk lane, "
            "consumed by a dispatcher of its own and rate-limited behind the replies.",
            ("messageSend",),
            ("send", "receive"),
        )
    out["customer"] = _Channel(
        topics.customer,
        "Everything that happens to a customer, keyed by customer id, in order; the decision "
        "worker's input.",
        (
            "messageReceived",
            "businessEvent",
            "timerFired",
            "scheduleFired",
            "callCompleted",
            "statusForFlows",
            "agentReply",
        ),
        ("send", "receive"),
    )
    out["events"] = _Channel(
        topics.events,
        "Business events about customers. Produce yours here; flows' emit steps do too.",
        ("businessEvent",),
        ("receive", "send"),
    )
    out["status"] = _Channel(
        topics.status,
        "Provider delivery receipts, keyed by the provider's message id.",
        ("messageStatus",),
        ("receive", "send"),
    )
    out["audit"] = _Channel(
        topics.audit,
        "Audit records on their way to the ledger.",
        ("auditRecord",),
        ("send", "receive"),
    )
    out["dlq"] = _Channel(
        topics.dlq, "Records that could not be processed.", ("deadLetter",), ("send",)
    )
    out["agent_tasks"] = _Channel(
        topics.agent_tasks,
        "Conversations handed to a person, and the customers' messages for the agents who own "
        "them; the router consumes it (so may your own agent desk).",
        ("agentTask", "agentMessage", "agentCancel"),
        ("send", "receive"),
    )
    return out


def _schemas() -> dict[str, Any]:
    models: list[type[BaseModel]] = [ev.CloudEvent]
    models += [m.data for m in _MESSAGES.values() if m.data is not None]
    _, defs = models_json_schema(
        [(m, "validation") for m in dict.fromkeys(models)], ref_template=SCHEMAS + "{model}"
    )
    schemas: dict[str, Any] = defs["$defs"]
    return schemas


def _message(key: str, m: _Message) -> dict[str, Any]:
    data: dict[str, Any] = {"$ref": SCHEMAS + m.data.__name__} if m.data else {"type": "object"}
    return {
        "name": m.name,
        "title": m.name,
        "summary": m.summary,
        "contentType": ev.CONTENT_TYPE,
        "headers": {
            "type": "object",
            "properties": {"content-type": {"type": "string", "const": ev.CONTENT_TYPE}},
        },
        "payload": {
            "allOf": [
                {"$ref": SCHEMAS + "CloudEvent"},
                {
                    "type": "object",
                    "required": ["type"],
                    "properties": {"type": {"type": "string", **m.type_schema}, "data": data},
                },
            ]
        },
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": m.key},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def document(topics: Topics | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0 document for ``topics`` (default prefix ``continuum.``)."""
    channels = _channels(topics or Topics())
    operations: dict[str, Any] = {}
    for cid, ch in channels.items():
        for action in ch.actions:
            operations[f"{action}_{cid}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{cid}"},
                "messages": [{"$ref": f"#/channels/{cid}/messages/{m}"} for m in ch.messages],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Continuum topics",
            "version": "0.1.0",
            "description": "Every record is a CloudEvents 1.0 event. Continuum produces "
            "structured mode (content-type application/cloudevents+json) and accepts binary "
            "mode too (ce_* headers, the data as the value): see docs/wire-format.md. "
            "Generated by `python -m orchestrator.asyncapi`; do not edit by hand.",
        },
        "defaultContentType": ev.CONTENT_TYPE,
        "servers": {
            "embedded": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "the broker `continuum up` embeds "
                "(CONTINUUM_KAFKA__BOOTSTRAP_SERVERS names another); topic names take "
                "CONTINUUM_KAFKA__TOPIC_PREFIX",
            }
        },
        "channels": {
            cid: {
                "address": ch.address,
                "description": ch.description,
                "messages": {m: {"$ref": f"#/components/messages/{m}"} for m in ch.messages},
                "bindings": {"kafka": {"topic": ch.address, "bindingVersion": KAFKA_BINDING}},
            }
            for cid, ch in channels.items()
        },
        "operations": operations,
        "components": {
            "messages": {key: _message(key, m) for key, m in _MESSAGES.items()},
            "schemas": _schemas(),
        },
    }


def render(doc: dict[str, Any] | None = None) -> str:
    """The document as YAML, byte-for-byte what docs/asyncapi.yaml holds."""
    return yaml.safe_dump(
        doc or document(), sort_keys=False, allow_unicode=True, width=100, default_flow_style=False
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Print the document, ``--write`` it to a file, or ``--check`` a file is current (exit 1)."""
    parser = argparse.ArgumentParser(prog="python -m orchestrator.asyncapi", description=__doc__)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", type=Path, metavar="PATH", help="write the document to PATH")
    group.add_argument("--check", type=Path, metavar="PATH", help="exit 1 if PATH is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        args.write.write_text(text, encoding="utf-8")
    elif args.check:
        if not args.check.is_file() or args.check.read_text(encoding="utf-8") != text:
            print(
                f"{args.check} is stale: run python -m orchestrator.asyncapi --write {args.check}"
            )
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
