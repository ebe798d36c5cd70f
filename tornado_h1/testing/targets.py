"""The harness of the security tests and of ``tornado-h1 fuzz``.

:class:`ServerTarget` is one HTTP server (upstream's or tornado_h1's, from
:mod:`tornado_h1.testing.servers`) serving the recording application, and a
way to throw bytes at it over a real socket: it waits, deterministically,
until the server has done all it will do with them, and returns a
:class:`ServerOutcome` (what reached the application, the bytes sent back,
whether the connection was closed, the reasons logged for refusing it, and
every ERROR log record). :class:`ClientTarget` does the same for a client
fetching from a scripted :class:`ResponseServer`. ``classify_server`` and
``classify_client`` compare two outcomes for the same input.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Iterable, Sequence
from typing import Any, Callable, Optional, TypeVar, Union, cast

import tornado.httpclient
import tornado.httpserver
import tornado.iostream
import tornado.testing

from tornado_h1.testing.logs import ALL_LOGGERS, LogRecorder
from tornado_h1.testing.servers import Served, client_class, make_app, server_class
from tornado_h1.testing.wire import PATIENCE, show, statuses, strip_volatile, unread

__all__ = [
    "PATIENCE",
    "ClientOutcome",
    "ClientTarget",
    "ResponseServer",
    "ScriptResult",
    "ServerOutcome",
    "ServerTarget",
    "classify_client",
    "classify_server",
    "is_prefix",
    "served_more",
    "show",
    "statuses",
    "strip_volatile",
    "unread",
    "until",
]

_T = TypeVar("_T")


# ===========================================================================
# Sockets
# ===========================================================================


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
        return self.closed or unread(self.sock) == 0


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
            "served": [[s.method, s.uri, show(s.body)] for s in self.served],
            "statuses": self.statuses,
            "response": show(strip_volatile(self.response)),
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
        with LogRecorder(ALL_LOGGERS) as logs:
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
                        and unread(server_sock) == 0
                        and reader.settled()
                    )

                def progress() -> object:
                    # Anything the server visibly does.
                    return (
                        len(self.served),
                        len(reader.buffer),
                        reader.closed,
                        stream.closed() or unread(server_sock),
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
            errors=logs.error_lines(),
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
            "body": show(self.body),
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
        with LogRecorder(ALL_LOGGERS) as logs:
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
                errors=logs.error_lines(),
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
            errors=logs.error_lines(),
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
