"""``tornado_h1.HTTPServer.drain()``: a graceful stop, with real sockets.

Idle connections close at once; a request under way finishes, its response
saying ``Connection: close`` when it had not begun; a response under way
is sent whole before the close; no new connection is taken; what is still
open at the deadline is closed, and counted. Connections already waiting
in the listening socket's backlog are served, not reset. With
``idle_grace``, an idle connection (or one whose response had already
promised keep-alive) answers at most one more request, with ``Connection:
close``, and is closed once it has been idle that long."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import tornado.web
import tornado.websocket
from helpers import ws_frame
from tornado import tcpserver

from tornado_h1 import _tornado

pytestmark = pytest.mark.usefixtures("logs")

GET = b"GET /%s HTTP/1.1\r\nHost: t\r\n\r\n"


class Slow(tornado.web.RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(0.5)
        self.write("slow")


class Streaming(tornado.web.RequestHandler):
    async def get(self) -> None:
        self.write("first;")
        await self.flush()
        await asyncio.sleep(0.5)
        self.write("second")


class Stuck(tornado.web.RequestHandler):
    async def get(self) -> None:
        await asyncio.sleep(30)


class Fast(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("fast")


def _app() -> tornado.web.Application:
    return tornado.web.Application(
        [("/slow", Slow), ("/streaming", Streaming), ("/stuck", Stuck), ("/", Fast)]
    )


def _server_and_port(serve: Any) -> tuple[Any, int]:
    port = serve(_app())
    return serve.servers[-1], port


async def test_an_idle_connection_closes_at_once(serve: Any, raw_client: Any) -> None:
    server, port = _server_and_port(serve)
    client = await raw_client(port)
    await client.send(GET % b"")
    assert (await client.recv_response()).endswith(b"fast")
    assert await asyncio.wait_for(server.drain(timeout=30), 5) == 0
    assert await client.recv_until_closed(timeout=5) == b""


async def test_a_request_under_way_finishes_and_says_close(
    serve: Any, raw_client: Any
) -> None:
    server, port = _server_and_port(serve)
    client = await raw_client(port)
    await client.send(GET % b"slow")
    await asyncio.sleep(0.1)  # the handler is sleeping
    drained = asyncio.ensure_future(server.drain(timeout=30))
    response = await client.recv_until_closed(timeout=10)
    head, body = response.split(b"\r\n\r\n", 1)
    assert b"connection: close" in head.lower() and body == b"slow"
    assert await drained == 0


async def test_a_response_under_way_is_sent_whole_before_the_close(
    serve: Any, raw_client: Any
) -> None:
    server, port = _server_and_port(serve)
    client = await raw_client(port)
    await client.send(GET % b"streaming")
    assert b"first;" in await client.recv_until(b"first;")
    drained = asyncio.ensure_future(server.drain(timeout=30))
    rest = await client.recv_until_closed(timeout=10)
    assert b"second" in rest
    assert await drained == 0


async def test_no_new_connection_is_taken(serve: Any, raw_client: Any) -> None:
    server, port = _server_and_port(serve)
    client = await raw_client(port)
    await client.send(GET % b"slow")
    await asyncio.sleep(0.1)
    drained = asyncio.ensure_future(server.drain(timeout=30))
    await asyncio.sleep(0.1)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    await client.recv_until_closed(timeout=10)
    await drained


async def test_the_deadline_closes_the_rest_and_counts_them(
    serve: Any, raw_client: Any
) -> None:
    server, port = _server_and_port(serve)
    client = await raw_client(port)
    await client.send(GET % b"stuck")
    await asyncio.sleep(0.1)
    assert await server.drain(timeout=0.5) == 1
    assert await client.recv_until_closed(timeout=5) == b""


# ------------------------------------------------------------ idle_grace


def _head(response: bytes) -> bytes:
    return response.split(b"\r\n\r\n", 1)[0].lower()


async def test_with_a_grace_an_idle_connection_takes_one_more_request(
    serve: Any, raw_client: Any
) -> None:
    server, port = _server_and_port(serve)
    client = await raw_client(port)
    await client.send(GET % b"")
    assert b"connection: close" not in _head(await client.recv_response())
    drained = asyncio.ensure_future(server.drain(timeout=30, idle_grace=10))
    await asyncio.sleep(0.1)  # the drain has begun: the connection is still open
    await client.send(GET % b"")
    response = await client.recv_until_closed(timeout=10)
    assert b"connection: close" in _head(response) and response.endswith(b"fast")
    assert await asyncio.wait_for(drained, 10) == 0


async def test_with_a_grace_an_idle_connection_closes_when_it_ends(
    serve: Any, raw_client: Any
) -> None:
    server, port = _server_and_port(serve)
    client = await raw_client(port)
    await client.send(GET % b"")
    await client.recv_response()
    # Well before the 30 s deadline: the grace closes it.
    assert await asyncio.wait_for(server.drain(timeout=30, idle_grace=0.3), 10) == 0
    assert await client.recv_until_closed(timeout=5) == b""


async def _streaming_drained(
    serve: Any, raw_client: Any, idle_grace: float
) -> tuple[Any, asyncio.Future[int]]:
    """A client whose response had promised keep-alive (and begun) when
    the drain began; returned once that response is whole."""
    server, port = _server_and_port(serve)
    client = await raw_client(port)
    await client.send(GET % b"streaming")
    head = await client.recv_until(b"\r\n\r\n")
    assert b"connection: close" not in head.lower()
    drained = asyncio.ensure_future(server.drain(timeout=30, idle_grace=idle_grace))
    assert (await client.recv_until(b"\r\n0\r\n\r\n")).endswith(b"second\r\n0\r\n\r\n")
    return client, drained


async def test_with_a_grace_a_promised_keep_alive_is_kept_for_one_request(
    serve: Any, raw_client: Any
) -> None:
    client, drained = await _streaming_drained(serve, raw_client, idle_grace=10)
    await client.send(GET % b"")
    response = await client.recv_until_closed(timeout=10)
    assert b"connection: close" in _head(response) and response.endswith(b"fast")
    assert await asyncio.wait_for(drained, 10) == 0


async def test_with_a_grace_a_promised_keep_alive_ends_with_the_grace(
    serve: Any, raw_client: Any
) -> None:
    client, drained = await _streaming_drained(serve, raw_client, idle_grace=0.3)
    assert await asyncio.wait_for(drained, 10) == 0  # not the 30 s deadline
    assert await client.recv_until_closed(timeout=5) == b""


# ------------------------------------------------------------ the backlog


def _waiting_in_the_backlog(port: int, count: int) -> list[socket.socket]:
    """Connections the kernel has accepted and the server not yet (no
    IOLoop turn in between), each with a request sent."""
    socks = []
    for n in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(GET % b"?n=%d" % n)
        socks.append(sock)
    return socks


def _read_to_close(sock: socket.socket) -> bytes:
    data = b""
    with sock:
        while True:
            try:
                piece = sock.recv(65536)
            except ConnectionResetError:
                return data + b"<reset>"
            if not piece:
                return data
            data += piece


@pytest.mark.parametrize("idle_grace", [0.0, 5.0])
async def test_connections_waiting_in_the_backlog_are_served(
    serve: Any, in_thread: Any, idle_grace: float
) -> None:
    server, port = _server_and_port(serve)
    socks = _waiting_in_the_backlog(port, 3)
    # Its first step (backlog taken, then stop) runs before the accept
    # handler's turn.
    drained = asyncio.ensure_future(server.drain(timeout=30, idle_grace=idle_grace))
    for sock in socks:
        response = await in_thread(_read_to_close, sock)
        assert b"connection: close" in _head(response) and response.endswith(b"fast")
    assert await asyncio.wait_for(drained, 10) == 0


def test_the_backlog_door_is_probed() -> None:
    assert _tornado.HAS_LISTENING_SOCKETS  # the installed Tornado has it
    assert _tornado.accept_backlog is _tornado._accept_backlog_private


def test_without_the_probe_nothing_is_taken_from_the_backlog(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(tcpserver.TCPServer, "_handle_connection")
    assert not _tornado._listening_probe()


async def test_the_fallback_leaves_the_backlog_to_stop_as_upstream(
    serve: Any, in_thread: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_tornado, "accept_backlog", _tornado._accept_backlog_unknown)
    server, port = _server_and_port(serve)
    socks = _waiting_in_the_backlog(port, 2)
    drained = asyncio.ensure_future(server.drain(timeout=30))
    for sock in socks:
        assert (await in_thread(_read_to_close, sock)) in (b"", b"<reset>")
    assert await asyncio.wait_for(drained, 10) == 0


async def test_a_connection_yet_to_send_its_first_request_gets_a_short_wait(
    serve: Any, raw_client: Any
) -> None:
    """A client that has just connected (or is still in its TLS handshake)
    is about to send a request, not idle: with no grace it still has
    FIRST_REQUEST_WAIT to send it, and is answered with Connection: close."""
    server, port = _server_and_port(serve)
    client = await raw_client(port)
    await asyncio.sleep(0.1)  # accepted, no byte sent
    drained = asyncio.ensure_future(server.drain(timeout=30, idle_grace=0))
    await asyncio.sleep(0.2)
    await client.send(GET % b"")
    response = await client.recv_until_closed(timeout=10)
    assert b"connection: close" in _head(response) and response.endswith(b"fast")
    assert await asyncio.wait_for(drained, 10) == 0


async def test_a_connection_that_sends_nothing_is_closed_after_the_wait(
    serve: Any, raw_client: Any
) -> None:
    server, port = _server_and_port(serve)
    client = await raw_client(port)
    await asyncio.sleep(0.1)
    assert await asyncio.wait_for(server.drain(timeout=30), 10) == 0
    assert await client.recv_until_closed(timeout=5) == b""


class Echo(tornado.websocket.WebSocketHandler):
    def on_message(self, message: Any) -> None:
        self.write_message(message)


UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


async def test_a_websocket_upgrade_during_the_grace_is_not_cut(
    serve: Any, raw_client: Any
) -> None:
    """The 101 keeps its ``Connection: Upgrade`` (the drain's close is not
    announced on it), and the upgraded stream is the WebSocket's: not
    closed when the HTTP connection ends."""
    port = serve(tornado.web.Application([("/ws", Echo), ("/", Fast)]))
    server = serve.servers[-1]
    client = await raw_client(port)
    await client.send(GET % b"")
    await client.recv_response()
    drained = asyncio.ensure_future(server.drain(timeout=30, idle_grace=5))
    await asyncio.sleep(0.1)
    await client.send(UPGRADE)
    head = (await client.recv_until(b"\r\n\r\n")).lower()
    assert head.startswith(b"http/1.1 101") and b"connection: upgrade" in head
    assert b"connection: close" not in head
    await client.send(ws_frame(b"hello"))
    assert await client.recv_until(b"hello") == b"\x81\x05hello"
    client.close()
    assert await asyncio.wait_for(drained, 10) == 0
