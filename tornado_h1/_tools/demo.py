"""A small demo application, served by ``tornado-h1 serve`` (and ``make demo``).

Each handler shows one thing the HTTP/1.x layer has to get right:

``/``
    a plain response with a ``Content-Length``; in a browser, the protocol
    trace of the very request that fetched the page
``/echo``
    reading a whole request body (POST it anything)
``/upload``
    streaming a request body in pieces, never holding it in memory
``/chunked``
    a response sent in pieces with ``Transfer-Encoding: chunked``
``/ws``
    the upgrade from HTTP/1.1 to a WebSocket, then echo (the home page has
    a client)

``HEAD`` works wherever ``GET`` does. Try it with curl while ``make demo``
runs::

    curl http://127.0.0.1:8888/
    curl -I http://127.0.0.1:8888/
    curl -d 'hello' http://127.0.0.1:8888/echo
    curl -T some-big-file http://127.0.0.1:8888/upload
    curl -N http://127.0.0.1:8888/chunked
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import html
import json
import logging
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

#: How many connections' traces the home page remembers.
TRACED_CONNECTIONS = 64


class TraceBook(logging.Handler):
    """Keeps the ``tornado_h1.trace`` lines of the latest connections, by
    connection id, so that a page can show its own request's trace."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: collections.OrderedDict[str, list[str]] = collections.OrderedDict()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        prefix, _, _ = message.partition("] ")
        lines = self.lines.setdefault(prefix + "]", [])
        lines.append(message)
        self.lines.move_to_end(prefix + "]")
        while len(self.lines) > TRACED_CONNECTIONS:
            self.lines.popitem(last=False)

    def of(self, connection: object) -> Optional[list[str]]:
        """The lines traced so far on ``connection``, or None if it has no
        trace (the logger was off when it opened, or it is not tornado_h1's)."""
        tracer = getattr(connection, "_trace", None)
        prefix = getattr(tracer, "prefix", None)
        if not isinstance(prefix, str):
            return None
        return list(self.lines.get(prefix.rstrip(), []))


def trace_book() -> TraceBook:
    """The one `TraceBook`, attached to the trace logger (at DEBUG) on
    first use."""
    logger = logging.getLogger("tornado_h1.trace")
    for handler in logger.handlers:
        if isinstance(handler, TraceBook):
            return handler
    book = TraceBook()
    logger.addHandler(book)
    logger.setLevel(logging.DEBUG)
    return book


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>tornado_h1 demo</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; }}
pre {{ background: #f4f4f4; padding: .6em; overflow-x: auto; }}
</style></head>
<body>
<h1>Hello from tornado_h1 {version}!</h1>
<p id="state">tornado_h1 is {state} (Tornado {tornado}).</p>
<h2>The trace of the request that fetched this page</h2>
<p>What the HTTP/1 layer did for this very request, up to the moment the
page was written (the head it sends and the keep-alive verdict come after;
reload to see them for this request's predecessors on the connection):</p>
<pre id="trace">{trace}</pre>
<h2>More to try</h2>
<ul>
<li><a href="/chunked">/chunked</a>: a response sent in five chunks</li>
<li>an upload, streamed to <code>/upload</code>, which answers with its
size and SHA-256:
<form action="/upload" method="post" enctype="multipart/form-data">
<input type="file" name="file"> <button>Upload</button></form></li>
<li>a WebSocket echo on <code>/ws</code>:
<form id="ws-form"><input id="ws-text" value="hello">
<button>Send</button></form>
<pre id="ws-log"></pre></li>
</ul>
<script>
const log = document.getElementById("ws-log");
const socket = new WebSocket(
  (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
socket.onopen = () => {{
  log.textContent += "connected\\n";
  socket.send("hello from this page");
}};
socket.onmessage = (event) => {{ log.textContent += "echo: " + event.data + "\\n"; }};
socket.onclose = () => {{ log.textContent += "closed\\n"; }};
document.getElementById("ws-form").onsubmit = (event) => {{
  event.preventDefault();
  socket.send(document.getElementById("ws-text").value);
}};
</script>
</body></html>
"""


class HelloHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        state = "installed" if tornado_h1.is_installed() else "NOT installed"
        if "text/html" in self.request.headers.get("Accept", ""):
            self._page(state)
            return
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
            "  or open this page in a browser: it shows its own trace\n"
        )

    head = get

    def _page(self, state: str) -> None:
        book: Optional[TraceBook] = self.settings.get("trace_book")
        lines = book.of(self.request.connection) if book is not None else None
        if lines is None:
            trace = "(no trace: serve with tornado-h1 serve to see one)"
        else:
            trace = html.escape("\n".join(lines))
        self.write(
            _PAGE.format(
                version=tornado_h1.__version__,
                state=state,
                tornado=tornado.version,
                trace=trace,
            )
        )


@tornado.web.stream_request_body
class EchoHandler(tornado.web.RequestHandler):
    """Answers with the body it was sent, whatever its type: the body is
    taken as bytes (`tornado.web.stream_request_body`), so Tornado never
    tries to parse it as a form."""

    def prepare(self) -> None:
        self.pieces: list[bytes] = []

    def data_received(self, chunk: bytes) -> None:
        self.pieces.append(chunk)

    def post(self) -> None:
        content_type = self.request.headers.get(
            "Content-Type", "application/octet-stream"
        )
        self.set_header("Content-Type", content_type)
        self.write(b"".join(self.pieces))

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

    head = get


class EchoWebSocket(tornado.websocket.WebSocketHandler):
    def on_message(self, message: Union[str, bytes]) -> Optional[Awaitable[None]]:
        return self.write_message(message, binary=isinstance(message, bytes))


def make_app(show_trace: bool = False, **settings: Any) -> tornado.web.Application:
    """The demo application; ``settings`` go to the Application.

    With ``show_trace``, the trace logger is turned on (at DEBUG) so that
    the home page can show each request's own trace (`TraceBook`); where
    the lines go otherwise is up to the logger's other handlers."""
    if show_trace:
        settings["trace_book"] = trace_book()
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
