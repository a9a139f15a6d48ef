"""Logging set-up: httpx and uvicorn access lines kept off the console at INFO; JSON lines."""

from __future__ import annotations

import io
import json
import logging

import pytest

from orchestrator.logs import configure

pytestmark = pytest.mark.usefixtures("restore_logging")


def _emit(level: str, fmt: str) -> str:
    out = io.StringIO()
    configure(level, fmt, out)
    logging.getLogger("httpx").info('HTTP Request: GET http://127.0.0.1:8090/x "HTTP/1.1 200 OK"')
    logging.getLogger("uvicorn.access").info('127.0.0.1:5 - "POST /webhooks/twilio/status" 200')
    logging.getLogger("orchestrator.service").info("flows loaded")
    logging.getLogger("httpx").warning("a provider is slow")
    return out.getvalue()


def test_request_logs_are_off_at_info() -> None:
    lines = _emit("INFO", "text").splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith(" INFO orchestrator.service: flows loaded")
    assert lines[1].endswith(" WARNING httpx: a provider is slow")


def test_debug_shows_them_again() -> None:
    # as uvicorn leaves its access logger when it has configured logging itself
    access = logging.getLogger("uvicorn.access")
    access.propagate, kept = False, access.handlers[:]
    access.handlers[:] = [logging.NullHandler()]
    text = _emit("DEBUG", "text")
    access.handlers[:], access.propagate = kept, True
    assert "HTTP Request: GET" in text
    assert "POST /webhooks/twilio/status" in text


def test_json_gives_one_object_a_line() -> None:
    docs = [json.loads(line) for line in _emit("INFO", "json").splitlines()]
    assert [d["message"] for d in docs] == ["flows loaded", "a provider is slow"]
    first = docs[0]
    assert set(first) == {"ts", "level", "logger", "message", "exception"}
    assert (first["level"], first["logger"], first["exception"]) == (
        "INFO",
        "orchestrator.service",
        None,
    )
    assert first["ts"].endswith("+00:00")


def test_json_keeps_a_traceback_on_its_line() -> None:
    out = io.StringIO()
    configure("INFO", "json", out)
    try:
        raise ValueError("bad\nrecord")
    except ValueError:
        logging.getLogger("orchestrator.workers").exception("batch failed for %s", "c1")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert doc["message"] == "batch failed for c1"
    assert doc["level"] == "ERROR"
    assert doc["exception"].startswith("Traceback (most recent call last)")
    assert doc["exception"].endswith("ValueError: bad\nrecord")


def test_the_setting_reaches_the_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestrator.cli import main

    monkeypatch.setenv("CONTINUUM_LOG_FORMAT", "json")
    assert main(["flows", "schema"]) == 0
    capsys.readouterr()
    handler = logging.getLogger().handlers[0]
    assert type(handler.formatter).__name__ == "JsonFormatter"
