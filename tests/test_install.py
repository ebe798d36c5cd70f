"""``tornado_h1.install()`` / ``uninstall()`` / ``installed()``, and the
substitute classes that need no patching.

Every test leaves Tornado as it found it: the autouse fixture uninstalls in
any case and then checks that upstream's objects are back everywhere.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import textwrap
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
import tornado
import tornado.http1connection as upstream
import tornado.httpserver
import tornado.simple_httpclient
import tornado.testing
import tornado.web
from tornado.httpclient import AsyncHTTPClient

import tornado_h1
from tornado_h1 import http1connection as ours

assert upstream.__name__ == "tornado.http1connection"

UPSTREAM = "tornado.http1connection"
OURS = "tornado_h1.http1connection"

# Upstream's own classes and functions, by name: what install() swaps.
UPSTREAM_OBJECTS = {
    name: value
    for name, value in vars(upstream).items()
    if isinstance(value, (type, types.FunctionType))
    and getattr(value, "__module__", None) == UPSTREAM
}


def upstream_bindings() -> dict[tuple[str, str], int]:
    """Every module-level name, in every imported module, that holds one of
    upstream's classes or functions (as ids, to compare identities)."""
    ids = {id(v) for v in UPSTREAM_OBJECTS.values()}
    found = {}
    for module_name, module in list(sys.modules.items()):
        namespace = getattr(module, "__dict__", None)
        if module is upstream or not isinstance(namespace, dict):
            continue
        for name, value in list(namespace.items()):
            if id(value) in ids:
                found[(module_name, name)] = id(value)
    return found


def assert_pristine() -> None:
    assert not tornado_h1.is_installed()
    assert sys.modules[UPSTREAM] is upstream
    assert tornado.http1connection is upstream  # type: ignore[attr-defined]
    assert tornado.httpserver.HTTP1ServerConnection is upstream.HTTP1ServerConnection
    assert (
        tornado.httpserver.HTTP1ConnectionParameters
        is upstream.HTTP1ConnectionParameters
    )
    assert tornado.simple_httpclient.HTTP1Connection is upstream.HTTP1Connection
    assert ours.HTTP1Connection.__module__ == OURS


@pytest.fixture(autouse=True)
def clean_install() -> Iterator[None]:
    assert_pristine()
    before = upstream_bindings()
    try:
        yield
    finally:
        tornado_h1.uninstall()
    assert_pristine()
    assert upstream_bindings() == before


def assert_installed() -> None:
    assert tornado_h1.is_installed()
    assert sys.modules[UPSTREAM] is ours
    assert tornado.http1connection is ours  # type: ignore[attr-defined]
    assert tornado.httpserver.HTTP1ServerConnection is ours.HTTP1ServerConnection
    assert tornado.httpserver.HTTP1ConnectionParameters is (
        ours.HTTP1ConnectionParameters
    )
    assert tornado.simple_httpclient.HTTP1Connection is ours.HTTP1Connection


# ---------------------------------------------------------------------------
# install / uninstall
# ---------------------------------------------------------------------------


def test_install_swaps_tornado_modules() -> None:
    tornado_h1.install()
    assert_installed()


def test_import_after_install_gives_ours() -> None:
    tornado_h1.install()
    import tornado.http1connection as imported
    from tornado import http1connection as from_package

    assert imported is ours
    assert from_package is ours
    assert importlib.import_module(UPSTREAM) is ours
    namespace: dict[str, Any] = {}
    exec("from tornado.http1connection import HTTP1Connection", namespace)
    assert namespace["HTTP1Connection"] is ours.HTTP1Connection


def test_every_binding_is_rebound_and_restored() -> None:
    before = upstream_bindings()
    # Tornado's own modules are among them, or this would prove little.
    assert ("tornado.httpserver", "HTTP1ServerConnection") in before
    assert ("tornado.simple_httpclient", "HTTP1Connection") in before
    tornado_h1.install()
    for module_name, name in before:
        value = getattr(sys.modules[module_name], name)
        if hasattr(ours, name):
            assert value is getattr(ours, name), (module_name, name)
        else:
            # Nothing to swap in (an upstream-only private helper).
            assert value is UPSTREAM_OBJECTS[name]
    tornado_h1.uninstall()
    assert upstream_bindings() == before
    for module_name, name in before:
        assert getattr(sys.modules[module_name], name) is UPSTREAM_OBJECTS[name]


@pytest.fixture
def probe_module(tmp_path: Path) -> Iterator[Callable[[str], types.ModuleType]]:
    """Import a throwaway module with the given source."""
    names: list[str] = []
    sys.path.insert(0, str(tmp_path))

    def make(source: str) -> types.ModuleType:
        name = f"h1_probe_{uuid.uuid4().hex}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        names.append(name)
        importlib.invalidate_caches()
        return importlib.import_module(name)

    try:
        yield make
    finally:
        sys.path.remove(str(tmp_path))
        for name in names:
            sys.modules.pop(name, None)


def test_module_imported_before_install_is_rebound(
    probe_module: Callable[[str], types.ModuleType],
) -> None:
    probe = probe_module(
        """
        from tornado.http1connection import HTTP1Connection
        from tornado.http1connection import HTTP1ServerConnection as Server
        from tornado.http1connection import parse_int

        def make_params():
            from tornado.http1connection import HTTP1ConnectionParameters
            return HTTP1ConnectionParameters()
        """
    )
    assert probe.HTTP1Connection is upstream.HTTP1Connection
    tornado_h1.install()
    assert probe.HTTP1Connection is ours.HTTP1Connection
    assert probe.Server is ours.HTTP1ServerConnection
    assert probe.parse_int is ours.parse_int
    # An import run after install gets ours as well.
    assert type(probe.make_params()) is ours.HTTP1ConnectionParameters
    tornado_h1.uninstall()
    assert probe.HTTP1Connection is upstream.HTTP1Connection
    assert probe.Server is upstream.HTTP1ServerConnection
    assert probe.parse_int is upstream.parse_int
    assert type(probe.make_params()) is upstream.HTTP1ConnectionParameters


def test_uninstall_restores_exactly_upstream_objects() -> None:
    tornado_h1.install()
    tornado_h1.uninstall()
    assert sys.modules[UPSTREAM] is upstream
    for name, value in UPSTREAM_OBJECTS.items():
        assert getattr(upstream, name) is value
        assert value.__module__ == UPSTREAM
    for name in ("HTTP1Connection", "HTTP1ServerConnection", "parse_int"):
        assert getattr(ours, name).__module__ == OURS


def test_install_twice_is_harmless() -> None:
    tornado_h1.install()
    tornado_h1.install()
    assert_installed()
    assert ours.HTTP1Connection.__module__ == UPSTREAM
    tornado_h1.uninstall()
    # One uninstall undoes it all: the second install recorded nothing.
    assert_pristine()


def test_uninstall_twice_is_harmless() -> None:
    tornado_h1.uninstall()
    assert_pristine()
    tornado_h1.install()
    tornado_h1.uninstall()
    tornado_h1.uninstall()
    assert_pristine()


def test_reinstall_after_uninstall() -> None:
    for _ in range(3):
        tornado_h1.install()
        assert_installed()
        tornado_h1.uninstall()
        assert_pristine()


def test_installed_context_manager() -> None:
    with tornado_h1.installed():
        assert_installed()
    assert_pristine()


def test_installed_nested_uninstalls_only_at_outermost() -> None:
    with tornado_h1.installed():
        with tornado_h1.installed():
            assert_installed()
        assert_installed()
        with tornado_h1.installed():
            assert_installed()
        assert_installed()
    assert_pristine()


def test_installed_inside_install_leaves_it_installed() -> None:
    tornado_h1.install()
    with tornado_h1.installed():
        assert_installed()
    assert_installed()


def test_installed_uninstalls_on_error() -> None:
    with pytest.raises(KeyError):
        with tornado_h1.installed():
            assert_installed()
            raise KeyError("boom")
    assert_pristine()


def test_module_labels_follow_installation() -> None:
    labelled = [
        ours.HTTP1Connection,
        ours.HTTP1ServerConnection,
        ours.HTTP1ConnectionParameters,
        ours._GzipMessageDelegate,
        ours.parse_int,
        ours.parse_hex_int,
        ours.is_transfer_encoding_chunked,
    ]
    # Defined in the module, or (the gzip delegate) in a helper module
    # and exposed under upstream's name.
    homes = {OURS, "tornado_h1._delegates"}
    assert {obj.__module__ for obj in labelled} == homes
    with tornado_h1.installed():
        assert {obj.__module__ for obj in labelled} == {UPSTREAM}
        assert repr(ours.HTTP1Connection) == (
            "<class 'tornado.http1connection.HTTP1Connection'>"
        )
    assert {obj.__module__ for obj in labelled} == homes
    # Objects tornado_h1 merely uses are never relabelled.
    assert ours._wire.split_head.__module__ == "tornado_h1._wire"


def test_module_alias_taken_before_install_is_rebound(
    probe_module: Callable[[str], types.ModuleType],
) -> None:
    probe = probe_module(
        """
        from tornado import http1connection
        import tornado.http1connection as h1
        """
    )
    tornado_h1.install()
    assert probe.h1.HTTP1Connection is ours.HTTP1Connection
    assert probe.http1connection.HTTP1Connection is ours.HTTP1Connection


def test_module_first_imported_while_installed_is_restored(
    probe_module: Callable[[str], types.ModuleType],
) -> None:
    tornado_h1.install()
    probe = probe_module("from tornado.http1connection import HTTP1Connection\n")
    assert probe.HTTP1Connection is ours.HTTP1Connection
    tornado_h1.uninstall()
    assert probe.HTTP1Connection is upstream.HTTP1Connection


# ---------------------------------------------------------------------------
# End to end: a real server and client over a socket
# ---------------------------------------------------------------------------


class _Handler(tornado.web.RequestHandler):
    def initialize(self, seen: list[Any]) -> None:
        self.seen = seen

    def get(self) -> None:
        self.seen.append(self.request.connection)
        self.write("hello from %s" % type(self.request.connection).__module__)

    def post(self) -> None:
        self.seen.append(self.request.connection)
        self.write(self.request.body[::-1])


async def _serve_and_fetch(
    server_class: type, client: AsyncHTTPClient, seen: list[Any]
) -> list[Any]:
    app = tornado.web.Application([("/", _Handler, {"seen": seen})])
    server = server_class(app)
    sock, port = tornado.testing.bind_unused_port()
    server.add_sockets([sock])
    try:
        url = f"http://127.0.0.1:{port}/"
        responses = [
            await client.fetch(url),
            await client.fetch(url, method="POST", body=b"abc"),
            # No Content-Length: the client sends it chunked.
            await client.fetch(
                url,
                method="POST",
                body_producer=lambda write: write(b"xyz"),
            ),
        ]
    finally:
        client.close()
        server.stop()
        await server.close_all_connections()
    return responses


@pytest.fixture
def spy_on_connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record which side (client/server) wrote headers through tornado_h1's
    HTTP1Connection."""
    sides: list[str] = []
    original = ours.HTTP1Connection.write_headers

    def write_headers(self: Any, *args: Any, **kwargs: Any) -> Any:
        sides.append("client" if self.is_client else "server")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ours.HTTP1Connection, "write_headers", write_headers)
    return sides


def test_end_to_end_with_install(spy_on_connections: list[str]) -> None:
    seen: list[Any] = []

    async def main() -> list[Any]:
        with tornado_h1.installed():
            client = tornado.simple_httpclient.SimpleAsyncHTTPClient(
                force_instance=True
            )
            return await _serve_and_fetch(tornado.httpserver.HTTPServer, client, seen)

    responses = asyncio.run(main())
    assert [r.code for r in responses] == [200, 200, 200]
    # While installed, our classes carry upstream's module name.
    assert responses[0].body == b"hello from tornado.http1connection"
    assert responses[1].body == b"cba"
    assert responses[2].body == b"zyx"
    assert len(seen) == 3
    assert all(isinstance(conn, ours.HTTP1Connection) for conn in seen)
    assert not any(isinstance(conn, upstream.HTTP1Connection) for conn in seen)
    assert spy_on_connections.count("client") == 3
    assert spy_on_connections.count("server") == 3


def test_end_to_end_substitutes_without_install(
    spy_on_connections: list[str],
) -> None:
    seen: list[Any] = []
    saved = AsyncHTTPClient._save_configuration()
    try:
        AsyncHTTPClient.configure("tornado_h1.SimpleAsyncHTTPClient")

        async def main() -> list[Any]:
            client = AsyncHTTPClient(force_instance=True)
            assert type(client) is tornado_h1.SimpleAsyncHTTPClient
            assert isinstance(client, tornado.simple_httpclient.SimpleAsyncHTTPClient)
            return await _serve_and_fetch(tornado_h1.HTTPServer, client, seen)

        responses = asyncio.run(main())
    finally:
        AsyncHTTPClient._restore_configuration(saved)
    assert AsyncHTTPClient.configured_class() is (
        tornado.simple_httpclient.SimpleAsyncHTTPClient
    )
    assert [r.code for r in responses] == [200, 200, 200]
    assert responses[0].body == b"hello from tornado_h1.http1connection"
    assert [r.body for r in responses[1:]] == [b"cba", b"zyx"]
    assert [type(conn).__module__ for conn in seen] == [OURS] * 3
    assert all(type(conn) is ours.HTTP1Connection for conn in seen)
    assert spy_on_connections.count("client") == 3
    assert spy_on_connections.count("server") == 3
    # Nothing was patched (the fixture checks the rest on the way out).
    assert not tornado_h1.is_installed()
    assert sys.modules[UPSTREAM] is upstream


def test_end_to_end_upstream_untouched(spy_on_connections: list[str]) -> None:
    # The control: neither installed nor substituted, upstream serves.
    seen: list[Any] = []

    async def main() -> list[Any]:
        client = tornado.simple_httpclient.SimpleAsyncHTTPClient(force_instance=True)
        return await _serve_and_fetch(tornado.httpserver.HTTPServer, client, seen)

    responses = asyncio.run(main())
    assert responses[0].body == b"hello from tornado.http1connection"
    assert all(type(conn) is upstream.HTTP1Connection for conn in seen)
    assert spy_on_connections == []
