"""A small demo application, served by ``tornado-h1 serve`` (and ``make demo``).

Each handler shows one thing the HTTP/1.x layer has to get right:

``/``         a plain response with a ``Content-Length``
``/echo``     reading a whole request body (POST it anything)
``/upload``   streaming a request body in pieces, never holding it in memory
``/chunked``  a response sent in pieces with ``Transfer-Encoding: chunked``
``/ws``       the upgrade from HTTP/1.1 to a WebSocket, then echo

Try it with curl while ``make demo`` runs::

    curl http://127.0.0.1:8888/
    curl -d 'hello' http://127.0.0.1:8888/echo
    curl -T some-big-file http://127.0.0.1:8888/upload
    curl -N http://127.0.0.1:8888/chunked
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable
from typing import Any, Optional, Union

import tornado
import tornado.web
import tornado.websocket

import tornado_h1

#: Largest body ``/upload`` accepts (the server-wide default is 100 MiB).
UPLOAD_LIMIT = 1024**3

#: How many pieces ``/chunked`` sends, and the pause between them.
CHUNKS = 5
CHUNK_DELAY = 0.05


class HelloHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        state = "installed" if tornado_h1.is_installed() else "NOT installed"
        base = f"{self.request.protocol}://{self.request.host}"
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.write(
            f"Hello from tornado_h1 {tornado_h1.__version__}!\n"
            f"tornado_h1 is {state} (Tornado {tornado.version}).\n"
            "\n"
            "Try:\n"
            f"  curl -d 'hello' {base}/echo\n"
            f"  curl -T some-file {base}/upload\n"
            f"  curl -N {base}/chunked\n"
            f"  a WebSocket client on ws://{self.request.host}/ws\n"
        )


class EchoHandler(tornado.web.RequestHandler):
    def post(self) -> None:
        # The whole body has been read before post() runs.
        content_type = self.request.headers.get(
            "Content-Type", "application/octet-stream"
        )
        self.set_header("Content-Type", content_type)
        self.write(self.request.body)

    put = post


@tornado.web.stream_request_body
class UploadHandler(tornado.web.RequestHandler):
    """Counts and hashes the body as it arrives; memory use stays flat."""

    def prepare(self) -> None:
        self.received = 0
        self.digest = hashlib.sha256()
        # With @stream_request_body the size limit may be raised per request
        # (HTTP/1.x connections have this method; other connections may not).
        set_limit = getattr(self.request.connection, "set_max_body_size", None)
        if set_limit is not None:
            set_limit(UPLOAD_LIMIT)

    def data_received(self, chunk: bytes) -> None:
        self.received += len(chunk)
        self.digest.update(chunk)

    def put(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(
            json.dumps({"bytes": self.received, "sha256": self.digest.hexdigest()})
            + "\n"
        )

    post = put


class ChunkedHandler(tornado.web.RequestHandler):
    async def get(self) -> None:
        # No Content-Length is known up front, so each flush() goes out as
        # one chunk of a "Transfer-Encoding: chunked" response.
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        for number in range(1, CHUNKS + 1):
            self.write(f"chunk {number} of {CHUNKS}\n")
            await self.flush()
            await asyncio.sleep(CHUNK_DELAY)


class EchoWebSocket(tornado.websocket.WebSocketHandler):
    def on_message(self, message: Union[str, bytes]) -> Optional[Awaitable[None]]:
        return self.write_message(message, binary=isinstance(message, bytes))


def make_app(**settings: Any) -> tornado.web.Application:
    """The demo application; ``settings`` go to the Application."""
    return tornado.web.Application(
        [
            (r"/", HelloHandler),
            (r"/echo", EchoHandler),
            (r"/upload", UploadHandler),
            (r"/chunked", ChunkedHandler),
            (r"/ws", EchoWebSocket),
        ],
        **settings,
    )
