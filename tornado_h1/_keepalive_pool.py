"""The pool of `tornado_h1.KeepAliveAsyncHTTPClient`: which connections a
fetch may share (`pool_key`), when a connection is provably reusable
(`message_refusal`, `idle_problem`), and the idle connections themselves
(`ConnectionPool`, taken and given back through a `Checkout`).

Every decision is written to the ``tornado_h1.trace`` logger (at DEBUG) as
a ``[pool]`` line, with the reason for each connection not kept.
"""

from __future__ import annotations

import collections
import functools
import itertools
import logging
import select
import socket
from collections.abc import Awaitable, Hashable
from typing import TYPE_CHECKING, Any, Callable, Optional

from tornado import gen, httputil, iostream
from tornado.concurrent import Future
from tornado.ioloop import IOLoop
from tornado.util import TimeoutError as _WaitTimeout

from tornado_h1 import _tornado, _trace
from tornado_h1._link import Link

if TYPE_CHECKING:
    from tornado_h1.http1connection import HTTP1Connection

#: Methods whose request may be sent again without changing the outcome
#: (RFC 9110 §9.2.2); only these are retried.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})

PoolKey = tuple[Hashable, ...]
Dial = Callable[[], Awaitable[iostream.IOStream]]


def _note(message: str, *args: object) -> None:
    """One ``[pool]`` line of the trace."""
    if _trace.logger.isEnabledFor(logging.DEBUG):
        _trace.logger.debug("[pool] " + message, *args)


# -- what may be reused ----------------------------------------------------------


def _tls_key(request: Any) -> Hashable:
    """The TLS options of a request, as a key: the ``ssl_options`` given
    (a dict by content, an ``SSLContext`` by identity), or the fields that
    Tornado builds its context from."""
    options = request.ssl_options
    if options is None:
        return (
            "fields",
            request.validate_cert,
            request.ca_certs,
            request.client_cert,
            request.client_key,
        )
    if isinstance(options, dict):
        return ("dict", tuple(sorted(options.items(), key=lambda item: item[0])))
    return ("context", options)


def pool_key(
    request: Any,
    host: str,
    port: int,
    af: int,
    ssl_options: Any,
    source_ip: Optional[str],
    source_port: Optional[int],
) -> Optional[PoolKey]:
    """Everything that shapes a connection, or None if the fetch must not
    share one (an option that cannot be compared, such as an unhashable
    value in an ``ssl_options`` dict).

    ``af`` carries ``allow_ipv6``, ``source_ip`` the ``network_interface``.
    """
    tls = None if ssl_options is None else _tls_key(request)
    proxy = (
        request.proxy_host,
        request.proxy_port,
        request.proxy_username,
        request.proxy_password,
        request.proxy_auth_mode,
    )
    scheme = "http" if ssl_options is None else "https"
    return key_of(scheme, host, port, af, tls, source_ip, source_port, proxy)


def key_of(
    scheme: str,
    host: str,
    port: int,
    af: int,
    tls: Hashable,
    source_ip: Optional[str],
    source_port: Optional[int],
    proxy: tuple[Any, ...],
) -> Optional[PoolKey]:
    """The key of `pool_key` from its parts (proxy settings that are all
    unset, however each says it, are one and the same)."""
    proxy_key = proxy if any(proxy) else None
    key = (scheme, host.lower(), port, int(af), tls, source_ip, source_port, proxy_key)
    try:
        hash(key)
    except TypeError:
        return None
    return key


_NO_TOKENS: frozenset[str] = frozenset()


def connection_tokens(
    headers: Optional[httputil.HTTPHeaders],
) -> frozenset[str] | set[str]:
    """The options of every ``Connection`` field, in lower case."""
    values = None if headers is None else headers.get_list("Connection")
    if not values:
        return _NO_TOKENS
    return {
        token.strip(" \t").lower()  # (OWS: spaces and tabs only)
        for value in values
        for token in value.split(",")
    }


def _close_delimited(method: str, status: int, headers: httputil.HTTPHeaders) -> bool:
    """Whether the response's body ended with the connection (RFC 9112
    §6.3 step 8): a body was allowed and no field delimited it."""
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return False
    return "Content-Length" not in headers and "Transfer-Encoding" not in headers


def message_refusal(
    method: str,
    request_headers: httputil.HTTPHeaders,
    version: str,
    status: int,
    response_headers: httputil.HTTPHeaders,
) -> Optional[str]:
    """Why the request and its response rule out another exchange on the
    connection (RFC 9112 §9.3), or None."""
    if "close" in connection_tokens(request_headers):
        return "the request said Connection: close"
    tokens = connection_tokens(response_headers)
    if "close" in tokens:
        return "the response said Connection: close"
    if version == "HTTP/1.0" and "keep-alive" not in tokens:
        return "an HTTP/1.0 response without Connection: keep-alive"
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        return f"a response of version {version}"
    if _close_delimited(method, status, response_headers):
        return "the response's body was delimited by the close of the connection"
    return None


def _readable(stream: iostream.IOStream) -> bool:
    """Whether the socket has something to read right now (end of file
    included). For an idle connection that is never a response, so the
    connection is not reused. (A socket that cannot be asked counts as
    readable.)"""
    sock = stream.socket
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLIN)
            return bool(poller.poll(0))
        ready, _, _ = select.select([sock], [], [], 0)
        return bool(ready)
    except (OSError, ValueError):
        return True


def idle_problem(stream: iostream.IOStream, expired: bool) -> Optional[str]:
    """Why an idle connection must not be reused, or None: noticing a
    server's close before reuse, where it can be noticed."""
    if stream.closed():
        return "closed while idle"
    if expired:
        return "idle for longer than idle_timeout"
    if _tornado.buffer_is_empty(stream) is False:
        return "the server sent bytes while it was idle"
    if _readable(stream):
        return "the server closed it (or sent bytes) while it was idle"
    return None


# -- the pool --------------------------------------------------------------------


class PooledConnection:
    """A connection the pool made: its stream, its key and a number for
    the trace (``p1``, ``p2``...)."""

    __slots__ = (
        "stream", "key", "origin", "number", "uses", "idle_until", "on_close",
        "link",
    )  # fmt: skip

    def __init__(
        self,
        stream: iostream.IOStream,
        key: Optional[PoolKey],
        origin: str,
        number: int,
    ) -> None:
        self.stream, self.key, self.origin, self.number = stream, key, origin, number
        self.uses = 1
        self.idle_until = 0.0
        #: Set by the pool: what runs if the stream closes while idle.
        self.on_close: Optional[Callable[[], None]] = None
        #: What the connection's exchanges share (its timer, whether
        #: TCP_NODELAY is set): one for all of them, as a server's.
        self.link = Link(stream)

    def carry(self, connection: HTTP1Connection) -> HTTP1Connection:
        """``connection`` (an HTTP1Connection on our stream) with the link
        every exchange of this connection shares."""
        connection._link = self.link
        return connection


class _Origin:
    """The connections of one pool key."""

    __slots__ = ("idle", "open", "waiters")

    def __init__(self) -> None:
        # Most recently used last: the next fetch takes the warmest one.
        self.idle: collections.OrderedDict[PooledConnection, None] = (
            collections.OrderedDict()
        )
        self.open = 0  # in use and idle
        self.waiters: collections.deque[Future[None]] = collections.deque()


class ConnectionPool:
    """The idle connections of one client, by `pool_key`.

    Its idle connections all belong to one IOLoop (``io_loop``): the pool
    follows the loop its fetches run on, and when that changes (a client
    made with no loop running, then used in ``asyncio.run()``; or a second
    ``asyncio.run()``) it closes the idle connections of the previous loop
    first, as their streams would wait on a loop that no longer runs.

    :arg io_loop: the IOLoop to start with (the client's).
    :arg max_per_origin: the most connections open to one key at once (in
        use and idle); a fetch beyond it waits for one. None: no limit but
        ``max_clients``.
    :arg max_idle: the most idle connections kept, over all keys; the least
        recently used goes first.
    :arg idle_timeout: seconds an idle connection is kept; None: no limit.
    """

    def __init__(
        self,
        io_loop: IOLoop,
        max_per_origin: Optional[int],
        max_idle: int,
        idle_timeout: Optional[float],
    ) -> None:
        #: The IOLoop of the idle connections (see the class's text).
        self.io_loop = io_loop
        self.max_per_origin, self.max_idle = max_per_origin, max_idle
        self.idle_timeout = idle_timeout
        self.closed = False
        #: Connections opened so far.
        self.opened = 0
        self._origins: dict[PoolKey, _Origin] = {}
        # Every idle connection, least recently used first (and so in the
        # order of their idle deadlines).
        self._idle: collections.OrderedDict[PooledConnection, None] = (
            collections.OrderedDict()
        )
        self._sweep: Optional[object] = None
        self._numbers = itertools.count(1)

    @property
    def idle_count(self) -> int:
        """Idle connections in the pool."""
        return len(self._idle)

    async def acquire(
        self,
        key: Optional[PoolKey],
        origin_text: str,
        dial: Dial,
        timeout: Optional[float],
        fresh: bool,
    ) -> tuple[PooledConnection, bool]:
        """A connection for ``key``: an idle one (then True), or, within
        the origin's limit, a new one from ``dial`` (then False). ``fresh``
        refuses idle ones. Raises TimeoutError if ``timeout`` seconds pass
        waiting for the limit."""
        io_loop = IOLoop.current()
        self.follow(io_loop)
        if key is None:
            stream = await dial()
            return self._made(stream, None, origin_text, "not shared"), False
        deadline = None if timeout is None else io_loop.time() + timeout
        while True:
            if not fresh:
                connection = self.take(key, io_loop)
                if connection is not None:
                    return connection, True
            # (Looked up after take(), which may have forgotten the key.)
            origin = self._origins.setdefault(key, _Origin())
            limit = self.max_per_origin
            if self.closed or limit is None or origin.open < limit:
                break
            await self._wait(origin, deadline, origin_text)
        origin.open += 1
        try:
            stream = await dial()
        except BaseException:
            self._forget(key)
            raise
        return self._made(stream, key, origin_text, "opened"), False

    def _made(
        self, stream: iostream.IOStream, key: Optional[PoolKey], text: str, how: str
    ) -> PooledConnection:
        self.opened += 1
        connection = PooledConnection(stream, key, text, next(self._numbers))
        _note("p%d %s: %s", connection.number, how, text)
        return connection

    async def _wait(
        self, origin: _Origin, deadline: Optional[float], origin_text: str
    ) -> None:
        """Wait for a connection of the origin to come back or close."""
        waiter: Future[None] = Future()
        origin.waiters.append(waiter)
        try:
            if deadline is None:
                await waiter
            else:
                await gen.with_timeout(deadline, waiter)
        except _WaitTimeout:
            if waiter.done():
                self._wake(origin)  # (our turn came too late: pass it on)
            else:
                origin.waiters.remove(waiter)
            raise TimeoutError(
                f"Timeout while waiting for a connection to {origin_text}"
            ) from None

    def follow(self, io_loop: IOLoop) -> None:
        """Fetches run on ``io_loop`` now: if that is another loop than the
        pool's, close the idle connections of the pool's loop first."""
        if io_loop is self.io_loop:
            return
        previous, self.io_loop = self.io_loop, io_loop
        if self._sweep is not None:
            # (Cancelling a timer is safe on a closed loop: it only marks it.)
            previous.remove_timeout(self._sweep)
            self._sweep = None
        # Closing their streams unregisters them from a loop that is not
        # running (a loop runs one at a time in a thread, and the client is
        # not thread-safe); on a closed loop that does nothing.
        for connection in list(self._idle):
            self._drop_idle(connection, "its IOLoop is no longer the one running")

    def take(self, key: PoolKey, io_loop: IOLoop) -> Optional[PooledConnection]:
        """The most recently used idle connection of ``key`` that is still
        usable, or None; ``io_loop`` is the loop running the fetch (the
        connection is one of its own)."""
        if io_loop is not self.io_loop:
            self.follow(io_loop)
        origin = self._origins.get(key)
        now = io_loop.time()
        while origin is not None and origin.idle:
            connection, _ = origin.idle.popitem()
            del self._idle[connection]
            stream = connection.stream
            stream.set_close_callback(None)
            problem = idle_problem(stream, now >= connection.idle_until)
            if problem is None:
                connection.uses += 1
                _note("p%d reused (fetch %d on it)", connection.number, connection.uses)
                return connection
            _note("p%d dropped: %s", connection.number, problem)
            self._close(connection)
            origin = self._origins.get(key)
        return None

    def give_back(self, connection: PooledConnection, refusal: Optional[str]) -> None:
        """The fetch on ``connection`` is over; ``refusal`` says why the
        connection cannot be reused (None: it can)."""
        # (The fetch ended on the connection's own loop, so that one runs.)
        io_loop = connection.stream.io_loop
        if io_loop is not self.io_loop:
            self.follow(io_loop)
        if refusal is None and self.closed:
            refusal = "the client is closed"
        if refusal is None and connection.key is None:
            refusal = "its options cannot be compared (an unhashable ssl_options value)"
        if refusal is not None:
            _note("p%d not kept: %s", connection.number, refusal)
            self._close(connection)
            return
        self._keep(connection)

    def _keep(self, connection: PooledConnection) -> None:
        assert connection.key is not None
        origin = self._origins[connection.key]
        timeout = self.idle_timeout
        connection.idle_until = (
            float("inf") if timeout is None else self.io_loop.time() + timeout
        )
        origin.idle[connection] = None
        self._idle[connection] = None
        # (A close callback also makes the stream watch the idle socket.)
        if connection.on_close is None:
            connection.on_close = functools.partial(self._closed_while_idle, connection)
        connection.stream.set_close_callback(connection.on_close)
        _note("p%d kept: %d idle in the pool", connection.number, len(self._idle))
        self._arm_sweep(connection.idle_until)
        if len(self._idle) > self.max_idle:
            oldest = next(iter(self._idle))
            self._drop_idle(oldest, "more than max_idle_connections idle")
        self._wake(origin)

    def _closed_while_idle(self, connection: PooledConnection) -> None:
        if connection in self._idle:
            self._drop_idle(connection, "closed by the server while idle")

    def _drop_idle(self, connection: PooledConnection, why: str) -> None:
        del self._idle[connection]
        assert connection.key is not None
        del self._origins[connection.key].idle[connection]
        connection.stream.set_close_callback(None)
        _note("p%d dropped: %s", connection.number, why)
        self._close(connection)

    def _close(self, connection: PooledConnection) -> None:
        connection.stream.close()
        if connection.key is not None:
            self._forget(connection.key)

    def _forget(self, key: PoolKey) -> None:
        """One connection of ``key`` fewer: a waiter may open another."""
        origin = self._origins[key]
        origin.open -= 1
        self._wake(origin)
        if not origin.open and not origin.waiters:
            del self._origins[key]

    def _wake(self, origin: _Origin) -> None:
        while origin.waiters:
            waiter = origin.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _arm_sweep(self, when: float) -> None:
        if self._sweep is None and when != float("inf"):
            self._sweep = self.io_loop.call_at(when, self._run_sweep)

    def _run_sweep(self) -> None:
        """Close the connections idle for longer than ``idle_timeout`` (one
        timer for the pool, not one per connection)."""
        self._sweep = None
        now = self.io_loop.time()
        while self._idle:
            oldest = next(iter(self._idle))
            if oldest.idle_until > now:
                self._arm_sweep(oldest.idle_until)
                return
            self._drop_idle(oldest, "idle for longer than idle_timeout")

    def close(self) -> None:
        """Close every idle connection; connections in use close when their
        fetch ends; waiting fetches stop waiting."""
        self.closed = True
        if self._sweep is not None:
            self.io_loop.remove_timeout(self._sweep)
            self._sweep = None
        for connection in list(self._idle):
            self._drop_idle(connection, "the client was closed")
        for origin in list(self._origins.values()):
            while origin.waiters:
                self._wake(origin)


class Checkout:
    """One fetch's connection: taken from the pool and given back.

    It stands where Tornado's per-fetch class expects its ``TCPClient``,
    whose ``connect`` it mirrors.
    """

    __slots__ = ("pool", "tcp_client", "request", "fresh", "connection", "reused")

    def __init__(
        self, pool: ConnectionPool, tcp_client: Any, request: Any, fresh: bool
    ) -> None:
        self.pool, self.tcp_client, self.request = pool, tcp_client, request
        #: A retry: only a new connection will do.
        self.fresh = fresh
        self.connection: Optional[PooledConnection] = None
        self.reused = False

    async def connect(
        self,
        host: str,
        port: int,
        af: int = socket.AF_UNSPEC,
        ssl_options: Any = None,
        max_buffer_size: Optional[int] = None,
        source_ip: Optional[str] = None,
        source_port: Optional[int] = None,
        timeout: Optional[float] = None,
    ) -> iostream.IOStream:
        key = pool_key(
            self.request, host, port, af, ssl_options, source_ip, source_port
        )
        if key is not None and not self.fresh:
            # (The usual case, without building what connecting needs.)
            connection = self.pool.take(key, IOLoop.current())
            if connection is not None:
                self.connection, self.reused = connection, True
                return connection.stream
        scheme = "http" if ssl_options is None else "https"
        text = f"{scheme}://{host}:{port}"
        # (Older Tornado passes no timeout: it keeps its own timer.)
        options = {} if timeout is None else {"timeout": timeout}
        dial = functools.partial(
            self.tcp_client.connect,
            host,
            port,
            af=af,
            ssl_options=ssl_options,
            max_buffer_size=max_buffer_size,
            source_ip=source_ip,
            source_port=source_port,
            **options,
        )
        self.connection, self.reused = await self.pool.acquire(
            key, text, dial, timeout, self.fresh
        )
        return self.connection.stream

    def give_back(self, refusal: Optional[str]) -> None:
        """Return the connection (once), with why it cannot be reused."""
        connection = self.connection
        if connection is not None:
            self.connection = None
            self.pool.give_back(connection, refusal)
