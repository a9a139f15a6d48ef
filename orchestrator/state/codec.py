"""How customer states and send ledger entries are stored: JSON, compressed with zstd and a
dictionary shipped with Continuum.

A stored value is a zstd frame whose header names the dictionary it was made with (dictionary
ids: :data:`DICTIONARIES`). Inside is the compact JSON of the document; a customer state leaves
out the fields at their defaults (:meth:`CustomerState.from_dict` restores them). The
dictionary, trained on the states and entries the shipped flows make
(``python -m tests.bench.state_dictionary``), holds the field names, the timestamp shapes and
the common values, so a typical customer takes ~150 bytes instead of ~900, and coding costs
less than the JSON itself (about 2 µs to compress, 1 µs to expand).

A value that starts with ``{`` is plain JSON, as stored before, and is read as such, so data
written by an older release stays readable. To read a value by hand (the Redis of
``CONTINUUM_REDIS_URL``)::

    .venv/bin/python -m orchestrator.state.codec 'ct:cust:{cus_…}'

A new dictionary gets a new id and is added to :data:`DICTIONARIES`; the old ones stay, as
values made with them may be read for as long as they live.
"""

from __future__ import annotations

import asyncio
import base64
import sys
from functools import cache
from typing import Any

import orjson
import zstandard

from orchestrator.engine.model import CustomerState
from orchestrator.state import _dictionary

DICTIONARIES = {_dictionary.DICT_ID: _dictionary.DATA}
"""Dictionary id -> the base64 of a zstd dictionary; the newest compresses."""
WRITE_ID = _dictionary.DICT_ID
LEVEL = 3

_DEFAULTS = CustomerState("").to_dict()


@cache
def _dictionary_for(dict_id: int) -> zstandard.ZstdCompressionDict:
    data = DICTIONARIES.get(dict_id)
    if data is None:
        raise ValueError(f"stored value made with an unknown zstd dictionary (id {dict_id})")
    return zstandard.ZstdCompressionDict(base64.b64decode(data))


@cache
def _compressor() -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(
        level=LEVEL, dict_data=_dictionary_for(WRITE_ID), write_checksum=False
    )


@cache
def _decompressor(dict_id: int) -> zstandard.ZstdDecompressor:
    return zstandard.ZstdDecompressor(dict_data=_dictionary_for(dict_id))


def pack(doc: bytes) -> bytes:
    """Compress a JSON document for storage."""
    return _compressor().compress(doc)


def unpack(raw: bytes | str) -> bytes:
    """The JSON document of a stored value (plain JSON is returned as it is)."""
    data = raw.encode() if isinstance(raw, str) else raw
    if data[:1] == b"{":
        return data
    dict_id = zstandard.get_frame_parameters(data).dict_id
    return _decompressor(dict_id).decompress(data)


def dump_state(state: CustomerState) -> bytes:
    """The stored form of a customer state."""
    doc = {k: v for k, v in state.to_dict().items() if k == "customer_id" or v != _DEFAULTS[k]}
    return pack(orjson.dumps(doc))


def load_state(customer_id: str, raw: bytes | str | None) -> CustomerState:
    """The inverse of :func:`dump_state`; nothing stored is a new customer's empty state."""
    return CustomerState.from_dict(orjson.loads(unpack(raw))) if raw else CustomerState(customer_id)


def dump_entry(entry: dict[str, Any]) -> bytes:
    """The stored form of a send ledger entry."""
    return pack(orjson.dumps(entry))


def load_entry(raw: bytes | str) -> dict[str, Any]:
    """The inverse of :func:`dump_entry`."""
    doc: dict[str, Any] = orjson.loads(unpack(raw))
    return doc


async def _show(url: str, key: str) -> int:
    from orchestrator.redis_client import make_redis

    redis = make_redis(url, socket_connect_timeout=5)
    try:
        raw = await redis.get(key)
    finally:
        await redis.aclose()
    if raw is None:
        print(f"{key}: no such key", file=sys.stderr)
        return 1
    print(unpack(raw).decode())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Print the JSON of one stored value: ``python -m orchestrator.state.codec KEY``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m orchestrator.state.codec KEY", file=sys.stderr)
        return 2
    from orchestrator.settings import Settings

    return asyncio.run(_show(Settings().redis, args[0]))


if __name__ == "__main__":
    sys.exit(main())
