"""Every Redis key Continuum uses, and nothing else builds one.

Redis Cluster: the keys one Lua script or transaction touches share a hash tag, so they live in
one slot. One customer's state and policy counters carry ``{customer id}`` (a counter script
takes all of a customer's counters); the timers share ``{timers}`` and the deferred sends
``{deferred}`` (one queue, one slot). Every other key is only ever read or written by
single-key commands (pipelined: redis-py splits a cluster pipeline by node), so it needs no tag.
"""

from __future__ import annotations


def customer_key(customer_id: str) -> str:
    """The JSON state of one customer."""
    return f"ct:cust:{{{customer_id}}}"


PHONE_NAMESPACE = "phone"
"""The identity namespace sms and whatsapp share when ``identity.share_phone_across_media`` is
on: one E.164 number is one customer on both media."""


def identity_key(namespace: str, address: str) -> str:
    """Which customer owns ``address`` in ``namespace``: a channel (``sms``, ``email``...) or
    :data:`PHONE_NAMESPACE` (sms and whatsapp together)."""
    return f"ct:ident:{namespace}:{address}"


def merged_key(customer_id: str) -> str:
    """The customer a merged-away customer id now redirects to (under the old id's tag)."""
    return f"ct:merged:{{{customer_id}}}"


def inbound_seen_key(channel: str, provider_id: str) -> str:
    """Marks an inbound message id as seen, for 48 h dedupe."""
    return f"ct:seen:{channel}:{provider_id}"


def send_key(message_id: str) -> str:
    """The send ledger entry of one outbound message."""
    return f"ct:send:{message_id}"


def message_status_key(message_id: str) -> str:
    """One sent message's delivery status (a one-member sorted set scored by rank)."""
    return f"ct:mstatus:{message_id}"


def external_id_key(provider: str, external_id: str) -> str:
    """Maps a provider's message id back to Continuum's outbound message."""
    return f"ct:ext:{provider}:{external_id}"


def breaker_key(provider: str) -> str:
    """Hash of one provider's circuit breaker (``provider``: a ``channel_type``), shared by
    every dispatcher (:mod:`orchestrator.state.breakers`)."""
    return f"ct:breaker:{{{provider}}}"


def parked_receipts_key(provider: str, external_id: str) -> str:
    """Receipts that came before the send they are about was recorded (a list of raw events)."""
    return f"ct:rcpt:{provider}:{external_id}"


# Timer keys share the hash tag ``{timers}`` so one Lua script may touch all three.


def timers_due_key() -> str:
    """Sorted set of timer ids waiting to fire, scored by due time in epoch milliseconds."""
    return "ct:{timers}:due"


def timers_leased_key() -> str:
    """Sorted set of timer ids a replica has claimed, scored by when the lease runs out."""
    return "ct:{timers}:leased"


def timer_data_key() -> str:
    """Hash of timer id -> the timer's JSON payload."""
    return "ct:{timers}:data"


def customer_key_pattern() -> str:
    """A SCAN ``MATCH`` pattern for every customer state key (see :func:`customer_key`)."""
    return "ct:cust:*"


def schedule_tick_key(flow_id: str, tick_iso: str) -> str:
    """Claimed by the one replica that runs a scheduled flow's tick."""
    return f"ct:sched:{flow_id}:{tick_iso}"


def flows_reload_channel() -> str:
    """The pub/sub channel on which one replica asks the others to reload their flows."""
    return "ct:flows:reload"


# Send-time contact policy: counters under the customer's hash tag (one script touches all of a
# customer's counters), deferred sends under ``{deferred}`` (like the timers).


def cap_counter_key(customer_id: str, cap_id: str, scope: str) -> str:
    """Sorted set of message ids counted by one frequency cap (``scope``: a channel or ``all``),
    scored by send time in epoch milliseconds."""
    return f"ct:cap:{{{customer_id}}}:{cap_id}:{scope}"


def identical_text_key(customer_id: str, text_hash: str) -> str:
    """Sorted set of message ids with one text sent to a customer (the loop guard)."""
    return f"ct:same:{{{customer_id}}}:{text_hash}"


def deferred_due_key() -> str:
    """Sorted set of deferred message ids, scored by when they may go (epoch milliseconds)."""
    return "ct:{deferred}:due"


def deferred_leased_key() -> str:
    """Sorted set of deferred message ids a replica is releasing, scored by lease expiry."""
    return "ct:{deferred}:leased"


def deferred_data_key() -> str:
    """Hash of message id -> the deferred ``message.send`` record."""
    return "ct:{deferred}:data"


# Receipt checks (delivery/fallback.py): one due queue under ``{receipts}``, like the deferred
# sends.


def receipts_due_key() -> str:
    """Sorted set of receipt check ids, scored by when the check falls due (epoch ms)."""
    return "ct:{receipts}:due"


def receipts_leased_key() -> str:
    """Sorted set of receipt check ids a replica is handling, scored by lease expiry."""
    return "ct:{receipts}:leased"


def receipts_data_key() -> str:
    """Hash of receipt check id -> the check (``state.receipt_checks.ReceiptCheck`` JSON)."""
    return "ct:{receipts}:data"


# Rate limits: one hash per bucket (the GCRA's theoretical arrival time and each lane's queue
# cursor), under the provider account's hash tag, so one script checks an account's bucket and
# a sender's together.


def rate_bucket_key(provider: str, account: str, scope: str) -> str:
    """The state of one rate bucket (``scope``: ``account`` or ``sender:<address>``) of one
    provider account."""
    return f"ct:rate:{{{provider}:{account}}}:{scope}"


# Sends whose outcome is unknown (the reconciler's index), under ``{unknown}``: one script
# touches all four (orchestrator/state/unknown_sends.py).


def unknown_due_key() -> str:
    """Sorted set of unknown sends' message ids, scored by when the provider is next asked."""
    return "ct:{unknown}:due"


def unknown_leased_key() -> str:
    """Sorted set of unknown sends a reconciler is asking about, scored by lease expiry."""
    return "ct:{unknown}:leased"


def unknown_data_key() -> str:
    """Hash of message id -> the unknown send (its ``message.send`` record and window)."""
    return "ct:{unknown}:data"


def unknown_open_key() -> str:
    """Sorted set of every send still unknown (looked for or given up on), scored by when its
    outcome was recorded (epoch milliseconds)."""
    return "ct:{unknown}:open"


ROUTING_TAG = "{routing}"
"""The hash tag every routing key shares: the board's commit script takes them all."""


def routing_key(part: str, board: str = "routing") -> str:
    """One part of a routing board (``agents``, ``conversations``, ``overrides``,
    ``revisions``, ``clock``: :mod:`orchestrator.state.routing_board`). The service has one
    board, ``routing``; the bench uses one of its own so it never touches a live one."""
    tag = ROUTING_TAG if board == "routing" else f"{{{board}}}"
    return f"ct:rt:{tag}:{part}"


def routed_task_key(task_id: str) -> str:
    """Marks an ``agent.task`` as routed, so a redelivery is not routed twice."""
    return f"ct:rt-task:{task_id}"


def last_agent_key(customer_id: str) -> str:
    """The customer's last agent and when they were assigned (JSON), for the last-agent ring."""
    return f"ct:rt-last:{{{customer_id}}}"
