"""Drop-in server and client classes that use tornado_h1 without patching.

For applications that would rather not monkey-patch Tornado, these
subclasses of Tornado's own ``HTTPServer`` and ``SimpleAsyncHTTPClient``
differ from their parents in one thing only: the HTTP/1.x connection objects
they create come from :mod:`tornado_h1.http1connection`. Every option,
log message and behaviour of the parent classes is kept.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any, Optional, cast

from tornado import httpserver, httputil, iostream, simple_httpclient

from tornado_h1 import _tornado, _wire
from tornado_h1 import http1connection as _h1
from tornado_h1._exchange import ServerExchange
from tornado_h1._options import ServerOptions
from tornado_h1._state import IN_HEAD

_PARAMETER_NAMES = (
    "no_keep_alive",
    "chunk_size",
    "max_header_size",
    "header_timeout",
    "max_body_size",
    "body_timeout",
    "decompress",
)


def _our_parameters(params: Any) -> _h1.HTTP1ConnectionParameters:
    """Carry the settings of any parameters object over to ours."""
    if isinstance(params, _h1.HTTP1ConnectionParameters):
        return params
    return _h1.HTTP1ConnectionParameters(
        **{name: getattr(params, name) for name in _PARAMETER_NAMES}
    )


class HTTPServer(httpserver.HTTPServer):
    """``tornado.httpserver.HTTPServer``, serving with tornado_h1.

    Takes exactly the arguments of its parent.
    """

    def initialize(
        self,
        *args: Any,
        h1_options: Optional[ServerOptions] = None,
        **kwargs: Any,
    ) -> None:
        """The parent's arguments, and ``h1_options``: a
        :class:`tornado_h1.ServerOptions` for this server's connections."""
        super().initialize(*args, **kwargs)
        self.conn_params = _our_parameters(self.conn_params)  # type: ignore[assignment]
        self._h1_options = h1_options
        # Our connections still serving, for drain().
        self._h1_serving: set[_h1.HTTP1ServerConnection] = set()
        # Set by drain(): every exchange that begins is its connection's last.
        self._h1_draining = False

    def handle_stream(
        self, stream: iostream.IOStream, address: tuple[Any, ...]
    ) -> None:
        if not _tornado.HAS_SERVER_HOOK:
            # This Tornado builds its connections differently: serve as the
            # parent does (with Tornado's own HTTP/1 layer).
            super().handle_stream(stream, address)
            return
        context = _tornado.request_context(self, stream, address)
        params = cast(_h1.HTTP1ConnectionParameters, self.conn_params)
        conn = _h1.HTTP1ServerConnection(stream, params, context)
        if self._h1_options is not None:
            conn._options = self._h1_options
        _tornado.track_connection(self, conn)
        conn.start_serving(self)
        self._h1_serving.add(conn)
        assert conn._serving is not None
        conn._serving.add_done_callback(lambda _: self._h1_serving.discard(conn))

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        if self._h1_draining and isinstance(request_conn, _h1.HTTP1Connection):
            # Before its head is read: its response says Connection: close.
            exchange = cast(ServerExchange, request_conn._exchange)
            exchange.end_connection(_wire.CLOSE_DRAINING)
        return super().start_request(server_conn, request_conn)

    async def drain(self, timeout: float = 30.0, idle_grace: float = 0.0) -> int:
        """Stop gracefully: take the connections already waiting in the
        listening sockets' backlog, then stop accepting; let each request
        under way finish, its response saying ``Connection: close`` if it
        has not begun (RFC 9112 §9.6), and close each connection once its
        response is out; after ``timeout`` seconds, close whatever is left.
        Returns how many connections were still open at the deadline (0:
        nothing was cut off).

        An idle connection is closed at once, unless ``idle_grace`` (in
        seconds, at most ``timeout``) is given: then it stays open that
        long, answers at most one more request (with ``Connection:
        close``) and is closed if none has begun by then; so does a
        connection whose response had already promised keep-alive, once
        that response is out. Behind a proxy with keep-alive, whose idle
        timeout is shorter than the grace, the proxy closes the idle
        connections itself, and no request it sends can cross the
        server's close."""
        self._h1_draining = True
        _tornado.accept_backlog(self)
        self.stop()
        grace = min(max(idle_grace, 0.0), timeout)
        serving = list(self._h1_serving)
        timers: list[asyncio.Handle] = []
        for conn in serving:
            _drain_connection(conn, grace, timers)
        pending = {c._serving for c in serving if c._serving is not None}
        left = 0
        if pending:
            _, still = await asyncio.wait(pending, timeout=timeout)
            left = len(still)
        for timer in timers:
            timer.cancel()
        await self.close_all_connections()
        return left


#: How long a drain waits for the first request of a connection that has
#: sent none yet (taken from the backlog, or still in its TLS handshake).
FIRST_REQUEST_WAIT = 1.0


def _drain_connection(
    server_conn: _h1.HTTP1ServerConnection,
    grace: float,
    timers: list[asyncio.Handle],
) -> None:
    """Ask one connection to end after what it is doing now; an idle one
    after at most one more request, within ``grace`` seconds (0: at once).
    The calls it schedules go to ``timers``, for the drain to cancel."""
    stream, conn = server_conn.stream, server_conn._current
    loop = asyncio.get_running_loop()
    if stream.closed():
        return
    if conn is None:
        # Accepted a moment ago: its serving loop starts on the next turn.
        timers.append(loop.call_soon(_drain_connection, server_conn, grace, timers))
        return
    exchange = cast(ServerExchange, conn._exchange)
    idle = exchange.inbound is IN_HEAD and not _tornado.holds_data(stream)
    if idle and not conn._yield_if_buffered:  # (False only for the first)
        # No request yet (a TLS handshake may still be under way): the
        # client has just connected to send one; it gets a short wait.
        grace = max(grace, FIRST_REQUEST_WAIT)
    if idle and not grace:
        stream.close()  # idle between requests: nothing to lose
        return
    exchange.end_connection(_wire.CLOSE_DRAINING)
    link = conn._link
    if link is not None and grace:
        # A response that already promised keep-alive may be followed by
        # one more request (made the last by start_request): wait for it
        # no longer than the grace.
        link.options = _idle_for_at_most(link.options, grace)
    elif link is not None:
        link.closing = _wire.CLOSE_DRAINING  # no further request is read
    if server_conn._serving is not None:
        # Serving stops once the response is out (its writes have reached
        # the socket): then the connection closes, whatever it announced,
        # unless it was handed over (a WebSocket after its 101).
        server_conn._serving.add_done_callback(
            lambda _: _close_unless_detached(server_conn)
        )
    if idle:
        timers.append(loop.call_later(grace, _close_if_idle, server_conn, conn))


def _close_unless_detached(server_conn: _h1.HTTP1ServerConnection) -> None:
    current = server_conn._current
    if current is None or current.stream is not None:
        server_conn.stream.close()


def _idle_for_at_most(options: ServerOptions, seconds: float) -> ServerOptions:
    if options.idle_timeout is not None and options.idle_timeout <= seconds:
        return options
    return dataclasses.replace(options, idle_timeout=seconds)


def _close_if_idle(
    server_conn: _h1.HTTP1ServerConnection, conn: _h1.HTTP1Connection
) -> None:
    """The grace is over: a connection whose request has not begun is
    closed (one under way ends after its response, as it was told)."""
    exchange = cast(ServerExchange, conn._exchange)
    stream = server_conn.stream
    if (
        server_conn._current is conn
        and exchange.inbound is IN_HEAD
        and not _tornado.holds_data(stream)
    ):
        stream.close()


class _ClientConnection(_tornado.client_connection_base):  # type: ignore[misc]
    def _create_connection(self, stream: iostream.IOStream) -> Any:
        theirs = super()._create_connection(stream)
        return _h1.HTTP1Connection(
            stream, True, _our_parameters(theirs.params), theirs.context
        )


class SimpleAsyncHTTPClient(simple_httpclient.SimpleAsyncHTTPClient):
    """``tornado.simple_httpclient.SimpleAsyncHTTPClient`` using tornado_h1.

    Select it for the whole process with
    ``AsyncHTTPClient.configure("tornado_h1.SimpleAsyncHTTPClient")``.
    """

    def _connection_class(self) -> type:
        if not _tornado.HAS_CLIENT_HOOK:
            return super()._connection_class()  # as the parent (see _tornado)
        return _ClientConnection
