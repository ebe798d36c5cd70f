"""The server side over real sockets: ``tornado_h1.HTTPServer`` against raw,
``h11``, ``http.client`` and ``requests`` clients.

Most tests are parametrized by ``impl`` over ``"tornado_h1"`` and
``"upstream"`` (Tornado's own HTTPServer and http1connection), so that each
expectation is checked against the behaviour tornado_h1 must reproduce.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
from typing import Any, Callable, Optional

import h11
import pytest
import requests
import tornado.web
import tornado.websocket
from helpers import (
    BAD_REQUEST,
    CONTINUE,
    chunked,
    eventually,
    fixed_response,
    gzipped,
    request_bytes,
    strip_volatile,
    ws_frame,
)
from tornado import httputil

pytestmark = pytest.mark.usefixtures("logs")

HOST = [("Host", "example.com")]


# ------------------------------------------------------------------ the apps


def echo(request: httputil.HTTPServerRequest) -> None:
    """A plain request callback: answers with what it received."""
    body = b"%s %s %s|%s" % (
        request.method.encode(),
        request.uri.encode(),
        request.version.encode(),
        request.body,
    )
    consumed = request.headers.get("X-Consumed-Content-Encoding")
    headers = {"X-Consumed": consumed} if consumed else None
    fixed_response(
        request.connection, body, headers=headers, send_body=request.method != "HEAD"
    )


def echo_response(
    method: str,
    uri: str,
    version: str,
    body: bytes,
    extra: bytes = b"",
    before: bytes = b"",
) -> bytes:
    """What ``echo`` answers; ``before``/``extra`` are fields before/after
    Content-Length."""
    payload = b"%s %s %s|%s" % (method.encode(), uri.encode(), version.encode(), body)
    return b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n%s\r\n%s" % (
        before,
        len(payload),
        extra,
        payload,
    )


class Recorder(httputil.HTTPServerConnectionDelegate):
    """A server delegate that records every call of its message delegates and
    answers each request with ``respond(request_conn, record)`` (by default a
    fixed ``200 ok``)."""

    def __init__(
        self,
        respond: Optional[Callable[[httputil.HTTPConnection, Record], Any]] = None,
    ) -> None:
        self.records: list[Record] = []
        self.respond = respond or (lambda conn, record: fixed_response(conn, b"ok"))
        self.closed = 0
        self.tasks: list[asyncio.Future[Any]] = []

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> Record:
        record = Record(self, request_conn)
        self.records.append(record)
        return record

    def on_close(self, server_conn: object) -> None:
        self.closed += 1


class Record(httputil.HTTPMessageDelegate):
    def __init__(self, server: Recorder, conn: httputil.HTTPConnection) -> None:
        self.server = server
        self.conn = conn
        self.events: list[tuple[str, Any]] = []
        self.start_line: Optional[httputil.RequestStartLine] = None
        self.headers: Optional[httputil.HTTPHeaders] = None
        self.body = b""
        self.chunks: list[bytes] = []

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.RequestStartLine)
        self.start_line = start_line
        self.headers = headers
        self.events.append(("headers", start_line))

    def data_received(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.body += chunk
        self.events.append(("data", len(chunk)))

    def finish(self) -> None:
        self.events.append(("finish", None))
        result = self.server.respond(self.conn, self)
        if asyncio.iscoroutine(result):
            self.server.tasks.append(asyncio.ensure_future(result))

    def on_connection_close(self) -> None:
        self.events.append(("close", None))


# ------------------------------------------------------------- connections


async def test_keep_alive_two_requests_one_connection(serve, raw_client, impl):
    port = serve(echo, impl)
    client = await raw_client(port)
    await client.send(request_bytes("GET", "/one", headers=HOST))
    assert await client.recv_response() == echo_response("GET", "/one", "HTTP/1.1", b"")
    await client.send(
        request_bytes(
            "POST", "/two", headers=HOST + [("Content-Length", "3")], body=b"abc"
        )
    )
    assert await client.recv_response() == echo_response(
        "POST", "/two", "HTTP/1.1", b"abc"
    )
    assert await client.recv_all() == (b"", False)


async def test_http10_keep_alive(serve, raw_client, impl):
    port = serve(echo, impl)
    client = await raw_client(port)
    request = request_bytes("GET", "/a", "HTTP/1.0", [("Connection", "keep-alive")])
    keep_alive = b"Connection: Keep-Alive\r\n"
    for _ in range(2):
        await client.send(request)
        assert await client.recv_response() == echo_response(
            "GET", "/a", "HTTP/1.0", b"", keep_alive
        )
    assert await client.recv_all() == (b"", False)


@pytest.mark.parametrize(
    "request_,version",
    [
        (request_bytes("GET", "/", "HTTP/1.0"), "HTTP/1.0"),
        # Keep-alive is not possible for a 1.0 body without a length.
        (request_bytes("POST", "/", "HTTP/1.0", [("Connection", "keep-alive")]), None),
    ],
)
async def test_http10_closes(serve, raw_client, impl, request_, version):
    port = serve(echo, impl)
    client = await raw_client(port)
    await client.send(request_)
    if version:
        expected = echo_response("GET", "/", version, b"")
    else:
        expected = echo_response(
            "POST", "/", "HTTP/1.0", b"", b"Connection: Keep-Alive\r\n"
        )
    assert await client.recv_until_closed() == expected


async def test_http11_connection_close(serve, raw_client, impl):
    port = serve(echo, impl)
    client = await raw_client(port)
    await client.send(
        request_bytes("GET", "/", headers=HOST + [("Connection", "close")])
    )
    assert await client.recv_until_closed() == echo_response(
        "GET", "/", "HTTP/1.1", b"", b"Connection: close\r\n"
    )


@pytest.mark.parametrize("no_keep_alive", [True, False])
async def test_no_keep_alive_option(serve, raw_client, impl, no_keep_alive):
    port = serve(echo, impl, no_keep_alive=no_keep_alive)
    client = await raw_client(port)
    await client.send(request_bytes("GET", "/", headers=HOST))
    if no_keep_alive:
        assert await client.recv_until_closed() == echo_response(
            "GET", "/", "HTTP/1.1", b"", b"Connection: close\r\n"
        )
    else:
        assert await client.recv_response() == echo_response(
            "GET", "/", "HTTP/1.1", b""
        )


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
async def test_pipelining(serve, raw_client, impl, bytewise):
    port = serve(echo, impl)
    client = await raw_client(port)
    requests_ = [
        request_bytes("GET", "/1", headers=HOST),
        request_bytes(
            "POST", "/2", headers=HOST + [("Content-Length", "2")], body=b"hi"
        ),
        request_bytes("PUT", "/3", headers=HOST + [("Transfer-Encoding", "chunked")])
        + chunked(b"ab", b"c"),
        request_bytes("HEAD", "/4", headers=HOST),
        request_bytes("GET", "/5", headers=HOST + [("Connection", "close")]),
    ]
    await client.send(b"".join(requests_), bytewise=bytewise)
    head_payload = b"HEAD /4 HTTP/1.1|"
    assert await client.recv_until_closed() == b"".join(
        [
            echo_response("GET", "/1", "HTTP/1.1", b""),
            echo_response("POST", "/2", "HTTP/1.1", b"hi"),
            echo_response("PUT", "/3", "HTTP/1.1", b"abc"),
            # HEAD: the Content-Length of the body that was not sent.
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(head_payload),
            echo_response("GET", "/5", "HTTP/1.1", b"", b"Connection: close\r\n"),
        ]
    )


async def test_empty_lines_before_request_are_ignored(serve, raw_client, impl):
    port = serve(echo, impl)
    client = await raw_client(port)
    await client.send(b"\r\n\r\n" + request_bytes("GET", "/", headers=HOST))
    # The first "\r\n\r\n" is a head of its own: an empty request line.
    assert await client.recv_until_closed() == BAD_REQUEST
    client = await raw_client(port)
    await client.send(b"\r\n" + request_bytes("GET", "/x", headers=HOST))
    assert await client.recv_response() == echo_response("GET", "/x", "HTTP/1.1", b"")


# ------------------------------------------------------------ 100-continue


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
async def test_expect_100_continue(serve, raw_client, impl, bytewise):
    recorder = Recorder(lambda conn, rec: fixed_response(conn, b"got " + rec.body))
    port = serve(recorder, impl)
    client = await raw_client(port)
    head = request_bytes(
        "POST",
        "/",
        headers=HOST + [("Content-Length", "5"), ("Expect", "100-continue")],
    )
    await client.send(head, bytewise=bytewise)
    assert await client.recv_exactly(len(CONTINUE)) == CONTINUE
    # Nothing else comes before the body is sent.
    assert await client.recv_all() == (b"", False)
    assert [name for name, _ in recorder.records[0].events] == ["headers"]
    await client.send(b"hello", bytewise=bytewise)
    assert await client.recv_response() == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\ngot hello"
    )
    assert recorder.records[0].body == b"hello"


async def test_expect_100_continue_not_sent_after_early_response(
    serve, raw_client, impl
):
    """An application that answered in headers_received does not want the
    body: no 100 (Continue), and the connection closes after the answer."""

    class Early(Recorder):
        def start_request(self, server_conn, request_conn):
            record = super().start_request(server_conn, request_conn)
            original = record.headers_received

            def headers_received(start_line, headers):
                original(start_line, headers)
                fixed_response(request_conn, b"no", code=413, reason="Too Large")

            record.headers_received = headers_received  # type: ignore[method-assign]
            return record

    recorder = Early()
    port = serve(recorder, impl)
    client = await raw_client(port)
    await client.send(
        request_bytes(
            "POST",
            "/",
            headers=HOST + [("Content-Length", "5"), ("Expect", "100-continue")],
        )
    )
    # The response is written before finish() learns the request is unread,
    # so it cannot announce the close; the connection closes all the same.
    assert await client.recv_until_closed() == (
        b"HTTP/1.1 413 Too Large\r\nContent-Length: 2\r\n\r\nno"
    )
    assert recorder.records[0].events[0][0] == "headers"


# ------------------------------------------------------------ chunked bodies


async def test_tiny_chunks_are_coalesced(serve, raw_client, impl):
    recorder = Recorder()
    port = serve(recorder, impl)
    client = await raw_client(port)
    body = bytes(range(256)) * 4
    pieces = [body[i : i + 1] for i in range(len(body))]
    await client.send(
        request_bytes("POST", "/", headers=HOST + [("Transfer-Encoding", "chunked")])
        + chunked(*pieces)
    )
    assert (
        await client.recv_response()
        == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    record = recorder.records[0]
    assert record.body == body
    # 1024 one-byte chunks, but a handful of deliveries at most.
    assert 1 <= len(record.chunks) <= 4
    assert record.events[-1] == ("finish", None)


async def test_chunked_body_byte_by_byte(serve, raw_client, impl):
    recorder = Recorder()
    port = serve(recorder, impl)
    client = await raw_client(port)
    await client.send(
        request_bytes("POST", "/", headers=HOST + [("Transfer-Encoding", "Chunked")])
        + chunked(b"hello ", b"chunked ", b"world"),
        bytewise=True,
    )
    assert (
        await client.recv_response()
        == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    record = recorder.records[0]
    assert record.body == b"hello chunked world"
    assert record.events[0][0] == "headers"
    assert record.events[-1] == ("finish", None)
    assert {name for name, _ in record.events[1:-1]} == {"data"}


async def test_large_chunks_are_split_at_chunk_size(serve, raw_client, impl):
    recorder = Recorder()
    port = serve(recorder, impl, chunk_size=1000)
    client = await raw_client(port)
    body = bytes(range(256)) * 20  # 5120 bytes
    await client.send(
        request_bytes("POST", "/", headers=HOST + [("Transfer-Encoding", "chunked")])
        + chunked(body[:3000], body[3000:])
    )
    assert (
        await client.recv_response()
        == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    record = recorder.records[0]
    assert record.body == body
    assert all(len(chunk) <= 1000 for chunk in record.chunks)


async def test_content_length_body_split_at_chunk_size(serve, raw_client, impl):
    recorder = Recorder()
    port = serve(recorder, impl, chunk_size=100)
    client = await raw_client(port)
    body = b"x" * 250
    await client.send(
        request_bytes("PUT", "/", headers=HOST + [("Content-Length", "250")], body=body)
    )
    assert (
        await client.recv_response()
        == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    chunks = recorder.records[0].chunks
    assert b"".join(chunks) == body
    assert max(len(chunk) for chunk in chunks) == 100


@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_large_body_arriving_at_once(serve, raw_client, impl, framing):
    """A body larger than what is read without yielding to the IOLoop
    (256 KiB) arrives complete and in order."""
    recorder = Recorder(lambda conn, rec: fixed_response(conn, b"%d" % len(rec.body)))
    port = serve(recorder, impl)
    client = await raw_client(port)
    body = bytes(range(256)) * 1600  # 400 KiB
    if framing == "length":
        fields = [("Content-Length", str(len(body)))]
        payload = body
    else:
        fields = [("Transfer-Encoding", "chunked")]
        payload = chunked(*[body[i : i + 1000] for i in range(0, len(body), 1000)])
    await client.send(request_bytes("POST", "/", headers=HOST + fields, body=payload))
    assert await client.recv_response() == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n409600"
    )
    assert recorder.records[0].body == body


async def _stream_abc_defgh(conn: httputil.HTTPConnection, record: Record) -> None:
    await conn.write_headers(
        httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
        httputil.HTTPHeaders({"X-Stream": "1"}),
    )
    await conn.write(b"abc")
    await conn.write(b"")  # an empty write must not end the body
    await conn.write(b"defgh")
    conn.finish()


@pytest.mark.parametrize(
    "version,expected,closes",
    [
        (
            "HTTP/1.1",
            b"HTTP/1.1 200 OK\r\nX-Stream: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n",
            False,
        ),
        # HTTP/1.0 knows no chunked coding: the body ends with the connection.
        ("HTTP/1.0", b"HTTP/1.1 200 OK\r\nX-Stream: 1\r\n\r\nabcdefgh", True),
    ],
)
async def test_chunked_response(serve, raw_client, impl, version, expected, closes):
    port = serve(Recorder(_stream_abc_defgh), impl)
    client = await raw_client(port)
    await client.send(request_bytes("GET", "/", version, HOST))
    assert await client.recv_all() == (expected, closes)


@pytest.mark.parametrize("method,code", [("HEAD", 200), ("GET", 304), ("GET", 204)])
async def test_no_chunking_without_body(serve, raw_client, impl, method, code):
    async def respond(conn, record):
        await conn.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", code, "X"), httputil.HTTPHeaders()
        )
        conn.finish()

    port = serve(Recorder(respond), impl)
    client = await raw_client(port)
    await client.send(request_bytes(method, "/", headers=HOST))
    assert await client.recv_all() == (b"HTTP/1.1 %d X\r\n\r\n" % code, False)


class Flushing(tornado.web.RequestHandler):
    async def get(self) -> None:
        self.write("abc")
        await self.flush()
        self.write("defgh")
        await self.flush()


async def test_web_handler_flushes_are_chunks(serve, raw_client, impl, logs):
    port = serve(tornado.web.Application([("/", Flushing)]), impl)
    client = await raw_client(port)
    await client.send(request_bytes("GET", "/", headers=HOST))
    response = await client.recv_response()
    assert strip_volatile(response) == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=UTF-8\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n"
    )
    assert logs.messages("tornado.access")[0].startswith("200 GET / (127.0.0.1)")


async def test_h11_client_sees_well_formed_keep_alive_responses(
    serve, raw_client, impl
):
    port = serve(Recorder(_stream_abc_defgh), impl)
    client = await raw_client(port)
    conn = h11.Connection(h11.CLIENT)
    for _ in range(2):
        await client.send(
            conn.send(h11.Request(method="GET", target="/", headers=HOST))
            + conn.send(h11.EndOfMessage())
        )
        events: list[Any] = []
        while not events or not isinstance(events[-1], h11.EndOfMessage):
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await client.recv_some()
                assert data, "server sent nothing more"
                conn.receive_data(data)
                continue
            events.append(event)
        assert [type(e).__name__ for e in events] == [
            "Response",
            "Data",
            "Data",
            "EndOfMessage",
        ]
        assert events[0].status_code == 200
        assert b"".join(e.data for e in events[1:3]) == b"abcdefgh"
        assert conn.our_state is h11.DONE and conn.their_state is h11.DONE
        conn.start_next_cycle()


# ------------------------------------------------------------------ gzip


async def test_gzip_request_is_decompressed(serve, raw_client, impl):
    port = serve(echo, impl, decompress_request=True)
    client = await raw_client(port)
    plain = b"hello " * 1000
    body = gzipped(plain)
    await client.send(
        request_bytes(
            "POST",
            "/",
            headers=HOST
            + [("Content-Length", str(len(body))), ("Content-Encoding", "gzip")],
            body=body,
        )
    )
    assert await client.recv_response() == echo_response(
        "POST", "/", "HTTP/1.1", plain, before=b"X-Consumed: gzip\r\n"
    )


async def test_gzip_request_untouched_without_option(serve, raw_client, impl):
    port = serve(echo, impl)
    client = await raw_client(port)
    body = gzipped(b"hello")
    await client.send(
        request_bytes(
            "POST",
            "/",
            headers=HOST
            + [("Content-Length", str(len(body))), ("Content-Encoding", "gzip")],
            body=body,
        )
    )
    assert await client.recv_response() == echo_response("POST", "/", "HTTP/1.1", body)


@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_gzip_bomb_is_refused(serve, raw_client, impl, logs, framing):
    recorder = Recorder()
    port = serve(recorder, impl, decompress_request=True, max_body_size=65536)
    client = await raw_client(port)
    bomb = gzipped(b"\0" * (10 * 1024 * 1024))
    assert len(bomb) < 65536
    if framing == "length":
        fields = [("Content-Length", str(len(bomb)))]
        body = bomb
    else:
        fields = [("Transfer-Encoding", "chunked")]
        body = chunked(bomb)
    await client.send(
        request_bytes(
            "POST",
            "/",
            headers=HOST + fields + [("Content-Encoding", "gzip")],
            body=body,
        )
    )
    assert await client.recv_until_closed() == BAD_REQUEST
    record = recorder.records[0]
    assert record.events[-1] == ("close", None)
    assert len(record.body) <= 65536
    assert logs.messages("tornado.general", logging.INFO) == [
        "Malformed HTTP message from 127.0.0.1: decompressed body too large"
    ]


async def test_gzip_decompressed_size_at_the_limit_is_accepted(serve, raw_client, impl):
    recorder = Recorder()
    port = serve(recorder, impl, decompress_request=True, max_body_size=1000)
    client = await raw_client(port)
    body = gzipped(b"a" * 1000)
    await client.send(
        request_bytes(
            "POST",
            "/",
            headers=HOST
            + [("Content-Length", str(len(body))), ("Content-Encoding", "gzip")],
            body=body,
        )
    )
    assert (
        await client.recv_response()
        == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    assert recorder.records[0].body == b"a" * 1000


@pytest.mark.parametrize(
    "body,message",
    [
        (b"not gzip at all", "invalid gzip data: expected a gzip member, got b'no'"),
        (
            gzipped(b"hello world")[:-6],
            "invalid gzip data: incomplete or truncated gzip stream",
        ),
    ],
    ids=["garbage", "truncated"],
)
async def test_bad_gzip_request(serve, raw_client, impl, logs, body, message):
    recorder = Recorder()
    port = serve(recorder, impl, decompress_request=True)
    client = await raw_client(port)
    await client.send(
        request_bytes(
            "POST",
            "/",
            headers=HOST
            + [("Content-Length", str(len(body))), ("Content-Encoding", "gzip")],
            body=body,
        )
    )
    assert await client.recv_until_closed() == BAD_REQUEST
    assert recorder.records[0].events[-1] == ("close", None)
    assert logs.messages("tornado.general", logging.INFO) == [
        "Malformed HTTP message from 127.0.0.1: " + message
    ]


# -------------------------------------------------------------- timeouts


async def test_header_timeout_closes_silently(serve, raw_client, impl, logs):
    recorder = Recorder()
    port = serve(recorder, impl, idle_connection_timeout=0.2)
    client = await raw_client(port)
    await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n")  # no end of head
    assert await client.recv_until_closed() == b""
    assert recorder.records[0].events == []
    await eventually(lambda: not serve.servers[0]._connections)
    assert logs.summary(["tornado.general", "tornado.application"]) == []


async def test_idle_keep_alive_connection_times_out(serve, raw_client, impl, logs):
    port = serve(echo, impl, idle_connection_timeout=0.2)
    client = await raw_client(port)
    await client.send(request_bytes("GET", "/", headers=HOST))
    assert await client.recv_until_closed() == echo_response(
        "GET", "/", "HTTP/1.1", b""
    )
    assert logs.summary(["tornado.general", "tornado.application"]) == []


async def test_body_timeout(serve, raw_client, impl, logs):
    recorder = Recorder()
    port = serve(recorder, impl, body_timeout=0.2)
    client = await raw_client(port)
    await client.send(
        request_bytes(
            "POST", "/", headers=HOST + [("Content-Length", "10")], body=b"abc"
        )
    )
    assert await client.recv_until_closed() == b""
    assert recorder.records[0].events == [
        ("headers", httputil.RequestStartLine("POST", "/", "HTTP/1.1")),
        ("data", 3),
        ("close", None),
    ]
    assert logs.summary(["tornado.general", "tornado.application"]) == [
        ("tornado.general", "INFO", "Timeout reading body from 127.0.0.1")
    ]


async def test_body_timeout_not_hit_by_a_prompt_body(serve, raw_client, impl):
    port = serve(echo, impl, body_timeout=0.2, idle_connection_timeout=0.2)
    client = await raw_client(port)
    for _ in range(3):
        await client.send(
            request_bytes(
                "PUT", "/", headers=HOST + [("Content-Length", "2")], body=b"ok"
            )
        )
        assert await client.recv_response() == echo_response(
            "PUT", "/", "HTTP/1.1", b"ok"
        )


async def test_idle_deadline_restarts_for_each_request(serve, raw_client, impl):
    """The idle timeout counts from the end of the previous response: a
    connection used again before it expires lives on (the timer is re-armed
    for the later deadline), then closes once idle."""
    port = serve(echo, impl, idle_connection_timeout=0.2)
    client = await raw_client(port)
    for path in ("/1", "/2", "/3"):
        await client.send(request_bytes("GET", path, headers=HOST))
        assert await client.recv_response() == echo_response(
            "GET", path, "HTTP/1.1", b""
        )
        await asyncio.sleep(0.12)  # less than the timeout each time
    assert await client.recv_until_closed() == b""


async def test_slow_application_outlives_idle_timeout(serve, raw_client, impl, logs):
    """The idle timeout applies to waiting for a head, not to an application
    that takes longer than it to answer."""

    async def respond(conn, record):
        await asyncio.sleep(0.3)
        fixed_response(conn, b"late")

    port = serve(Recorder(respond), impl, idle_connection_timeout=0.1)
    client = await raw_client(port)
    await client.send(request_bytes("GET", "/", headers=HOST))
    assert await client.recv_until_closed() == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate"
    )
    assert logs.summary(["tornado.general", "tornado.application"]) == []


# ------------------------------------------------------------------ limits


@pytest.mark.parametrize("excess", [0, 1])
async def test_max_header_size(serve, raw_client, impl, logs, excess):
    port = serve(echo, impl, max_header_size=1024)
    client = await raw_client(port)
    head = request_bytes("GET", "/", headers=HOST + [("X-Pad", "")])
    pad = 1024 - len(head) + excess
    head = request_bytes("GET", "/", headers=HOST + [("X-Pad", "p" * pad)])
    assert len(head) == 1024 + excess
    await client.send(head)
    if excess:
        assert await client.recv_until_closed() == b""
        # IOStream names the pattern it searched for: upstream's, or
        # tornado_h1's equivalent that starts with the LF (docs/design.rst).
        pattern = "b'\\n\\r?\\n'" if impl == "tornado_h1" else "b'\\r?\\n\\r?\\n'"
        assert logs.summary(["tornado.general", "tornado.application"]) == [
            (
                "tornado.general",
                "INFO",
                "Unsatisfiable read, closing connection: delimiter "
                f"re.compile({pattern}) not found within 1024 bytes",
            )
        ]
    else:
        assert await client.recv_response() == echo_response(
            "GET", "/", "HTTP/1.1", b""
        )


@pytest.mark.parametrize(
    "fields,body,ok",
    [
        ([("Content-Length", "10")], b"0123456789", True),
        ([("Content-Length", "11")], b"0123456789a", False),
        ([("Transfer-Encoding", "chunked")], chunked(b"01234", b"56789"), True),
        ([("Transfer-Encoding", "chunked")], chunked(b"01234", b"56789a"), False),
    ],
)
async def test_max_body_size(serve, raw_client, impl, logs, fields, body, ok):
    port = serve(echo, impl, max_body_size=10)
    client = await raw_client(port)
    await client.send(request_bytes("POST", "/", headers=HOST + fields, body=body))
    if ok:
        assert await client.recv_response() == echo_response(
            "POST", "/", "HTTP/1.1", b"0123456789"
        )
    else:
        assert await client.recv_until_closed() == BAD_REQUEST
        reason = (
            "Content-Length too long"
            if "Content" in fields[0][0]
            else ("chunked body too large")
        )
        assert logs.messages("tornado.general") == [
            "Malformed HTTP message from 127.0.0.1: " + reason
        ]


@tornado.web.stream_request_body
class Streaming(tornado.web.RequestHandler):
    def prepare(self) -> None:
        self.received = 0
        conn = self.request.connection
        if "max" in self.request.query_arguments:
            conn.set_max_body_size(int(self.get_query_argument("max")))
        if "timeout" in self.request.query_arguments:
            conn.set_body_timeout(float(self.get_query_argument("timeout")))

    def data_received(self, chunk: bytes) -> None:
        self.received += len(chunk)

    def post(self) -> None:
        self.write("got %d" % self.received)


@pytest.mark.parametrize(
    "query,size,ok",
    [("max=100", 50, True), ("", 50, False), ("max=5", 8, False), ("max=5", 5, True)],
)
@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_set_max_body_size_in_prepare(
    serve, raw_client, impl, query, size, ok, framing
):
    port = serve(tornado.web.Application([("/", Streaming)]), impl, max_body_size=10)
    client = await raw_client(port)
    body = b"x" * size
    if framing == "length":
        fields, payload = [("Content-Length", str(size))], body
    else:
        fields, payload = [("Transfer-Encoding", "chunked")], chunked(body)
    await client.send(
        request_bytes("POST", "/?" + query, headers=HOST + fields, body=payload)
    )
    if ok:
        response = strip_volatile(await client.recv_response())
        assert response.endswith(b"\r\n\r\ngot %d" % size)
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    else:
        assert await client.recv_until_closed() == BAD_REQUEST


async def test_set_body_timeout_in_prepare(serve, raw_client, impl, logs):
    port = serve(tornado.web.Application([("/", Streaming)]), impl)
    client = await raw_client(port)
    await client.send(
        request_bytes(
            "POST",
            "/?timeout=0.2",
            headers=HOST + [("Content-Length", "10")],
            body=b"abc",
        )
    )
    assert await client.recv_until_closed() == b""
    assert logs.messages("tornado.general") == ["Timeout reading body from 127.0.0.1"]


# -------------------------------------------------------------- websockets


class Echo(tornado.websocket.WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


WS_HANDSHAKE = request_bytes(
    "GET",
    "/ws",
    headers=HOST
    + [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ],
)


async def test_websocket_gets_bytes_sent_with_the_handshake(serve, raw_client, impl):
    port = serve(tornado.web.Application([("/ws", Echo)]), impl)
    client = await raw_client(port)
    # The frames ride in the same write as the handshake: they are in the
    # stream's buffer when the connection is detached.
    await client.send(WS_HANDSHAKE + ws_frame(b"hello") + ws_frame(b"bin", opcode=2))
    head = strip_volatile(await client.recv_until(b"\r\n\r\n"))
    assert head == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-Websocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
    )
    assert await client.recv_exactly(7) == b"\x81\x05hello"
    assert await client.recv_exactly(5) == b"\x82\x03bin"
    await client.send(ws_frame(b"\x03\xe8", opcode=8))  # close, 1000
    assert await client.recv_until_closed() == b"\x88\x02\x03\xe8"


# --------------------------------------------------------- close callbacks


async def test_close_callback_fires_when_client_leaves(serve, raw_client, impl):
    fired = asyncio.Event()
    order: list[str] = []

    def respond(conn, record):
        # The application is still producing its response.
        conn.set_close_callback(lambda: (order.append("closed"), fired.set()))
        conn.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders(),
            b"partial",
        )

    recorder = Recorder(respond)
    port = serve(recorder, impl)
    client = await raw_client(port)
    await client.send(request_bytes("GET", "/", headers=HOST))
    assert await client.recv_until(b"partial")
    client.close()
    await asyncio.wait_for(fired.wait(), 5)
    assert order == ["closed"]
    # The message itself had been read completely: no on_connection_close.
    assert recorder.records[0].events[-1] == ("finish", None)


class Producing(tornado.web.RequestHandler):
    closed: asyncio.Event

    async def get(self) -> None:
        self.write("first part")
        await self.flush()
        await asyncio.wait_for(self.closed.wait(), 5)

    def on_connection_close(self) -> None:
        self.closed.set()


async def test_web_on_connection_close(serve, raw_client, impl, logs):
    Producing.closed = asyncio.Event()
    port = serve(tornado.web.Application([("/", Producing)]), impl)
    client = await raw_client(port)
    await client.send(request_bytes("GET", "/", headers=HOST))
    assert await client.recv_until(b"first part")
    client.close()
    await asyncio.wait_for(Producing.closed.wait(), 5)
    # The handler then ends quietly, and the server forgets the connection.
    await eventually(lambda: not serve.servers[0]._connections)


# ---------------------------------------------------------------- bad input

BAD_INPUTS = [
    ("bad-request-line", b"GET /\r\n\r\n", "Malformed HTTP request line"),
    (
        "double-space",
        b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
        "Malformed HTTP request line",
    ),
    (
        "lowercase-version",
        b"GET / http/1.1\r\nHost: x\r\n\r\n",
        "Malformed HTTP request line",
    ),
    (
        "http2",
        b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        "Unexpected HTTP version 'HTTP/2.0'",
    ),
    (
        "ctl-in-target",
        b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
        "Malformed HTTP request line",
    ),
    (
        "no-colon",
        b"GET / HTTP/1.1\r\nHost: x\r\nFoo\r\n\r\n",
        "no colon in header line",
    ),
    (
        "space-before-colon",
        b"GET / HTTP/1.1\r\nHost: x\r\nFoo : bar\r\n\r\n",
        "Invalid header name 'Foo '",
    ),
    (
        "obs-fold",
        b"GET / HTTP/1.1\r\nHost: x\r\nFoo: a\r\n b\r\n\r\n",
        "header line cannot start with whitespace, folding not supported",
    ),
    (
        "nul-in-value",
        b"GET / HTTP/1.1\r\nHost: x\r\nFoo: a\x00b\r\n\r\n",
        "Invalid header value 'a\\x00b'",
    ),
    (
        "bare-cr-in-value",
        b"GET / HTTP/1.1\r\nHost: x\r\nFoo: a\rb\r\n\r\n",
        "Invalid header value 'a\\rb'",
    ),
    (
        "cl-and-te",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "Message with both Transfer-Encoding and Content-Length",
    ),
    (
        "cl-and-te-http10",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Length: 3\r\n\r\nabc",
        "Message with both Transfer-Encoding and Content-Length",
    ),
    (
        "negative-cl",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "Only integer Content-Length is allowed: -1",
    ),
    (
        "underscore-cl",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1_0\r\n\r\n0123456789",
        "Only integer Content-Length is allowed: 1_0",
    ),
    (
        "unequal-cl",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
        b"Content-Length: 2\r\n\r\nab",
        "Multiple unequal Content-Lengths: '1,2'",
    ),
    (
        "te-gzip",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        "Unsupported Transfer-Encoding gzip",
    ),
    (
        "te-twice",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "Unsupported Transfer-Encoding chunked,chunked",
    ),
    (
        "bad-chunk-size",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "invalid chunk size",
    ),
    (
        "chunk-extension",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"1;a=b\r\nx\r\n0\r\n\r\n",
        "invalid chunk size",
    ),
    (
        "unterminated-chunk",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY",
        "improperly terminated chunk",
    ),
    (
        "trailer",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\nX: y\r\n\r\n",
        "improperly terminated chunked request",
    ),
    ("missing-host", b"GET / HTTP/1.1\r\n\r\n", "Missing Host header"),
    (
        "two-hosts",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "Multiple host headers not allowed: 'a,b'",
    ),
    (
        "bad-host",
        b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
        "Invalid Host header: 'a/b'",
    ),
]


@pytest.mark.parametrize(
    "data,message",
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
async def test_bad_input_is_a_400(
    serve, raw_client, impl, logs, data, message, bytewise
):
    port = serve(echo, impl)
    client = await raw_client(port)
    await client.send(data, bytewise=bytewise)
    assert await client.recv_until_closed() == BAD_REQUEST
    assert logs.summary(["tornado.general", "tornado.application"]) == [
        ("tornado.general", "INFO", "Malformed HTTP message from 127.0.0.1: " + message)
    ]


async def test_bad_second_request_after_a_good_one(serve, raw_client, impl):
    port = serve(echo, impl)
    client = await raw_client(port)
    await client.send(request_bytes("GET", "/", headers=HOST) + b"BAD\r\n\r\n")
    assert await client.recv_until_closed() == (
        echo_response("GET", "/", "HTTP/1.1", b"") + BAD_REQUEST
    )


# ----------------------------------------------------------- real clients


def _http_client_session(port: int) -> list[tuple[int, bytes, Optional[str]]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        results = []
        for method, body in [("GET", None), ("POST", b"data"), ("PUT", b"")]:
            conn.request(method, "/p", body=body)
            response = conn.getresponse()
            results.append(
                (response.status, response.read(), response.getheader("Connection"))
            )
        return results
    finally:
        conn.close()


async def test_http_client_keep_alive(serve, impl, in_thread):
    recorder = Recorder(
        lambda conn, rec: fixed_response(
            conn, b"%d:%s" % (len(recorder.records), rec.body)
        )
    )
    port = serve(recorder, impl)
    assert await in_thread(_http_client_session, port) == [
        (200, b"1:", None),
        (200, b"2:data", None),
        (200, b"3:", None),
    ]
    # One connection carried all three requests.
    assert recorder.closed == 0
    assert len({id(record.conn.stream) for record in recorder.records}) == 1  # type: ignore[attr-defined]


def _requests_session(port: int) -> list[tuple[int, bytes, str]]:
    def generate():
        yield b"chunk one,"
        yield b"chunk two"

    with requests.Session() as session:
        out = []
        for kwargs in [
            {"data": generate()},  # chunked request body
            {"data": b"x" * 100000},
            {"data": gzipped(b"y" * 1000), "headers": {"Content-Encoding": "gzip"}},
        ]:
            response = session.post("http://127.0.0.1:%d/r" % port, timeout=5, **kwargs)
            out.append(
                (
                    response.status_code,
                    response.content,
                    response.headers.get("Transfer-Encoding", ""),
                )
            )
        return out


async def test_requests_session(serve, impl, in_thread):
    async def respond(conn, record):
        # Echo the size of what arrived, in a chunked response.
        await conn.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), httputil.HTTPHeaders()
        )
        await conn.write(b"%d" % len(record.body))
        conn.write(record.body[:10])
        conn.finish()

    recorder = Recorder(respond)
    port = serve(recorder, impl, decompress_request=True)
    assert await in_thread(_requests_session, port) == [
        (200, b"19chunk one,", "chunked"),
        (200, b"100000" + b"x" * 10, "chunked"),
        (200, b"1000" + b"y" * 10, "chunked"),
    ]
    assert recorder.records[0].body == b"chunk one,chunk two"
    assert recorder.records[2].headers["X-Consumed-Content-Encoding"] == "gzip"
    assert recorder.closed == 0


UPSTREAM_GZIP_BUG = (
    "upstream bug (fixed in tornado_h1): for a truncated gzip body "
    "_GzipMessageDelegate.finish() calls the inner on_connection_close() and "
    "raises HTTPInputError; the connection then calls on_connection_close() "
    "again, so the inner delegate is closed twice (HTTPServer's "
    "_CallableAdapter then fails with AttributeError: _chunks, logged as ERROR)"
)


async def test_truncated_gzip_closes_the_delegate_once(
    serve, raw_client, impl, request
):
    if impl == "upstream":
        request.applymarker(pytest.mark.xfail(strict=True, reason=UPSTREAM_GZIP_BUG))
    recorder = Recorder()
    port = serve(recorder, impl, decompress_request=True)
    client = await raw_client(port)
    body = gzipped(b"hello world")[:-6]
    await client.send(
        request_bytes(
            "POST",
            "/",
            headers=HOST
            + [("Content-Length", str(len(body))), ("Content-Encoding", "gzip")],
            body=body,
        )
    )
    assert await client.recv_until_closed() == BAD_REQUEST
    assert [name for name, _ in recorder.records[0].events] == [
        "headers",
        "data",
        "close",
    ]


async def test_truncated_gzip_with_callable_app(serve, raw_client, impl, request):
    if impl == "upstream":
        request.applymarker(pytest.mark.xfail(strict=True, reason=UPSTREAM_GZIP_BUG))
    port = serve(echo, impl, decompress_request=True)
    client = await raw_client(port)
    body = gzipped(b"hello world")[:-6]
    await client.send(
        request_bytes(
            "POST",
            "/",
            headers=HOST
            + [("Content-Length", str(len(body))), ("Content-Encoding", "gzip")],
            body=body,
        )
    )
    assert await client.recv_until_closed() == BAD_REQUEST
