"""``KeepAliveAsyncHTTPClient`` against real servers, each counting the
connections it accepted: nginx (Debian's package; its access log names
the connection of every request), Python's ``http.server`` (HTTP/1.0 and
close-delimited, and HTTP/1.1 closing idle connections after a timeout),
and a tornado_h1 server.

nginx comes from :mod:`tornado_h1.testing.nginx`: without it these tests
skip, saying how to install it, except under ``CI=true``, where they install
it and fail if they cannot.
"""

from __future__ import annotations

import asyncio
import http.server
import os
import select
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
import tornado.ioloop
from helpers import PATIENCE
from test_keepalive_client import (
    Clients,
    Servers,
    clients,
    fetch,
    fetch_ok,
    pooled_streams,
    refusals,
    servers,
    trace,
    until,
)
from tornado import simple_httpclient

from tornado_h1.testing import nginx
from tornado_h1.testing.logs import LogRecorder

pytestmark = pytest.mark.usefixtures("logs")

# (Fixtures shared with test_keepalive_client.)
__all__ = ["clients", "servers", "trace"]


# ----------------------------------------------------------------- nginx


@pytest.fixture
def nginx_server() -> Iterator[Callable[[str], tuple[nginx.Nginx, str]]]:
    """Starts nginx with the given ``server`` block options on a free port."""
    binary = nginx.require_nginx()
    running: list[Any] = []

    def start(options: str) -> tuple[nginx.Nginx, str]:
        port = nginx.free_port()
        block = f"""
    server {{
        listen 127.0.0.1:{port};
        {options}
        location / {{ return 200 "hello"; }}
    }}"""
        context = nginx.running_nginx(block, [port], binary=binary)
        server = context.__enter__()
        running.append(context)
        return server, f"http://127.0.0.1:{port}/"

    yield start
    for context in running:
        context.__exit__(None, None, None)


async def test_nginx_one_connection_for_sequential_fetches(
    nginx_server: Any, clients: Clients
) -> None:
    server, url = nginx_server("")
    client = clients()
    for _ in range(20):
        assert await fetch_ok(client, url) == b"hello"
    assert len(server.log_lines()) == 20
    assert len(server.connections()) == 1
    # Tornado's own client, for comparison: one connection per fetch.
    plain = clients(simple_httpclient.SimpleAsyncHTTPClient)
    for _ in range(5):
        assert await fetch_ok(plain, url) == b"hello"
    assert len(server.connections()) == 6


async def test_nginx_keepalive_requests_limit(
    nginx_server: Any, clients: Clients, trace: LogRecorder
) -> None:
    # nginx says Connection: close on the 5th request of a connection.
    server, url = nginx_server("keepalive_requests 5;")
    client = clients()
    for _ in range(20):
        assert await fetch_ok(client, url) == b"hello"
    assert len(server.connections()) == 4
    assert refusals(trace) == ["the response said Connection: close"] * 4


async def test_nginx_without_keepalive(
    nginx_server: Any, clients: Clients, trace: LogRecorder
) -> None:
    server, url = nginx_server("keepalive_timeout 0;")
    client = clients()
    for _ in range(5):
        assert await fetch_ok(client, url) == b"hello"
    assert len(server.connections()) == 5
    assert refusals(trace) == ["the response said Connection: close"] * 5


async def test_nginx_closing_idle_connections(
    nginx_server: Any, clients: Clients
) -> None:
    server, url = nginx_server("keepalive_timeout 300ms;")
    client = clients()
    assert await fetch_ok(client, url) == b"hello"
    pool = client._keepalive_pool
    await until(lambda: pool.idle_count == 0, "nginx to close the idle connection")
    assert await fetch_ok(client, url, method="POST", body=b"x") == b"hello"
    assert len(server.connections()) == 2


async def test_nginx_concurrent_fetches(nginx_server: Any, clients: Clients) -> None:
    server, url = nginx_server("")
    client = clients(max_clients=4)
    for _ in range(3):
        bodies = await asyncio.gather(*(fetch_ok(client, url) for _ in range(12)))
        assert bodies == [b"hello"] * 12
    assert len(server.log_lines()) == 36
    assert len(server.connections()) <= 4


# ------------------------------------------------------------ http.server


class Counting(http.server.ThreadingHTTPServer):
    """http.server counting the connections it accepted."""

    daemon_threads = True

    def __init__(self, handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.accepted = 0

    def process_request(self, request: Any, client_address: Any) -> None:
        self.accepted += 1
        super().process_request(request, client_address)


class CloseDelimited(http.server.BaseHTTPRequestHandler):
    """HTTP/1.0 (http.server's default); the body ends with the close."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class CloseDelimited11(CloseDelimited):
    """HTTP/1.1, no Content-Length, closes after the body (no Connection
    field: only the missing length says the body ends with the close)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        super().do_GET()
        self.close_connection = True


class KeepAlive11(CloseDelimited):
    """HTTP/1.1 with Content-Length, keeping connections open."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ClosingIdle11(KeepAlive11):
    """KeepAlive11, closing a connection that waits for a request 1 s."""

    timeout = 1.0


@pytest.fixture
def http_server() -> Iterator[Callable[[type[Any]], tuple[Counting, str]]]:
    started: list[tuple[Counting, threading.Thread]] = []

    def start(handler: type[Any]) -> tuple[Counting, str]:
        server = Counting(handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        started.append((server, thread))
        return server, "http://127.0.0.1:%d/" % server.server_address[1]

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(PATIENCE)


async def test_http_server_http10_close_delimited(
    http_server: Any, clients: Clients, trace: LogRecorder
) -> None:
    server, url = http_server(CloseDelimited)
    client = clients()
    for _ in range(5):
        assert await fetch_ok(client, url) == b"hello"
    assert server.accepted == 5
    assert (
        refusals(trace) == ["an HTTP/1.0 response without Connection: keep-alive"] * 5
    )


async def test_http_server_http11_close_delimited(
    http_server: Any, clients: Clients, trace: LogRecorder
) -> None:
    server, url = http_server(CloseDelimited11)
    client = clients()
    for _ in range(3):
        assert await fetch_ok(client, url) == b"hello"
    assert server.accepted == 3
    assert (
        refusals(trace)
        == ["the response's body was delimited by the close of the connection"] * 3
    )


async def test_http_server_keep_alive(http_server: Any, clients: Clients) -> None:
    server, url = http_server(KeepAlive11)
    client = clients()
    for _ in range(10):
        assert await fetch_ok(client, url) == b"hello"
    assert server.accepted == 1


async def test_idle_close_noticed_before_reuse(
    http_server: Any, clients: Clients, trace: LogRecorder
) -> None:
    # http.server closes the idle connection after 1 s, in its own
    # thread; the loop does not run meanwhile, so the stream has not seen
    # the close: the check before reuse must. A POST is never retried, so
    # it succeeds only on a new connection.
    server, url = http_server(ClosingIdle11)
    client = clients()
    assert await fetch_ok(client, url) == b"hello"
    (stream,) = pooled_streams(client)
    assert stream.socket is not None
    readable, _, _ = select.select([stream.socket], [], [], PATIENCE)
    assert readable, "http.server did not close the idle connection"
    assert await fetch_ok(client, url, method="POST", body=b"posted") == b"posted"
    assert server.accepted == 2
    assert any("while it was idle" in line for line in _pool(trace))


def _pool(recorder: LogRecorder) -> list[str]:
    return [r.getMessage() for r in recorder.records if "[pool]" in r.getMessage()]


# --------------------------------------------------------- tornado_h1 server


async def test_tornado_h1_server_counts_one_connection(
    servers: Servers, clients: Clients, io_loop: tornado.ioloop.IOLoop
) -> None:
    server, url = servers.tornado()
    client = clients()
    for _ in range(50):
        assert await fetch_ok(client, url) == b"hello"
    assert server.opened == 1 and server.ended == 0
    client.close()
    await until(lambda: server.ended == 1, "the server to see the close")
    response = await fetch(clients(), url)
    assert response.body == b"hello"
    assert server.opened == 2


# ------------------------------------------------------ the nginx helper


def test_missing_nginx_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nginx, "find_nginx", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install nginx-light"):
        nginx.require_nginx()


def test_missing_nginx_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nginx, "find_nginx", lambda: None)
    monkeypatch.setenv("CI", "true")
    # (No apt-get either: nothing can install it.)
    monkeypatch.setattr(nginx.shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="apt-get is not available"):
        nginx.require_nginx()
    assert nginx.in_ci()
    monkeypatch.setenv("CI", "1")
    assert not nginx.in_ci()


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("apt-get") is None,
    reason="installs with apt-get, as root",
)
def test_install_nginx_with_apt_get() -> None:
    binary = nginx.require_nginx()  # (skips if missing, except under CI)
    # Installed already: apt-get has nothing to do, and says so.
    assert nginx.install_nginx() == binary


def test_nginx_that_cannot_start(tmp_path: Path) -> None:
    binary = nginx.require_nginx()
    server = nginx.Nginx(binary, tmp_path, "this is not nginx configuration;")
    with pytest.raises(nginx.NginxError, match="exited at start.*unknown directive"):
        server.start([nginx.free_port()])
    server.stop()
    assert server.log_lines() == [] and server.connections() == []
