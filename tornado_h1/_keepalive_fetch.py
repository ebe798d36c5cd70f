"""The fallback fetch of `tornado_h1.KeepAliveAsyncHTTPClient`:
`KeepAliveFetch` is Tornado's per-fetch class (reached through
:mod:`tornado_h1._tornado`, the one door to Tornado's private parts) with
the changes reuse needs: it asks for keep-alive instead of ``close``, does
not close the stream after the response, decides whether the connection is
reusable (`~tornado_h1._keepalive_pool.message_refusal` and its own state),
and retries an idempotent request once when a reused connection closed
before any byte of the response. It takes every fetch that the fast path
(:mod:`tornado_h1._keepalive_fast`) does not.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Callable, Optional

from tornado import httputil, iostream, simple_httpclient

from tornado_h1 import _tornado
from tornado_h1 import http1connection as _h1
from tornado_h1._keepalive_pool import (
    IDEMPOTENT_METHODS,
    Checkout,
    _note,
    message_refusal,
)

if TYPE_CHECKING:
    from tornado_h1._keepalive import KeepAliveAsyncHTTPClient

_PROPERTIES: dict[type, tuple[str, ...]] = {}


def _properties(cls: type) -> tuple[str, ...]:
    """The names of the properties of a request class (``headers``,
    ``body``), which its instances keep under other names."""
    names = _PROPERTIES.get(cls)
    if names is None:
        names = _PROPERTIES[cls] = tuple(
            name
            for klass in cls.__mro__
            for name, value in vars(klass).items()
            if isinstance(value, property)
        )
    return names


class _RememberingRequest(_tornado.request_proxy_base):  # type: ignore[misc]
    """The request with the client's defaults, as Tornado's proxy of it,
    but resolved once, when it is made (the per-fetch class reads some
    attributes several times per fetch): an attribute of the request that
    is not None, else the default. Any other name is looked up as Tornado's
    proxy does, once."""

    def __init__(self, request: Any, defaults: Optional[dict[str, Any]]) -> None:
        super().__init__(request, defaults)
        resolved = self.__dict__
        if defaults is not None:
            resolved.update(defaults)
        for name, value in vars(request).items():
            if value is not None:
                resolved[name] = value
            elif name not in resolved:
                resolved[name] = None  # (neither has it: the proxy's None)
        for name in _properties(type(request)):
            value = getattr(request, name)
            if value is not None:
                resolved[name] = value
        resolved["request"], resolved["defaults"] = request, defaults

    def __getattr__(self, name: str) -> Any:
        value = super().__getattr__(name)
        self.__dict__[name] = value
        return value


def _remembering(request: Any) -> Any:
    behind = _tornado.request_of(request) if _tornado.HAS_REQUEST_PROXY else None
    if behind is None:
        return request
    return _RememberingRequest(*behind)


class KeepAliveFetch(_tornado.client_connection_base):  # type: ignore[misc]
    """Tornado's per-fetch class, on a connection from the pool."""

    # Set by the parent; the retry hands them on.
    final_callback: Optional[Callable[[Any], None]]
    release_callback: Optional[Callable[[], None]]
    # Per-fetch state, with its starting values on the class.
    _heads_received = 0
    _body_begun = False
    _response_ended = False
    _failed = False
    _upgraded = False
    _response_version = ""

    def __init__(
        self,
        client: KeepAliveAsyncHTTPClient,
        request: Any,
        release_callback: Callable[[], None],
        final_callback: Callable[[Any], None],
        max_buffer_size: int,
        tcp_client: Any,
        max_header_size: Optional[int],
        max_body_size: Optional[int],
        first_try_times: Optional[tuple[float, float]] = None,
    ) -> None:
        request = _remembering(request)
        # Set before the parent starts run().
        self._first_try_times = first_try_times
        self._checkout = Checkout(
            client._keepalive_pool, tcp_client, request, first_try_times is not None
        )
        super().__init__(
            client,
            request,
            release_callback,
            final_callback,
            max_buffer_size,
            self._checkout,
            max_header_size,
            max_body_size,
        )

    async def run(self) -> None:
        times = self._first_try_times
        if times is not None:
            # A retry keeps the first try's clock: request_timeout covers both.
            self.start_time, self.start_wall_time = times
        if "Connection" not in self.request.headers:
            # (The parent would ask the server to close.)
            self.request.headers["Connection"] = "keep-alive"
        try:
            await super().run()
        finally:
            self._checkout.give_back(self._reuse_refusal())

    def _write_body(self, start_read: bool) -> Awaitable[None]:
        # Only an early final response to Expect: 100-continue skips this.
        self._body_begun = True
        return super()._write_body(start_read)  # type: ignore[no-any-return]

    def headers_received(
        self,
        first_line: httputil.ResponseStartLine | httputil.RequestStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None]:
        self._count_head(first_line)
        return super().headers_received(first_line, headers)  # type: ignore[no-any-return]

    def _count_head(
        self, first_line: httputil.ResponseStartLine | httputil.RequestStartLine
    ) -> None:
        """What the reuse and retry rules need to know of each head."""
        self._heads_received += 1
        if isinstance(first_line, httputil.ResponseStartLine):
            self._response_version = first_line.version
            self._upgraded = self._upgraded or first_line.code == 101

    def _run_callback(self, response: Any) -> None:
        # The parent hands the response over in the next IOLoop iteration;
        # setting the fetch's result already takes one (the caller resumes
        # after this fetch has given its connection back).
        self._release()
        final_callback = self.final_callback
        if final_callback is not None:
            self.final_callback = None
            final_callback(response)

    def _on_end_request(self) -> None:
        # The parent closes the stream here; run() decides instead.
        self._response_ended = True
        if not self._body_begun:
            # An early final response: the request never ended, so the
            # connection is done for (and the read waits for its end).
            self.stream.close()

    def _create_connection(self, stream: iostream.IOStream) -> _h1.HTTP1Connection:
        if not self._checkout.reused:
            stream.set_nodelay(True)
        params = _h1.HTTP1ConnectionParameters(
            max_header_size=self.max_header_size,
            max_body_size=self.max_body_size,
            decompress=bool(self.request.decompress_response),
        )
        # (No context, as the parent: its log lines name the peer "None".)
        connection = self._checkout.connection
        made = _h1.HTTP1Connection(stream, True, params, None)
        if connection is None:
            return made
        request = self.request
        _note("p%d carries %s %s", connection.number, request.method, request.url)
        return connection.carry(made)

    def _reuse_refusal(self) -> Optional[str]:
        """Why this fetch's connection cannot carry another one; None if it
        provably can."""
        connection = getattr(self, "connection", None)
        if connection is None:
            return "no request was sent on it"
        if self._failed:
            return "the fetch failed or timed out"
        if not self._response_ended:
            return "the response was not read to its end"
        if not self._body_begun:
            return "the request's body was not sent (an early final response)"
        if self._upgraded:
            return "the server switched protocols (101)"
        request = self.request
        refusal = message_refusal(
            request.method,
            request.headers,
            self._response_version,
            self.code,
            self.headers,
        )
        if refusal is not None:
            return refusal
        stream = connection.stream
        if stream is None:
            return "the stream was detached"
        return "the connection is closed" if stream.closed() else None

    # -- the retry rule

    def _handle_exception(self, typ: Any, value: Any, tb: Any) -> bool:
        if self.final_callback is not None:
            self._failed = True
            if self._retryable(value):
                self._retry()
                return True
            value = self._explained(value)
        return super()._handle_exception(typ, value, tb)  # type: ignore[no-any-return]

    def _closed_before_response(self, value: Any) -> bool:
        """Whether a reused connection closed before any byte of the
        response arrived."""
        if not (
            self._checkout.reused and isinstance(value, iostream.StreamClosedError)
        ):
            return False
        stream = getattr(self, "stream", None)
        return (
            self._heads_received == 0
            and stream is not None
            and _tornado.buffer_is_empty(stream) is True
        )

    def _retryable(self, value: Any) -> bool:
        request = self.request
        return (
            self._first_try_times is None
            and self._closed_before_response(value)
            and request.method in IDEMPOTENT_METHODS
            and request.body_producer is None
        )

    def _explained(self, value: Any) -> Any:
        """The error for a request that was not retried, saying why."""
        if not self._closed_before_response(value):
            return value
        method = self.request.method
        if method in IDEMPOTENT_METHODS:
            why = "its body came from a body_producer, which cannot run twice"
        else:
            why = f"{method} is not idempotent"
        error = simple_httpclient.HTTPStreamClosedError(
            "Stream closed: the server closed a reused keep-alive connection "
            f"before any byte of the response arrived; not retried, as {why} "
            "(the server may have processed the request)"
        )
        error.__cause__ = value
        return error

    def _retry(self) -> None:
        """Send the request again on a new connection (once: the retry does
        not reuse, so it is never retried)."""
        self._remove_timeout()
        final_callback, release_callback = self.final_callback, self.release_callback
        assert final_callback is not None and release_callback is not None
        self.final_callback = self.release_callback = None
        checkout = self._checkout
        if checkout.connection is not None:
            _note(
                "p%d closed by the server before any byte of the response: "
                "%s retried once on a new connection",
                checkout.connection.number,
                self.request.method,
            )
        checkout.give_back("closed by the server before the response")
        # (Always this class: the retry needs a new connection.)
        KeepAliveFetch(
            self.client,
            self.request,
            release_callback,
            final_callback,
            self.max_buffer_size,
            checkout.tcp_client,
            self.max_header_size,
            self.max_body_size,
            first_try_times=(self.start_time, self.start_wall_time),
        )
