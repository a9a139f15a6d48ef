"""The S3-format store under the durable embedded broker: conditional writes, listings, restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.objectstore import PreconditionFailed, Store


def test_create_only_if_absent_and_update_only_on_matching_etag(tmp_path: Path) -> None:
    store = Store(tmp_path, fsync=False)
    first = store.put("a/meta.json", b"1", if_match=None, if_none_match="*")
    with pytest.raises(PreconditionFailed):
        store.put("a/meta.json", b"2", if_match=None, if_none_match="*")
    second = store.put("a/meta.json", b"2", if_match=f'"{first.etag}"', if_none_match=None)
    assert second.etag != first.etag
    with pytest.raises(PreconditionFailed):
        store.put("a/meta.json", b"3", if_match=f'"{first.etag}"', if_none_match=None)
    with pytest.raises(PreconditionFailed):
        store.put("missing", b"3", if_match=f'"{first.etag}"', if_none_match=None)
    got = store.get("a/meta.json")
    assert got is not None
    assert got[1] == b"2"


def test_a_key_may_also_be_a_prefix_and_odd_characters_survive(tmp_path: Path) -> None:
    store = Store(tmp_path, fsync=False)
    for key in ("t/p", "t/p/0.batch", "t/p/1.batch", "t/q x%2F/..", "u"):
        store.put(key, key.encode(), if_match=None, if_none_match=None)
    objects, prefixes, token = store.list("t/", "/", None)
    assert [k for k, _ in objects] == ["t/p"]
    assert prefixes == ["t/p/", "t/q x%2F/"]
    assert token is None
    objects, _, _ = store.list("t/p/", None, None)
    assert [k for k, _ in objects] == ["t/p/0.batch", "t/p/1.batch"]
    reopened = Store(tmp_path, fsync=False)
    assert reopened.list("", None, None)[0] == store.list("", None, None)[0]
    got = reopened.get("t/q x%2F/..")
    assert got is not None
    assert got[1] == b"t/q x%2F/.."


def test_listing_pages_continue_after_the_token(tmp_path: Path) -> None:
    store = Store(tmp_path, fsync=False)
    keys = [f"r/{i:05d}" for i in range(1500)]
    for key in keys:
        store.put(key, b"", if_match=None, if_none_match=None)
    page, _, token = store.list("r/", None, None)
    assert token == keys[999]
    rest, _, last = store.list("r/", None, token)
    assert [k for k, _ in page + rest] == keys
    assert last is None


def test_delete_is_idempotent(tmp_path: Path) -> None:
    store = Store(tmp_path, fsync=False)
    store.put("k", b"v", if_match=None, if_none_match=None)
    store.delete("k")
    store.delete("k")
    assert store.get("k") is None
    assert Store(tmp_path, fsync=False).get("k") is None
