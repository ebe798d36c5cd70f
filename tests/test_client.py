"""The client side over real sockets.

Part one drives ``HTTP1Connection(stream, is_client=True)`` directly: the
other end of a TCP connection is a script that reads the request and sends
the response bytes of each case. Part two fetches from a scripted server
with ``tornado_h1.SimpleAsyncHTTPClient``.

Both parts are parametrized over ``impl`` (tornado_h1, and Tornado's own
module as the reference) with the same expectations.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import types
from collections.abc import Iterator
from typing import Any, Optional

import pytest
import tornado
import tornado.ioloop
import tornado.simple_httpclient
from conftest import upstream_or_skip
from helpers import (
    PATIENCE,
    ClientRecorder,
    RawClient,
    gzipped,
    tcp_pair,
    upstream_module,
)
from tornado import httpclient, httputil, iostream

import tornado_h1
from tornado_h1 import http1connection as ours_h1

pytestmark = pytest.mark.usefixtures("logs")

MODULES: dict[str, types.ModuleType] = {
    "tornado_h1": ours_h1,
    "upstream": upstream_module(),
}

GET = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"


class Exchange:
    """The outcome of one scripted request/response."""

    def __init__(self) -> None:
        self.sent = b""  # what the client wrote
        self.result: Any = None  # read_response's value, or the exception type
        self.error: Optional[BaseException] = None
        self.recorder = ClientRecorder()


@pytest.fixture
def pairs(io_loop: tornado.ioloop.IOLoop) -> Iterator[list[Any]]:
    """Closes, at teardown, every stream and socket a test opened."""
    opened: list[Any] = []
    yield opened
    for thing in opened:
        thing.close()


async def exchange(
    opened: list[Any],
    impl: str,
    response: bytes,
    *,
    method: str = "GET",
    params: Optional[Any] = None,
    close: bool = True,
    bytewise: bool = False,
    timeout: float = PATIENCE,
) -> Exchange:
    """Send one request with ``impl``'s HTTP1Connection, answer it with
    ``response`` (closing afterwards if ``close``), and record everything."""
    module = MODULES[impl]
    a, b = tcp_pair()
    stream = iostream.IOStream(a)
    peer = RawClient(b)
    opened += [stream, peer]
    if params is not None:
        params = module.HTTP1ConnectionParameters(**params)
    conn = module.HTTP1Connection(stream, True, params, "server")
    out = Exchange()
    conn.write_headers(
        httputil.RequestStartLine(method, "/", "HTTP/1.1"),
        httputil.HTTPHeaders({"Host": "example.com"}),
    )
    conn.finish()
    reading = asyncio.ensure_future(conn.read_response(out.recorder))
    out.sent = await peer.recv_until(b"\r\n\r\n")
    await peer.send(response, bytewise=bytewise)
    if close:
        peer.close()
    try:
        out.result = await asyncio.wait_for(asyncio.shield(reading), timeout)
    except asyncio.TimeoutError:
        out.result = "pending"
        stream.close()
        await asyncio.wait([reading], timeout=PATIENCE)
        reading.exception()
    except Exception as e:
        out.result = type(e)
        out.error = e
    return out


OK_EVENTS = [
    ("headers", ("HTTP/1.1", 200, "OK"), [("Content-Length", "5")]),
    ("data", b"hello"),
    ("finish",),
]


# ------------------------------------------------------------ well framed


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
async def test_content_length(pairs, impl, bytewise):
    out = await exchange(
        pairs,
        impl,
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        close=False,
        bytewise=bytewise,
    )
    assert out.sent == GET
    assert out.result is True
    assert out.recorder.merged() == OK_EVENTS


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
async def test_chunked(pairs, impl, bytewise):
    out = await exchange(
        pairs,
        impl,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\n\r\n",
        close=False,
        bytewise=bytewise,
    )
    assert out.result is True
    assert out.recorder.merged() == [
        ("headers", ("HTTP/1.1", 200, "OK"), [("Transfer-Encoding", "chunked")]),
        ("data", b"hello 0123456789"),
        ("finish",),
    ]
    if not bytewise:
        # Three chunks that arrived together are delivered as one piece.
        assert len(out.recorder.events) == 3


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
async def test_body_until_close(pairs, impl, bytewise):
    out = await exchange(
        pairs, impl, b"HTTP/1.0 200 OK\r\n\r\nall of this", bytewise=bytewise
    )
    assert out.result is True
    assert out.recorder.merged() == [
        ("headers", ("HTTP/1.0", 200, "OK"), []),
        ("data", b"all of this"),
        ("finish",),
    ]


async def test_body_until_close_waits_for_the_close(pairs, impl):
    out = await exchange(
        pairs, impl, b"HTTP/1.1 200 OK\r\n\r\npartial", close=False, timeout=0.2
    )
    # Only the close ends such a body; closing our side ends the read.
    assert out.result == "pending"
    assert out.recorder.merged()[:2] == [
        ("headers", ("HTTP/1.1", 200, "OK"), []),
        ("data", b"partial"),
    ]


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
async def test_large_body(pairs, impl, framing):
    body = bytes(range(256)) * 1600  # 400 KiB: more than is read without yielding
    if framing == "length":
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
        payload = body
    elif framing == "chunked":
        head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        payload = b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + 5000]), body[i : i + 5000])
            for i in range(0, len(body), 5000)
        )
        payload += b"0\r\n\r\n"
    else:
        head = b"HTTP/1.0 200 OK\r\n\r\n"
        payload = body
    out = await exchange(pairs, impl, head + payload, close=framing == "close")
    assert out.result is True
    events = out.recorder.merged()
    assert [e[0] for e in events] == ["headers", "data", "finish"]
    assert events[1][1] == body


async def test_head_response_has_no_body(pairs, impl):
    out = await exchange(
        pairs,
        impl,
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
        method="HEAD",
        close=False,
    )
    assert out.sent == b"HEAD / HTTP/1.1\r\nHost: example.com\r\n\r\n"
    assert out.result is True
    assert out.recorder.events == [
        ("headers", ("HTTP/1.1", 200, "OK"), [("Content-Length", "100")]),
        ("finish",),
    ]


@pytest.mark.parametrize(
    "response,fields",
    [
        (b"HTTP/1.1 204 No Content\r\n\r\n", []),
        (
            b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
            [("Content-Length", "0")],
        ),
        (
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\n\r\n",
            [("Content-Length", "42")],
        ),
        (
            # A 304 says nothing about framing, even an invalid one.
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            [("Content-Length", "4"), ("Transfer-Encoding", "chunked")],
        ),
    ],
)
async def test_bodiless_statuses(pairs, impl, response, fields):
    out = await exchange(pairs, impl, response, close=False)
    assert out.result is True
    code, reason = response.split(b"\r\n")[0].split(b" ", 2)[1:]
    assert out.recorder.events == [
        ("headers", ("HTTP/1.1", int(code), reason.decode()), fields),
        ("finish",),
    ]


@pytest.mark.parametrize("count", [1, 10])
async def test_informational_responses(pairs, impl, count):
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" * (count - 1) + (
        b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
    )
    out = await exchange(
        pairs,
        impl,
        interim + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        close=False,
    )
    assert out.result is True
    assert (
        out.recorder.merged()
        == [("headers", ("HTTP/1.1", 100, "Continue"), [])] * (count - 1)
        + [
            (
                "headers",
                ("HTTP/1.1", 103, "Early Hints"),
                [("Link", "</s.css>; rel=preload")],
            )
        ]
        + OK_EVENTS
    )


async def test_too_many_informational_responses(pairs, impl, logs):
    out = await exchange(
        pairs,
        impl,
        b"HTTP/1.1 100 Continue\r\n\r\n" * 11
        + b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        close=False,
    )
    assert out.result is False
    assert out.recorder.events == [
        ("headers", ("HTTP/1.1", 100, "Continue"), [])
    ] * 11 + [("close",)]
    assert logs.messages("tornado.general") == [
        "Malformed HTTP message from server: Too many 1xx responses"
    ]


async def test_gzip_response_decompressed(pairs, impl):
    plain = b"compressible " * 1000
    body = gzipped(plain)
    out = await exchange(
        pairs,
        impl,
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
        % (len(body), body),
        params={"decompress": True, "chunk_size": 4096},
        close=False,
    )
    assert out.result is True
    events = out.recorder.events
    assert events[0] == (
        "headers",
        ("HTTP/1.1", 200, "OK"),
        [("Content-Length", str(len(body))), ("X-Consumed-Content-Encoding", "gzip")],
    )
    assert b"".join(e[1] for e in events[1:-1]) == plain
    # Inflated output is handed over in pieces of at most chunk_size.
    assert max(len(e[1]) for e in events[1:-1]) == 4096
    assert events[-1] == ("finish",)


async def test_gzip_response_untouched_without_decompress(pairs, impl):
    body = gzipped(b"hello")
    out = await exchange(
        pairs,
        impl,
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
        % (len(body), body),
        close=False,
    )
    assert out.recorder.merged()[1] == ("data", body)


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
async def test_gzip_response_size_limit(pairs, impl, logs, framing):
    bomb = gzipped(b"\0" * (1024 * 1024))
    if framing == "length":
        head = b"Content-Length: %d\r\n" % len(bomb)
        body = bomb
    elif framing == "chunked":
        head = b"Transfer-Encoding: chunked\r\n"
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(bomb), bomb)
    else:
        head, body = b"", bomb
    out = await exchange(
        pairs,
        impl,
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n" + head + b"\r\n" + body,
        params={"decompress": True, "max_body_size": 100000},
    )
    assert out.result is False
    events = out.recorder.events
    assert events[-1] == ("close",)
    assert sum(len(e[1]) for e in events if e[0] == "data") <= 100000
    assert logs.messages("tornado.general") == [
        "Malformed HTTP message from server: decompressed body too large"
    ]


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
async def test_max_body_size_until_close(pairs, impl, logs, bytewise):
    out = await exchange(
        pairs,
        impl,
        b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 20,
        params={"max_body_size": 10},
        bytewise=bytewise,
    )
    assert out.result is False
    assert out.recorder.events[0] == ("headers", ("HTTP/1.0", 200, "OK"), [])
    assert out.recorder.events[-1] == ("close",)
    # Never more than the limit reaches the delegate.
    assert sum(len(e[1]) for e in out.recorder.events if e[0] == "data") <= 10
    assert logs.messages("tornado.general") == [
        "Malformed HTTP message from server: Body too long"
    ]


@pytest.mark.parametrize(
    "fields,body",
    [
        (b"Content-Length: 11\r\n", b"x" * 11),
        (b"Transfer-Encoding: chunked\r\n", b"b\r\n" + b"x" * 11 + b"\r\n0\r\n\r\n"),
    ],
)
async def test_max_body_size_with_framing(pairs, impl, logs, fields, body):
    out = await exchange(
        pairs,
        impl,
        b"HTTP/1.1 200 OK\r\n" + fields + b"\r\n" + body,
        params={"max_body_size": 10},
    )
    assert out.result is False
    assert [e[0] for e in out.recorder.events] == ["headers", "close"]
    message = (
        b"Content" in fields and "Content-Length too long" or ("chunked body too large")
    )
    assert logs.messages("tornado.general") == [
        "Malformed HTTP message from server: " + message
    ]


async def test_client_sends_chunked_body(pairs, impl):
    module = MODULES[impl]
    a, b = tcp_pair()
    stream = iostream.IOStream(a)
    peer = RawClient(b)
    pairs += [stream, peer]
    conn = module.HTTP1Connection(stream, True)
    await conn.write_headers(
        httputil.RequestStartLine("POST", "/up", "HTTP/1.1"),
        httputil.HTTPHeaders({"Host": "h"}),
        b"abc",
    )
    await conn.write(b"defg")
    conn.finish()
    expected = (
        b"POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    )
    assert await peer.recv_exactly(len(expected)) == expected
    assert await peer.recv_all() == (b"", False)
    recorder = ClientRecorder()
    reading = conn.read_response(recorder)
    await peer.send(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    assert await asyncio.wait_for(reading, PATIENCE) is True
    assert recorder.events == [
        ("headers", ("HTTP/1.1", 201, "Created"), [("Content-Length", "0")]),
        ("finish",),
    ]


# ------------------------------------------------------------- malformed

MALFORMED = [
    # (name, response, close, result, events, log message)
    (
        "no-reason-no-space",
        b"HTTP/1.1 200\r\n\r\n",
        False,
        False,
        ["close"],
        "Error parsing response start line",
    ),
    (
        "http2",
        b"HTTP/2.0 200 OK\r\n\r\n",
        False,
        False,
        ["close"],
        "Unexpected HTTP version 'HTTP/2.0'",
    ),
    (
        "icy",
        b"ICY 200 OK\r\n\r\n",
        False,
        False,
        ["close"],
        "Error parsing response start line",
    ),
    (
        "no-colon",
        b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n",
        False,
        False,
        ["close"],
        "no colon in header line",
    ),
    (
        "bad-cl",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        False,
        False,
        ["headers", "close"],
        "Only integer Content-Length is allowed: x",
    ),
    (
        "cl-and-te",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        False,
        False,
        ["headers", "close"],
        "Message with both Transfer-Encoding and Content-Length",
    ),
    (
        "bad-chunk",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
        False,
        False,
        ["headers", "close"],
        "invalid chunk size",
    ),
    (
        # Gathered chunk data is delivered only before a read that must wait:
        # when everything arrived at once the error comes first.
        "chunk-without-crlf",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd",
        False,
        False,
        (["headers", "close"], ["headers", "data", "close"]),
        "improperly terminated chunk",
    ),
    (
        "204-with-body",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc",
        False,
        False,
        ["headers", "close"],
        "Response with code 204 should not have body",
    ),
    (
        "1xx-with-body",
        b"HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\n",
        False,
        False,
        ["headers", "close"],
        "Response code 100 cannot have body",
    ),
    (
        "bad-second-head-after-1xx",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2xx OK\r\n\r\n",
        False,
        False,
        ["headers", "close"],
        "Error parsing response start line",
    ),
    ("closed-before-response", b"", True, iostream.StreamClosedError, [], None),
    (
        "closed-mid-head",
        b"HTTP/1.1 200 OK\r\nX:",
        True,
        iostream.StreamClosedError,
        [],
        None,
    ),
    (
        "closed-mid-body",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        True,
        iostream.StreamClosedError,
        ["headers", "data", "close"],
        None,
    ),
    (
        "closed-mid-chunk",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        True,
        iostream.StreamClosedError,
        (["headers", "close"], ["headers", "data", "close"]),
        None,
    ),
]


@pytest.mark.parametrize(
    "response,close,result,events,message",
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
async def test_malformed_response(
    pairs, impl, logs, response, close, result, events, message, bytewise
):
    out = await exchange(pairs, impl, response, close=close, bytewise=bytewise)
    assert out.result == result
    if isinstance(events, tuple):
        events = events[bytewise]
    assert [e[0] for e in out.recorder.merged()] == events
    expected = ["Malformed HTTP message from server: " + message] if message else []
    assert logs.messages("tornado.general") == expected


async def test_oversized_head(pairs, impl, logs):
    out = await exchange(
        pairs,
        impl,
        b"HTTP/1.1 200 OK\r\nX: " + b"y" * 200 + b"\r\n\r\n",
        params={"max_header_size": 100},
        close=False,
    )
    # The stream logs and closes; the read fails as closed.
    assert out.result is iostream.StreamClosedError
    assert out.recorder.events == []
    assert logs.messages("tornado.general") == [
        "Unsatisfiable read, closing connection: delimiter "
        # IOStream quotes the pattern: tornado_h1's starts with the LF.
        + (
            "re.compile(b'\\n\\r?\\n')"
            if impl == "tornado_h1"
            else "re.compile(b'\\r?\\n\\r?\\n')"
        )
        + " not found within 100 bytes"
    ]


# ------------------------------------------------- SimpleAsyncHTTPClient


class ScriptedServer:
    """Answers each request on 127.0.0.1 with the next scripted response.

    A script entry is ``(response_bytes, close_after)``; a response may be a
    list of byte strings to send with a request-body read in between (for
    ``Expect: 100-continue``)."""

    def __init__(self) -> None:
        self.script: list[tuple[Any, bool]] = []
        self.requests: list[bytes] = []
        self.server: Optional[asyncio.base_events.Server] = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.writers.append(writer)
        try:
            while self.script:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head)
                response, close = self.script.pop(0)
                pieces = response if isinstance(response, list) else [response]
                for i, piece in enumerate(pieces):
                    if i:
                        length = int(
                            head.lower().split(b"content-length: ")[1].split(b"\r")[0]
                        )
                        self.requests.append(await reader.readexactly(length))
                    writer.write(piece)
                    await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


@pytest.fixture
def scripted(io_loop: tornado.ioloop.IOLoop) -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    io_loop.run_sync(server.close, timeout=PATIENCE)


def http_client(impl: str) -> httpclient.AsyncHTTPClient:
    if impl == "tornado_h1":
        return tornado_h1.SimpleAsyncHTTPClient(force_instance=True)  # type: ignore[no-any-return]
    upstream_or_skip()
    return tornado.simple_httpclient.SimpleAsyncHTTPClient(force_instance=True)


async def fetch(
    impl: str, port: int, **kwargs: Any
) -> tuple[int, bytes, Optional[type[BaseException]], httputil.HTTPHeaders]:
    """Fetch and return (code, body, type of error, headers); errors that
    are not a response (a broken connection) come back as code 599."""
    client = http_client(impl)
    try:
        response = await client.fetch(
            "http://127.0.0.1:%d/" % port,
            raise_error=False,
            request_timeout=PATIENCE,
            **kwargs,
        )
    except httpclient.HTTPClientError as e:
        return e.code, b"", type(e), httputil.HTTPHeaders()
    finally:
        client.close()
    error = type(response.error) if response.error else None
    return response.code, response.body or b"", error, response.headers


@pytest.mark.parametrize(
    "response,code,body",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, b"hello"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
            200,
            b"hello",
        ),
        (b"HTTP/1.0 200 OK\r\n\r\nuntil close", 200, b"until close"),
        (
            b"HTTP/1.1 100 Continue\r\n\r\n"
            b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
            201,
            b"ok",
        ),
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope", 404, b"nope"),
        (b"HTTP/1.1 204 No Content\r\n\r\n", 204, b""),
    ],
    ids=["length", "chunked", "until-close", "100-continue", "404", "204"],
)
async def test_simple_client_fetch(scripted, impl, response, code, body):
    scripted.script = [(response, True)]
    port = await scripted.start()
    got = await fetch(impl, port)
    assert got[:2] == (code, body)
    assert scripted.requests[0] == (
        b"GET / HTTP/1.1\r\nConnection: close\r\nHost: 127.0.0.1:%d\r\n"
        b"User-Agent: Tornado/%s\r\nAccept-Encoding: gzip\r\n\r\n"
        % (port, tornado.version.encode())
    )


async def test_simple_client_gzip(scripted, impl):
    plain = b"z" * 5000
    body = gzipped(plain)
    scripted.script = [
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
            % (len(body), body),
            True,
        )
    ]
    port = await scripted.start()
    code, got, error, headers = await fetch(impl, port)
    assert (code, got, error) == (200, plain, None)
    assert headers["X-Consumed-Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in headers


@functools.cache
def big_bomb() -> bytes:
    """Larger than the client's default max_body_size (100 MB) once inflated."""
    return gzipped(b"\0" * (101 * 1024 * 1024))


async def test_simple_client_gzip_bomb(scripted, impl, logs):
    bomb = big_bomb()
    scripted.script = [
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
            % (len(bomb), bomb),
            True,
        )
    ]
    port = await scripted.start()
    code, body, error, _ = await fetch(impl, port)
    assert (code, error) == (599, tornado.simple_httpclient.HTTPStreamClosedError)
    assert "Malformed HTTP message from None: decompressed body too large" in (
        logs.messages("tornado.general")
    )


async def test_simple_client_head(scripted, impl):
    scripted.script = [(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", False)]
    port = await scripted.start()
    assert (await fetch(impl, port, method="HEAD"))[:3] == (200, b"", None)


async def test_simple_client_304(scripted, impl):
    scripted.script = [
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", False)
    ]
    port = await scripted.start()
    code, body, error, headers = await fetch(impl, port)
    assert (code, body) == (304, b"")
    assert error is httpclient.HTTPClientError


async def test_simple_client_expect_100_continue(scripted, impl):
    scripted.script = [
        (
            [
                b"HTTP/1.1 100 Continue\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone",
            ],
            True,
        )
    ]
    port = await scripted.start()
    got = await fetch(
        impl, port, method="PUT", body=b"payload", expect_100_continue=True
    )
    assert got[:3] == (200, b"done", None)
    assert b"Expect: 100-continue\r\n" in scripted.requests[0]
    assert scripted.requests[1] == b"payload"


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nq\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n" * 11,
    ],
    ids=["cl-te", "garbage", "bad-chunk", "too-many-1xx"],
)
async def test_simple_client_malformed(scripted, impl, logs, response):
    scripted.script = [(response, False)]
    port = await scripted.start()
    code, body, error, _ = await fetch(impl, port)
    assert (code, error) == (599, tornado.simple_httpclient.HTTPStreamClosedError)
    # The message came from the implementation under test.
    [record] = [
        r for r in logs.records if r.getMessage().startswith("Malformed HTTP message")
    ]
    assert record.levelno == logging.INFO
    module_file = MODULES[impl].__file__
    assert record.pathname == module_file
