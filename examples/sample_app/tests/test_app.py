"""The sample application's tests, written with pytest-tornasync fixtures.

They pass with plain ``pytest`` (Tornado's own HTTP/1 layer) and with
``pytest --tornado-h1`` (tornado_h1's), except ``test_served_by_tornado_h1``:
it checks, from inside a request handler, that the connection serving the
request is tornado_h1's, and so FAILS without ``--tornado-h1``. It is the
proof that a green run really exercised tornado_h1.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Awaitable
from typing import Any, Callable

import pytest
import tornado.httpclient
import tornado.simple_httpclient
import tornado.web

import tornado_h1


async def test_hello(http_server_client: Any) -> None:
    response = await http_server_client.fetch("/hello?name=pytest")
    assert response.code == 200
    assert response.body == b"Hello, pytest!"


async def test_items_round_trip(http_server_client: Any) -> None:
    created = await http_server_client.fetch(
        "/items", method="POST", body=json.dumps({"name": "teapot"})
    )
    assert created.code == 201
    assert created.headers["Location"] == "/items/1"
    listed = await http_server_client.fetch("/items")
    assert json.loads(listed.body) == {"items": [{"id": 1, "name": "teapot"}]}


async def test_bad_item_is_a_400(http_server_client: Any) -> None:
    response = await http_server_client.fetch(
        "/items", method="POST", body=b"not json", raise_error=False
    )
    assert response.code == 400
    assert response.reason == "Body is not JSON"


async def test_unknown_path_is_a_404(http_server_client: Any) -> None:
    with pytest.raises(tornado.httpclient.HTTPClientError) as info:
        await http_server_client.fetch("/nowhere")
    assert info.value.code == 404


async def test_chunked_upload_is_streamed(http_server_client: Any) -> None:
    async def produce(write: Callable[[bytes], Awaitable[None]]) -> None:
        for _ in range(8):
            await write(b"x" * 1000)

    response = await http_server_client.fetch(
        "/upload", method="PUT", body_producer=produce
    )
    assert json.loads(response.body) == {"bytes": 8000}


async def test_gzip_response(http_server_client: Any) -> None:
    for i in range(60):  # Tornado compresses bodies of 1 KB or more
        await http_server_client.fetch(
            "/items", method="POST", body=json.dumps({"name": f"item {i}"})
        )
    # The client inflates by default; ask for the raw body to see both ends.
    raw = await http_server_client.fetch(
        "/items", headers={"Accept-Encoding": "gzip"}, decompress_response=False
    )
    assert raw.headers["Content-Encoding"] == "gzip"
    expected = {"items": [{"id": i + 1, "name": f"item {i}"} for i in range(60)]}
    assert json.loads(gzip.decompress(raw.body)) == expected
    inflated = await http_server_client.fetch("/items")
    assert "Content-Encoding" not in inflated.headers
    assert json.loads(inflated.body) == expected


async def test_streamed_response(http_server_client: Any) -> None:
    parts: list[bytes] = []
    response = await http_server_client.fetch("/slow", streaming_callback=parts.append)
    assert response.code == 200
    assert b"".join(parts) == b"part 0\npart 1\npart 2\n"


async def test_http_client_fixture(
    http_client: tornado.httpclient.AsyncHTTPClient, http_server_port: Any
) -> None:
    port = http_server_port[1]
    response = await http_client.fetch(f"http://127.0.0.1:{port}/hello")
    assert response.body == b"Hello, world!"


async def test_served_by_tornado_h1(
    app: tornado.web.Application, http_server_client: Any
) -> None:
    """Fails without ``pytest --tornado-h1``: the swap must be real."""
    seen: list[tuple[type, bool]] = []

    class WhoServes(tornado.web.RequestHandler):
        def get(self) -> None:
            seen.append((type(self.request.connection), tornado_h1.is_installed()))

    app.add_handlers(r".*", [(r"/_who_serves", WhoServes)])
    await http_server_client.fetch("/_who_serves")
    ((connection_class, installed),) = seen
    assert installed, "tornado_h1 is not installed: run pytest with --tornado-h1"
    # Identity, not names: installed, tornado_h1's classes carry the
    # module name tornado.http1connection.
    assert connection_class is tornado_h1.HTTP1Connection
    # The client side of the same exchange went through tornado_h1 too.
    client_class: object = vars(tornado.simple_httpclient)["HTTP1Connection"]
    assert client_class is tornado_h1.HTTP1Connection
