"""Sandbox load: how many Messages API requests per second the sandbox answers.

Starts the sandbox in a child process on a free port (or uses ``--url``), then keeps
``--connections`` keep-alive connections busy with Twilio ``POST .../Messages.json`` requests from
a raw asyncio HTTP/1.1 client (cheap enough not to be the bound), one request in flight per
connection, for ``--seconds``. Prints requests/s and the share answered 201::

    .venv/bin/python -m tests.bench.sandbox_load --seconds 10
    .venv/bin/python -m tests.bench.sandbox_load --callbacks   # with status callbacks to a sink

With ``--callbacks`` every message names a StatusCallback served by a second child process, a
raw asyncio sink that answers 200 and counts; the script then also waits (up to ``--drain``
seconds) for the three callbacks per accepted message and prints how many arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import multiprocessing
import os
import time
from urllib.parse import urlencode, urlsplit

ACCOUNT = "AC00000000000000000000000000000000"
TOKEN = "sandbox-auth-token"


def _serve_sandbox(port: int) -> None:
    import uvicorn

    from channels.sandbox import SandboxConfig, create_sandbox_app

    app = create_sandbox_app(SandboxConfig())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _serve_sink(port: int, counter: multiprocessing.sharedctypes.Synchronized) -> None:  # type: ignore[name-defined]
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = _content_length(head)
                if length:
                    await reader.readexactly(length)
                with counter.get_lock():
                    counter.value += 1
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    _run(main())


def _run(coro: object) -> None:
    try:
        import uvloop

        uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(coro)  # type: ignore[arg-type]


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


async def _wait_listening(host: str, port: int, within_s: float = 15.0) -> None:
    deadline = time.monotonic() + within_s
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return


async def _client(
    host: str, port: int, request: bytes, stop_at: float, tally: dict[str, int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < stop_at:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(_content_length(head))
            status = head[9:12].decode()
            tally[status] = tally.get(status, 0) + 1
    finally:
        writer.close()


def _request(host: str, port: int, callback: str | None, i: int) -> bytes:
    form = {"To": f"+1555{i:07d}", "From": "+15559990000", "Body": "Your order has shipped"}
    if callback:
        form["StatusCallback"] = callback
    body = urlencode(form).encode()
    auth = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    head = (
        f"POST /2010-04-01/Accounts/{ACCOUNT}/Messages.json HTTP/1.1\r\n"
        f"host: {host}:{port}\r\nauthorization: Basic {auth}\r\n"
        "content-type: application/x-www-form-urlencoded\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def load(args: argparse.Namespace, url: str, callback: str | None) -> dict[str, int]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    await _wait_listening(host, port)
    tally: dict[str, int] = {}
    stop_at = time.monotonic() + args.seconds
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _client(host, port, _request(host, port, callback, i), stop_at, tally)
            for i in range(args.connections)
        )
    )
    elapsed = time.perf_counter() - started
    total = sum(tally.values())
    print(
        f"{total} requests in {elapsed:.1f}s over {args.connections} connections: "
        f"{total / elapsed:,.0f} req/s; statuses {dict(sorted(tally.items()))}",
        flush=True,
    )
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running sandbox (default: start one)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--callbacks", action="store_true", help="status callbacks to a sink")
    parser.add_argument("--drain", type=float, default=60.0, help="wait for callbacks, seconds")
    args = parser.parse_args()

    from orchestrator.servers import free_port

    children: list[multiprocessing.Process] = []
    url = args.url
    if url is None:
        port = free_port()
        children.append(multiprocessing.Process(target=_serve_sandbox, args=(port,)))
        url = f"http://127.0.0.1:{port}"
    callback = None
    counter = multiprocessing.Value("l", 0)
    if args.callbacks:
        sink = free_port()
        children.append(multiprocessing.Process(target=_serve_sink, args=(sink, counter)))
        callback = f"http://127.0.0.1:{sink}/status"
    for child in children:
        child.start()
    try:
        tally = asyncio.run(load(args, url, callback))
        if callback:
            expected = 3 * tally.get("201", 0)
            deadline = time.monotonic() + args.drain
            while counter.value < expected and time.monotonic() < deadline:
                time.sleep(0.1)
            print(f"callbacks received {counter.value} of {expected}", flush=True)
    finally:
        for child in children:
            if child.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, 15)
            child.join(5)


if __name__ == "__main__":
    main()
