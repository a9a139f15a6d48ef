"""The in-loop HTTP server: a port in use is a clear error, the Date header is current, and an
idle server has no tick to wake it (it stops when asked)."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import pytest

from orchestrator.errors import ConfigError
from orchestrator.http_server import HttpServer


async def _app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    if scope["type"] == "lifespan":
        while True:
            message = await receive()  # type: ignore[operator]
            await send({"type": f"{message['type']}.complete"})  # type: ignore[operator]
            if message["type"] == "lifespan.shutdown":
                return
    await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]


async def test_a_port_in_use_is_a_config_error_not_an_exit() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = HttpServer(_app, "127.0.0.1", port, "api")
        with pytest.raises(ConfigError, match=f"api: could not listen on http://127.0.0.1:{port}"):
            await server.start()
    await asyncio.sleep(0)  # the loop is still running: nothing escaped from the server's task


async def test_the_date_header_is_current_and_the_server_stops_when_asked() -> None:
    server = HttpServer(_app, "127.0.0.1", 0, "test")
    await server.start()
    try:
        async with httpx.AsyncClient() as http:
            response = await http.get(server.url)
        date = parsedate_to_datetime(response.headers["date"])
        assert abs((datetime.now(UTC) - date).total_seconds()) < 5
        assert response.headers.get_list("date") == [response.headers["date"]]  # just one
    finally:
        await asyncio.wait_for(server.stop(), 10)
