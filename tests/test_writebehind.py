"""Write-behind (tornado_h1._writebehind): small responses finished in one
IOLoop iteration are sent together at the start of the next.

Each test watches real sockets: on loopback, a ``send()`` puts the bytes in
the receiving socket before it returns, so ``unread(client)`` right after
the application's ``finish()`` tells whether the response was sent then or
held. The other half of each test shows that nothing a client or an
application can see has changed: the bytes, their order, and what happens
when the stream is written to, closed or detached by hand.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Callable

import pytest
from helpers import RawClient, request_bytes, unread
from tornado import httputil, iostream
from tornado.httputil import HTTPHeaders, ResponseStartLine

from tornado_h1 import _writebehind
from tornado_h1 import http1connection as ours

# Most tests here use one client, for which write-behind would not hold by
# default (see test_a_lone_client_is_answered_at_once): make it hold.
pytestmark = pytest.mark.usefixtures("logs", "always_hold")

HOST = [("Host", "example.com")]
OK = ResponseStartLine("HTTP/1.1", 200, "OK")


def _answer(request: httputil.HTTPServerRequest, body: bytes = b"ok") -> Any:
    connection = request.connection
    assert connection is not None
    future = connection.write_headers(
        OK, HTTPHeaders({"Content-Length": str(len(body))}), body
    )
    connection.finish()
    return future


def _app(
    after: Callable[[httputil.HTTPServerRequest], None], body: bytes = b"ok"
) -> Callable[[httputil.HTTPServerRequest], None]:
    def app(request: httputil.HTTPServerRequest) -> None:
        _answer(request, body)
        after(request)

    return app


async def _watched(
    serve: Any, raw_client: Any, body: bytes = b"ok"
) -> tuple[RawClient, list[int]]:
    """A server whose app answers at once, recording how many bytes had
    reached the client's socket when finish() returned; and its client."""
    seen: list[int] = []
    clients: list[RawClient] = []
    port = serve(_app(lambda request: seen.append(unread(clients[0].sock)), body))
    clients.append(await raw_client(port))
    return clients[0], seen


async def test_a_small_response_waits_for_the_next_iteration(
    serve: Any, raw_client: Any
) -> None:
    """Right after finish() nothing is on the wire; one IOLoop iteration
    later the whole response is."""
    client, seen = await _watched(serve, raw_client)
    await client.send(request_bytes("GET", "/", headers=HOST))
    assert (await client.recv_response()).endswith(b"\r\n\r\nok")
    assert seen == [0]


@pytest.fixture
def adaptive(always_hold: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default: hold only while the event loop is busy."""
    monkeypatch.setattr(
        ours.HTTP1ServerConnection, "_write_behind", _writebehind.Policy.ADAPTIVE
    )


@pytest.mark.usefixtures("adaptive")
async def test_a_lone_client_is_answered_at_once(serve: Any, raw_client: Any) -> None:
    """With one client there is nobody to share a flush with: holding
    would only add an IOLoop iteration to each response, so nothing is
    held."""
    client, seen = await _watched(serve, raw_client)
    sizes = []
    for path in ("/1", "/2", "/3"):
        await client.send(request_bytes("GET", path, headers=HOST))
        sizes.append(len(await client.recv_response()))
    assert seen == sizes


@pytest.mark.usefixtures("adaptive")
async def test_holding_starts_and_stops_with_the_load(
    serve: Any, raw_client: Any
) -> None:
    """Two responses or more written at once in one iteration make the
    loop busy: from the next iteration on, responses are held. A flush
    that finds a single stream ends that."""
    seen: list[tuple[str, int]] = []
    clients: list[Any] = []

    def after(request: httputil.HTTPServerRequest) -> None:
        index = int(request.headers["X-Client"])
        seen.append((request.uri or "", unread(clients[index].sock)))

    port = serve(_app(after))
    for _ in range(3):
        clients.append(await raw_client(port))

    async def round_trip(path: str, which: list[int]) -> None:
        seen.clear()
        for i in which:
            headers = HOST + [("X-Client", str(i))]
            clients[i].sock.send(request_bytes("GET", path, headers=headers))
        for i in which:
            assert (await clients[i].recv_response()).endswith(b"ok")

    # Each connection's first request, one at a time: nothing is held.
    for i in range(3):
        await round_trip("/warm", [i])
        assert seen[0][1] > 0
    # Three at once: written at once, and the loop is found busy...
    await round_trip("/a", [0, 1, 2])
    assert all(unread_then > 0 for _, unread_then in seen)
    # ...so the next three are held and flushed together.
    await round_trip("/b", [0, 1, 2])
    assert [unread_then for _, unread_then in seen] == [0, 0, 0]
    # One alone is still held (the loop was busy), and its flush of a
    # single stream ends the busy spell: the next one goes at once.
    await round_trip("/c", [0])
    assert seen[0][1] == 0
    await round_trip("/d", [0])
    assert seen[0][1] > 0


async def test_without_write_behind_the_response_goes_at_once(
    serve: Any, raw_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The observation above is real: with write-behind off, the response
    is in the client's socket before finish() returns."""
    monkeypatch.setattr(
        ours.HTTP1ServerConnection, "_write_behind", _writebehind.Policy.OFF
    )
    client, seen = await _watched(serve, raw_client)
    await client.send(request_bytes("GET", "/", headers=HOST))
    response = await client.recv_response()
    assert seen == [len(response)]


async def test_responses_of_one_iteration_share_one_flush(
    serve: Any, raw_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests of several connections read in the same iteration are
    answered by a single flush, their sends back to back."""
    flushed: list[int] = []
    original = _writebehind.FlushQueue._flush_all

    def counted(self: _writebehind.FlushQueue) -> None:
        flushed.append(len(self.holders))
        original(self)

    monkeypatch.setattr(_writebehind.FlushQueue, "_flush_all", counted)
    port = serve(_app(lambda request: None))
    clients = [await raw_client(port) for _ in range(3)]
    for client in clients:
        await client.send(request_bytes("GET", "/", headers=HOST))
        await client.recv_response()
    # Now all three serving loops wait on their sockets: send the next
    # requests at once, so that one poll of the IOLoop sees all of them.
    flushed.clear()
    for client in clients:
        client.sock.send(request_bytes("GET", "/", headers=HOST))
    for client in clients:
        assert (await client.recv_response()).endswith(b"\r\n\r\nok")
    assert flushed == [3]


async def test_pipelined_responses_go_out_together(
    serve: Any, raw_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pipelining client's requests are served back to back, and their
    responses are held and sent in one flush: one send for the batch."""
    writes: list[int] = []
    original = iostream.BaseIOStream.write

    def counted(self: iostream.BaseIOStream, data: Any) -> Any:
        writes.append(len(data))
        return original(self, data)

    monkeypatch.setattr(iostream.BaseIOStream, "write", counted)
    client, seen = await _watched(serve, raw_client)
    await client.send(
        b"".join(request_bytes("GET", p, headers=HOST) for p in ("/1", "/2", "/3"))
    )
    responses = [await client.recv_response() for _ in range(3)]
    assert seen == [0, 0, 0]
    assert writes == [sum(len(r) for r in responses)]


async def test_pipelining_is_held_up_by_a_client_that_does_not_read(serve: Any) -> None:
    """Pipelined responses are held only up to HOLD_LIMIT bytes, and no
    further request is read while a flush is still being written: a client
    that sends requests without reading the responses gets a few of them
    answered, not all (memory stays bounded), and the rest once it reads."""
    count = 10
    order: list[str] = []
    body = b"z" * 30_000

    def app(request: httputil.HTTPServerRequest) -> None:
        order.append(request.uri or "")
        stream = request.connection.stream  # type: ignore[union-attr]
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        _answer(request, body)

    port = serve(app)
    client = await _small_window_client(port)
    try:
        await client.send(
            b"".join(
                request_bytes("GET", "/%d" % i, headers=HOST) for i in range(count)
            )
        )
        await asyncio.sleep(0.3)
        assert 1 <= len(order) <= 3
        for _ in range(count):
            assert (await client.recv_response()).endswith(body)
        assert order == ["/%d" % i for i in range(count)]
    finally:
        client.close()


async def test_large_responses_are_not_held(serve: Any, raw_client: Any) -> None:
    big = b"x" * (_writebehind.HOLD_LIMIT + 1)
    client, seen = await _watched(serve, raw_client, big)
    await client.send(request_bytes("GET", "/", headers=HOST))
    assert (await client.recv_response()).endswith(big)
    assert seen and seen[0] > 0


async def test_what_follows_a_held_head_joins_it(serve: Any, raw_client: Any) -> None:
    """write_headers, write and finish in one step (a chunked response):
    all of it goes out in the same flush, in order."""
    seen: list[int] = []
    clients: list[Any] = []

    def app(request: httputil.HTTPServerRequest) -> None:
        connection = request.connection
        assert connection is not None
        connection.write_headers(OK, HTTPHeaders(), b"one")
        connection.write(b"two")
        connection.finish()
        seen.append(unread(clients[0].sock))

    port = serve(app)
    clients.append(await raw_client(port))
    await clients[0].send(request_bytes("GET", "/", headers=HOST))
    response = await clients[0].recv_response()
    assert seen == [0]
    assert response.endswith(b"\r\n\r\n3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n")


async def test_writing_to_the_stream_directly_keeps_the_order(
    serve: Any, raw_client: Any
) -> None:
    """Bytes written to ``request.connection.stream`` after the response
    follow it on the wire, as they do when nothing is held."""

    def after(request: httputil.HTTPServerRequest) -> None:
        request.connection.stream.write(b"TRAILING-BYTES")  # type: ignore[union-attr]

    port = serve(_app(after))
    client = await raw_client(port)
    await client.send(request_bytes("GET", "/", headers=HOST))
    data, _ = await client.recv_all()
    assert data.endswith(b"\r\n\r\nokTRAILING-BYTES")


async def test_closing_the_stream_directly_still_sends_the_response(
    serve: Any, raw_client: Any
) -> None:
    """An application that closes the stream itself right after answering
    loses nothing: the held response goes out before the close."""

    def after(request: httputil.HTTPServerRequest) -> None:
        request.connection.stream.close()  # type: ignore[union-attr]

    port = serve(_app(after))
    client = await raw_client(port)
    await client.send(request_bytes("GET", "/", headers=HOST))
    data = await client.recv_until_closed()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"\r\n\r\nok")


@pytest.mark.parametrize("connection", ["keep-alive", "close"])
async def test_a_stream_closed_for_an_error_drops_what_is_held(
    serve: Any, raw_client: Any, connection: str
) -> None:
    """A stream that closes because of an error (IOStream does so itself
    on a failed read or write) cannot send the held bytes: they are dropped,
    the stream keeps the error it was closed with (even when the response
    was to end the connection anyway), and the serving loop ends without an
    ERROR log."""
    errors: list[Any] = []
    failure = ConnectionResetError("reset for the test")

    def after(request: httputil.HTTPServerRequest) -> None:
        stream = request.connection.stream  # type: ignore[union-attr]
        stream.close(exc_info=failure)
        errors.append(stream.error)

    port = serve(_app(after))
    client = await raw_client(port)
    headers = HOST + [("Connection", connection)]
    await client.send(request_bytes("GET", "/", headers=headers))
    assert await client.recv_until_closed() == b""
    assert errors == [failure]


@pytest.mark.allow_error_log
async def test_a_failed_flush_leaves_nobody_waiting(
    serve: Any, raw_client: Any, logs: Any
) -> None:
    """If handing the held bytes to the stream raises (here: a write-buffer
    limit the application set after answering), the error is logged and
    the serving loop goes on to the next request instead of waiting for
    the lost write forever."""

    def app(request: httputil.HTTPServerRequest) -> None:
        stream = request.connection.stream  # type: ignore[union-attr]
        stream.max_write_buffer_size = None
        _answer(request, request.uri.encode())  # type: ignore[union-attr]
        if request.uri == "/1":
            stream.max_write_buffer_size = 1

    port = serve(app)
    client = await raw_client(port)
    await client.send(request_bytes("GET", "/1", headers=HOST))
    await asyncio.sleep(0.05)
    await client.send(request_bytes("GET", "/2", headers=HOST))
    assert (await client.recv_response()).endswith(b"\r\n\r\n/2")
    assert [r.getMessage() for r in logs.errors()] == [
        "Uncaught exception in write-behind"
    ]


async def test_detach_flushes_and_hands_over_the_stream(
    serve: Any, raw_client: Any
) -> None:
    """A handshake answered and then detached (as WebSocket does): the
    answer is on the wire when detach() returns, and the stream is handed
    over with the class it has had since its first held response."""
    seen: list[Any] = []
    clients: list[Any] = []

    class Upgrade(httputil.HTTPMessageDelegate):
        def __init__(self, connection: ours.HTTP1Connection) -> None:
            self.connection = connection

        def finish(self) -> None:
            self.connection.write_headers(
                ResponseStartLine("HTTP/1.1", 101, "Switching Protocols"),
                HTTPHeaders({"Upgrade": "x", "Connection": "Upgrade"}),
            )
            self.connection.finish()
            stream = self.connection.detach()
            seen.append(unread(clients[0].sock))
            seen.append(type(stream))
            stream.write(b"after")

    class Server(httputil.HTTPServerConnectionDelegate):
        def start_request(
            self, server_conn: object, request_conn: httputil.HTTPConnection
        ) -> httputil.HTTPMessageDelegate:
            return Upgrade(request_conn)  # type: ignore[arg-type]

    port = serve(Server())
    clients.append(await raw_client(port))
    await clients[0].send(request_bytes("GET", "/", headers=HOST))
    head = await clients[0].recv_until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert await clients[0].recv_exactly(5) == b"after"
    assert seen[0] == len(head)
    # The stream is handed over as it is: an IOStream whose class was
    # changed once, at the connection's first held response, and says so.
    assert issubclass(seen[1], iostream.IOStream)
    assert seen[1].__name__ == "IOStreamWithWriteBehind"
    assert seen[1].__module__ == "tornado_h1._writebehind"


async def test_the_write_future_resolves_once_written(
    serve: Any, raw_client: Any
) -> None:
    """The future of a held write resolves when the bytes are written; a
    handler awaiting it goes on."""
    results: list[Any] = []
    clients: list[Any] = []

    async def app(request: httputil.HTTPServerRequest) -> None:
        future = _answer(request)
        assert not future.done()
        results.append(await future)
        results.append(unread(clients[0].sock) > 0)

    def start(request: httputil.HTTPServerRequest) -> None:
        asyncio.ensure_future(app(request))

    port = serve(start)
    clients.append(await raw_client(port))
    await clients[0].send(request_bytes("GET", "/", headers=HOST))
    assert (await clients[0].recv_response()).endswith(b"ok")
    await asyncio.sleep(0.01)
    assert results == [None, True]


async def test_a_full_write_buffer_still_fails_in_the_call(
    serve: Any, raw_client: Any, impl: str
) -> None:
    """With ``max_write_buffer_size`` set nothing is held, so the call that
    overflows the buffer raises, as upstream's does."""
    errors: list[str] = []

    def app(request: httputil.HTTPServerRequest) -> None:
        connection = request.connection
        assert connection is not None
        connection.stream.max_write_buffer_size = 10  # type: ignore[attr-defined]
        try:
            connection.write_headers(OK, HTTPHeaders({"Content-Length": "2"}), b"ok")
        except iostream.StreamBufferFullError as e:
            errors.append(type(e).__name__)
            connection.stream.close()  # type: ignore[attr-defined]

    port = serve(app, impl=impl)
    client = await raw_client(port)
    await client.send(request_bytes("GET", "/", headers=HOST))
    data = await client.recv_until_closed()
    assert data == b""
    assert errors == ["StreamBufferFullError"]


async def test_next_request_waits_for_the_flush(serve: Any, raw_client: Any) -> None:
    """A request that arrives while the previous response is held is read
    only once that response is written, as the serving loop waits for any
    response (a client that does not read holds up only itself)."""
    order: list[str] = []
    clients: list[Any] = []

    def app(request: httputil.HTTPServerRequest) -> None:
        order.append("%s, %d unread" % (request.uri, unread(clients[0].sock)))
        if request.uri == "/1":
            # The next request arrives before this response is written.
            clients[0].sock.send(request_bytes("GET", "/2", headers=HOST))
        _answer(request)

    port = serve(app)
    clients.append(await raw_client(port))
    await clients[0].send(request_bytes("GET", "/1", headers=HOST))
    first = await clients[0].recv_response()
    assert first == await clients[0].recv_response()
    assert order == ["/1, 0 unread", "/2, %d unread" % len(first)]


async def _small_window_client(port: int) -> RawClient:
    """A client with a small receive buffer, set before connecting so that
    the window it advertises stays small."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return RawClient(sock)


# Held (under HOLD_LIMIT), but more than a 4 KiB send buffer and the small
# window above can take: the flush's write stays pending.
_SLOW_BODY = b"y" * 60_000


def _slow_reader_app(order: list[str], client: list[RawClient]) -> Any:
    def app(request: httputil.HTTPServerRequest) -> None:
        order.append(request.uri or "")
        connection = request.connection
        assert connection is not None
        if request.uri == "/1":
            stream = connection.stream  # type: ignore[attr-defined]
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            # The next request arrives before this response is written.
            client[0].sock.send(request_bytes("GET", "/2", headers=HOST))
        _answer(request, _SLOW_BODY)

    return app


async def test_a_pending_held_response_holds_up_the_next_request(
    serve: Any, impl: str
) -> None:
    """When the client does not read, the held response cannot be written
    whole, and the next request is not read until it is: the same
    back-pressure as upstream's (memory stays bounded)."""
    order: list[str] = []
    client: list[RawClient] = []
    port = serve(_slow_reader_app(order, client), impl=impl)
    client.append(await _small_window_client(port))
    try:
        await client[0].send(request_bytes("GET", "/1", headers=HOST))
        await asyncio.sleep(0.2)
        assert order == ["/1"]
        first = await client[0].recv_response()
        assert first.endswith(_SLOW_BODY)
        assert (await client[0].recv_response()).endswith(_SLOW_BODY)
        assert order == ["/1", "/2"]
    finally:
        client[0].close()


def test_one_failing_stream_does_not_keep_the_others_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A flush that raises is logged and the queue goes on to the next
    stream."""
    flushed: list[str] = []
    logged: list[str] = []

    class Held:
        def __init__(self, name: str, fail: bool) -> None:
            self.name, self.fail = name, fail

        def flush(self) -> None:
            if self.fail:
                raise RuntimeError("boom")
            flushed.append(self.name)

    monkeypatch.setattr(
        _writebehind.gen_log,
        "error",
        lambda message, *args, **kwargs: logged.append(message),
    )
    queue = _writebehind.FlushQueue(asyncio.new_event_loop())
    try:
        queue.holders = {"a": Held("a", True), "b": Held("b", False)}  # type: ignore[dict-item]
        queue._flush_all()
    finally:
        queue.loop.close()
    assert flushed == ["b"]
    assert logged == ["Uncaught exception in write-behind"]
