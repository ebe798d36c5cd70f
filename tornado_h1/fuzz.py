"""Differential fuzzing: Tornado's own ``http1connection`` against tornado_h1.

``tornado-h1 fuzz --minutes N`` (or ``python -m tornado_h1.fuzz``) generates
HTTP/1.x messages with Hypothesis: valid requests and responses, then
grammar-aware mutations of them (bytes that matter inserted, deleted or
replaced at the places where they matter, header fields inserted, repeated,
deleted or rewritten, chunk sizes and terminators altered, messages
concatenated, embedded in each other's bodies and split across writes).

Each request goes over a real socket to two servers in this process, a
Tornado ``HTTPServer`` built from upstream's own classes and a
``tornado_h1.HTTPServer``, both serving the same recording
``tornado.web.Application``. Each response goes from a scripted raw-socket
server to two clients, upstream's ``SimpleAsyncHTTPClient`` and
``tornado_h1.SimpleAsyncHTTPClient``. For every input both runs record what
reached the application (method, target and body of each request served),
the bytes sent back, whether the connection was closed, the reasons logged
for refusing it, and every ERROR log record.

Each input is classified:

``identical``
    the same requests served, the same bytes back, the same close;
``stricter``
    tornado_h1 refused something upstream accepted;
``lenient``
    tornado_h1 accepted something upstream refused;
``different``
    both accepted (or both refused) but not in the same way.

The run *fails* if tornado_h1 serves a request upstream does not serve, hands
a client a response upstream refuses (or a different one), logs at ERROR,
hangs, leaks a connection, or raises. Every divergence is written to a JSON
report with its input (and a short text summary next to it); ``--replay``
runs one input again and prints both outcomes.

This module is the fuzzer and also the harness the security tests use
(:class:`ServerTarget`, :class:`ClientTarget`, :class:`ResponseServer`).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import dataclasses
import functools
import gzip
import importlib
import json
import logging
import re
import socket
import sys
import time
import types
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    NamedTuple,
    Optional,
    TypeVar,
    Union,
    cast,
)

import tornado.httpclient
import tornado.httpserver
import tornado.ioloop
import tornado.iostream
import tornado.netutil
import tornado.simple_httpclient
import tornado.testing
import tornado.web

from tornado_h1 import _install, _subclasses

if TYPE_CHECKING:
    from hypothesis.strategies import DrawFn, SearchStrategy

#: How long anything may take before the harness calls it stuck. Nothing
#: here waits for a timer to fire: on loopback every expected event happens
#: within milliseconds, so this only bounds a hang.
PATIENCE = 5.0

#: The options both servers get in a fuzz run: small limits, so that the
#: generated inputs reach them.
FUZZ_SERVER_OPTIONS: dict[str, Any] = {
    "max_header_size": 4096,
    "max_body_size": 4096,
    "decompress_request": True,
}

#: The options both clients get in a fuzz run.
FUZZ_CLIENT_OPTIONS: dict[str, Any] = {
    "max_header_size": 4096,
    "max_body_size": 4096,
}

IMPLS = ("upstream", "tornado_h1")

_PARAMETER_NAMES = _subclasses._PARAMETER_NAMES

_T = TypeVar("_T")


# ===========================================================================
# Upstream, even while tornado_h1 is installed
# ===========================================================================


def upstream_module() -> types.ModuleType:
    """Tornado's own ``tornado.http1connection``, whether or not tornado_h1
    is installed in its place."""
    if _install.is_installed():
        module = _install._swap.upstream
        assert module is not None
        return module
    return _install._upstream()


def _params_for(module: types.ModuleType, params: Any) -> Any:
    """``params`` (any HTTP1ConnectionParameters) as ``module``'s class."""
    cls = module.HTTP1ConnectionParameters
    if isinstance(params, cls):
        return params
    return cls(**{name: getattr(params, name) for name in _PARAMETER_NAMES})


class UpstreamHTTPServer(tornado.httpserver.HTTPServer):
    """Tornado's ``HTTPServer`` with Tornado's own ``http1connection``
    (even while tornado_h1 is installed), recording each accepted stream."""

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self.conn_params = _params_for(upstream_module(), self.conn_params)
        self.accepted: list[tornado.iostream.IOStream] = []

    def handle_stream(
        self, stream: tornado.iostream.IOStream, address: tuple[Any, ...]
    ) -> None:
        self.accepted.append(stream)
        context = tornado.httpserver._HTTPRequestContext(
            stream, address, self.protocol, self.trusted_downstream
        )
        conn = upstream_module().HTTP1ServerConnection(
            stream, self.conn_params, context
        )
        self._connections.add(conn)
        conn.start_serving(self)


class OursHTTPServer(_subclasses.HTTPServer):
    """``tornado_h1.HTTPServer``, recording each accepted stream."""

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self.accepted: list[tornado.iostream.IOStream] = []

    def handle_stream(
        self, stream: tornado.iostream.IOStream, address: tuple[Any, ...]
    ) -> None:
        self.accepted.append(stream)
        super().handle_stream(stream, address)


class _UpstreamClientConnection(tornado.simple_httpclient._HTTPConnection):
    def _create_connection(self, stream: tornado.iostream.IOStream) -> Any:
        theirs = super()._create_connection(stream)
        module = upstream_module()
        if isinstance(theirs, module.HTTP1Connection):
            return theirs
        return module.HTTP1Connection(
            stream, True, _params_for(module, theirs.params), theirs.context
        )


class UpstreamSimpleAsyncHTTPClient(tornado.simple_httpclient.SimpleAsyncHTTPClient):
    """Tornado's ``SimpleAsyncHTTPClient`` with Tornado's own
    ``http1connection``, even while tornado_h1 is installed."""

    def _connection_class(self) -> type:
        return _UpstreamClientConnection


def server_class(impl: str) -> type[tornado.httpserver.HTTPServer]:
    """The recording HTTPServer class for ``"upstream"`` or ``"tornado_h1"``."""
    if impl == "upstream":
        return UpstreamHTTPServer
    if impl == "tornado_h1":
        return OursHTTPServer
    raise ValueError("unknown implementation %r" % impl)


def client_class(impl: str) -> type[tornado.simple_httpclient.SimpleAsyncHTTPClient]:
    """The SimpleAsyncHTTPClient class for ``"upstream"`` or ``"tornado_h1"``."""
    if impl == "upstream":
        return UpstreamSimpleAsyncHTTPClient
    if impl == "tornado_h1":
        return cast(
            "type[tornado.simple_httpclient.SimpleAsyncHTTPClient]",
            _subclasses.SimpleAsyncHTTPClient,
        )
    raise ValueError("unknown implementation %r" % impl)


# ===========================================================================
# Logs
# ===========================================================================


class LogRecorder(logging.Handler):
    """Collects the records of Tornado's and asyncio's loggers while active.
    Also keeps them from reaching ``logging.lastResort``."""

    NAMES = ("tornado", "asyncio")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._saved: list[tuple[logging.Logger, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> LogRecorder:
        for name in self.NAMES:
            logger = logging.getLogger(name)
            self._saved.append((logger, logger.level))
            if logger.level == logging.NOTSET or logger.level > logging.INFO:
                logger.setLevel(logging.DEBUG)
            logger.addHandler(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for logger, level in self._saved:
            logger.removeHandler(self)
            logger.setLevel(level)
        self._saved.clear()

    def errors(self) -> list[str]:
        return [
            _describe(record)
            for record in self.records
            if record.levelno >= logging.ERROR
        ]

    def reasons(self) -> list[str]:
        """Why messages were refused, as logged by either implementation:
        the text after ``Malformed HTTP message from <peer>:``, and the
        other INFO-level connection-layer messages."""
        out = []
        for record in self.records:
            if record.name != "tornado.general" or record.levelno != logging.INFO:
                continue
            args = record.args
            if (
                isinstance(record.msg, str)
                and record.msg.startswith("Malformed HTTP message")
                and isinstance(args, tuple)
                and len(args) == 2
            ):
                out.append(str(args[1]))
            else:
                out.append(record.getMessage())
        return out


def _describe(record: logging.LogRecord) -> str:
    text = "%s %s %s" % (record.name, record.levelname, record.getMessage())
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        text += " [%s: %s]" % (type(exc).__name__, exc)
    return text


# ===========================================================================
# The application
# ===========================================================================


class Served(NamedTuple):
    """One request that reached the application."""

    method: str
    uri: str
    body: bytes


_METHODS = ("GET", "HEAD", "POST", "DELETE", "PATCH", "PUT", "OPTIONS")


class _Recorder(tornado.web.RequestHandler):
    """Records every request it serves, and answers with the same few bytes
    (nothing from the request is echoed, so that no response can contain
    text that looks like a status line)."""

    SUPPORTED_METHODS = _METHODS

    def initialize(self, served: list[Served], echo: bool = False) -> None:
        self.served = served
        self.echo = echo

    def record(self, body: bytes) -> None:
        request = self.request
        uri = request.uri or ""
        self.served.append(Served(str(request.method), uri, body))
        self.set_header("Content-Type", "text/plain")
        self.write(b"served %s\n" % uri.encode("latin1") if self.echo else b"served\n")

    def _serve(self, *args: str, **kwargs: str) -> None:
        self.record(self.request.body)

    get = head = post = delete = patch = put = options = _serve


@tornado.web.stream_request_body
class _StreamingRecorder(_Recorder):
    """The same, for a handler that streams the body (``/stream...``)."""

    def initialize(self, served: list[Served], echo: bool = False) -> None:
        super().initialize(served, echo)
        self.chunks: list[bytes] = []

    def data_received(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    def _serve(self, *args: str, **kwargs: str) -> None:
        self.record(b"".join(self.chunks))

    get = head = post = delete = patch = put = options = _serve


def make_app(served: list[Served], echo: bool = False) -> tornado.web.Application:
    """The recording application: ``/stream...`` streams the body, every
    other target is buffered; both append a `Served` to ``served``. With
    ``echo``, each response names the target it answers (only for inputs
    whose targets cannot look like a status line)."""
    kwargs = {"served": served, "echo": echo}
    return tornado.web.Application(
        [
            (r"/stream.*", _StreamingRecorder, kwargs),
            (r".*", _Recorder, kwargs),
        ]
    )


# ===========================================================================
# Sockets
# ===========================================================================


def _unread(sock: socket.socket) -> int:
    """Bytes waiting in ``sock``'s receive queue."""
    import array
    import fcntl
    import termios

    buf = array.array("i", [0])
    fcntl.ioctl(sock.fileno(), termios.FIONREAD, buf)
    return buf[0]


class _Drain:
    """Reads everything a socket receives, as soon as it arrives, from a
    reader callback (so the bytes are in ``buffer`` once the kernel has
    none left). ``closed`` is set on EOF or a reset."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.buffer = bytearray()
        self.closed = False
        self.reset = False
        self._watching = False

    def start(self) -> None:
        self.loop.add_reader(self.sock.fileno(), self._readable)
        self._watching = True

    def _readable(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.reset = True
                self.stop()
                return
            if not data:
                self.stop()
                return
            self.buffer += data

    def stop(self) -> None:
        self.closed = True
        if self._watching:
            self._watching = False
            self.loop.remove_reader(self.sock.fileno())

    def settled(self) -> bool:
        return self.closed or _unread(self.sock) == 0


async def until(
    condition: Callable[[], bool],
    timeout: float = PATIENCE,
    progress: Optional[Callable[[], object]] = None,
) -> bool:
    """Wait until ``condition()`` holds; False if it has not after
    ``timeout`` seconds. With ``progress``, the time runs from the last
    change of ``progress()``: a slow peer (a loaded CI machine, coverage
    tracing) is not a stuck one. Polls, first without sleeping."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = progress() if progress is not None else None
    spins = 0
    while not condition():
        if progress is not None:
            now = progress()
            if now != last:
                last = now
                deadline = loop.time() + timeout
        if loop.time() > deadline:
            return False
        spins += 1
        await asyncio.sleep(0 if spins < 50 else 0.001)
    return True


_VOLATILE = re.compile(rb"\r\n(?:Date|Server): [^\r\n]*")
_STATUS = re.compile(rb"HTTP/1\.[01] ([0-9]{3}) ")


def strip_volatile(response: bytes) -> bytes:
    """Drop the fields that hold the time or the Tornado version."""
    return _VOLATILE.sub(b"", response)


def statuses(response: bytes) -> list[int]:
    """The status codes of the responses in ``response``, in order. (The
    recording application never echoes the request, so a status line can
    only be a status line.)"""
    return [int(code) for code in _STATUS.findall(response)]


# ===========================================================================
# Server side
# ===========================================================================


@dataclasses.dataclass
class ServerOutcome:
    """What one input did to one server."""

    served: list[Served]
    response: bytes
    closed: bool
    reasons: list[str]
    errors: list[str]
    stuck: bool = False

    @property
    def statuses(self) -> list[int]:
        return statuses(self.response)

    def key(self) -> tuple[Any, ...]:
        """What must be equal for two outcomes to be identical."""
        return (
            tuple(self.served),
            strip_volatile(self.response),
            self.closed,
            self.stuck,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "served": [[s.method, s.uri, _show(s.body)] for s in self.served],
            "statuses": self.statuses,
            "response": _show(strip_volatile(self.response)),
            "closed": self.closed,
            "reasons": self.reasons,
            "errors": self.errors,
            "stuck": self.stuck,
        }


class ServerTarget:
    """One HTTPServer (``impl`` is ``"upstream"`` or ``"tornado_h1"``)
    serving the recording application, and a way to throw bytes at it.

    Create it, ``start()`` it, and ``await stop()`` it on the same IOLoop.
    """

    def __init__(
        self,
        impl: str,
        server_cls: Optional[type[tornado.httpserver.HTTPServer]] = None,
        *,
        echo: bool = False,
        **options: Any,
    ) -> None:
        self.impl = impl
        self.served: list[Served] = []
        self.app = make_app(self.served, echo)
        cls = server_cls if server_cls is not None else server_class(impl)
        self.server = cls(self.app, **options)
        self.port = 0

    def start(self) -> ServerTarget:
        sock, self.port = tornado.testing.bind_unused_port()
        self.server.add_sockets([sock])
        return self

    async def stop(self) -> None:
        self.server.stop()
        await self.server.close_all_connections()

    @property
    def accepted(self) -> list[tornado.iostream.IOStream]:
        return cast("list[tornado.iostream.IOStream]", self.server.accepted)  # type: ignore[attr-defined]

    async def exchange(self, pieces: Union[bytes, Sequence[bytes]]) -> ServerOutcome:
        """Connect, send ``pieces`` one after another (waiting, after each,
        until the server has done all it will do with what it got), collect
        the answer, then hang up and wait for the server to notice.

        Deterministic: nothing waits for a timer. The server is *settled*
        when its stream is closed, or when it waits for more input with
        nothing unread in its socket and nothing left to write.
        """
        if isinstance(pieces, bytes):
            pieces = [pieces]
        loop = asyncio.get_running_loop()
        accepted_before = len(self.accepted)
        served_before = len(self.served)
        connections = self.server._connections
        open_before = len(connections)
        with LogRecorder() as logs:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            drain: Optional[_Drain] = None
            stuck = False
            try:
                await asyncio.wait_for(
                    loop.sock_connect(sock, ("127.0.0.1", self.port)), PATIENCE
                )
                drain = reader = _Drain(sock)
                reader.start()
                if not await until(lambda: len(self.accepted) > accepted_before):
                    raise RuntimeError("the server never accepted the connection")
                stream = self.accepted[accepted_before]
                server_sock = stream.socket

                def settled() -> bool:
                    if stream.closed():
                        return True
                    return (
                        stream.reading()
                        and not stream.writing()
                        and _unread(server_sock) == 0
                        and reader.settled()
                    )

                def progress() -> object:
                    # Anything the server visibly does.
                    return (
                        len(self.served),
                        len(reader.buffer),
                        reader.closed,
                        stream.closed() or _unread(server_sock),
                    )

                for piece in pieces:
                    if stream.closed() or reader.closed:
                        break
                    sending = asyncio.ensure_future(loop.sock_sendall(sock, piece))
                    if not await until(sending.done, progress=progress):
                        # The server stopped reading for good.
                        sending.cancel()
                        stuck = True
                        break
                    failure = sending.exception()
                    if failure is not None and not isinstance(failure, OSError):
                        raise failure
                    # (An OSError: the server hung up meanwhile.)
                    if not await until(settled, progress=progress):
                        stuck = True
                        break
                if not stuck and stream.closed():
                    # The FIN follows the last byte; wait for it.
                    stuck = not await until(lambda: reader.closed)
                if not stuck:
                    # Everything the server wrote has been drained.
                    await until(reader.settled)
                response = bytes(reader.buffer)
                closed = reader.closed
            finally:
                if drain is not None:
                    drain.stop()
                sock.close()
            # The server sees the client go, and forgets the connection.
            if not await until(
                lambda: stream.closed() and len(connections) <= open_before
            ):  # pragma: no cover - would be a leak, reported as stuck
                stuck = True
            await asyncio.sleep(0)
        return ServerOutcome(
            served=self.served[served_before:],
            response=response,
            closed=closed,
            reasons=logs.reasons(),
            errors=logs.errors(),
            stuck=stuck,
        )


def is_prefix(short: Sequence[_T], long: Sequence[_T]) -> bool:
    return len(short) <= len(long) and list(long[: len(short)]) == list(short)


def classify_server(theirs: ServerOutcome, ours: ServerOutcome) -> str:
    """``identical``, ``stricter``, ``lenient`` or ``different``: how
    tornado_h1's outcome compares with upstream's for the same input.

    ``lenient`` with ``served_more`` is the failure: tornado_h1 served a
    request upstream did not.
    """
    if ours.key() == theirs.key():
        return "identical"
    if ours.served != theirs.served:
        if is_prefix(ours.served, theirs.served):
            return "stricter"
        return "lenient"
    if ours.closed and not theirs.closed:
        return "stricter"
    if theirs.closed and not ours.closed:
        return "lenient"
    return "different"


def served_more(theirs: ServerOutcome, ours: ServerOutcome) -> bool:
    """tornado_h1 served a request upstream refused (the failure)."""
    return not is_prefix(ours.served, theirs.served)


# ===========================================================================
# Client side
# ===========================================================================


@dataclasses.dataclass
class ScriptResult:
    """What the scripted server saw of one client connection."""

    request: bytes
    send_failed: bool
    peer_closed: bool


class ResponseServer:
    """A raw-socket server that answers each connection's request with
    scripted bytes, then (by default) half-closes, and waits for the client
    to close its side: a client that never does leaks the connection.

    ``pieces`` may be any iterable of bytes, even an endless one: sending
    stops when the client hangs up.
    """

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]

    def close(self) -> None:
        self.listener.close()

    async def answer(
        self,
        pieces: Iterable[bytes],
        *,
        shutdown: bool = True,
        close: bool = False,
    ) -> ScriptResult:
        """Serve one connection. ``shutdown``: half-close after the last
        piece (a close-delimited body ends there); ``close``: close at once
        instead of waiting for the client."""
        loop = asyncio.get_running_loop()
        conn, _ = await asyncio.wait_for(loop.sock_accept(self.listener), PATIENCE)
        conn.setblocking(False)
        try:
            request = bytearray()
            while b"\r\n\r\n" not in request:
                data = await asyncio.wait_for(loop.sock_recv(conn, 65536), PATIENCE)
                if not data:
                    break
                request += data
            send_failed = False
            for piece in pieces:
                try:
                    await asyncio.wait_for(loop.sock_sendall(conn, piece), PATIENCE)
                except (OSError, asyncio.TimeoutError):
                    send_failed = True
                    break
            if close:
                return ScriptResult(bytes(request), send_failed, False)
            if shutdown and not send_failed:
                try:
                    conn.shutdown(socket.SHUT_WR)
                except OSError:
                    send_failed = True
            peer_closed = False
            deadline = loop.time() + PATIENCE
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    data = await asyncio.wait_for(loop.sock_recv(conn, 65536), left)
                except asyncio.TimeoutError:
                    break
                except OSError:
                    peer_closed = True
                    break
                if not data:
                    peer_closed = True
                    break
            return ScriptResult(bytes(request), send_failed, peer_closed)
        finally:
            conn.close()


@dataclasses.dataclass
class ClientOutcome:
    """What one scripted response did to one client."""

    code: int
    headers: list[tuple[str, str]]
    body: bytes
    error: str  # "" or the exception's class name
    message: str
    peer_closed: bool
    reasons: list[str]
    errors: list[str]

    @property
    def accepted(self) -> bool:
        """The client produced a response (any status but 599)."""
        return self.code != 599

    def key(self) -> tuple[Any, ...]:
        return (self.code, tuple(self.headers), self.body, self.error)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "headers": [list(pair) for pair in self.headers],
            "body": _show(self.body),
            "error": self.error,
            "message": self.message,
            "peer_closed": self.peer_closed,
            "reasons": self.reasons,
            "errors": self.errors,
        }


class ClientTarget:
    """One SimpleAsyncHTTPClient (upstream's or tornado_h1's) fetching from
    a `ResponseServer`. Create it and ``close()`` it on the same IOLoop."""

    def __init__(self, impl: str, *, timeout: float = 3 * PATIENCE, **options: Any):
        self.impl = impl
        #: The request_timeout of every fetch: only a hang reaches it.
        self.timeout = timeout
        self.client = client_class(impl)(force_instance=True, **options)

    def close(self) -> None:
        self.client.close()

    async def fetch(
        self,
        server: ResponseServer,
        pieces: Union[bytes, Iterable[bytes]],
        *,
        method: str = "GET",
        shutdown: bool = True,
        close: bool = False,
        **request_options: Any,
    ) -> ClientOutcome:
        if isinstance(pieces, bytes):
            pieces = [pieces]
        with LogRecorder() as logs:
            answering = asyncio.ensure_future(
                server.answer(pieces, shutdown=shutdown, close=close)
            )
            response: Optional[tornado.httpclient.HTTPResponse] = None
            failure: Optional[Exception] = None
            try:
                response = await self.client.fetch(
                    "http://127.0.0.1:%d/" % server.port,
                    method=method,
                    raise_error=False,
                    request_timeout=self.timeout,
                    follow_redirects=False,
                    **request_options,
                )
            except Exception as exc:
                # raise_error=False only covers HTTP status codes: a response
                # the client could not read (code 599) still raises.
                failure = exc
            script = await answering
            await asyncio.sleep(0)
        if response is None:
            assert failure is not None
            return ClientOutcome(
                code=599,
                headers=[],
                body=b"",
                error=type(failure).__name__,
                message=str(failure),
                peer_closed=script.peer_closed,
                reasons=logs.reasons(),
                errors=logs.errors(),
            )
        return ClientOutcome(
            code=response.code,
            headers=sorted(
                (k, v) for k, v in response.headers.get_all() if k != "Date"
            ),
            body=response.body or b"",
            error="" if response.error is None else type(response.error).__name__,
            message="" if response.error is None else str(response.error),
            peer_closed=script.peer_closed,
            reasons=logs.reasons(),
            errors=logs.errors(),
        )


def classify_client(theirs: ClientOutcome, ours: ClientOutcome) -> str:
    """``identical``, ``stricter``, ``lenient`` or ``different``."""
    if ours.key() == theirs.key():
        return "identical"
    if ours.accepted and not theirs.accepted:
        return "lenient"
    if theirs.accepted and not ours.accepted:
        return "stricter"
    return "different"


# ===========================================================================
# Messages and their mutations
# ===========================================================================

#: The bytes that matter to HTTP/1.x framing, and the ones Python's str
#: methods treat as whitespace although HTTP does not.
INTERESTING_BYTES = (
    b"\r",
    b"\n",
    b" ",
    b"\t",
    b"\x00",
    b":",
    b",",
    b";",
    b"\x0b",
    b"\x0c",
    b"\x85",
    b"\xa0",
    b'"',
    b"0",
    b"-",
    b"+",
    b"\x7f",
    b"\xff",
)

LINE_ENDS = (b"\r\n", b"\n", b"\r", b"\r\r\n", b"\n\r", b"\r\n\r\n", b"")
SEPARATORS = (b": ", b":", b":\t", b" :", b"\t:", b":  ", b": \x0b", b":\xa0")

#: Values to try in each framing field (and in any field).
VALUE_VARIANTS: dict[bytes, tuple[bytes, ...]] = {
    b"content-length": (
        b"0",
        b"5",
        b"05",
        b"+5",
        b"-5",
        b"5 ",
        b" 5",
        b"5_0",
        b"0x5",
        b"5.0",
        b"5, 5",
        b"5,5",
        b"5, 6",
        b"5,",
        b",5",
        b'"5"',
        b"\xb55",
        b"5\x85",
        b"5\xa0",
        b"\x0b5",
        b"99999999999999999999999",
        b"0" * 40 + b"5",
        b"",
    ),
    b"transfer-encoding": (
        b"chunked",
        b"Chunked",
        b"CHUNKED",
        b"chunked, chunked",
        b"gzip, chunked",
        b"chunked, gzip",
        b"identity",
        b"identity, chunked",
        b"chunked;q=1",
        b'"chunked"',
        b"chunked\x0b",
        b"\x0bchunked",
        b"chunked\x85",
        b"\xa0chunked",
        b"xchunked",
        b"chunk",
        b"chunked,",
        b",chunked",
        b"",
    ),
    b"host": (b"x", b"y", b"x, y", b"x y", b"x:80", b"x@y", b"", b"[::1]:80"),
    b"connection": (b"close", b"keep-alive", b"Close", b"upgrade", b"close, x"),
    b"content-encoding": (b"gzip", b"GZIP", b"deflate", b"gzip, gzip", b""),
    b"expect": (b"100-continue", b"100-Continue", b"nope"),
}

FIELD_POOL = (
    (b"Content-Length", b"5"),
    (b"Content-Length", b"0"),
    (b"Transfer-Encoding", b"chunked"),
    (b"Transfer-Encoding", b"gzip, chunked"),
    (b"Host", b"y"),
    (b"Connection", b"close"),
    (b"Connection", b"keep-alive"),
    (b"Expect", b"100-continue"),
    (b"Content-Encoding", b"gzip"),
    (b"X-A", b"b"),
    (b"X-A", b"b\x85"),
    (b"Transfer-Encoding ", b"chunked"),
    (b" Transfer-Encoding", b"chunked"),
    (b"Content-Length\x00", b"5"),
    (b"", b"x"),
    (b"Content_Length", b"5"),
)

#: A whole request that must never be served unless sent as a request.
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


@dataclasses.dataclass
class Field:
    name: bytes
    value: bytes
    sep: bytes = b": "
    eol: bytes = b"\r\n"

    def encode(self) -> bytes:
        return self.name + self.sep + self.value + self.eol


@dataclasses.dataclass
class Chunk:
    size: bytes
    data: bytes
    size_eol: bytes = b"\r\n"
    tail: bytes = b"\r\n"

    @classmethod
    def of(cls, data: bytes) -> Chunk:
        return cls(b"%x" % len(data), data)

    def encode(self) -> bytes:
        return self.size + self.size_eol + self.data + self.tail


@dataclasses.dataclass
class Message:
    """A request or response, as the parts a mutation can aim at."""

    start: bytes
    fields: list[Field]
    body: bytes = b""
    chunks: Optional[list[Chunk]] = None
    start_eol: bytes = b"\r\n"
    end: bytes = b"\r\n"
    last_chunk: bytes = b"0\r\n\r\n"

    def encode(self) -> bytes:
        out = [self.start, self.start_eol]
        out += [field.encode() for field in self.fields]
        out.append(self.end)
        if self.chunks is not None:
            out += [chunk.encode() for chunk in self.chunks]
            out.append(self.last_chunk)
        else:
            out.append(self.body)
        return b"".join(out)


def framed_message(
    start: bytes,
    fields: list[Field],
    body: bytes,
    framing: str,
    pieces: int = 1,
) -> Message:
    """A message whose body is delimited by ``framing``: ``"length"``,
    ``"chunked"`` (in ``pieces`` chunks) or ``"none"``."""
    fields = list(fields)
    if framing == "length":
        fields.append(Field(b"Content-Length", b"%d" % len(body)))
        return Message(start, fields, body)
    if framing == "chunked":
        fields.append(Field(b"Transfer-Encoding", b"chunked"))
        step = max(1, -(-len(body) // max(1, pieces)))
        chunks = [Chunk.of(body[i : i + step]) for i in range(0, len(body), step)]
        return Message(start, fields, chunks=chunks)
    return Message(start, fields, body)


@dataclasses.dataclass
class Case:
    """One fuzz input: the bytes, and how they are cut into writes."""

    side: str  # "server" (a request) or "client" (a response)
    pieces: tuple[bytes, ...]
    method: str = "GET"  # the client's request method, for "client"

    @property
    def data(self) -> bytes:
        return b"".join(self.pieces)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "side": self.side,
            "input": _show(self.data),
            "pieces": [_show(p) for p in self.pieces],
        }
        if self.side == "client":
            out["method"] = self.method
        return out


def _show(data: bytes) -> str:
    """Bytes as a Python literal (``ast.literal_eval`` gives them back)."""
    return repr(data)


# The strategies need Hypothesis, a test dependency: import it lazily.


def _mutations() -> SearchStrategy[list[tuple[Any, ...]]]:
    """A strategy for a list of mutations, each a tuple whose integers are
    taken modulo whatever they index (so they shrink towards the start)."""
    from hypothesis import strategies as st

    index = st.integers(0, 63)
    byte = st.sampled_from(INTERESTING_BYTES)
    name = st.sampled_from(sorted(VALUE_VARIANTS))
    anywhere = st.one_of(
        st.tuples(st.just("insert"), index, st.booleans(), byte),
        st.tuples(st.just("delete"), index, st.booleans()),
        st.tuples(st.just("replace"), index, st.booleans(), byte),
    )
    structural = st.one_of(
        st.tuples(st.just("field_insert"), index, st.sampled_from(FIELD_POOL)),
        st.tuples(st.just("field_dup"), index, st.booleans()),
        st.tuples(st.just("field_delete"), index),
        st.tuples(st.just("field_value"), index, index),
        st.tuples(st.just("field_named"), name, index),
        st.tuples(st.just("field_sep"), index, st.sampled_from(SEPARATORS)),
        st.tuples(st.just("field_eol"), index, st.sampled_from(LINE_ENDS)),
        st.tuples(st.just("start_eol"), st.sampled_from(LINE_ENDS)),
        st.tuples(st.just("end"), st.sampled_from(LINE_ENDS)),
        st.tuples(
            st.just("chunk_size"),
            index,
            st.sampled_from(
                (
                    b"",
                    b"0",
                    b"00000005",
                    b"0x5",
                    b" 5",
                    b"5 ",
                    b"5;a=b",
                    b"-5",
                    b"+5",
                    b"FFFFFFFFFFFFFFFF",
                    b"1" + b"0" * 30,
                    b"5\x85",
                    b"\xa05",
                )
            ),
        ),
        st.tuples(st.just("chunk_len"), index, st.integers(-2, 2)),
        st.tuples(st.just("chunk_size_eol"), index, st.sampled_from(LINE_ENDS)),
        st.tuples(st.just("chunk_tail"), index, st.sampled_from(LINE_ENDS)),
        st.tuples(
            st.just("last_chunk"),
            st.sampled_from((b"0\r\n", b"0\n\n", b"0\r\n\r", b"00\r\n\r\n", b"")),
        ),
    )
    # A third of all mutations aim at the framing fields, where a
    # disagreement between two parsers becomes smuggling.
    framing = st.one_of(
        st.tuples(
            st.just("field_named"),
            st.sampled_from((b"content-length", b"transfer-encoding")),
            index,
        ),
        st.tuples(st.just("field_insert"), index, st.sampled_from(FIELD_POOL[:4])),
        st.tuples(st.just("field_dup"), index, st.booleans()),
    )
    return st.lists(st.one_of(framing, structural, anywhere), max_size=4)


def _interesting_positions(data: bytes) -> list[int]:
    """Where a byte mutation is most likely to matter: around every
    delimiter, at line starts, and in numbers."""
    positions = {0, len(data)}
    for i, b in enumerate(data):
        if b in b"\r\n: \t,;=":
            positions.update((i, i + 1))
    return sorted(positions)


def apply_structural(message: Message, mutation: tuple[Any, ...]) -> None:
    """Apply one structural mutation to ``message`` in place."""
    op = mutation[0]
    fields = message.fields
    chunks = message.chunks
    if op == "field_insert":
        name, value = mutation[2]
        fields.insert(mutation[1] % (len(fields) + 1), Field(name, value))
    elif op == "field_dup" and fields:
        field = fields[mutation[1] % len(fields)]
        copy = dataclasses.replace(field)
        if mutation[2]:
            variants = VALUE_VARIANTS.get(field.name.lower(), (b"x",))
            copy.value = variants[(mutation[1] + 1) % len(variants)]
        fields.insert(mutation[1] % (len(fields) + 1), copy)
    elif op == "field_delete" and fields:
        del fields[mutation[1] % len(fields)]
    elif op == "field_value" and fields:
        field = fields[mutation[1] % len(fields)]
        variants = VALUE_VARIANTS.get(field.name.lower(), (b"", b"x\x85", b"\xa0"))
        field.value = variants[mutation[2] % len(variants)]
    elif op == "field_named":
        name = mutation[1]
        variants = VALUE_VARIANTS[name]
        value = variants[mutation[2] % len(variants)]
        for field in fields:
            if field.name.lower() == name:
                field.value = value
                break
        else:
            fields.append(Field(name.title(), value))
    elif op == "field_sep" and fields:
        fields[mutation[1] % len(fields)].sep = mutation[2]
    elif op == "field_eol" and fields:
        fields[mutation[1] % len(fields)].eol = mutation[2]
    elif op == "start_eol":
        message.start_eol = mutation[1]
    elif op == "end":
        message.end = mutation[1]
    elif op == "chunk_size" and chunks:
        chunks[mutation[1] % len(chunks)].size = mutation[2]
    elif op == "chunk_len" and chunks:
        chunk = chunks[mutation[1] % len(chunks)]
        delta = mutation[2]
        chunk.data = chunk.data[:delta] if delta < 0 else chunk.data + b"z" * delta
    elif op == "chunk_size_eol" and chunks:
        chunks[mutation[1] % len(chunks)].size_eol = mutation[2]
    elif op == "chunk_tail" and chunks:
        chunks[mutation[1] % len(chunks)].tail = mutation[2]
    elif op == "last_chunk" and chunks is not None:
        message.last_chunk = mutation[1]


def apply_bytewise(data: bytes, mutation: tuple[Any, ...]) -> bytes:
    """Apply one byte mutation; ``mutation[2]`` picks an interesting
    position (True) or any position (False)."""
    op, index, interesting = mutation[0], mutation[1], mutation[2]
    positions = _interesting_positions(data) if interesting else range(len(data) + 1)
    pos = positions[index % len(positions)]
    byte: bytes = mutation[3] if len(mutation) > 3 else b""
    if op == "insert":
        return data[:pos] + byte + data[pos:]
    if pos >= len(data):
        pos = max(0, len(data) - 1)
    if op == "delete":
        return data[:pos] + data[pos + 1 :]
    return data[:pos] + byte + data[pos + 1 :]


def mutate(message: Message, mutations: Sequence[tuple[Any, ...]]) -> bytes:
    """Apply the structural mutations, encode, then the byte mutations."""
    byte_ops = ("insert", "delete", "replace")
    for mutation in mutations:
        if mutation[0] not in byte_ops:
            apply_structural(message, mutation)
    data = message.encode()
    for mutation in mutations:
        if mutation[0] in byte_ops:
            data = apply_bytewise(data, mutation)
    return data


def split(data: bytes, cuts: Sequence[int]) -> tuple[bytes, ...]:
    """``data`` cut at the given offsets (taken modulo its length)."""
    if not data:
        return (data,)
    points = sorted({cut % len(data) for cut in cuts} - {0})
    bounds = [0, *points, len(data)]
    return tuple(data[a:b] for a, b in zip(bounds, bounds[1:]))


@functools.cache
def request_strategy() -> SearchStrategy[Case]:
    """Hypothesis strategy of server-side `Case` s."""
    from hypothesis import strategies as st

    @st.composite
    def one_request(draw: DrawFn, mutated: bool = True) -> bytes:
        method = draw(st.sampled_from((b"GET", b"POST", b"PUT", b"HEAD", b"OPTIONS")))
        target = draw(st.sampled_from((b"/", b"/a", b"/b?x=1", b"/stream")))
        version = draw(st.sampled_from((b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0")))
        fields = [Field(b"Host", b"x")]
        fields += [
            Field(name, value)
            for name, value in draw(
                st.lists(
                    st.sampled_from(
                        (
                            (b"Connection", b"keep-alive"),
                            (b"Connection", b"close"),
                            (b"X-A", b"b"),
                            (b"Content-Type", b"text/plain"),
                            (b"Expect", b"100-continue"),
                        )
                    ),
                    max_size=2,
                )
            )
        ]
        kind = draw(st.sampled_from(("none", "length", "chunked", "smuggle", "cl_te")))
        body = draw(
            st.one_of(
                st.sampled_from((b"", b"hello", b"0\r\n\r\n", SMUGGLED)),
                st.binary(max_size=12),
            )
        )
        if kind == "smuggle":
            kind = draw(st.sampled_from(("length", "chunked")))
            body = SMUGGLED
        if kind == "cl_te":
            # Both framings at once, the body built so that each reading
            # of it finds a different second request.
            inner = b"0\r\n\r\n" + SMUGGLED
            fields.append(Field(b"Content-Length", b"%d" % len(inner)))
            fields.append(Field(b"Transfer-Encoding", b"chunked"))
            message = Message(b"POST / " + version, fields, inner)
        else:
            pieces = draw(st.integers(1, 3))
            message = framed_message(
                method + b" " + target + b" " + version, fields, body, kind, pieces
            )
        if not mutated:
            return message.encode()
        return mutate(message, draw(_mutations()))

    @st.composite
    def cases(draw: DrawFn) -> Case:
        data = draw(one_request())
        how = draw(st.sampled_from(("one", "one", "pipeline", "pipeline-mutated")))
        if how == "pipeline":
            data += draw(one_request(mutated=False))
        elif how == "pipeline-mutated":
            data += draw(one_request())
        cuts = draw(st.lists(st.integers(0, 1 << 16), max_size=2))
        return Case("server", split(data, cuts))

    return cases()


@functools.cache
def response_strategy() -> SearchStrategy[Case]:
    """Hypothesis strategy of client-side `Case` s."""
    from hypothesis import strategies as st

    @st.composite
    def cases(draw: DrawFn) -> Case:
        code = draw(
            st.sampled_from(
                (
                    b"200 OK",
                    b"404 Not Found",
                    b"204 No Content",
                    b"304 Not Modified",
                    b"301 Moved",
                )
            )
        )
        version = draw(st.sampled_from((b"HTTP/1.1", b"HTTP/1.0")))
        fields = [Field(b"X-A", b"b")] if draw(st.booleans()) else []
        if code.startswith(b"301"):
            fields.append(Field(b"Location", b"/elsewhere"))
        body = draw(
            st.one_of(
                st.sampled_from((b"", b"hello", b"0\r\n\r\n", b"x" * 5000)),
                st.binary(max_size=12),
            )
        )
        if draw(st.booleans()):
            bomb = draw(st.booleans())
            body = gzip.compress(b"\0" * 100_000 if bomb else body, mtime=0)
            fields.append(Field(b"Content-Encoding", b"gzip"))
        kind = draw(st.sampled_from(("none", "length", "chunked")))
        message = framed_message(
            version + b" " + code, fields, body, kind, draw(st.integers(1, 3))
        )
        data = mutate(message, draw(_mutations()))
        interim = draw(st.sampled_from((0, 0, 0, 1, 10, 11)))
        if interim:
            data = b"HTTP/1.1 100 Continue\r\n\r\n" * interim + data
        method = draw(st.sampled_from(("GET", "GET", "HEAD")))
        return Case("client", (data,), method)

    return cases()


# ===========================================================================
# The run
# ===========================================================================


@dataclasses.dataclass
class Divergence:
    case: Case
    kind: str
    failure: str  # "" unless this divergence fails the run
    upstream: dict[str, Any]
    tornado_h1: dict[str, Any]

    def signature(self) -> str:
        """A short description for grouping similar divergences."""
        ours = self.tornado_h1
        theirs = self.upstream
        if self.case.side == "server":
            what = "ours %s, upstream %s" % (_server_label(ours), _server_label(theirs))
        else:
            what = "ours %s, upstream %s" % (_client_label(ours), _client_label(theirs))
        return "%s %s: %s" % (self.case.side, self.kind, what)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.case.to_json(),
            "class": self.kind,
            "failure": self.failure,
            "upstream": self.upstream,
            "tornado_h1": self.tornado_h1,
        }


def _server_label(outcome: dict[str, Any]) -> str:
    label = "%s%s" % (outcome["statuses"], " closed" if outcome["closed"] else "")
    reason = _first(outcome["reasons"])
    return "%s (%s)" % (label, reason) if reason else label


def _client_label(outcome: dict[str, Any]) -> str:
    if outcome["code"] != 599:
        return str(outcome["code"])
    return _first(outcome["reasons"]) or outcome["error"]


def _first(items: Sequence[str]) -> str:
    text = items[0] if items else ""
    # Values quoted into messages make every signature unique; drop them.
    text = re.sub(r"(: |\s)(['\"]).*\2$", r"\1...", text)
    return re.sub(r"(?<=[a-z]) [^ ]*[^a-z ][^ ]*$", " ...", text)


class DifferentialFailure(AssertionError):
    """tornado_h1 did something it must never do with this input."""

    def __init__(self, divergence: Divergence) -> None:
        super().__init__(
            "%s: %s\n%s"
            % (divergence.failure, divergence.signature(), _show(divergence.case.data))
        )
        self.divergence = divergence


class Fuzzer:
    """Runs cases against both implementations on one IOLoop, and keeps
    the tally."""

    def __init__(
        self,
        *,
        server_options: Optional[dict[str, Any]] = None,
        client_options: Optional[dict[str, Any]] = None,
        keep: int = 20000,
        client_timeout: float = PATIENCE,
    ) -> None:
        self.server_options = dict(
            FUZZ_SERVER_OPTIONS if server_options is None else server_options
        )
        self.client_options = dict(
            FUZZ_CLIENT_OPTIONS if client_options is None else client_options
        )
        self.keep = keep
        self.client_timeout = client_timeout
        # Each distinct failure is raised (and shrunk) once; repeats of it
        # are only counted.
        self.failure_counts: Counter[str] = Counter()
        self.io_loop = tornado.ioloop.IOLoop(make_current=False)
        self.servers: dict[str, ServerTarget] = {}
        self.clients: dict[str, ClientTarget] = {}
        self.responder: Optional[ResponseServer] = None
        self.counts: Counter[str] = Counter()
        self.divergences: list[Divergence] = []
        self.failures: list[Divergence] = []
        self.examples = 0
        self.dropped = 0
        self.io_loop.run_sync(self._start)

    async def _start(self) -> None:
        for impl in IMPLS:
            self.servers[impl] = ServerTarget(impl, **self.server_options).start()
            self.clients[impl] = ClientTarget(
                impl, timeout=self.client_timeout, **self.client_options
            )
        self.responder = ResponseServer()

    async def _stop(self) -> None:
        for target in self.servers.values():
            await target.stop()
        for client in self.clients.values():
            client.close()
        if self.responder is not None:
            self.responder.close()

    def close(self) -> None:
        self.io_loop.run_sync(self._stop)
        self.io_loop.close(all_fds=True)

    # -- one case -----------------------------------------------------------

    def run_case(self, case: Case, *, record: bool = True) -> Divergence:
        """Run ``case`` against both; record it; raise `DifferentialFailure`
        if tornado_h1 misbehaved."""
        divergence: Divergence = self.io_loop.run_sync(
            lambda: self._run_case(case, record)
        )
        return divergence

    async def _run_case(self, case: Case, record: bool) -> Divergence:
        if case.side == "server":
            theirs_s = await self.servers["upstream"].exchange(case.pieces)
            ours_s = await self.servers["tornado_h1"].exchange(case.pieces)
            kind = classify_server(theirs_s, ours_s)
            failure = _server_failure(theirs_s, ours_s)
            divergence = Divergence(
                case, kind, failure, theirs_s.to_json(), ours_s.to_json()
            )
        else:
            responder = self.responder
            assert responder is not None
            theirs_c = await self.clients["upstream"].fetch(
                responder, case.pieces, method=case.method
            )
            ours_c = await self.clients["tornado_h1"].fetch(
                responder, case.pieces, method=case.method
            )
            kind = classify_client(theirs_c, ours_c)
            failure = _client_failure(theirs_c, ours_c, kind)
            divergence = Divergence(
                case, kind, failure, theirs_c.to_json(), ours_c.to_json()
            )
        if record:
            self.examples += 1
            self.counts[kind] += 1
            if kind != "identical" or failure:
                if len(self.divergences) < self.keep:
                    self.divergences.append(divergence)
                else:
                    self.dropped += 1
        if failure:
            signature = divergence.signature()
            first = signature not in self.failure_counts
            if record:
                self.failure_counts[signature] += 1
            if first or not record:
                raise DifferentialFailure(divergence)
        return divergence

    # -- batches ------------------------------------------------------------

    def run_batch(
        self,
        side: str,
        *,
        examples: int,
        seed: Optional[int] = None,
        derandomize: bool = False,
        shrink: bool = True,
    ) -> Optional[Divergence]:
        """Run one Hypothesis search of ``examples`` inputs. Returns the
        (shrunk) failure, if any; divergences are recorded as they occur."""
        from hypothesis import HealthCheck, Phase, Verbosity, given, settings
        from hypothesis import seed as with_seed

        strategy = request_strategy() if side == "server" else response_strategy()
        failed: list[bool] = []

        phases = [Phase.explicit, Phase.generate]
        if shrink:
            phases.append(Phase.shrink)

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=derandomize,
            phases=phases,
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.quiet,
            report_multiple_bugs=False,
            print_blob=False,
        )
        @given(strategy)
        def search(case: Case) -> None:
            # Once something failed, Hypothesis replays variants of it to
            # shrink it: those are not new examples, and are not counted.
            try:
                self.run_case(case, record=not failed)
            except DifferentialFailure:
                failed.append(True)
                raise

        test: Callable[[], None] = search
        if seed is not None and not derandomize:
            test = with_seed(seed)(search)
        try:
            test()
        except DifferentialFailure as exc:
            self.failures.append(exc.divergence)
            return exc.divergence
        return None

    # -- the report ---------------------------------------------------------

    def report(self, **meta: Any) -> dict[str, Any]:
        return {
            **meta,
            "examples": self.examples,
            "counts": {k: self.counts.get(k, 0) for k in CLASSES},
            "failures": [d.to_json() for d in self.failures],
            "failure_counts": dict(self.failure_counts),
            "divergences_dropped": self.dropped,
            "divergences": [d.to_json() for d in self.divergences],
        }

    def summary(self, **meta: Any) -> str:
        lines = ["tornado_h1 differential fuzz against Tornado %s" % tornado.version]
        for key, value in meta.items():
            lines.append("  %s: %s" % (key, value))
        lines.append("  examples: %d" % self.examples)
        for key in CLASSES:
            lines.append("  %-10s %d" % (key, self.counts.get(key, 0)))
        lines.append("  failures: %d distinct" % len(self.failures))
        for failure in self.failures:
            lines.append("    FAIL %s" % failure.failure)
            lines.append("         %s" % failure.signature())
            lines.append("         shrunk input: %s" % _show(failure.case.data)[:300])
        for signature, count in self.failure_counts.most_common():
            lines.append("    %6d inputs: %s" % (count, signature))
        groups: dict[str, list[Divergence]] = {}
        for d in self.divergences:
            groups.setdefault(d.signature(), []).append(d)
        lines.append("divergences by kind (count, example input):")
        for signature, items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            lines.append("  %6d  %s" % (len(items), signature))
            shortest = min(items, key=lambda d: len(d.case.data))
            lines.append("          e.g. %s" % _show(shortest.case.data)[:200])
        if self.dropped:
            lines.append("  (%d more divergences not kept)" % self.dropped)
        return "\n".join(lines) + "\n"

    def progress(self, elapsed: float) -> str:
        return "[fuzz %5.0fs] %d examples: %s; failures %d" % (
            elapsed,
            self.examples,
            ", ".join("%s %d" % (k, self.counts.get(k, 0)) for k in CLASSES),
            len(self.failures),
        )


CLASSES = ("identical", "stricter", "lenient", "different")


def _server_failure(theirs: ServerOutcome, ours: ServerOutcome) -> str:
    if ours.errors:
        return "tornado_h1 logged at ERROR"
    if ours.stuck and not theirs.stuck:
        return "tornado_h1 got stuck"
    if served_more(theirs, ours):
        return "tornado_h1 served a request upstream refused"
    return ""


def _client_failure(theirs: ClientOutcome, ours: ClientOutcome, kind: str) -> str:
    if ours.errors:
        return "tornado_h1 logged at ERROR"
    if not ours.peer_closed and theirs.peer_closed:
        return "tornado_h1 leaked the connection"
    if kind == "lenient":
        return "tornado_h1 accepted a response upstream refused"
    if kind == "different" and ours.accepted:
        return "tornado_h1 read a different response"
    return ""


def fuzz(
    *,
    minutes: Optional[float] = None,
    examples: Optional[int] = None,
    seed: int = 0,
    derandomize: bool = False,
    sides: Sequence[str] = ("server", "client"),
    batch: int = 100,
    progress: Optional[Callable[[str], None]] = None,
    progress_every: float = 10.0,
    fuzzer: Optional[Fuzzer] = None,
) -> Fuzzer:
    """Fuzz until ``minutes`` have passed or ``examples`` inputs have run
    (whichever comes first; at least one batch per side), with ``fuzzer``
    or a new `Fuzzer`. Returns it, closed, with its tally."""
    if minutes is None and examples is None:
        raise ValueError("give minutes or examples")
    if fuzzer is None:
        fuzzer = Fuzzer()
    start = time.monotonic()
    last_report = start
    try:
        batch_no = 0
        while True:
            for side in sides:
                size = batch
                if derandomize:
                    # One search per side: every batch would be the same.
                    size = max(1, (examples or batch) // len(sides))
                elif examples is not None:
                    size = min(batch, max(1, examples - fuzzer.examples))
                fuzzer.run_batch(
                    side, examples=size, seed=seed + batch_no, derandomize=derandomize
                )
            batch_no += 1
            now = time.monotonic()
            if progress is not None and now - last_report >= progress_every:
                last_report = now
                progress(fuzzer.progress(now - start))
            if derandomize:
                break
            if examples is not None and fuzzer.examples >= examples:
                break
            if minutes is not None and now - start >= minutes * 60:
                break
    finally:
        fuzzer.close()
    if progress is not None:
        progress(fuzzer.progress(time.monotonic() - start))
    return fuzzer


# ===========================================================================
# Command line
# ===========================================================================


def _parse_literal(text: str) -> bytes:
    value = ast.literal_eval(text)
    if isinstance(value, str):
        value = value.encode("latin1")
    if not isinstance(value, bytes):
        raise argparse.ArgumentTypeError("not a bytes literal: %r" % text)
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tornado-h1 fuzz",
        description="Differential fuzzing of tornado_h1 against Tornado's own "
        "http1connection, over real sockets.",
    )
    parser.add_argument("--minutes", type=float, help="run this long")
    parser.add_argument("--examples", type=int, help="run this many inputs")
    parser.add_argument("--seed", type=int, default=0, help="first batch's seed")
    parser.add_argument(
        "--derandomize",
        action="store_true",
        help="one deterministic batch per side (the CI run)",
    )
    parser.add_argument(
        "--side",
        choices=("server", "client", "both"),
        default="both",
        help="fuzz requests to servers, responses to clients, or both",
    )
    parser.add_argument("--batch", type=int, default=100, help="inputs per search")
    parser.add_argument(
        "--client-timeout",
        type=float,
        default=2.0,
        help="request_timeout of the clients (only a hung client reaches it)",
    )
    parser.add_argument(
        "--report",
        default="fuzz-report.json",
        help="JSON report path; the text summary goes next to it (.txt)",
    )
    parser.add_argument(
        "--progress", type=float, default=10.0, help="seconds between progress lines"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--replay",
        type=_parse_literal,
        metavar="BYTES",
        help="run one input (a Python bytes literal) and print both outcomes",
    )
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``tornado-h1 fuzz``: returns 0 if tornado_h1 never did anything it
    must not, 1 if it did, 2 for a usage error."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    sides = ("server", "client") if args.side == "both" else (args.side,)
    if _install.is_installed():
        print("tornado-h1 fuzz: run it without tornado_h1 installed", file=sys.stderr)
        return 2
    try:
        importlib.import_module("hypothesis")
    except ImportError:
        print(
            "tornado-h1 fuzz: needs hypothesis (pip install hypothesis)",
            file=sys.stderr,
        )
        return 2
    if args.replay is not None:
        return _replay(args.replay, sides[0])
    if args.minutes is None and args.examples is None:
        args.minutes = 1.0

    def say(line: str) -> None:
        print(line, flush=True)

    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    fuzzer = fuzz(
        fuzzer=Fuzzer(client_timeout=args.client_timeout),
        minutes=args.minutes,
        examples=args.examples,
        seed=args.seed,
        derandomize=args.derandomize,
        sides=sides,
        batch=args.batch,
        progress=None if args.quiet else say,
        progress_every=args.progress,
    )
    meta = {
        "tornado": tornado.version,
        "python": sys.version.split()[0],
        "started": started,
        "minutes": args.minutes,
        "seed": args.seed,
        "derandomize": args.derandomize,
        "sides": list(sides),
        "server_options": FUZZ_SERVER_OPTIONS,
        "client_options": FUZZ_CLIENT_OPTIONS,
    }
    report = fuzzer.report(**meta)
    with open(args.report, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    summary = fuzzer.summary(**meta)
    text_path = re.sub(r"\.json$", "", args.report) + ".txt"
    with open(text_path, "w", encoding="utf-8") as f:
        f.write(summary)
    if not args.quiet:
        print(summary, end="")
        print("report: %s and %s" % (args.report, text_path))
    return 1 if fuzzer.failures else 0


def _replay(data: bytes, side: str) -> int:
    fuzzer = Fuzzer()
    try:
        try:
            divergence = fuzzer.run_case(Case(side, (data,)))
            failure = ""
        except DifferentialFailure as exc:
            divergence = exc.divergence
            failure = divergence.failure
    finally:
        fuzzer.close()
    print(json.dumps(divergence.to_json(), indent=1))
    if failure:
        print("FAIL: %s" % failure)
    return 1 if failure else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
