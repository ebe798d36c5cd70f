"""Connection reuse for Tornado's HTTP client: `KeepAliveAsyncHTTPClient`.

Tornado's ``SimpleAsyncHTTPClient`` opens a connection for every fetch and
closes it after the response. `KeepAliveAsyncHTTPClient` is that client with
a `ConnectionPool`: a connection goes back to the pool after a response only
when it is provably reusable, and the next fetch to the same origin takes it
instead of connecting.

The pieces, from a fetch's point of view:

* :mod:`tornado_h1._keepalive_pool`: `~tornado_h1._keepalive_pool.pool_key`
  says which connections a fetch may use (everything that shapes a
  connection: scheme, host, port, address family, every TLS option, source
  address, proxy settings); the rules say when a connection is provably
  reusable; `ConnectionPool` keeps the idle ones.
* :mod:`tornado_h1._keepalive_fast`: a fetch that needs none of the options
  only Tornado's per-fetch class handles, and finds an idle connection of
  its key, takes the fast path (`~tornado_h1._keepalive_fast.FastFetch`).
* :mod:`tornado_h1._keepalive_fetch`: every other fetch goes through
  `KeepAliveFetch`, Tornado's per-fetch class (reached through
  :mod:`tornado_h1._tornado`, the one door to Tornado's private parts) with
  the changes reuse needs; it also connects, and retries an idempotent
  request once when a reused connection closed before any byte of the
  response.
* The messages go through :mod:`tornado_h1.http1connection` whether or not
  tornado_h1 is installed, on either path.

Every decision is written to the ``tornado_h1.trace`` logger (at DEBUG) as
a ``[pool]`` line, with the reason for each connection not kept.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

from tornado.ioloop import IOLoop

from tornado_h1 import _keepalive_fast, _subclasses, _tornado
from tornado_h1 import http1connection as _h1
from tornado_h1._keepalive_fast import FastFetch, RequestDeadlines
from tornado_h1._keepalive_fetch import KeepAliveFetch
from tornado_h1._keepalive_pool import ConnectionPool

# -- the client --------------------------------------------------------------------


def _check_options(
    max_connections_per_origin: Optional[int],
    idle_timeout: Optional[float],
    max_idle_connections: int,
) -> None:
    if max_connections_per_origin is not None and max_connections_per_origin < 1:
        raise ValueError(
            "max_connections_per_origin must be None or at least 1, "
            f"not {max_connections_per_origin!r}"
        )
    if idle_timeout is not None and not idle_timeout > 0:
        raise ValueError(f"idle_timeout must be None or positive, not {idle_timeout!r}")
    if max_idle_connections < 0:
        raise ValueError(
            f"max_idle_connections must not be negative, not {max_idle_connections!r}"
        )


class KeepAliveAsyncHTTPClient(_subclasses.SimpleAsyncHTTPClient):
    """``SimpleAsyncHTTPClient`` reusing connections (HTTP keep-alive).

    Select it for the whole process with
    ``AsyncHTTPClient.configure("tornado_h1.KeepAliveAsyncHTTPClient")``.
    It takes the arguments of ``SimpleAsyncHTTPClient`` (``max_clients``
    keeps its meaning, and so does the queue) and these:

    :arg int max_connections_per_origin: the most connections open to one
        origin at once, in use and idle; a fetch beyond it waits for one
        (within its ``connect_timeout``). ``None`` (the default): no limit
        but ``max_clients``.
    :arg float idle_timeout: seconds an idle connection is kept (default
        30); ``None`` keeps it until the server closes it.
    :arg int max_idle_connections: the most idle connections kept, over all
        origins (default 100); the least recently used is closed first.

    `close` closes every idle connection. The rules for reuse and retry are
    in the documentation (``docs/keepalive_client.rst``).
    """

    _keepalive_pool: ConnectionPool
    _keepalive_deadlines: RequestDeadlines

    def initialize(
        self,
        *args: Any,
        max_connections_per_origin: Optional[int] = None,
        idle_timeout: Optional[float] = 30.0,
        max_idle_connections: int = 100,
        **kwargs: Any,
    ) -> None:
        _check_options(max_connections_per_origin, idle_timeout, max_idle_connections)
        super().initialize(*args, **kwargs)
        self._keepalive_pool = ConnectionPool(
            self.io_loop, max_connections_per_origin, max_idle_connections, idle_timeout
        )
        self._keepalive_deadlines = RequestDeadlines(self.io_loop)
        self._keepalive_made: dict[tuple[Any, ...], _h1.HTTP1ConnectionParameters] = {}

    def fetch_impl(self, request: Any, callback: Callable[[Any], None]) -> None:
        if self.queue or len(self.active) >= self.max_clients:
            super().fetch_impl(request, callback)
            return
        # Nothing queued and room for one more: the parent would queue the
        # fetch and start it at once; this starts it, with the same effect.
        fetch_route = self._fast_route(request)
        if fetch_route is None:
            super().fetch_impl(request, callback)  # (it checks the timeouts)
            return
        key = object()
        self.active[key] = (request, callback)
        release = functools.partial(self._release_fetch, key)
        self._start(request, release, callback, fetch_route)

    def _handle_request(
        self,
        request: Any,
        release_callback: Callable[[], None],
        final_callback: Callable[[Any], None],
    ) -> None:
        # (A fetch from the queue.)
        fetch_route = self._fast_route(request)
        self._start(request, release_callback, final_callback, fetch_route)

    def _fast_route(self, request: Any) -> Optional[_keepalive_fast.Route]:
        if not _keepalive_fast.AVAILABLE:
            return None
        return _keepalive_fast.route(request)

    def _start(
        self,
        request: Any,
        release_callback: Callable[[], None],
        final_callback: Callable[[Any], None],
        fetch_route: Optional[_keepalive_fast.Route],
    ) -> None:
        """The fast path on an idle connection, if the route allows and
        there is one; else the fallback."""
        if fetch_route is not None:
            # The loop running the fetch, which need not be the client's
            # (made at import, with no loop running; or an earlier
            # asyncio.run()): Tornado's per-fetch class runs there too.
            io_loop = IOLoop.current()
            connection = self._keepalive_pool.take(fetch_route.key, io_loop)
            if connection is not None:
                deadlines = self._keepalive_deadlines
                if deadlines.io_loop is not io_loop:
                    deadlines = self._deadlines_on(io_loop)
                FastFetch(
                    self,
                    request,
                    release_callback,
                    final_callback,
                    connection,
                    fetch_route,
                    deadlines,
                )
                return
        super()._handle_request(request, release_callback, final_callback)

    def _deadlines_on(self, io_loop: IOLoop) -> RequestDeadlines:
        """A new timer for the fast fetches' ``request_timeout``: they now
        run on ``io_loop``, another loop than the last one's."""
        self._keepalive_deadlines.close()  # (fetches under way keep theirs)
        deadlines = self._keepalive_deadlines = RequestDeadlines(io_loop)
        return deadlines

    def _keepalive_parameters(self, decompress: bool) -> _h1.HTTP1ConnectionParameters:
        """The parameters of a fast fetch's connection (made once for each
        combination of the client's limits)."""
        wanted = (self.max_header_size, self.max_body_size, decompress)
        made = self._keepalive_made.get(wanted)
        if made is None:
            made = self._keepalive_made[wanted] = _h1.HTTP1ConnectionParameters(
                max_header_size=wanted[0],
                max_body_size=wanted[1],
                decompress=decompress,
            )
        return made

    def _connection_class(self) -> type:
        if not _tornado.HAS_KEEPALIVE_HOOKS:
            # This Tornado's per-fetch class differs: one connection per
            # fetch, as the parent (see _tornado).
            return super()._connection_class()
        return KeepAliveFetch

    def close(self) -> None:
        """Close the client and every idle connection of its pool."""
        self._keepalive_pool.close()
        self._keepalive_deadlines.close()
        super().close()
