"""The fast path of ``tornado_h1.KeepAliveAsyncHTTPClient``
(``tornado_h1._keepalive_fast``): which fetches it takes and which go to the
fallback, and that a response reads the same whichever path (or upstream's
``SimpleAsyncHTTPClient``) fetched it. Real servers, real sockets.

The rules of reuse and retry are tested on both paths in
``tests/test_keepalive_client.py`` (each of its tests runs twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import tornado.ioloop
import tornado.web
from helpers import PATIENCE
from test_keepalive_client import (
    Clients,
    Gate,
    Hello,
    Reply,
    Servers,
    clients,
    fetch,
    gate,
    hello_app,
    open_fds,
    response,
    servers,
    until,
)
from tornado import httpclient, iostream, simple_httpclient

from tornado_h1 import _keepalive_fast, _link, _tornado
from tornado_h1._link import NEXT_ITERATION

__all__ = ["clients", "gate", "servers"]  # (fixtures, used by name)

pytestmark = pytest.mark.usefixtures("logs")


@pytest.fixture
def fast_fetches(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The requests of the fetches the fast path took, in order."""
    taken: list[Any] = []
    original = _keepalive_fast.FastFetch.__init__

    def counting(self: Any, client: Any, request: Any, *args: Any) -> None:
        taken.append(request)
        original(self, client, request, *args)

    monkeypatch.setattr(_keepalive_fast.FastFetch, "__init__", counting)
    yield taken


def _route(url: str, defaults: Any = None, **options: Any) -> Any:
    defaults = {**httpclient.HTTPRequest._DEFAULTS, **(defaults or {})}
    request = httpclient.HTTPRequest(url, **options)
    return _keepalive_fast.route(httpclient._RequestProxy(request, defaults))


URL = "http://127.0.0.1:8888/a?b=c"

#: Each option that sends a fetch to the fallback, with a request that
#: shows it.
FALLBACK = {
    "body_producer": {"method": "POST", "body_producer": lambda write: None},
    "streaming_callback": {"streaming_callback": lambda chunk: None},
    "header_callback": {"header_callback": lambda line: None},
    "expect_100_continue": {
        "method": "POST",
        "body": b"x",
        "expect_100_continue": True,
    },
    "network_interface": {"network_interface": "127.0.0.1"},
    "proxy_host": {"proxy_host": "127.0.0.1", "proxy_port": 3128},
    "proxy_port": {"proxy_port": 3128},
    "proxy_username": {"proxy_username": "u"},
    "proxy_password": {"proxy_password": "p"},
    "proxy_auth_mode": {"proxy_auth_mode": "basic"},
    "nonstandard method": {"method": "PROPFIND", "allow_nonstandard_methods": True},
    "unknown method": {"method": "PROPFIND"},
    "body on GET": {"body": b"x"},
    "no body on POST": {"method": "POST"},
    "auth_mode digest": {"auth_username": "u", "auth_mode": "digest"},
    "user info in the URL": {"url": "http://u:p@127.0.0.1:8888/"},
    "other scheme": {"url": "ftp://127.0.0.1/"},
    "request_timeout None": {"request_timeout": None, "_defaults": True},
}


@pytest.mark.parametrize("case", list(FALLBACK))
def test_each_option_the_fast_path_leaves_goes_to_the_fallback(case: str) -> None:
    options = dict(FALLBACK[case])
    url = options.pop("url", URL)
    if options.pop("_defaults", False):
        # None in the request: the client's default decides, here None.
        assert _route(url, defaults={"request_timeout": None}) is None
        return
    assert _route(url, **options) is None


@pytest.mark.parametrize("option", ["streaming_callback", "header_callback"])
def test_options_set_in_the_client_defaults_go_to_the_fallback(option: str) -> None:
    assert _route(URL, defaults={option: lambda data: None}) is None


def test_a_request_option_that_is_not_none_wins_over_the_default() -> None:
    # HTTPRequest's expect_100_continue is False, not None: Tornado's proxy
    # answers False whatever the default, and so does the route.
    assert _route(URL, defaults={"expect_100_continue": True}) is not None


def test_what_the_fast_path_takes() -> None:
    taken = _route(
        URL,
        method="PUT",
        body=b"12",
        auth_username="u",
        auth_password="p",
        user_agent="ua",
        decompress_response=False,
        request_timeout=3,
    )
    assert taken is not None
    assert taken.key == ("http", "127.0.0.1", 8888, 0, None, None, None, None)
    assert taken.target.path == "/a?b=c" and taken.target.host_field == (
        "127.0.0.1:8888"
    )
    assert (taken.method, taken.body, taken.request_timeout) == ("PUT", b"12", 3)
    assert taken.authorization == "Basic dTpw"
    assert (taken.user_agent, taken.decompress) == ("ua", False)
    https = _route("https://[::1]/", allow_ipv6=False)
    assert https.key[:4] == ("https", "::1", 443, 2)
    assert https.key[4] == ("fields", True, None, None, None)


def test_the_fast_path_keys_connections_as_the_fallback(
    io_loop: tornado.ioloop.IOLoop,
) -> None:
    from tornado_h1 import _keepalive_pool

    request = httpclient._RequestProxy(
        httpclient.HTTPRequest(URL), dict(httpclient.HTTPRequest._DEFAULTS)
    )
    fallback_key = _keepalive_pool.pool_key(
        request, "127.0.0.1", 8888, 0, None, None, None
    )
    assert _keepalive_fast.route(request).key == fallback_key


def test_the_probe_wants_all_the_state_the_inherited_methods_read() -> None:
    assert _keepalive_fast.AVAILABLE is True
    assert _tornado.sets_fetch_state(simple_httpclient._HTTPConnection)

    class Fewer:  # (all but chunks)
        def __init__(self) -> None:
            self.io_loop = self.start_time = self.start_wall_time = None
            self.client = self.request = self.release_callback = None
            self.final_callback = self.max_buffer_size = self.tcp_client = None
            self.max_header_size = self.max_body_size = self.code = None
            self.headers = self._timeout = None

    assert not _tornado.sets_fetch_state(Fewer)


def test_the_url_memory_is_bounded() -> None:
    for number in range(_keepalive_fast._MAX_TARGETS * 2):
        _keepalive_fast.target(f"http://127.0.0.1/{number}")
    assert 0 < len(_keepalive_fast._TARGETS) <= _keepalive_fast._MAX_TARGETS


async def test_the_fast_path_takes_fetches_on_idle_connections(
    servers: Servers, clients: Clients, fast_fetches: list[Any]
) -> None:
    server, url = servers.tornado()
    client = clients()
    for _ in range(3):
        response = await client.fetch(url)
        assert response.body == b"hello"
    # The first connected (the fallback); the others reused its connection.
    assert len(fast_fetches) == 2
    posted = await client.fetch(url, method="POST", body=b"posted")
    assert posted.body == b"posted" and len(fast_fetches) == 3
    streamed: list[bytes] = []
    await client.fetch(url, streaming_callback=streamed.append)
    assert streamed == [b"hello"] and len(fast_fetches) == 3
    assert server.opened == 1


class Varied(tornado.web.RequestHandler):
    def get(self, what: str) -> None:
        if what == "missing":
            self.set_status(404, "Nowhere")
        self.set_header("X-Seen", self.request.headers.get("Authorization", "-"))
        self.write(f"{what} {self.request.headers.get('User-Agent')}")

    def post(self, what: str) -> None:
        self.write(self.request.body + self.request.headers["Content-Type"].encode())


def _varied_app() -> tornado.web.Application:
    app = hello_app()
    app.add_handlers(".*", [("/v/(.*)", Varied)])
    return app


def _fields(response: httpclient.HTTPResponse) -> dict[str, Any]:
    # (Date: the clock; Connection: the server's answer to keep-alive
    # instead of close, the one intended difference.)
    headers = sorted(
        (k, v) for k, v in response.headers.get_all() if k not in ("Date", "Connection")
    )
    return {
        "code": response.code,
        "reason": response.reason,
        "headers": headers,
        "body": response.body,
        "effective_url": response.effective_url,
        "error": (type(response.error), str(response.error)),
        "request": (type(response.request), response.request.url),
        "request headers": sorted(
            (k, v)
            for k, v in response.request.headers.get_all()
            if k != "Connection"  # (keep-alive instead of close: the point)
        ),
        "time_info": response.time_info,
    }


CASES: dict[str, dict[str, Any]] = {
    "plain": {},
    "404": {"path": "v/missing"},
    "redirect": {"path": "redirect"},
    "redirect not followed": {"path": "redirect", "follow_redirects": False},
    "gzip": {"path": "gzip"},
    "gzip kept": {"path": "gzip", "decompress_response": False},
    "auth": {"path": "v/x", "auth_username": "u", "auth_password": "p"},
    "user agent": {"path": "v/x", "user_agent": "agent/1"},
    "post": {"path": "v/x", "method": "POST", "body": b"a=b"},
    "head": {"method": "HEAD"},
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_response_reads_the_same_on_either_path_and_upstream(
    servers: Servers, clients: Clients, fast_fetches: list[Any], case: str
) -> None:
    options = dict(CASES[case])
    _, base = servers.tornado(app=_varied_app())
    url = base + options.pop("path", "")
    upstream = clients(simple_httpclient.SimpleAsyncHTTPClient)
    client = clients()
    seen = []
    for fetcher in (upstream, client, client):
        taken = len(fast_fetches)
        response = await fetcher.fetch(url, raise_error=False, **options)
        assert response.request_time is not None and response.request_time >= 0
        assert response.start_time is not None
        seen.append((_fields(response), len(fast_fetches) - taken))
    # Upstream's, the fallback's (connecting), the fast path's (reusing).
    assert seen[0][0] == seen[1][0] == seen[2][0]
    assert [taken for _, taken in seen] == [0, 0, 1]


async def test_errors_raise_as_upstreams(servers: Servers, clients: Clients) -> None:
    _, base = servers.tornado(app=_varied_app())
    errors = []
    for fetcher in (
        clients(simple_httpclient.SimpleAsyncHTTPClient),
        clients(),
        clients(),
    ):
        if len(errors) == 2:
            await fetcher.fetch(base)  # (an idle connection for the fast path)
        with pytest.raises(httpclient.HTTPClientError) as caught:
            await fetcher.fetch(base + "v/missing")
        errors.append((caught.value.code, str(caught.value), caught.value.response))
    assert {(code, text) for code, text, _ in errors} == {(404, "HTTP 404: Nowhere")}
    assert all(response is not None for _, _, response in errors)


# -------------------------------------------------------------------- timeouts


def _gated_app(gate: type[Gate]) -> tornado.web.Application:
    return tornado.web.Application([("/", Hello), ("/gate", gate)])


async def test_request_timeout_on_the_fast_path(
    servers: Servers, clients: Clients, gate: type[Gate], fast_fetches: list[Any]
) -> None:
    server, base = servers.tornado(app=_gated_app(gate))
    client = clients()
    await client.fetch(base)
    late = await fetch(client, base + "gate", request_timeout=0.2)
    assert late.code == 599 and len(fast_fetches) == 1
    assert isinstance(late.error, simple_httpclient.HTTPTimeoutError)
    assert str(late.error) == "Timeout during request"
    assert gate.gate is not None
    gate.gate.set()
    # The timed-out connection is not reused.
    assert (await client.fetch(base)).body == b"hello"
    assert server.opened == 2


async def test_a_shorter_timeout_fires_first(
    servers: Servers, clients: Clients, gate: type[Gate], fast_fetches: list[Any]
) -> None:
    """One timer per client: a fetch whose deadline is sooner than the one
    the timer is armed for moves it."""
    server, base = servers.tornado(app=_gated_app(gate))
    client = clients()
    await asyncio.gather(client.fetch(base), client.fetch(base))  # two idle
    patient = asyncio.ensure_future(
        fetch(client, base + "gate", request_timeout=PATIENCE)
    )
    await until(lambda: gate.in_flight == 1, "the patient request in flight")
    quick = await fetch(client, base + "gate", request_timeout=0.1)
    assert quick.code == 599 and str(quick.error) == "Timeout during request"
    assert len(fast_fetches) == 2 and not patient.done()
    assert gate.gate is not None
    gate.gate.set()
    assert (await patient).code == 200
    assert server.opened == 2


async def test_closing_the_client_leaves_no_timer(
    servers: Servers, clients: Clients, fast_fetches: list[Any]
) -> None:
    _, url = servers.tornado()
    client = clients()
    await client.fetch(url)
    await client.fetch(url)
    deadlines = client._keepalive_deadlines
    assert len(fast_fetches) == 1 and deadlines._timer is not None
    client.close()
    assert deadlines._timer is None


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
async def test_no_socket_leaks_on_the_fast_path(
    servers: Servers, clients: Clients, fast_fetches: list[Any]
) -> None:
    server, url = servers.tornado()
    script, script_url = await servers.script(
        lambda connection, number, head: (
            Reply([response()[:-2]]) if number == 2 else Reply([response()])
        )
    )
    baseline = open_fds()
    client = clients()
    for _ in range(20):
        assert (await client.fetch(url)).body == b"hello"
    await client.fetch(script_url)
    broken = await fetch(client, script_url, request_timeout=0.1)
    assert broken.code == 599
    assert len(fast_fetches) == 20
    client.close()
    await until(lambda: server.ended == server.opened, "the server to see the close")
    await until(lambda: open_fds() == baseline, "the sockets to be closed")


# -- the request leaves inside fetch(), with no write future ----------------------


class _OneShotServer(threading.Thread):
    """A blocking server in a thread: answers each request head of one
    connection with ``hello``, and signals each head it read, so that a
    test can see a request arrive while its own event loop is blocked."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = "http://127.0.0.1:%d/" % self.listener.getsockname()[1]
        self.heads: queue.Queue[bytes] = queue.Queue()

    def run(self) -> None:
        connection, _ = self.listener.accept()
        with connection, self.listener:
            buffered = b""
            while True:
                data = connection.recv(65536)
                if not data:
                    return
                buffered += data
                while b"\r\n\r\n" in buffered:
                    head, buffered = buffered.split(b"\r\n\r\n", 1)
                    self.heads.put(head)
                    connection.sendall(response())


async def test_a_fast_fetch_sends_its_request_before_fetch_returns(
    clients: Clients, fast_fetches: list[Any]
) -> None:
    server = _OneShotServer()
    server.start()
    client = clients()
    assert (await client.fetch(server.url)).body == b"hello"  # (connects)
    server.heads.get(timeout=PATIENCE)
    pending = client.fetch(server.url)
    assert len(fast_fetches) == 1
    # The loop does not run while this waits: a request still queued in a
    # task for its next iteration would never arrive.
    assert server.heads.get(timeout=PATIENCE).startswith(b"GET / HTTP/1.1")
    assert (await pending).body == b"hello"


async def test_a_request_the_socket_takes_whole_is_not_given_to_iostream_write(
    servers: Servers,
    clients: Clients,
    fast_fetches: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, url = servers.tornado()
    client = clients()
    await client.fetch(url)  # (connects)
    writes: list[bytes] = []
    original = iostream.IOStream.write

    def counting(stream: Any, data: Any) -> Any:
        writes.append(bytes(data))
        return original(stream, data)

    # (The server's writes are this process's too: only requests count.)

    monkeypatch.setattr(iostream.IOStream, "write", counting)
    posted = await client.fetch(url, method="POST", body=b"posted")
    assert posted.body == b"posted" and len(fast_fetches) == 1
    assert [data for data in writes if data.startswith(b"POST")] == []


def _plain_pair() -> tuple[iostream.IOStream, socket.socket]:
    mine, theirs = socket.socketpair()
    return iostream.IOStream(mine), theirs


async def test_send_unbuffered_sends_on_a_plain_idle_stream() -> None:
    stream, peer = _plain_pair()
    with peer:
        assert _link.send_unbuffered(stream, b"request") == b""
        assert peer.recv(100) == b"request"
        stream.close()


async def test_send_unbuffered_leaves_a_stream_with_writes_waiting() -> None:
    stream, peer = _plain_pair()
    with peer:
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        big = b"x" * (8 * 1024 * 1024)
        stream.write(big)  # more than the socket takes: the rest waits
        assert stream.writing()
        peer.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            for _ in range(64):  # room in the socket again; the loop has
                peer.recv(1024 * 1024)  # not run, so IOStream still waits
        # Sent now, it would pass the bytes waiting: it is left for write().
        assert _link.send_unbuffered(stream, b"after") == b"after"
        stream.close()


async def test_send_unbuffered_leaves_tls_and_closed_streams() -> None:
    mine, peer = socket.socketpair()
    with peer:
        tls = iostream.SSLIOStream(mine, ssl_options={"cert_reqs": ssl.CERT_NONE})
        assert _link.send_unbuffered(tls, b"request") == b"request"
        tls.close()
    stream, peer = _plain_pair()
    with peer:
        stream.close()
        assert _link.send_unbuffered(stream, b"request") == b"request"


async def test_send_unbuffered_leaves_an_error_to_iostream() -> None:
    stream, peer = _plain_pair()
    peer.close()
    # (The send fails: the peer is gone; write() meets it and closes.)
    assert _link.send_unbuffered(stream, b"request") == b"request"
    with pytest.raises(iostream.StreamClosedError):
        await stream.write(b"request")
    assert stream.closed()


# -- start_now: a task less its first iteration ------------------------------------


async def test_start_now_runs_to_the_first_wait_at_once() -> None:
    loop = asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()
    steps: list[str] = []

    async def exchange() -> None:
        steps.append("began")
        steps.append(await first)
        await NEXT_ITERATION
        steps.append(await second)

    _keepalive_fast.start_now(exchange(), loop)
    assert steps == ["began"]
    first.set_result("first")
    second.set_result("second")  # (done before it is awaited)
    await until(lambda: len(steps) == 3, "the exchange to end")
    assert steps == ["began", "first", "second"]


async def test_start_now_hands_an_escaped_exception_to_the_loop() -> None:
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda loop, context: seen.append(context))
    waited = loop.create_future()

    async def failing(at_once: bool) -> None:
        if not at_once:
            await waited
        raise ValueError("escaped")

    try:
        # Raised in the first step, it would otherwise leave fetch() itself.
        _keepalive_fast.start_now(failing(True), loop)
        _keepalive_fast.start_now(failing(False), loop)
        waited.set_result(None)
        await until(lambda: len(seen) == 2, "the exceptions to reach the loop")
    finally:
        loop.set_exception_handler(previous)
    for context in seen:
        assert isinstance(context["exception"], ValueError)
        assert context["message"] == "Exception in a keep-alive fetch"
