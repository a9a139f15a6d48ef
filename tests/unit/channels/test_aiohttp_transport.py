"""The aiohttp transport under httpx, against real loopback sockets: answers arrive as httpx
gives them, and each failure keeps its meaning (not sent, or outcome unknown)."""

from __future__ import annotations

import asyncio
import gc
import gzip
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from channels._http import pool_limits, transport_error
from channels.aiohttp_transport import AiohttpClient, AiohttpTransport
from channels.errors import ConnectionFailed, OutcomeUnknown
from orchestrator.servers import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    return head, await reader.readexactly(length) if length else b""


async def serve(handler: Handler) -> AsyncIterator[str]:
    """A loopback server running ``handler`` per connection, which it always closes."""

    async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(closing, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def client_for(url: str, timeout: float = 2.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url, transport=AiohttpTransport(pool_limits(4)), timeout=timeout
    )


@pytest.fixture
async def echo() -> AsyncIterator[str]:
    """Answers each request with its method, body and headers, gzipped; keeps the connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, body = await _read_request(reader)
            payload = gzip.compress(head.split(b"\r\n", 1)[0] + b"\n" + body + b"\n" + head)
            writer.write(
                b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\n"
                b"Content-Encoding: gzip\r\nX-Twice: a\r\nX-Twice: b\r\n"
                + f"Content-Length: {len(payload)}\r\n\r\n".encode()
                + payload
            )
            await writer.drain()

    async for url in serve(handle):
        yield url


async def test_an_answer_arrives_decoded_with_every_header(echo: str) -> None:
    async with await client_for(echo) as http:
        resp = await http.post("/Messages.json", data={"To": "+15550001", "Body": "hi"})
    assert resp.status_code == 201
    assert resp.headers.get_list("x-twice") == ["a", "b"]
    first, body, *head = resp.text.split("\n")
    assert first == "POST /Messages.json HTTP/1.1"
    assert body == "To=%2B15550001&Body=hi"
    sent = "\n".join(head).lower()
    assert "content-type: application/x-www-form-urlencoded" in sent
    assert sent.count("content-length:") == 1


async def test_a_query_goes_as_httpx_encoded_it_the_first_time_and_the_next(echo: str) -> None:
    query = {"To": "+15550001", "DateSent>": "2026-12-01", "Body": "a b/é"}
    async with await client_for(echo) as http:  # the second request takes the cached URL
        lines = [(await http.get("/Messages.json", params=query)).text for _ in range(2)]
    expected = "GET /Messages.json?To=%2B15550001&DateSent%3E=2026-12-01&Body=a+b%2F%C3%A9 HTTP/1.1"
    assert [text.split("\n")[0] for text in lines] == [expected, expected]


async def test_connections_are_kept_and_reused(echo: str) -> None:
    async with await client_for(echo) as http:
        answers = await asyncio.gather(*(http.get(f"/{i}") for i in range(20)))
    assert [r.status_code for r in answers] == [201] * 20


async def test_a_refused_connection_is_not_sent() -> None:
    async with await client_for(f"http://127.0.0.1:{free_port()}") as http:
        with pytest.raises(httpx.ConnectError) as caught:
            await http.post("/", content=b"x")
    assert isinstance(transport_error(caught.value), ConnectionFailed)


async def test_no_answer_in_time_is_an_unknown_outcome() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await reader.read()  # holds the connection, answers nothing

    async for url in serve(silent):
        async with await client_for(url, timeout=0.3) as http:
            with pytest.raises(httpx.ReadTimeout) as caught:
                await http.post("/", content=b"x")
    assert isinstance(transport_error(caught.value), OutcomeUnknown)


async def test_a_connection_dropped_after_the_request_is_an_unknown_outcome() -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)

    async for url in serve(drop):
        async with await client_for(url) as http:
            with pytest.raises(httpx.TransportError) as caught:
                await http.post("/", content=b"x")
    assert not isinstance(caught.value, httpx.ConnectError | httpx.ConnectTimeout)
    assert isinstance(transport_error(caught.value), OutcomeUnknown)


async def test_a_broken_answer_is_an_unknown_outcome() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()

    async for url in serve(garbage):
        async with await client_for(url) as http:
            with pytest.raises(httpx.TransportError) as caught:
                await http.post("/", content=b"x")
    assert isinstance(transport_error(caught.value), OutcomeUnknown)


async def test_a_short_body_is_an_unknown_outcome() -> None:
    async def short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"sid":')
        await writer.drain()

    async for url in serve(short):
        async with await client_for(url) as http:
            with pytest.raises(httpx.TransportError) as caught:
                await http.post("/", content=b"x")
    assert isinstance(transport_error(caught.value), OutcomeUnknown)


async def test_the_transport_opens_again_after_it_is_closed(echo: str) -> None:
    transport = AiohttpTransport()
    async with httpx.AsyncClient(base_url=echo, transport=transport) as http:
        assert (await http.get("/")).status_code == 201
    async with httpx.AsyncClient(base_url=echo, transport=transport) as http:
        assert (await http.get("/")).status_code == 201


async def test_closing_the_client_closes_its_sockets_before_the_loop_may_end(echo: str) -> None:
    port = int(echo.rsplit(":", 1)[1])
    async with await client_for(echo) as http:
        await asyncio.gather(*(http.get(f"/{i}") for i in range(8)))
    # no turn of the loop after the client is closed: a test's loop may close right here
    to_server = [
        o
        for o in gc.get_objects()
        if isinstance(o, socket.socket)
        and o.family == socket.AF_INET
        and o.fileno() != -1
        and _peer_port(o) == port
    ]
    assert to_server == []


def _peer_port(sock: socket.socket) -> int | None:
    try:
        return int(sock.getpeername()[1])
    except OSError:
        return None


def _request_of(resp: httpx.Response) -> tuple[str, str, list[str]]:
    """The request line, the body and the sorted header lines the echo server saw."""
    first, body, *head = resp.text.split("\n")
    lines = sorted(line.lower() for line in "\n".join(head).split("\r\n") if ":" in line)
    return first, body, lines


@pytest.mark.parametrize(
    "arguments",
    [
        {"data": {"To": "+15550001", "Body": "é & ü", "MediaUrl": ["a", "b"], "Yes": True}},
        {"json": {"to": "+15550001", "text": {"body": "é \u2028 ok"}, "n": [1, 2.5, None]}},
        {"content": b"raw bytes", "headers": {"Content-Type": "text/plain"}},
        {"data": {"To": "+1"}, "headers": {"Authorization": "Basic QUMxOnQ=", "X-Twice": "z"}},
    ],
)
async def test_a_short_road_post_sends_what_httpx_sends(echo: str, arguments: dict) -> None:
    url = f"{echo}/2010-04-01/Accounts/AC1/Messages.json"
    async with (
        httpx.AsyncClient(transport=AiohttpTransport(pool_limits(2)), timeout=2) as plain,
        AiohttpClient(limits=pool_limits(2), timeout=2) as lean,
    ):
        expected = await plain.post(url, **arguments)
        resp = await lean.post(httpx.URL(url), **arguments)
    assert _request_of(resp) == _request_of(expected)
    assert resp.status_code == expected.status_code == 201
    assert resp.headers.get_list("x-twice") == ["a", "b"]  # decoded (gzip) and every header
    assert resp.request.url == httpx.URL(url)


async def test_a_post_the_short_road_cannot_take_goes_through_httpx(echo: str) -> None:
    async with AiohttpClient(limits=pool_limits(2), timeout=2) as lean:
        with_query = await lean.post(f"{echo}/m", params={"a": "1"}, data={"To": "+1"})
        relative = httpx.AsyncClient(base_url=echo, transport=lean._transport)
        by_base = await relative.post("/m", data={"To": "+1"})
    assert _request_of(with_query)[0] == "POST /m?a=1 HTTP/1.1"
    assert _request_of(by_base)[:2] == ("POST /m HTTP/1.1", "To=%2B1")


async def test_a_short_road_failure_keeps_its_meaning() -> None:
    async with AiohttpClient(limits=pool_limits(2), timeout=0.3) as lean:
        with pytest.raises(httpx.ConnectError) as refused:
            await lean.post(f"http://127.0.0.1:{free_port()}/m", data={"To": "+1"})
    assert isinstance(transport_error(refused.value), ConnectionFailed)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await reader.read()

    async for url in serve(silent):
        async with AiohttpClient(limits=pool_limits(2), timeout=0.3) as lean:
            with pytest.raises(httpx.ReadTimeout) as caught:
                await lean.post(f"{url}/m", data={"To": "+1"})
    assert isinstance(transport_error(caught.value), OutcomeUnknown)
    assert caught.value.request.url == httpx.URL(f"{url}/m")
