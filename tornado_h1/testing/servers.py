"""HTTP servers and clients built from upstream's classes or tornado_h1's,
side by side in one process, and a recording application for them.

``server_class("upstream")`` is Tornado's ``HTTPServer`` with Tornado's own
``http1connection`` even while tornado_h1 is installed (see
:mod:`tornado_h1.testing.upstream`); ``server_class("tornado_h1")`` is
``tornado_h1.HTTPServer``. Both record each stream they accept.
``client_class`` does the same for ``SimpleAsyncHTTPClient``.
"""

from __future__ import annotations

import types
from typing import Any, NamedTuple, cast

import tornado.httpserver
import tornado.iostream
import tornado.simple_httpclient
import tornado.web

from tornado_h1 import _subclasses
from tornado_h1.testing.upstream import upstream_module

#: The two implementations, as ``server_class`` and ``client_class`` name them.
IMPLS = ("upstream", "tornado_h1")

_PARAMETER_NAMES = _subclasses._PARAMETER_NAMES


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
