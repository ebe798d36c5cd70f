"""``tornado_h1.HTTPServer.drain()``: a graceful stop, with real sockets.

Idle connections close at once; a request under way finishes, its response
saying ``Connection: close`` when it had not begun; a response under way
is sent whole before the close; no new connection is taken; what is still
open at the deadline is closed, and counted."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import tornado.web

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
