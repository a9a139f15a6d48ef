"""An httpx transport that makes its requests with aiohttp: the adapters keep httpx's API, the
dispatcher gets aiohttp's connection pool.

Why: httpcore's pool checks every pooled connection (a ``poll`` each) whenever a request starts
or ends, so its cost per request grows with the pool. At the dispatcher's 32 calls in flight it
spent about 3 ms of CPU per provider call, measured; aiohttp's pool about 0.15 ms, and httpx on
this transport about 0.3 ms (docs/performance.md). aiohttp is a maintained library (aio-libs)
and already in most Python HTTP stacks; this module is the small adapter between the two.

Errors keep the meaning :func:`channels._http.transport_error` gives them: only a failure
before the request could have left is a "not sent" error (``ConnectError``,
``ConnectTimeout``: could not connect, or no connection from the pool in time); anything after
(a read timeout, a dropped connection, a broken answer) is an error whose outcome is unknown.
The mapping is written here rather than taken from a package because that distinction decides
whether a message may be sent again.

Example::

    http = httpx.AsyncClient(transport=AiohttpTransport(limits=pool_limits(32)), timeout=10)
"""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx
import orjson
import yarl
from multidict import CIMultiDict

_CACHED = 256
"""How many distinct URLs and timeouts are kept parsed (a dispatcher posts to a handful)."""

_MAPPING: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    # Most specific first: ClientConnectorError is a ClientOSError, ConnectionTimeoutError and
    # SocketTimeoutError are ServerTimeoutErrors.
    (aiohttp.ClientConnectorError, httpx.ConnectError),
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.ReadError),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),
    (aiohttp.ClientError, httpx.ReadError),
    (asyncio.TimeoutError, httpx.ReadTimeout),
    (OSError, httpx.ReadError),
)
"""aiohttp's errors as httpx's; the first match wins. Anything after the connection was made
maps to an error that :func:`channels._http.transport_error` calls an unknown outcome."""


def httpx_error(exc: BaseException, request: httpx.Request) -> httpx.TransportError | None:
    """The httpx error for an aiohttp (or socket) error, None for anything else."""
    for source, target in _MAPPING:
        if isinstance(exc, source):
            return target(f"{type(exc).__name__}: {exc}", request=request)
    return None


@contextmanager
def _mapped(request: httpx.Request) -> Any:
    try:
        yield
    except Exception as exc:
        error = httpx_error(exc, request)
        if error is None:
            raise
        raise error from exc


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests through one aiohttp session, made on first use (it needs a loop).

    ``limits``: ``max_connections`` bounds the connections (0 or None: no bound) and
    ``keepalive_expiry`` how long an idle one is kept. The answer is read whole before it is
    returned (provider answers are small), still encoded: httpx decodes it as usual.
    """

    def __init__(self, limits: httpx.Limits | None = None) -> None:
        self._limits = limits or httpx.Limits()
        self._session: aiohttp.ClientSession | None = None
        self._urls: dict[str, yarl.URL] = {}
        self._timeouts: dict[tuple[Any, ...], aiohttp.ClientTimeout] = {}

    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session, opened on first use and again after :meth:`aclose`."""
        if self._session is None or self._session.closed:
            self._session = self._open()
        return self._session

    def _open(self) -> aiohttp.ClientSession:
        limits = self._limits
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            limit_per_host=0,
            keepalive_timeout=limits.keepalive_expiry or 15.0,
        )
        return aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Make ``request`` and return its whole answer; aiohttp errors as httpx errors."""
        session = self.session()
        timeout = self.timeout_for(request.extensions.get("timeout", {}))
        body = await request.aread()
        with _mapped(request):
            async with session.request(
                request.method,
                self.url_for(str(request.url)),
                headers=CIMultiDict(
                    (k, v) for k, v in request.headers.multi_items() if k != "transfer-encoding"
                ),
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
            ) as resp:
                content = await resp.read()
                return httpx.Response(
                    resp.status,
                    headers=resp.raw_headers,
                    content=content,
                    request=request,
                    extensions={"http_version": b"HTTP/1.1"},
                )

    def url_for(self, text: str) -> yarl.URL:
        """``text`` (httpx's URL, already percent-encoded) as aiohttp's URL, parsed once."""
        url = self._urls.get(text)
        if url is None:
            if len(self._urls) >= _CACHED:
                self._urls.clear()
            url = self._urls[text] = yarl.URL(text, encoded=True)
        return url

    def timeout_for(self, timeouts: dict[str, Any]) -> aiohttp.ClientTimeout:
        """httpx's timeouts of a request as aiohttp's, built once per distinct set."""
        connect, pool, read = timeouts.get("connect"), timeouts.get("pool"), timeouts.get("read")
        key = (connect, pool, read)
        timeout = self._timeouts.get(key)
        if timeout is None:
            if len(self._timeouts) >= _CACHED:
                self._timeouts.clear()
            timeout = self._timeouts[key] = aiohttp.ClientTimeout(
                total=None,
                # aiohttp's "connect" is the wait for a pooled connection and the connecting
                connect=None if connect is None and pool is None else (connect or 0) + (pool or 0),
                sock_connect=connect,
                sock_read=read,
            )
        return timeout

    async def aclose(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None


_LEAN_ARGUMENTS = frozenset({"data", "json", "content", "headers"})
"""The ``post`` keywords :class:`AiohttpClient` takes the short road with."""


class AiohttpClient(httpx.AsyncClient):
    """httpx's client on :class:`AiohttpTransport`, with a short road for the adapters' posts.

    The dispatcher makes thousands of provider posts a second, and httpx's own machinery per
    request (building a ``Request``, merging URL, headers and cookies, the auth and redirect
    generators, the event hooks, a second response object) cost more CPU than aiohttp's call
    under it. So a ``post`` to an absolute URL with nothing but ``data`` (a form), ``json``,
    ``content`` (bytes) and ``headers`` has its body encoded as httpx encodes it (``json`` with
    orjson: compact, UTF-8, as httpx's) and goes straight to aiohttp's session, with the
    client's default headers and timeout; the answer is the same ``httpx.Response``, and the
    errors the same httpx errors. Anything else (a ``base_url``, ``params``, ``auth``, a
    timeout of its own, a GET) goes the whole way through httpx, to the same pool.

    Example::

        http = AiohttpClient(limits=pool_limits(32), timeout=10.0)
        resp = await http.post("https://api.twilio.com/...", data={"To": "+1555"})
    """

    def __init__(self, *, limits: httpx.Limits | None = None, timeout: float = 10.0) -> None:
        self._lean = AiohttpTransport(limits)
        super().__init__(timeout=timeout, transport=self._lean)
        self._lean_timeout = self._lean.timeout_for(self.timeout.as_dict())
        self._lean_headers = tuple(self.headers.multi_items())
        self._requests: dict[str, httpx.Request] = {}

    async def post(self, url: httpx.URL | str, **kwargs: Any) -> httpx.Response:
        """POST ``url``; the short road when only a body and headers are given (see above)."""
        target = url if isinstance(url, httpx.URL) else None
        absolute = target.is_absolute_url if target is not None else "://" in str(url)
        based = bool(str(self.base_url))
        if kwargs.keys() - _LEAN_ARGUMENTS or based or self.cookies or not absolute:
            return await super().post(url, **kwargs)
        body, content_type = _encode(kwargs)
        if body is None:  # a body httpx must stream or encode (files, an iterator, text)
            return await super().post(url, **kwargs)
        headers = CIMultiDict(self._lean_headers)
        if content_type is not None:
            headers["Content-Type"] = content_type
        for name, value in (kwargs.get("headers") or {}).items():
            headers[name] = value
        text = str(url)
        try:
            async with self._lean.session().post(
                self._lean.url_for(text),
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=self._lean_timeout,
            ) as resp:
                content = await resp.read()
                status, raw = resp.status, resp.raw_headers
        except Exception as exc:
            error = httpx_error(exc, self._request_for(text, target))
            if error is None:
                raise
            raise error from exc
        return httpx.Response(
            status,
            headers=raw,
            content=content,
            request=self._request_for(text, target),
            extensions={"http_version": b"HTTP/1.1"},
        )

    def _request_for(self, text: str, url: httpx.URL | None) -> httpx.Request:
        """The ``httpx.Request`` a short-road answer or error names: the method and the URL
        (not the headers or the body, which went to aiohttp), one per URL, made once."""
        request = self._requests.get(text)
        if request is None:
            if len(self._requests) >= _CACHED:
                self._requests.clear()
            request = self._requests[text] = httpx.Request("POST", url or text)
        return request


def _encode(kwargs: dict[str, Any]) -> tuple[bytes | None, str | None]:
    """The body of a short-road post and its content type, as httpx would encode them; None
    for a body only httpx can encode."""
    data, json, content = kwargs.get("data"), kwargs.get("json"), kwargs.get("content")
    if content is not None:
        return (
            (content, None) if isinstance(content, bytes) and data is json is None else (None, None)
        )
    if json is not None:
        return (None, None) if data is not None else (orjson.dumps(json), "application/json")
    if data is None:
        return b"", None
    if not isinstance(data, dict):
        return None, None
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        for item in value if isinstance(value, list | tuple) else (value,):
            pairs.append((key, _primitive(item)))
    return urlencode(pairs).encode(), "application/x-www-form-urlencoded"


def _primitive(value: Any) -> str:
    """A form value as httpx writes it (``True`` as ``true``, ``None`` as empty)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return str(value)
