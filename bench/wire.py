"""A minimal HTTP/1.1 client over raw sockets, so the client is never what a figure measures.

Two flavours share one response parser:

* ``SyncConn``: a blocking socket for the big transfers. Request bodies go out
  with ``sendfile`` straight from the page cache; response bodies can be
  drained into one reused buffer (``sink=True``) instead of being kept.
* ``AsyncConn``: asyncio streams for many small requests on a few keep-alive
  connections (a pool is just N connections, each owned by one task).

Only what a registry answers is handled: ``Content-Length`` or chunked
bodies, keep-alive, ``Connection: close``. Every read has a timeout.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import urlsplit

__all__ = ["AsyncConn", "FileSlice", "Response", "SyncConn", "next_link", "target_of"]

HOST = "127.0.0.1"
TIMEOUT = 120.0
_SINK_CHUNK = 4 << 20
_MAX_HEAD = 64 << 10


class WireError(RuntimeError):
    """The server answered something this client cannot read, or closed the connection."""


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, list[str]]
    body: bytes = b""
    #: bytes of body received, also when the body was drained and not kept
    length: int = 0
    close: bool = False

    def header(self, name: str, default: str | None = None) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else default


@dataclass(frozen=True, slots=True)
class FileSlice:
    """A request body sent with sendfile: ``count`` bytes of ``file`` from ``offset``."""

    file: BinaryIO
    offset: int
    count: int


@dataclass(slots=True)
class _Head:
    status: int
    headers: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None


def _request_head(
    method: str, target: str, port: int, headers: dict[str, str] | None, length: int | None
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {HOST}:{port}", "User-Agent: wharf-bench"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _parse_head(data: bytes) -> _Head:
    lines = data.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise WireError(f"not an HTTP/1.x status line: {lines[0]!r}")
    head = _Head(int(parts[1]))
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        head.headers.setdefault(name.strip().lower(), []).append(value.strip())
    return head


def _body_kind(method: str, head: _Head) -> tuple[str, int]:
    """("none"|"length"|"chunked"|"eof", length)."""
    if method == "HEAD" or head.status in (204, 304) or 100 <= head.status < 200:
        return "none", 0
    if (head.get("transfer-encoding") or "").lower() == "chunked":
        return "chunked", 0
    length = head.get("content-length")
    if length is not None:
        return "length", int(length)
    return "eof", 0


def _wants_close(head: _Head, kind: str) -> bool:
    return kind == "eof" or (head.get("connection") or "").lower() == "close"


def target_of(location: str) -> str:
    """The path and query of a Location header, absolute or relative."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def next_link(response: Response) -> str | None:
    """The target of ``Link: <...>; rel="next"``, if any."""
    for value in response.headers.get("link", []):
        for item in value.split(","):
            if 'rel="next"' in item and "<" in item:
                return target_of(item[item.index("<") + 1 : item.index(">")])
    return None


# --------------------------------------------------------------------------- blocking


class SyncConn:
    """One keep-alive connection with a blocking socket; reconnects after ``Connection: close``."""

    def __init__(self, port: int, *, timeout: float = TIMEOUT) -> None:
        self.port = port
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._scratch = bytearray(_SINK_CHUNK)

    def __enter__(self) -> SyncConn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buf.clear()

    def _socket(self) -> socket.socket:
        if self._sock is None:
            sock = socket.create_connection((HOST, self.port), timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
        return self._sock

    def request(
        self,
        method: str,
        target: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | FileSlice | None = None,
        sink: bool = False,
    ) -> Response:
        sock = self._socket()
        length = None if body is None else (body.count if isinstance(body, FileSlice) else len(body))
        if length is None and method in ("POST", "PUT", "PATCH"):
            length = 0
        head = _request_head(method, target, self.port, headers, length)
        if isinstance(body, FileSlice):
            sock.sendall(head)
            sent = sock.sendfile(body.file, body.offset, body.count)
            if sent != body.count:
                raise WireError(f"sendfile sent {sent} of {body.count} bytes")
        else:
            sock.sendall(head + (body or b""))
        try:
            return self._response(method, sink)
        except BaseException:
            self.close()
            raise

    def _recv_more(self) -> None:
        assert self._sock is not None
        data = self._sock.recv(1 << 20)
        if not data:
            raise WireError("server closed the connection")
        self._buf += data

    def _response(self, method: str, sink: bool) -> Response:
        while (end := self._buf.find(b"\r\n\r\n")) < 0:
            if len(self._buf) > _MAX_HEAD:
                raise WireError("response head too large")
            self._recv_more()
        head = _parse_head(bytes(self._buf[:end]))
        del self._buf[: end + 4]
        kind, length = _body_kind(method, head)
        if kind == "length":
            body, received = self._read_exact(length, sink)
        elif kind == "chunked":
            body, received = self._read_chunked()
        elif kind == "eof":
            body, received = self._read_to_eof()
        else:
            body, received = b"", 0
        close = _wants_close(head, kind)
        if close:
            self.close()
        return Response(head.status, head.headers, body, received, close)

    def _read_exact(self, length: int, sink: bool) -> tuple[bytes, int]:
        if not sink:
            while len(self._buf) < length:
                self._recv_more()
            body = bytes(self._buf[:length])
            del self._buf[:length]
            return body, length
        taken = min(len(self._buf), length)
        del self._buf[:taken]
        remaining = length - taken
        view = memoryview(self._scratch)
        assert self._sock is not None
        while remaining > 0:
            got = self._sock.recv_into(view[: min(remaining, len(view))])
            if got == 0:
                raise WireError(f"server closed the connection with {remaining} body bytes to go")
            remaining -= got
        return b"", length

    def _read_line(self) -> bytes:
        while (end := self._buf.find(b"\r\n")) < 0:
            self._recv_more()
        line = bytes(self._buf[:end])
        del self._buf[: end + 2]
        return line

    def _read_chunked(self) -> tuple[bytes, int]:
        parts: list[bytes] = []
        while True:
            size = int(self._read_line().split(b";")[0], 16)
            if size == 0:
                while self._read_line():  # trailers, then the empty line
                    pass
                body = b"".join(parts)
                return body, len(body)
            chunk, _ = self._read_exact(size, sink=False)
            parts.append(chunk)
            self._read_line()

    def _read_to_eof(self) -> tuple[bytes, int]:
        assert self._sock is not None
        while data := self._sock.recv(1 << 20):
            self._buf += data
        body = bytes(self._buf)
        self._buf.clear()
        return body, len(body)


# --------------------------------------------------------------------------- asyncio


class AsyncConn:
    """One keep-alive connection on asyncio streams; reconnects after ``Connection: close``."""

    def __init__(self, port: int, *, timeout: float = TIMEOUT) -> None:
        self.port = port
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    async def request(
        self, method: str, target: str, *, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> Response:
        try:
            return await asyncio.wait_for(self._request(method, target, headers, body), self.timeout)
        except BaseException:
            await self.close()
            raise

    async def _request(
        self, method: str, target: str, headers: dict[str, str] | None, body: bytes | None
    ) -> Response:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(HOST, self.port, limit=_MAX_HEAD)
            sock = self._writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader, writer = self._reader, self._writer
        assert reader is not None
        length = len(body) if body is not None else (0 if method in ("POST", "PUT", "PATCH") else None)
        writer.write(_request_head(method, target, self.port, headers, length) + (body or b""))
        head = _parse_head((await reader.readuntil(b"\r\n\r\n"))[:-4])
        kind, length = _body_kind(method, head)
        if kind == "length":
            data = await reader.readexactly(length)
        elif kind == "chunked":
            data = await _read_chunked(reader)
        elif kind == "eof":
            data = await reader.read()
        else:
            data = b""
        close = _wants_close(head, kind)
        if close:
            await self.close()
        return Response(head.status, head.headers, data, len(data), close)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
