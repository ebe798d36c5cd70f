"""The fast path of `tornado_h1.KeepAliveAsyncHTTPClient`: a fetch on an
idle pooled connection, for a request that needs none of the options that
only Tornado's per-fetch class handles.

`route` decides: it reads the request's options once (the request, else
the client's defaults, as Tornado's request proxy answers) and says where
the fetch goes. Anything it does not take goes to the fallback,
:class:`~tornado_h1._keepalive_fetch.KeepAliveFetch`:

* a ``body_producer``, ``streaming_callback``, ``header_callback``,
  ``expect_100_continue``, ``network_interface`` or any proxy setting;
* a method outside Tornado's standard seven, user info in the URL, an
  ``auth_mode`` other than basic, a body where the method takes none (or
  none where it needs one), a URL Tornado would refuse, a ``None``
  timeout;
* no idle connection for the fetch's pool key (the fallback connects).

`FastFetch` then sends the request and reads the response through
:mod:`tornado_h1.http1connection` itself, with one task per fetch, and
`RequestDeadlines` keeps every ``request_timeout`` of a client on one
timer of the loop running its fetches. A fast fetch runs on that loop, the
current one, as Tornado's per-fetch class does (not on the loop the client
was made on), and only on a connection of that loop (the pool sees to
it). What a response may still need (a redirect to follow) and every
failure (the retry rule, the error responses) are the fallback's own code,
inherited.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import operator
import socket
import sys
import time
import urllib.parse
from collections.abc import Coroutine
from io import BytesIO
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional

from tornado import httpclient, httputil, iostream, version
from tornado.escape import _unicode
from tornado.ioloop import IOLoop

from tornado_h1 import _tornado
from tornado_h1 import http1connection as _h1
from tornado_h1._keepalive_fetch import KeepAliveFetch
from tornado_h1._keepalive_pool import (
    Checkout,
    PooledConnection,
    PoolKey,
    _note,
    _tls_key,
    key_of,
)

if TYPE_CHECKING:
    from tornado_h1._keepalive import KeepAliveAsyncHTTPClient

#: The methods Tornado's client sends without ``allow_nonstandard_methods``.
STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}
)
#: Methods Tornado's client refuses to send without a body.
_BODY_METHODS = frozenset({"POST", "PATCH", "PUT"})
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})

#: Options that only the fallback handles: set (to anything true), the
#: fetch goes there.
FALLBACK_OPTIONS = (
    "body_producer",
    "streaming_callback",
    "header_callback",
    "expect_100_continue",
    "network_interface",
    "proxy_host",
    "proxy_port",
    "proxy_username",
    "proxy_password",
    "proxy_auth_mode",
)

#: Probe: the fast path can stand in for Tornado's per-fetch class
#: (without it, every fetch goes through the fallback).
AVAILABLE = (
    _tornado.HAS_KEEPALIVE_HOOKS
    and _tornado.HAS_REQUEST_PROXY
    and _tornado.HAS_FAST_FETCH_STATE
)


class Target(NamedTuple):
    """What a URL says about where and what to send (as Tornado's client
    reads it)."""

    https: bool
    host: str
    port: int
    host_field: str
    path: str


_TARGETS: dict[str, Optional[Target]] = {}
_MAX_TARGETS = 256


def target(url: str) -> Optional[Target]:
    """The `Target` of ``url``, or None for a URL the fallback must take
    (remembered for a few hundred URLs: clients fetch the same ones)."""
    known = _TARGETS.get(url, False)
    if known is not False:
        return known  # type: ignore[return-value]
    try:
        found = _parse_target(url)
    except Exception:
        found = None  # (the fallback reports it as Tornado does)
    if len(_TARGETS) >= _MAX_TARGETS:
        _TARGETS.clear()
    _TARGETS[url] = found
    return found


def _parse_target(url: str) -> Optional[Target]:
    parts = urllib.parse.urlsplit(_unicode(url))
    if parts.scheme not in ("http", "https") or "@" in parts.netloc:
        return None  # (user info: the fallback's rules for it)
    host, port = httputil.split_host_and_port(parts.netloc)
    https = parts.scheme == "https"
    if port is None:
        port = 443 if https else 80
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # an IPv6 literal
    path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    return Target(https, host, port, parts.netloc, path)


class Route(NamedTuple):
    """A fetch the fast path takes: its pool key, target and options."""

    key: PoolKey
    target: Target
    method: str
    body: Optional[bytes]
    request_timeout: float
    authorization: Optional[str]
    user_agent: Optional[str]
    decompress: bool


_FALLBACK_VALUES = operator.attrgetter(*FALLBACK_OPTIONS)
_ROUTE_VALUES = operator.attrgetter(
    "request_timeout",
    "connect_timeout",
    "allow_nonstandard_methods",
    "user_agent",
    "decompress_response",
    "allow_ipv6",
)


def _falls_back(request: Any, defaults: dict[str, Any]) -> bool:
    """Whether a `FALLBACK_OPTIONS` option is set, in the request or (where
    the request leaves it None) in the defaults."""
    values = _FALLBACK_VALUES(request)
    if any(values):
        return True
    if not any(map(defaults.get, FALLBACK_OPTIONS)):
        return False
    return any(
        defaults.get(name)
        for name, value in zip(FALLBACK_OPTIONS, values)
        if value is None
    )


def route(proxy: Any) -> Optional[Route]:
    """The `Route` of a request (Tornado's proxy of it, with the client's
    defaults), or None if the fallback must take it."""
    behind = _tornado.request_of(proxy)
    if behind is None:
        return None
    request, defaults = behind
    if _falls_back(request, defaults):
        return None
    found, method, body = target(request.url), request.method, request.body
    if body is None:
        body = defaults.get("body")
    timeout, connect, nonstandard, agent, decompress, ipv6 = _ROUTE_VALUES(request)
    get = defaults.get
    # (Each None: the default, as Tornado's request proxy answers.)
    timeout = get("request_timeout") if timeout is None else timeout
    connect = get("connect_timeout") if connect is None else connect
    nonstandard = (
        get("allow_nonstandard_methods") if nonstandard is None else nonstandard
    )
    agent = get("user_agent") if agent is None else agent
    decompress = get("decompress_response") if decompress is None else decompress
    ipv6 = get("allow_ipv6") if ipv6 is None else ipv6
    if found is None or connect is None or timeout is None:
        return None  # (a URL Tornado refuses; Tornado's assertion on None)
    if method not in STANDARD_METHODS or (
        not nonstandard and (method in _BODY_METHODS) != (body is not None)
    ):
        return None  # (the errors Tornado's client raises for them)
    key = _key(found, ipv6, proxy)
    if key is None or _other_auth_mode(request, get):
        return None
    authorization = _authorization(request, get)
    return Route(
        key, found, method, body, timeout, authorization, agent, bool(decompress)
    )


def _other_auth_mode(request: Any, default: Callable[[str], Any]) -> bool:
    """Whether credentials come with an ``auth_mode`` other than basic
    (Tornado's client refuses it, and the fallback says so as it does)."""
    if request.auth_username is None and default("auth_username") is None:
        return False
    mode = request.auth_mode
    return (default("auth_mode") if mode is None else mode) not in (None, "basic")


def _authorization(request: Any, default: Callable[[str], Any]) -> Optional[str]:
    """The ``Authorization`` field of ``auth_username`` and
    ``auth_password``, or None."""
    username = request.auth_username
    if username is None:
        username = default("auth_username")
        if username is None:
            return None
    password = request.auth_password
    if password is None:
        password = default("auth_password")
    credentials = httputil.encode_username_password(username, password or "")
    return "Basic " + _unicode(base64.b64encode(credentials))


def _key(found: Target, allow_ipv6: Any, proxy: Any) -> Optional[PoolKey]:
    """The fetch's pool key, as the fallback makes it."""
    af = socket.AF_INET if allow_ipv6 is False else socket.AF_UNSPEC
    # (TLS: the options read through Tornado's proxy; then TLS costs more.)
    tls = _tls_key(proxy) if found.https else None
    scheme = "https" if found.https else "http"
    return key_of(scheme, found.host, found.port, af, tls, None, None, ())


class RequestDeadlines:
    """The ``request_timeout`` of every fast fetch of one client on one
    IOLoop, on one timer of that loop: armed for the earliest deadline,
    and moved only when a fetch must end sooner (sequential fetches with
    the same timeout arm it once per timeout, not once per fetch)."""

    def __init__(self, io_loop: IOLoop) -> None:
        self.io_loop = io_loop
        self._due: dict[FastFetch, float] = {}
        self._timer: Optional[object] = None
        self._timer_at = float("inf")

    def add(self, fetch: FastFetch, when: float) -> None:
        self._due[fetch] = when
        if when < self._timer_at:
            self._arm(when)

    def discard(self, fetch: FastFetch) -> None:
        self._due.pop(fetch, None)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self.io_loop.remove_timeout(self._timer)
        self._timer, self._timer_at = self.io_loop.call_at(when, self._expire), when

    def close(self) -> None:
        """The client is closed: drop the timer unless a fetch under way
        still needs it (its timeout still fires, as Tornado's would)."""
        if not self._due and self._timer is not None:
            self.io_loop.remove_timeout(self._timer)
            self._timer, self._timer_at = None, float("inf")

    def _expire(self) -> None:
        self._timer, self._timer_at = None, float("inf")
        now = self.io_loop.time()
        for fetch in [f for f, when in self._due.items() if when <= now]:
            del self._due[fetch]
            fetch._on_timeout("during request")
        if self._due:
            self._arm(min(self._due.values()))


class FastFetch(KeepAliveFetch):
    """One fetch on an idle pooled connection (see the module's text).

    It is the fallback's class without its ``run``: Tornado's constructor
    (which starts ``run``, and so connecting) is not called; this one sets
    the state that the inherited methods read, and the exchange runs in
    `_exchange`.
    """

    _redirecting = False

    def __init__(  # noqa: PLR0913
        self,
        client: KeepAliveAsyncHTTPClient,
        request: Any,
        release_callback: Callable[[], None],
        final_callback: Callable[[Any], None],
        pooled: PooledConnection,
        fetch_route: Route,
        deadlines: RequestDeadlines,
    ) -> None:
        # (The loop running the fetch, whose connection this is.)
        io_loop = self.io_loop = deadlines.io_loop
        self.start_time = io_loop.time()
        self.start_wall_time = time.time()
        self.client, self.request = client, request
        self.release_callback, self.final_callback = release_callback, final_callback
        self.max_buffer_size, self.tcp_client = (
            client.max_buffer_size,
            client.tcp_client,
        )
        self.max_header_size = client.max_header_size
        self.max_body_size = client.max_body_size
        self.code: Optional[int] = None
        self.headers: Optional[httputil.HTTPHeaders] = None
        self.chunks = bytearray()
        self._decompressor = self._timeout = self._sockaddr = None
        self._first_try_times = None
        checkout = self._checkout = Checkout(
            client._keepalive_pool, client.tcp_client, request, False
        )
        checkout.connection, checkout.reused = pooled, True
        self._pooled, self._route = pooled, fetch_route
        self._deadlines = deadlines
        if fetch_route.request_timeout:
            deadlines.add(self, self.start_time + fetch_route.request_timeout)
        loop = getattr(io_loop, "asyncio_loop", None)
        if loop is not None:
            start_now(self._exchange(), loop)
        else:
            asyncio.ensure_future(self._exchange())

    async def _exchange(self) -> None:
        try:
            if self.final_callback is None:
                return  # (timed out before it began)
            connection = self._send()
            try:
                await connection.read_response(self)
            except iostream.StreamClosedError:
                if not self._handle_exception(*sys.exc_info()):
                    raise
        except Exception:
            if not self._handle_exception(*sys.exc_info()):
                raise
        finally:
            self._checkout.give_back(self._reuse_refusal())

    def _send(self) -> _h1.HTTP1Connection:
        """Write the request: the fields Tornado's client adds, in its
        order (``Connection: keep-alive`` instead of ``close``)."""
        fetch_route, request = self._route, self.request.request
        headers = request.headers
        if "Connection" not in headers:
            headers["Connection"] = "keep-alive"
        if "Host" not in headers:
            headers["Host"] = fetch_route.target.host_field
        if fetch_route.authorization is not None:
            headers["Authorization"] = fetch_route.authorization
        if fetch_route.user_agent:
            headers["User-Agent"] = fetch_route.user_agent
        elif "User-Agent" not in headers:  # (get() raises and catches inside)
            headers["User-Agent"] = f"Tornado/{version}"
        body, method = fetch_route.body, fetch_route.method
        if body is not None:
            headers["Content-Length"] = str(len(body))
        if method == "POST" and "Content-Type" not in headers:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if fetch_route.decompress:
            headers["Accept-Encoding"] = "gzip"
        pooled = self._pooled
        stream = self.stream = pooled.stream
        connection = self.connection = pooled.carry(
            _h1.HTTP1Connection(
                stream, True, self.client._keepalive_parameters(fetch_route.decompress)
            )
        )
        _note("p%d carries %s %s", pooled.number, method, request.url)
        line = httputil.RequestStartLine(method, fetch_route.target.path, "")
        connection.write_headers(line, headers)
        if body is not None:
            connection.write(body)
        connection.finish()
        self._body_begun = True
        return connection

    def headers_received(  # type: ignore[override]
        self,
        first_line: httputil.ResponseStartLine | httputil.RequestStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        self._count_head(first_line)
        assert isinstance(first_line, httputil.ResponseStartLine)
        self.code, self.reason, self.headers = (
            first_line.code,
            first_line.reason,
            headers,
        )
        if first_line.code in _REDIRECT_CODES:
            # Tornado's own rule, and then its own finish() follows it.
            self._redirecting = self._should_follow_redirect()

    def data_received(self, chunk: bytes) -> None:
        if not self._redirecting:  # (a redirect's body is dropped)
            self.chunks += chunk

    def finish(self) -> None:
        if self._redirecting:
            super().finish()
            return
        self._remove_timeout()
        proxy = self.request
        behind = _tornado.request_of(proxy)
        request = proxy if behind is None else behind[0]
        # (Set on a redirect's request; looked up without raising, which
        # costs more than the rest of this method.)
        original = vars(request).get("original_request", proxy)
        if original is None:
            original = getattr(proxy, "original_request", proxy)
        response = httpclient.HTTPResponse(
            original,
            self.code,  # type: ignore[arg-type]
            reason=self.reason,
            headers=self.headers,
            request_time=self.io_loop.time() - self.start_time,
            start_time=self.start_wall_time,
            buffer=BytesIO(bytes(self.chunks)),
            effective_url=request.url,
        )
        self._run_callback(response)
        self._on_end_request()

    def _remove_timeout(self) -> None:
        self._deadlines.discard(self)


# -- running the exchange without a task ------------------------------------------


def start_now(
    coroutine: Coroutine[Any, Any, None], loop: asyncio.AbstractEventLoop
) -> None:
    """Run ``coroutine`` at once up to its first wait, and on from each
    wait when the future it awaits is done: a task, less its first
    iteration.

    A task begins on the event loop's next iteration, so a fetch would
    spend one iteration (about a sixth of it) before its request is even
    sent; here the request goes out inside ``fetch()``. The rest of a task
    is not needed: a fetch ends by closing its stream, not by being
    cancelled, and reports through its callback, not a result. What it
    awaits are IOStream futures (or, from the driver, a bare ``yield``).
    """
    try:
        waited = coroutine.send(None)
    except StopIteration:
        return
    except BaseException as e:  # (what a task would keep for its awaiter)
        loop.call_exception_handler(
            {"message": "Exception in a keep-alive fetch", "exception": e}
        )
        return
    if waited is None:  # a bare yield: on at the next iteration
        loop.call_soon(start_now, coroutine, loop)
        return
    # (An asyncio future marks itself so before it yields itself; a task
    # clears the mark in the same way.)
    waited._asyncio_future_blocking = False
    waited.add_done_callback(functools.partial(_resume, coroutine, loop))


def _resume(
    coroutine: Coroutine[Any, Any, None],
    loop: asyncio.AbstractEventLoop,
    done: asyncio.Future[Any],
) -> None:
    start_now(coroutine, loop)
