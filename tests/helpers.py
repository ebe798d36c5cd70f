"""Shared helpers for the socket-level tests (no pytest imports here).

What the tools share with the tests is in :mod:`tornado_h1.testing`; the
names re-exported below from there (``upstream_module``, ``LogCapture``,
``describe``, ``PATIENCE``, ``unread``, ``strip_volatile``) are kept
importable from here for the tests that import them from ``helpers``.

Everything talks over real sockets on 127.0.0.1. Raw clients use non-blocking
sockets driven by the running asyncio loop (``loop.sock_*``), so they work on
the same loop as the server under test, and every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import gzip
import re
import socket
from collections.abc import Container, Iterable
from typing import Any, Callable, Union

from tornado import httputil

from tornado_h1 import _chunked
from tornado_h1.testing.logs import LogRecorder as LogCapture
from tornado_h1.testing.logs import describe
from tornado_h1.testing.upstream import upstream_module
from tornado_h1.testing.wire import PATIENCE, strip_volatile, unread

# Re-exported for the tests that import them from here.
__all__ = [
    "PATIENCE",
    "LogCapture",
    "describe",
    "strip_volatile",
    "unread",
    "upstream_module",
]


#: How long a peer must stay silent before we call the connection idle.
IDLE = 0.1

#: Pause between bytes when sending byte by byte, so that the server sees
#: (most) bytes in separate reads.
BYTE_PAUSE = 0.0005

CONTINUE = b"HTTP/1.1 100 (Continue)\r\n\r\n"
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\n\r\n"


# --------------------------------------------------------------------- sockets


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    """Two connected, non-blocking TCP sockets on 127.0.0.1 (no listener left
    open)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        a = socket.create_connection(listener.getsockname())
        b, _ = listener.accept()
    for s in (a, b):
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return a, b


def _short(data: Union[bytes, bytearray], limit: int = 300) -> str:
    if len(data) <= limit:
        return repr(bytes(data))
    return "%r...(%d bytes)" % (bytes(data[:limit]), len(data))


class RawClient:
    """One end of a TCP connection, driven from a coroutine.

    Reading keeps a buffer, so ``recv_exactly`` and ``recv_until`` can be
    mixed; ``peer_closed`` becomes True once the peer's FIN (or RST) is seen.
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.buffer = bytearray()
        self.peer_closed = False
        self.send_failed = False

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> RawClient:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await asyncio.wait_for(
                asyncio.get_running_loop().sock_connect(sock, (host, port)),
                PATIENCE,
            )
        except BaseException:
            sock.close()
            raise
        return cls(sock)

    async def send(
        self, data: bytes, *, bytewise: bool = False, pause: float = BYTE_PAUSE
    ) -> bool:
        """Send ``data`` (one byte at a time with a pause between bytes if
        ``bytewise``). Returns False if the peer went away first."""
        loop = asyncio.get_running_loop()
        pieces: Iterable[bytes] = (
            [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
        )
        for piece in pieces:
            try:
                await asyncio.wait_for(loop.sock_sendall(self.sock, piece), PATIENCE)
            except (BrokenPipeError, ConnectionResetError):
                self.send_failed = True
                return False
            if bytewise:
                await asyncio.sleep(pause)
        return True

    async def _fill(self, timeout: float) -> bool:
        """Read what arrives within ``timeout``; False if nothing did."""
        if self.peer_closed:
            return False
        loop = asyncio.get_running_loop()
        try:
            data = await asyncio.wait_for(loop.sock_recv(self.sock, 65536), timeout)
        except asyncio.TimeoutError:
            return False
        except ConnectionResetError:
            self.peer_closed = True
            return False
        if not data:
            self.peer_closed = True
            return False
        self.buffer += data
        return True

    def _take(self, n: int) -> bytes:
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    async def recv_exactly(self, n: int, timeout: float = PATIENCE) -> bytes:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.buffer) < n:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0 or not await self._fill(left) and self.peer_closed:
                raise AssertionError(
                    "wanted %d bytes, got %d: %s (peer closed: %s)"
                    % (n, len(self.buffer), _short(self.buffer), self.peer_closed)
                )
        return self._take(n)

    async def recv_until(self, delimiter: bytes, timeout: float = PATIENCE) -> bytes:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            pos = self.buffer.find(delimiter)
            if pos >= 0:
                return self._take(pos + len(delimiter))
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0 or not await self._fill(left) and self.peer_closed:
                raise AssertionError(
                    "no %r in %s (peer closed: %s)"
                    % (delimiter, _short(self.buffer), self.peer_closed)
                )

    async def recv_response(self, timeout: float = PATIENCE) -> bytes:
        """One complete response with a Content-Length or chunked body (or no
        body at all), as raw bytes."""
        head = await self.recv_until(b"\r\n\r\n", timeout)
        match = re.search(rb"\r\ncontent-length: *(\d+)\r\n", head, re.I)
        if match:
            return head + await self.recv_exactly(int(match.group(1)), timeout)
        if re.search(rb"\r\ntransfer-encoding: *chunked\r\n", head, re.I):
            body = b""
            while True:
                line = await self.recv_until(b"\r\n", timeout)
                size = int(line[:-2], 16)
                body += line + await self.recv_exactly(size + 2, timeout)
                if size == 0:
                    return head + body
        return head

    def recv_ready(self) -> bytes:
        """Everything already received (buffered here or in the kernel),
        without waiting; notes a close if the peer's FIN is there."""
        while not self.peer_closed:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                break
            except ConnectionResetError:
                self.peer_closed = True
                break
            if not data:
                self.peer_closed = True
                break
            self.buffer += data
        return self._take(len(self.buffer))

    async def recv_some(self, timeout: float = PATIENCE) -> bytes:
        """Whatever is buffered, or the next data to arrive; ``b""`` once
        the peer has closed."""
        if not self.buffer:
            await self._fill(timeout)
        return self._take(len(self.buffer))

    async def recv_all(
        self, *, idle: float = IDLE, timeout: float = PATIENCE
    ) -> tuple[bytes, bool]:
        """Everything until the peer closes, or until it has been silent for
        ``idle`` seconds. Returns ``(data, closed)``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.peer_closed:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            if not await self._fill(min(idle, left)):
                break
        return self._take(len(self.buffer)), self.peer_closed

    async def recv_until_closed(self, timeout: float = PATIENCE) -> bytes:
        """Everything until the peer closes; fails if it does not."""
        data, closed = await self.recv_all(idle=timeout, timeout=timeout)
        assert closed, "peer did not close; got %r" % data
        return data

    def close(self) -> None:
        self.sock.close()


class ClientRecorder(httputil.HTTPMessageDelegate):
    """Records every delegate call, with the fields as a list of pairs."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        self.events.append(("headers", tuple(start_line), list(headers.get_all())))

    def data_received(self, chunk: bytes) -> None:
        self.events.append(("data", chunk))

    def finish(self) -> None:
        self.events.append(("finish",))

    def on_connection_close(self) -> None:
        self.events.append(("close",))

    def merged(self) -> list[tuple[Any, ...]]:
        """The events with consecutive data merged (chunk boundaries depend on
        how the bytes arrived)."""
        out: list[tuple[Any, ...]] = []
        for event in self.events:
            if event[0] == "data" and out and out[-1][0] == "data":
                out[-1] = ("data", out[-1][1] + event[1])
            else:
                out.append(event)
        return out


# -------------------------------------------------------------------- messages


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def fixed_response(
    conn: httputil.HTTPConnection,
    body: bytes,
    *,
    code: int = 200,
    reason: str = "OK",
    headers: Union[dict[str, str], list[tuple[str, str]], None] = None,
    content_length: bool = True,
    send_body: bool = True,
) -> None:
    """Write a whole response through an ``HTTPConnection`` and finish
    (``send_body=False`` for HEAD: the length is announced, nothing sent)."""
    fields = httputil.HTTPHeaders()
    for name, value in headers.items() if isinstance(headers, dict) else headers or []:
        fields.add(name, value)
    if content_length:
        fields["Content-Length"] = str(len(body))
    conn.write_headers(
        httputil.ResponseStartLine("HTTP/1.1", code, reason),
        fields,
        (body or None) if send_body else None,
    )
    conn.finish()


def request_bytes(
    method: str = "GET",
    path: str = "/",
    version: str = "HTTP/1.1",
    headers: Union[list[tuple[str, str]], None] = None,
    body: bytes = b"",
) -> bytes:
    lines = ["%s %s %s" % (method, path, version)]
    lines += ["%s: %s" % item for item in (headers or [])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin1") + body


def chunked(*pieces: bytes) -> bytes:
    out = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces if p)
    return out + b"0\r\n\r\n"


def ws_frame(
    payload: bytes, opcode: int = 1, mask: bytes = b"\x01\x02\x03\x04"
) -> bytes:
    """A masked client-to-server WebSocket frame (payload < 126 bytes)."""
    assert len(payload) < 126
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


async def eventually(condition: Callable[[], bool], timeout: float = PATIENCE) -> None:
    """Wait until ``condition()`` holds (the server side may run a few loop
    iterations after the client has seen the effect)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.005)


def read_chunked_as_the_driver(
    decoder: _chunked.ChunkedDecoder,
    data: bytes,
    arrived: int,
    anchored: Container[_chunked.Part] = (),
) -> tuple[bytes, int]:
    """Read ``data`` into ``decoder`` as the driver reads a chunked body from
    IOStream: only ``arrived`` bytes are there at first, and one more comes
    for each read that cannot be satisfied; a line read takes what the
    decoder's pattern matches in what is there, and in the ``anchored``
    parts that match must begin at the first byte (IOStream would otherwise
    have searched on). Returns the body and how many bytes were taken."""
    body, taken = b"", 0
    while not decoder.done:
        need, pattern, size = decoder.wants()
        while True:
            there = data[taken:arrived]
            if need is _chunked.Need.LINE:
                assert pattern is not None
                match = pattern.search(there)
                end = -1 if match is None else match.end()
                if match is not None and decoder.part in anchored:
                    assert match.start() == 0, "the search moved on"
            elif need is _chunked.Need.DATA:
                end = min(size, len(there)) if there else -1
            else:
                end = size if len(there) >= size else -1
            if end > 0:
                break
            assert arrived < len(data), "waiting for bytes that never come"
            arrived += 1
        used, chunk = decoder.feed(there[:end])
        assert used == end
        body, taken = body + chunk, taken + used
    return body, taken


def feed_in_steps(
    decoder: _chunked.ChunkedDecoder, data: bytes, step: int
) -> tuple[bytes, bytes]:
    """Feed ``data`` to ``decoder`` ``step`` bytes at a time until it is
    done; returns the body and what it left unused."""
    out, pos = b"", 0
    while not decoder.done:
        piece = data[pos : pos + step]
        assert piece, "ran out of input"
        used, chunk = decoder.feed(piece)
        out += chunk
        pos += used
    return out, data[pos:]
