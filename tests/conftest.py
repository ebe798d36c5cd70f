"""Fixtures for the socket-level tests.

The tests are coroutines run by pytest-tornasync on its per-test ``io_loop``;
fixtures are plain functions (the plugin has no async fixtures) that hand out
factories and clean up on that loop at teardown.

* ``logs`` captures ``tornado.general``, ``tornado.application``,
  ``tornado.access`` (and ``asyncio``) records; any ERROR record fails the
  test unless it is marked ``@pytest.mark.allow_error_log``. Modules opt in
  with ``pytestmark = pytest.mark.usefixtures("logs")``.
* ``serve`` starts ``tornado_h1.HTTPServer`` (or, with ``impl="upstream"``,
  Tornado's own ``HTTPServer`` with Tornado's own ``http1connection``) on a
  free port of the current loop.
* ``impl`` parametrizes a test over ``"tornado_h1"`` and ``"upstream"``.
* ``raw_client`` opens raw TCP clients that are closed at teardown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from typing import Any, Callable

import pytest
import tornado.httpserver
import tornado.ioloop
import tornado.testing
from helpers import RawClient

import tornado_h1
from tornado_h1 import http1connection as ours_h1
from tornado_h1.testing.logs import LogRecorder, describe
from tornado_h1.testing.upstream import upstream_module

IMPLS = ("tornado_h1", "upstream")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "allow_error_log: the test expects ERROR records from Tornado's loggers",
    )
    # With no loop ever set, asyncio.get_event_loop() makes one: Tornado's
    # make_current (pytest-tornasync's io_loop) would make a loop nobody
    # closes, and its ResourceWarning, when collected, fail a later test.
    asyncio.set_event_loop(None)
    # pytest-tornasync waits forever by default; a hung test should fail.
    if getattr(config.option, "async_test_timeout", 0) is None:
        config.option.async_test_timeout = 30.0


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    result = yield
    capture = getattr(item, "_h1_log_capture", None)
    if capture is not None and item.get_closest_marker("allow_error_log") is None:
        errors = capture.errors()
        if errors:
            capture.reported = True
            pytest.fail("ERROR log records:\n" + describe(errors), pytrace=False)
    return result


@pytest.fixture
def logs(request: pytest.FixtureRequest) -> Iterator[LogRecorder]:
    capture = LogRecorder().start()
    capture.reported = False  # type: ignore[attr-defined]
    request.node._h1_log_capture = capture
    try:
        yield capture
    finally:
        capture.stop()
    if (
        request.node.get_closest_marker("allow_error_log") is None
        and not capture.reported  # type: ignore[attr-defined]
        and capture.errors()
    ):
        pytest.fail(
            "ERROR log records (at teardown):\n" + describe(capture.errors()),
            pytrace=False,
        )


def upstream_or_skip() -> None:
    """Tornado's own classes are "upstream" only while tornado_h1 is not
    installed (``pytest --tornado-h1`` installs it for the whole run): then
    there is nothing to compare with, and the upstream variant is skipped."""
    if tornado_h1.is_installed():
        pytest.skip("tornado_h1 is installed: Tornado's own HTTP/1 is not in use")
    upstream = upstream_module()
    assert tornado.httpserver.HTTP1ServerConnection is upstream.HTTP1ServerConnection
    assert upstream.HTTP1Connection is not ours_h1.HTTP1Connection


def server_class(impl: str) -> type[tornado.httpserver.HTTPServer]:
    if impl == "tornado_h1":
        return tornado_h1.HTTPServer  # type: ignore[no-any-return]
    assert impl == "upstream"
    upstream_or_skip()
    return tornado.httpserver.HTTPServer


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


class Servers:
    """Starts HTTP servers on the current loop; closes them at teardown."""

    def __init__(self) -> None:
        self.servers: list[tornado.httpserver.HTTPServer] = []

    def __call__(self, app: Any, impl: str = "tornado_h1", **options: Any) -> int:
        server = server_class(impl)(app, **options)
        sock, port = tornado.testing.bind_unused_port()
        server.add_sockets([sock])
        self.servers.append(server)
        return port

    async def close(self) -> None:
        for server in self.servers:
            server.stop()
            await server.close_all_connections()
        self.servers.clear()


@pytest.fixture
def serve(io_loop: tornado.ioloop.IOLoop) -> Iterator[Servers]:
    servers = Servers()
    yield servers
    io_loop.run_sync(servers.close, timeout=10)


class Clients:
    """Opens raw TCP clients; closes them at teardown."""

    def __init__(self) -> None:
        self.clients: list[RawClient] = []

    async def __call__(self, port: int) -> RawClient:
        client = await RawClient.connect(port)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()


@pytest.fixture
def raw_client(io_loop: tornado.ioloop.IOLoop) -> Iterator[Clients]:
    clients = Clients()
    yield clients
    clients.close()
    # Let the servers see the closes before they are torn down.
    io_loop.run_sync(lambda: asyncio.sleep(0.01))


@pytest.fixture
def always_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Write-behind holds every response it may, even for a lone client
    (by default it holds only while the event loop is busy)."""
    from tornado_h1 import _writebehind

    monkeypatch.setattr(
        ours_h1.HTTP1ServerConnection, "_write_behind", _writebehind.Policy.ALWAYS
    )
    monkeypatch.setattr(_writebehind, "_queues", type(_writebehind._queues)())


@pytest.fixture
def in_thread(io_loop: tornado.ioloop.IOLoop) -> Callable[..., Awaitable[Any]]:
    """Run a blocking call (``requests``, ``http.client``) in a worker thread
    while the server keeps running on the test's loop."""

    def run(func: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        return asyncio.get_running_loop().run_in_executor(None, func, *args)

    return run
