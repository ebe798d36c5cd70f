"""A small application for tests behind a real proxy, served with
``tornado-h1 serve tornado_h1.testing.proxy_app:make_app``.

``GET /echo?id=ID``
    answers ``ID``.
``POST /echo?id=ID``
    answers the request body.
``POST /small?id=ID``
    takes a body of at most `SMALL_BODY_LIMIT` bytes (with
    ``serve --precise-errors``, a larger one is refused with a 413 before
    the application sees it).

Every answer carries ``X-Id: ID`` and ``X-Pid`` (the serving process).
When the environment names a file in `SERVED_LOG_VARIABLE`, each request
that reaches a handler's method is appended to it as one line, ``pid peer-port id``:
the peer's port tells the connection apart, so that a test can check that
every request was served exactly once, and count the connections the proxy
opened. (The environment, because ``serve`` takes the factory without
arguments.)
"""

from __future__ import annotations

import os
from typing import IO, Any, Optional

import tornado.web

#: The environment variable naming the file of served requests.
SERVED_LOG_VARIABLE = "TORNADO_H1_SERVED_LOG"

#: The body limit of ``/small``.
SMALL_BODY_LIMIT = 1024


class _Recorded(tornado.web.RequestHandler):
    """Sets the id headers, and writes a line to the served log."""

    def initialize(self, served: Optional[IO[str]]) -> None:
        self.served = served

    def record(self) -> None:
        request_id = self.get_query_argument("id", "")
        self.set_header("X-Id", request_id)
        self.set_header("X-Pid", str(os.getpid()))
        if self.served is not None:
            context = getattr(self.request.connection, "context", None)
            address: Any = getattr(context, "address", None)
            port = address[1] if isinstance(address, tuple) else 0
            self.served.write(f"{os.getpid()} {port} {request_id}\n")


class Echo(_Recorded):
    def get(self) -> None:
        self.record()
        self.write(self.get_query_argument("id", ""))

    def post(self) -> None:
        self.record()
        self.write(self.request.body)


@tornado.web.stream_request_body
class Small(_Recorded):
    def prepare(self) -> None:
        # Before the body is read, so that the connection applies it.
        connection: Any = self.request.connection
        connection.set_max_body_size(SMALL_BODY_LIMIT)
        self.received = bytearray()

    def data_received(self, chunk: bytes) -> None:
        self.received += chunk

    def post(self) -> None:
        self.record()
        self.write(bytes(self.received))


def make_app() -> tornado.web.Application:
    """The application; records to the file named in the environment."""
    path = os.environ.get(SERVED_LOG_VARIABLE)
    # Line-buffered: a request's line is in the file before its answer.
    served = open(path, "a", buffering=1) if path else None
    settings = {"served": served}
    return tornado.web.Application(
        [("/echo", Echo, settings), ("/small", Small, settings)]
    )
