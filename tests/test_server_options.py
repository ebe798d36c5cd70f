"""``ServerOptions``, real servers and real sockets.

``precise_errors``: a refused request is answered with the status that
says why (413, 400), with ``Content-Length: 0`` and ``Connection: close``;
a body over the limit gets its 413 instead of ``100 Continue``. Without the
option, upstream's answers stay (a bare 400, or a close without an answer).

``max_requests``: the response to a connection's last request says
``Connection: close``, and the connection closes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

import pytest
import tornado.httpserver
import tornado.testing
import tornado.web
from helpers import PATIENCE
from tornado import iostream

import tornado_h1
from tornado_h1 import ServerOptions, _link, _wire

pytestmark = pytest.mark.usefixtures("logs")

PRECISE = ServerOptions(precise_errors=True)
LIMIT = 1000


class Echo(tornado.web.RequestHandler):
    def post(self) -> None:
        self.write(self.request.body)


def _app() -> tornado.web.Application:
    return tornado.web.Application([("/", Echo)])


def _serve_precise(serve: Any, **params: Any) -> int:
    return serve(_app(), h1_options=PRECISE, **params)  # type: ignore[no-any-return]


def _post_head(length: int, *extra: bytes) -> bytes:
    return (
        b"\r\n".join(
            [b"POST / HTTP/1.1", b"Host: t", b"Content-Length: %d" % length, *extra]
        )
        + b"\r\n\r\n"
    )


def _refusal(status: int) -> bytes:
    return _wire.REFUSALS[status]


async def test_a_body_over_the_limit_gets_413(serve: Any, raw_client: Any) -> None:
    port = _serve_precise(serve, max_body_size=LIMIT)
    client = await raw_client(port)
    await client.send(_post_head(LIMIT + 1))
    assert await client.recv_until_closed() == _refusal(413)


async def test_413_comes_instead_of_100_continue(serve: Any, raw_client: Any) -> None:
    """The client asked before sending: it is told no, not invited to send
    a body that would be refused."""
    port = _serve_precise(serve, max_body_size=LIMIT)
    client = await raw_client(port)
    await client.send(_post_head(LIMIT + 1, b"Expect: 100-continue"))
    reply = await client.recv_until_closed()
    assert reply == _refusal(413)
    assert b"100" not in reply.split(b"\r\n")[0]


async def test_a_body_within_the_limit_still_gets_100_continue(
    serve: Any, raw_client: Any
) -> None:
    port = _serve_precise(serve, max_body_size=LIMIT)
    client = await raw_client(port)
    await client.send(_post_head(5, b"Expect: 100-continue"))
    assert await client.recv_until(b"\r\n\r\n") == _wire.CONTINUE
    await client.send(b"hello")
    assert (await client.recv_response()).endswith(b"\r\n\r\nhello")


async def test_a_chunked_body_over_the_limit_gets_413(
    serve: Any, raw_client: Any
) -> None:
    port = _serve_precise(serve, max_body_size=LIMIT)
    client = await raw_client(port)
    body = b"%x\r\n%s\r\n" % (LIMIT + 1, b"x" * (LIMIT + 1))
    await client.send(
        b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    )
    assert await client.recv_until_closed() == _refusal(413)


async def test_anything_else_malformed_gets_a_closing_400(
    serve: Any, raw_client: Any
) -> None:
    port = _serve_precise(serve)
    client = await raw_client(port)
    await client.send(b"GET / HTTP/1.1\r\nHost: t\r\nNo colon here\r\n\r\n")
    assert await client.recv_until_closed() == _refusal(400)


async def test_the_log_names_the_status(
    serve: Any, raw_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    port = _serve_precise(serve, max_body_size=LIMIT)
    client = await raw_client(port)
    with caplog.at_level(logging.INFO, logger="tornado.general"):
        await client.send(_post_head(LIMIT + 1))
        await client.recv_until_closed()
    assert any(
        r.getMessage().startswith("Refused with 413 from ")
        and r.getMessage().endswith(": Content-Length too long")
        for r in caplog.records
    )


async def test_without_the_option_upstream_answers_stay(
    serve: Any, raw_client: Any
) -> None:
    """Upstream's bare 400 for a body over the limit (after the 100
    Continue it was asked for), and a silent close for a head over it."""
    port = serve(_app(), max_body_size=LIMIT, max_header_size=1024)
    client = await raw_client(port)
    await client.send(_post_head(LIMIT + 1, b"Expect: 100-continue"))
    assert await client.recv_until_closed() == _wire.CONTINUE + _wire.BAD_REQUEST
    client = await raw_client(port)
    await client.send(b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 2048)
    assert await client.recv_until_closed() == b""


async def test_install_passes_the_options_on(raw_client: Any) -> None:
    """``tornado_h1.install(options=...)``: Tornado's own HTTPServer then
    answers precisely; uninstall restores upstream's answers."""
    was_installed = tornado_h1.is_installed()
    tornado_h1.uninstall()
    tornado_h1.install(options=PRECISE)
    server = tornado.httpserver.HTTPServer(_app(), max_body_size=LIMIT)
    try:
        sock, port = tornado.testing.bind_unused_port()
        server.add_sockets([sock])
        client = await raw_client(port)
        await client.send(_post_head(LIMIT + 1))
        assert await client.recv_until_closed() == _refusal(413)
    finally:
        server.stop()
        await server.close_all_connections()
        tornado_h1.uninstall()
        if was_installed:
            tornado_h1.install()
    from tornado_h1 import http1connection

    assert http1connection.HTTP1ServerConnection._options == ServerOptions()


class Hello(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("hi")


async def _get(client: Any, version: bytes = b"HTTP/1.1", *extra: bytes) -> bytes:
    await client.send(b"\r\n".join([b"GET / " + version, b"Host: t", *extra, b"", b""]))
    return await client.recv_response()  # type: ignore[no-any-return]


def _head_of(response: bytes) -> bytes:
    return response.split(b"\r\n\r\n", 1)[0].lower()


async def test_max_requests_closes_after_the_last(serve: Any, raw_client: Any) -> None:
    port = serve(
        tornado.web.Application([("/", Hello)]),
        h1_options=ServerOptions(max_requests=2),
    )
    client = await raw_client(port)
    assert b"connection: close" not in _head_of(await _get(client))
    assert b"connection: close" in _head_of(await _get(client))
    assert await client.recv_until_closed() == b""


async def test_max_requests_never_confirms_an_http10_keep_alive(
    serve: Any, raw_client: Any
) -> None:
    port = serve(
        tornado.web.Application([("/", Hello)]),
        h1_options=ServerOptions(max_requests=1),
    )
    client = await raw_client(port)
    response = await _get(client, b"HTTP/1.0", b"Connection: keep-alive")
    assert b"keep-alive" not in _head_of(response)
    assert await client.recv_until_closed() == b""


async def test_without_max_requests_the_connection_goes_on(
    serve: Any, raw_client: Any
) -> None:
    port = serve(tornado.web.Application([("/", Hello)]))
    client = await raw_client(port)
    for _ in range(3):
        assert b"connection: close" not in _head_of(await _get(client))


def _hello_app() -> tornado.web.Application:
    return tornado.web.Application([("/", Hello)])


async def test_idle_timeout_closes_an_idle_kept_alive_connection(
    serve: Any, raw_client: Any
) -> None:
    """idle_timeout 0.3 s under a header_timeout of 60 s: the idle
    connection is closed long before the header_timeout."""
    port = serve(
        _hello_app(),
        idle_connection_timeout=60,
        h1_options=ServerOptions(idle_timeout=0.3),
    )
    client = await raw_client(port)
    await _get(client)
    assert await client.recv_until_closed(timeout=10) == b""


async def test_a_request_begun_in_the_idle_time_gets_its_header_timeout(
    serve: Any, raw_client: Any
) -> None:
    port = serve(
        _hello_app(),
        idle_connection_timeout=60,
        h1_options=ServerOptions(idle_timeout=0.5),
    )
    client = await raw_client(port)
    await _get(client)
    await client.send(b"GET / HTTP/1.1\r\n")
    await asyncio.sleep(1.5)  # past the idle deadline, mid-head
    await client.send(b"Host: t\r\n\r\n")
    assert (await client.recv_response()).endswith(b"hi")


async def test_the_first_request_keeps_the_header_timeout(
    serve: Any, raw_client: Any
) -> None:
    port = serve(
        _hello_app(),
        idle_connection_timeout=60,
        h1_options=ServerOptions(idle_timeout=0.3),
    )
    client = await raw_client(port)
    await asyncio.sleep(1.0)  # a new connection is not idle yet
    assert (await _get(client)).endswith(b"hi")


async def test_a_head_that_does_not_end_in_time_gets_408(
    serve: Any, raw_client: Any
) -> None:
    port = serve(_hello_app(), idle_connection_timeout=0.3, h1_options=PRECISE)
    client = await raw_client(port)
    await client.send(b"GET / HTTP/1.1\r\nHost: t\r\n")
    assert await client.recv_until_closed(timeout=10) == _refusal(408)


async def test_an_idle_connection_is_closed_without_a_408(
    serve: Any, raw_client: Any
) -> None:
    port = serve(_hello_app(), idle_connection_timeout=0.3, h1_options=PRECISE)
    client = await raw_client(port)
    await _get(client)
    assert await client.recv_until_closed(timeout=10) == b""


async def test_without_precise_errors_a_slow_head_is_closed_silently(
    serve: Any, raw_client: Any
) -> None:
    port = serve(_hello_app(), idle_connection_timeout=0.3)
    client = await raw_client(port)
    await client.send(b"GET / HTTP/1.1\r\nHost: t\r\n")
    assert await client.recv_until_closed(timeout=10) == b""


_EXTENDED_POST = (
    b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;name=value\r\nhello\r\n0;last\r\n\r\n"
)


async def test_chunk_extensions_when_accepted_are_ignored(
    serve: Any, raw_client: Any
) -> None:
    port = serve(_app(), h1_options=ServerOptions(chunk_extensions=True))
    client = await raw_client(port)
    await client.send(_EXTENDED_POST)
    assert (await client.recv_response()).endswith(b"\r\n\r\nhello")


async def test_chunk_extensions_are_refused_by_default(
    serve: Any, raw_client: Any
) -> None:
    port = serve(_app())
    client = await raw_client(port)
    await client.send(_EXTENDED_POST)
    assert await client.recv_until_closed() == _wire.BAD_REQUEST


# ------------------------------------------- 431 for a head over the limit


def _get_head(size: int) -> bytes:
    """A GET head of exactly ``size`` bytes, its empty line included."""
    start = b"GET / HTTP/1.1\r\nHost: t\r\nX-Pad: "
    return start + b"p" * (size - len(start) - 4) + b"\r\n\r\n"


async def test_a_head_over_the_limit_gets_431(
    serve: Any, raw_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    port = serve(_hello_app(), h1_options=PRECISE)  # max_header_size: 64 KiB
    client = await raw_client(port)
    with caplog.at_level(logging.INFO, logger="tornado.general"):
        await client.send(_get_head(70 * 1024))
        assert await client.recv_until_closed() == _refusal(431)
    assert [r.getMessage().split(" from ")[0] for r in caplog.records] == [
        "Refused with 431"
    ]
    assert caplog.records[0].getMessage().endswith(": " + _wire.HEAD_TOO_LARGE)


async def test_a_head_that_never_ends_gets_431(serve: Any, raw_client: Any) -> None:
    """No empty line at all: refused once past the limit, not read on."""
    port = serve(_hello_app(), h1_options=PRECISE, max_header_size=1024)
    client = await raw_client(port)
    await client.send(b"GET / HTTP/1.1\r\nX-Pad: " + b"p" * 1100)
    assert await client.recv_until_closed() == _refusal(431)


@pytest.mark.parametrize("precise", [False, True])
async def test_a_head_exactly_at_the_limit_is_served(
    serve: Any, raw_client: Any, precise: bool
) -> None:
    """The same bound as upstream's (``max_bytes``): a head of exactly
    max_header_size bytes is served, one byte more is refused (431 with
    precise errors, a silent close without)."""
    options = PRECISE if precise else ServerOptions()
    port = serve(_hello_app(), h1_options=options, max_header_size=1024)
    client = await raw_client(port)
    await client.send(_get_head(1024))
    assert (await client.recv_response()).endswith(b"hi")
    await client.send(_get_head(1025))
    assert await client.recv_until_closed() == (_refusal(431) if precise else b"")


async def test_without_the_option_a_long_head_is_closed_as_upstream(
    serve: Any, raw_client: Any, impl: str
) -> None:
    port = serve(_hello_app(), impl=impl, max_header_size=1024)
    client = await raw_client(port)
    await client.send(_get_head(1025))
    assert await client.recv_until_closed() == b""


async def test_a_long_head_behind_a_pipelined_request_is_closed_as_upstream(
    serve: Any, raw_client: Any
) -> None:
    """Documented: a head that is already in the stream when its read
    begins is read as upstream reads it."""
    port = serve(_hello_app(), h1_options=PRECISE, max_header_size=1024)
    client = await raw_client(port)
    await client.send(_get_head(100) + _get_head(1025))
    assert (await client.recv_response()).endswith(b"hi")
    assert await client.recv_until_closed() == b""


async def test_a_long_head_buffers_a_bounded_amount(io_loop: Any) -> None:
    """A real IOStream, fed without pause by a thread that would send 8 MiB
    with no end of head: the read stops at limit + 1 bytes, having buffered
    at most about twice the limit plus one read (IOStream searches again
    each time its buffer doubles), not megabytes. (The buffer size is
    IOStream's private count, read here by the test only.)"""
    import socket
    import threading

    from tornado.httputil import HTTPInputError
    from tornado.iostream import IOStream

    from tornado_h1 import _bodies

    limit = 65536
    ours, theirs = socket.socketpair()
    stream = IOStream(ours)

    def flood() -> None:
        with contextlib.suppress(OSError):
            for _ in range(128):
                theirs.sendall(b"x" * 65536)

    sender = threading.Thread(target=flood)
    sender.start()
    try:
        with pytest.raises(HTTPInputError, match=_wire.HEAD_TOO_LARGE):
            await _bodies.bounded_head(stream, limit)
        assert stream._read_buffer_size <= 2 * limit + stream.read_chunk_size
    finally:
        stream.close()
        theirs.close()
        sender.join()


def _upload(port: int, size: int) -> tuple[str, bytes]:
    """A blocking client that sends a whole upload before it reads the
    answer, as nginx does with a buffered request body: what sending did
    ("sent", or the error), and the reply. nginx answers 502 when sending
    fails, whatever the server had answered."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(PATIENCE)
        try:
            sock.sendall(_post_head(size) + b"x" * size)
            sending = "sent"
        except OSError as e:
            sending = repr(e)
        reply = b""
        with contextlib.suppress(OSError):
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
        return sending, reply


async def test_a_refused_upload_is_not_reset(serve: Any, in_thread: Any) -> None:
    """The connection lingers after the 413, reading and dropping the body
    the client still sends, so that the client's sending does not fail
    on a reset (and a proxy does not turn the 413 into a 502)."""
    port = _serve_precise(serve, max_body_size=LIMIT)
    for _ in range(3):
        sent = await in_thread(_upload, port, 4 * 1024 * 1024)
        assert sent == ("sent", _refusal(413))


async def test_linger_drops_what_comes_and_ends_with_the_peer() -> None:
    """`linger` reads to the peer's close (or its bounds) and returns
    quietly, also on a stream already closed (its socket is then gone)."""
    ours, theirs = socket.socketpair()
    stream = iostream.IOStream(ours)
    with theirs:
        theirs.sendall(b"x" * 100_000)
        theirs.shutdown(socket.SHUT_WR)
        await asyncio.wait_for(_link.linger(stream), PATIENCE)
        assert theirs.recv(1) == b""  # our FIN came first
    assert stream.closed()
    await _link.linger(stream)
