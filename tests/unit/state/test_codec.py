"""Stored customer states and send ledger entries: compact, compressed, and readable back."""

from __future__ import annotations

import orjson
import pytest
import zstandard

from orchestrator.engine.model import CustomerState, Run
from orchestrator.redis_client import is_cluster_url, make_redis
from orchestrator.state import codec

STATE = CustomerState(
    "cus_1",
    last_channel="sms",
    message_count=3,
    applied=("sms:SM1", "sms:SM2"),
    identities={"sms": "+15551230001"},
    consent={"sms": {"marketing": {"status": "granted", "source": "keyword", "at": "2026"}}},
    run=Run("run_1", "help", 1, "2026-12-02T00:00:00+00:00", step="reply", waiting="reply"),
)


def test_a_state_reads_back_equal_and_leaves_its_defaults_out() -> None:
    stored = codec.dump_state(STATE)

    assert codec.load_state("cus_1", stored) == STATE
    doc = orjson.loads(codec.unpack(stored))
    assert sorted(doc) == [
        "applied",
        "consent",
        "customer_id",
        "identities",
        "last_channel",
        "message_count",
        "run",
    ]


def test_a_state_is_smaller_than_its_json() -> None:
    assert len(codec.dump_state(STATE)) < len(orjson.dumps(STATE.to_dict())) / 3


def test_plain_json_as_stored_before_is_still_read() -> None:
    assert codec.load_state("cus_1", orjson.dumps(STATE.to_dict())) == STATE
    assert codec.load_entry(b'{"state": "pending"}') == {"state": "pending"}


def test_nothing_stored_is_an_empty_state() -> None:
    assert codec.load_state("cus_9", None) == CustomerState("cus_9")


def test_an_entry_reads_back_equal() -> None:
    entry = {"state": "accepted", "message_id": "msg_1", "external_ids": ["SM1"], "to": None}
    assert codec.load_entry(codec.dump_entry(entry)) == entry


def test_a_value_made_with_an_unknown_dictionary_is_refused_by_name() -> None:
    other = zstandard.train_dictionary(1024, [b'{"x": %d}' % i for i in range(500)], dict_id=999)
    raw = zstandard.ZstdCompressor(dict_data=other).compress(b'{"x": 1}')
    with pytest.raises(ValueError, match="unknown zstd dictionary"):
        codec.unpack(raw)


@pytest.mark.parametrize(
    ("url", "cluster"),
    [
        ("redis://127.0.0.1:6379/0", False),
        ("rediss://h:1/0", False),
        ("redis+cluster://127.0.0.1:7000", True),
        ("REDISS+CLUSTER://h:7000", True),
        ("unix:///tmp/redis.sock", False),
    ],
)
def test_the_scheme_names_a_cluster(url: str, cluster: bool) -> None:
    assert is_cluster_url(url) is cluster
    assert type(make_redis(url)).__name__ == ("RedisCluster" if cluster else "Redis")
