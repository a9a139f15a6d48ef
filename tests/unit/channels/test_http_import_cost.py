"""httpx requests do not search sys.path: httpcore's loop sniffing finds sniffio installed."""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

import pytest
from httpcore import _synchronization


class _Counting(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self.asked: list[str] = []

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        self.asked.append(fullname)
        return None


async def test_httpcore_loop_sniffing_imports_nothing_per_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _synchronization.current_async_library() == "asyncio"
    finder = _Counting()
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    for _ in range(3):
        assert _synchronization.current_async_library() == "asyncio"
    assert finder.asked == []
