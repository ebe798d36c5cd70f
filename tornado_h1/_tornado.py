"""The one door to Tornado's private internals.

tornado_h1 works against the real ``tornado.iostream`` and
``tornado.httputil``. Their public API answers almost everything; a few
questions it cannot answer cheaply, and for those (and only here) we read a
private attribute. Each such access is *probed* once, at import, against
the installed Tornado, and has a fallback that keeps the behaviour the same
(only slower, or more cautious). ``tests/test_core.py`` (and, for the
drain's backlog, ``tests/test_drain.py``) forces each fallback and checks
the behaviour.

=====================  ===============================  =====================
what we ask            private part used                fallback
=====================  ===============================  =====================
`holds_data`           ``IOStream._read_buffer_size``   "no" (one more loop
                                                        iteration)
`clear_close_callback` ``IOStream._close_callback``     always clear
`blank_headers`        ``HTTPHeaders.__dict__`` layout  ``HTTPHeaders()``
`add_repeat`           ``HTTPHeaders._as_list/_dict``,  ``HTTPHeaders.add``
                       ``httputil._normalize_header``   (quadratic before
                                                        6.5: CVE-2025-67725)
`request_context`      ``httpserver.                    ``tornado_h1.
                       _HTTPRequestContext``,           HTTPServer`` serves
                       ``HTTPServer._connections``      with Tornado's own
                                                        layer
`client_connection_    ``simple_httpclient.             ``tornado_h1.
base`                  _HTTPConnection``                SimpleAsyncHTTPClient``
                                                        fetches with Tornado's
                                                        own layer
`accept_backlog`       ``TCPServer._sockets``,          nothing taken: a
                       ``TCPServer.                     drain's ``stop()``
                       _handle_connection``             resets the backlog,
                                                        as upstream's does
`HAS_KEEPALIVE_HOOKS`  ``_HTTPConnection``'s methods    the keep-alive client
                       and attributes                   fetches as Tornado's:
                                                        one connection each
`request_of`,          ``httpclient._RequestProxy``     no fast path: every
`HAS_FAST_FETCH_STATE` (``request``, ``defaults``),     fetch goes through
                       ``_HTTPConnection.__init__``'s   Tornado's per-fetch
                       state                            class
=====================  ===============================  =====================

`request_context` and `client_connection_base` serve the substitute classes
of :mod:`tornado_h1._subclasses`, which hook into where Tornado makes its
connections; without the hook they behave exactly as their parents (only
not through tornado_h1). `accept_backlog` serves their graceful drain.
The last two rows serve :class:`tornado_h1.KeepAliveAsyncHTTPClient`.
"""

from __future__ import annotations

import socket
from typing import Any, Callable, Optional

from tornado import (
    httpclient,
    httpserver,
    httputil,
    iostream,
    simple_httpclient,
    tcpserver,
)
from tornado.httputil import HTTPHeaders


def _init_assigns(cls: type, name: str) -> bool:
    """Whether ``cls.__init__`` sets an attribute called ``name`` (read from
    its code object: no instance, and so no socket, is needed)."""
    code = getattr(getattr(cls, "__init__", None), "__code__", None)
    return code is not None and name in code.co_names


# -- IOStream ------------------------------------------------------------------

#: Probe: IOStream counts its unread bytes in ``_read_buffer_size``.
HAS_READ_BUFFER_SIZE = _init_assigns(iostream.BaseIOStream, "_read_buffer_size")
#: Probe: IOStream keeps its close callback in ``_close_callback``.
HAS_CLOSE_CALLBACK = _init_assigns(iostream.BaseIOStream, "_close_callback")


def _holds_data_private(stream: iostream.IOStream) -> bool:
    return bool(getattr(stream, "_read_buffer_size", 0))


def _holds_data_unknown(stream: iostream.IOStream) -> bool:
    return False


def _clear_if_set(stream: iostream.IOStream) -> None:
    # (getattr: a stream of another class may lack it; then clear.)
    if getattr(stream, "_close_callback", stream) is not None:
        stream.set_close_callback(None)


def _clear_always(stream: iostream.IOStream) -> None:
    stream.set_close_callback(None)


#: Whether the stream has received bytes nobody has read yet. IOStream has
#: no public way to ask; without the probe the answer is "no", the cautious
#: one (it costs one IOLoop iteration before the next head).
holds_data: Callable[[iostream.IOStream], bool] = (
    _holds_data_private if HAS_READ_BUFFER_SIZE else _holds_data_unknown
)

#: ``stream.set_close_callback(None)``, skipped when no callback is set:
#: clearing an empty one changes nothing, and the driver clears at three
#: points per request, where upstream does.
clear_close_callback: Callable[[iostream.IOStream], None] = (
    _clear_if_set if HAS_CLOSE_CALLBACK else _clear_always
)


# -- HTTPHeaders ---------------------------------------------------------------


def _blank_headers_maker() -> Callable[[], HTTPHeaders]:
    """A faster ``HTTPHeaders()`` for the parser.

    ``HTTPHeaders.__init__`` goes through ``MutableMapping.update`` (and its
    ABC checks) even with no arguments, which costs more than the rest of a
    small head's parse. An empty instance is only a few empty attributes,
    so the maker looks at one once, and builds the next ones the same way
    without calling ``__init__``. If the empty instance holds anything other
    than empty dicts and ``None``, or a trial entry does not behave as in a
    real instance, the maker is plain ``HTTPHeaders``.
    """
    state = getattr(HTTPHeaders(), "__dict__", None)
    if not state or not all(
        value is None or (type(value) is dict and not value) for value in state.values()
    ):
        return HTTPHeaders
    dicts = tuple(name for name, value in state.items() if value is not None)
    nones = tuple(name for name, value in state.items() if value is None)
    new = HTTPHeaders.__new__

    def blank() -> HTTPHeaders:
        headers = new(HTTPHeaders)
        attributes = headers.__dict__
        for name in dicts:
            attributes[name] = {}
        for name in nones:
            attributes[name] = None
        return headers

    made, real = blank(), HTTPHeaders()
    for target in (made, real):
        target["Host"] = "a"
        target.add("host", "b")
        target["X-Y"] = "c"
        del target["x-y"]
    if vars(made) != vars(real) or list(made.get_all()) != [
        ("Host", "a"),
        ("Host", "b"),
    ]:
        return HTTPHeaders
    return blank


#: ``HTTPHeaders()``, made without ``__init__`` where the probe allows.
blank_headers = _blank_headers_maker()

#: Not a behaviour but a cost: before the fix for CVE-2025-67725 (6.5.x),
#: ``HTTPHeaders.add()`` re-joins a field's combined value on every repeat,
#: which is quadratic in the number of repeats. Detected from the class,
#: since the fix is what matters, not the release number.
HEADERS_ADD_IS_LINEAR = hasattr(HTTPHeaders(), "_combined_cache")


def _has_list_internals() -> bool:
    probe = HTTPHeaders()
    probe.add("X-A", "1")
    normalize = getattr(httputil, "_normalize_header", None)
    return (
        callable(normalize)
        and getattr(probe, "_as_list", None) == {"X-A": ["1"]}
        and getattr(probe, "_dict", None) == {"X-A": "1"}
    )


#: Probe: the per-name lists and joined values can be filled directly.
HAS_LIST_INTERNALS = _has_list_internals()


def add_repeat(headers: HTTPHeaders, name: str, value: str, repeated: set[str]) -> None:
    """Add a repeated field. Where ``HTTPHeaders.add`` is quadratic in
    repeats, the value is appended to the per-name list and the joined value
    is made once, by `join_repeats`, after the last line."""
    if HEADERS_ADD_IS_LINEAR or not HAS_LIST_INTERNALS:
        headers.add(name, value)
        return
    norm = httputil._normalize_header(name)
    internals: Any = headers
    internals._as_list[norm].append(value)
    repeated.add(norm)


def join_repeats(headers: HTTPHeaders, repeated: set[str]) -> None:
    internals: Any = headers
    for norm in repeated:
        internals._dict[norm] = ",".join(internals._as_list[norm])


# -- where Tornado's server and client make their connections -------------------


def _server_hook_probe() -> bool:
    initialize = getattr(httpserver.HTTPServer, "initialize", None)
    code = getattr(initialize, "__code__", None)
    return (
        hasattr(httpserver, "_HTTPRequestContext")
        and code is not None
        and "_connections" in code.co_names
    )


#: Probe: HTTPServer builds a connection's context with _HTTPRequestContext
#: and tracks connections in ``_connections``.
HAS_SERVER_HOOK = _server_hook_probe()


def request_context(
    server: httpserver.HTTPServer, stream: iostream.IOStream, address: Any
) -> Any:
    """The context HTTPServer gives each connection (peer address, protocol,
    trusted proxies), as its own ``handle_stream`` makes it."""
    return httpserver._HTTPRequestContext(
        stream, address, server.protocol, server.trusted_downstream
    )


def track_connection(server: httpserver.HTTPServer, conn: Any) -> None:
    """Register a connection the way HTTPServer does, so that
    ``close_all_connections`` finds it."""
    server._connections.add(conn)


#: Probe: simple_httpclient's per-fetch class, whose connection factory
#: the substitute client overrides.
HAS_CLIENT_HOOK = (
    hasattr(simple_httpclient, "_HTTPConnection")
    and hasattr(simple_httpclient._HTTPConnection, "_create_connection")
    and hasattr(simple_httpclient.SimpleAsyncHTTPClient, "_connection_class")
)

#: The class to subclass (``object`` when the probe fails; then unused).
client_connection_base: Any = (
    simple_httpclient._HTTPConnection if HAS_CLIENT_HOOK else object
)


# -- the keep-alive client (tornado_h1._keepalive_fetch, _keepalive_fast) ------
#
# KeepAliveAsyncHTTPClient's per-fetch class overrides these methods of
# simple_httpclient._HTTPConnection and reads these of its attributes; the
# probe checks that they are all there, with the parameters the overrides
# expect. Without them the client fetches as SimpleAsyncHTTPClient does,
# one connection per fetch (a tested fallback).

#: The parameters of ``_HTTPConnection.__init__``, in order.
FETCH_INIT_PARAMETERS = (
    "self",
    "client",
    "request",
    "release_callback",
    "final_callback",
    "max_buffer_size",
    "tcp_client",
    "max_header_size",
    "max_body_size",
)

#: Overridden methods and their parameters.
_FETCH_METHODS = {
    "run": ("self",),
    "_write_body": ("self", "start_read"),
    "_handle_exception": ("self", "typ", "value", "tb"),
    "_on_end_request": ("self",),
    "_create_connection": ("self", "stream"),
    "_remove_timeout": ("self",),
    "headers_received": ("self", "first_line", "headers"),
    "_run_callback": ("self", "response"),
    "_release": ("self",),
}

#: Attributes read (set by ``__init__``).
_FETCH_ATTRIBUTES = (
    "final_callback",
    "release_callback",
    "start_time",
    "start_wall_time",
)


def _parameters(function: Any) -> tuple[str, ...]:
    code = getattr(function, "__code__", None)
    return () if code is None else code.co_varnames[: code.co_argcount]


def _keepalive_probe() -> bool:
    fetch = getattr(simple_httpclient, "_HTTPConnection", None)
    if fetch is None or not HAS_CLIENT_HOOK:
        return False
    if _parameters(fetch.__init__) != FETCH_INIT_PARAMETERS:
        return False
    for name, parameters in _FETCH_METHODS.items():
        if _parameters(getattr(fetch, name, None)) != parameters:
            return False
    # run() connects through self.tcp_client.connect (the pool's door).
    run_names = getattr(fetch.run, "__code__", None)
    if run_names is None or not {"tcp_client", "connect"} <= set(run_names.co_names):
        return False
    return all(_init_assigns(fetch, name) for name in _FETCH_ATTRIBUTES)


#: Probe: the per-fetch class can be made to reuse connections.
HAS_KEEPALIVE_HOOKS = _keepalive_probe()


def _buffer_empty_private(stream: iostream.IOStream) -> Optional[bool]:
    size = getattr(stream, "_read_buffer_size", None)
    return None if size is None else size == 0


def _buffer_empty_unknown(stream: iostream.IOStream) -> Optional[bool]:
    return None


#: Whether the stream holds no received byte that nobody has read: True,
#: False, or None where it cannot be told. The retry rule retries only on
#: True (nothing of the response arrived); a pooled connection is dropped
#: only on False. The stream keeps this count after it closes.
buffer_is_empty: Callable[[iostream.IOStream], Optional[bool]] = (
    _buffer_empty_private if HAS_READ_BUFFER_SIZE else _buffer_empty_unknown
)


def _request_proxy_probe() -> bool:
    proxy = getattr(httpclient, "_RequestProxy", None)
    return (
        proxy is not None
        and _parameters(proxy.__init__) == ("self", "request", "defaults")
        and _parameters(getattr(proxy, "__getattr__", None)) == ("self", "name")
    )


#: Probe: the client hands its fetches a ``httpclient._RequestProxy`` (the
#: request with the client's defaults), looking each attribute up anew.
HAS_REQUEST_PROXY = _request_proxy_probe()

#: The class to subclass (``object`` when the probe fails; then unused).
request_proxy_base: Any = httpclient._RequestProxy if HAS_REQUEST_PROXY else object


def request_of(proxy: Any) -> Optional[tuple[Any, dict[str, Any]]]:
    """The request and the client's defaults behind a fetch's request proxy
    (None if it is not the proxy the probe found)."""
    if type(proxy) is not request_proxy_base:
        return None
    return proxy.request, proxy.defaults or {}


#: What Tornado's per-fetch ``__init__`` sets and the methods the keep-alive
#: fast path inherits from it read (the fast path sets them itself).
FAST_FETCH_STATE = (
    "io_loop", "start_time", "start_wall_time", "client", "request",
    "release_callback", "final_callback", "max_buffer_size", "tcp_client",
    "max_header_size", "max_body_size", "code", "headers", "chunks",
    "_timeout",
)  # fmt: skip


def sets_fetch_state(fetch_class: type) -> bool:
    """Whether ``fetch_class.__init__`` sets every name of
    `FAST_FETCH_STATE` (read from its code: nothing is run)."""
    return all(_init_assigns(fetch_class, name) for name in FAST_FETCH_STATE)


#: Probe: the fast path can stand in for Tornado's per-fetch class.
HAS_FAST_FETCH_STATE = HAS_CLIENT_HOOK and sets_fetch_state(client_connection_base)


# -- a draining server's listening sockets (tornado_h1.HTTPServer.drain) -------


def _listening_probe() -> bool:
    stop = getattr(tcpserver.TCPServer.stop, "__code__", None)
    handle = getattr(tcpserver.TCPServer, "_handle_connection", None)
    return (
        _init_assigns(tcpserver.TCPServer, "_sockets")
        and stop is not None
        and "_sockets" in stop.co_names
        and _parameters(handle) == ("self", "connection", "address")
    )


#: Probe: TCPServer keeps its listening sockets in ``_sockets`` (fd to
#: socket) and hands each accepted socket to ``_handle_connection``.
HAS_LISTENING_SOCKETS = _listening_probe()

#: At most this many connections are taken from one socket's backlog (the
#: kernel's usual cap on a backlog; a flood during a drain is not served).
BACKLOG_LIMIT = socket.SOMAXCONN


def _accept_backlog_private(server: tcpserver.TCPServer) -> int:
    if getattr(server, "_stopped", False):
        return 0
    taken = 0
    for sock in list(server._sockets.values()):
        for _ in range(BACKLOG_LIMIT):
            try:
                connection, address = sock.accept()
            except BlockingIOError:
                break  # the backlog is empty
            except ConnectionAbortedError:
                continue  # reset by its client while it waited
            except OSError:
                break  # (the socket is already closed)
            server._handle_connection(connection, address)
            taken += 1
    return taken


def _accept_backlog_unknown(server: tcpserver.TCPServer) -> int:
    return 0


#: Take every connection the kernel has already accepted on the server's
#: listening sockets and hand it to the server, as its accept handler would;
#: returns how many. Called just before ``stop()``, whose close would reset
#: them (a proxy that has sent a request on one then reports an error).
#: Without the probe nothing is taken: ``stop()`` resets them, as upstream.
accept_backlog: Callable[[tcpserver.TCPServer], int] = (
    _accept_backlog_private if HAS_LISTENING_SOCKETS else _accept_backlog_unknown
)
