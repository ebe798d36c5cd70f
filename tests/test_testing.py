"""``tornado_h1.testing``: the log recorder, the upstream oracle, the byte
helpers and the module comparison, on their own (the harness in
``targets`` is exercised by ``tests/security``)."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
import tornado.http1connection

import tornado_h1
from tornado_h1.testing import exports, logs, upstream, wire


def test_importing_the_package_imports_nothing_else() -> None:
    code = (
        "import sys, tornado_h1.testing; "
        "print(sorted(n for n in sys.modules if n.startswith('tornado')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "tornado_h1.testing.targets" not in out
    assert "tornado.web" not in out


def test_log_recorder() -> None:
    logger = logging.getLogger("tornado.general")
    before = logger.level
    with logs.LogRecorder(logs.ALL_LOGGERS) as recorder:
        assert logging.getLogger("tornado").level == logging.DEBUG
        logger.info("Malformed HTTP message from %s: %s", "peer", "bad head")
        logger.info("plain %s", "note")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("tornado.application").exception("failed")
        logging.getLogger("asyncio").warning("elsewhere")
    logger.info("not recorded")
    assert logger.level == before
    assert recorder.reasons() == ["bad head", "plain note"]
    assert [r.getMessage() for r in recorder.errors()] == ["failed"]
    assert recorder.error_lines() == [
        "tornado.application ERROR failed [ValueError: boom]"
    ]
    assert recorder.messages("tornado.general", logging.INFO) == [
        "Malformed HTTP message from peer: bad head",
        "plain note",
    ]
    assert recorder.summary(["asyncio"]) == [("asyncio", "WARNING", "elsewhere")]
    described = logs.describe(recorder.errors())
    assert described.startswith("tornado.application ERROR failed\nTraceback")
    assert "ValueError: boom" in described
    recorder.clear()
    assert recorder.records == []


def test_log_recorder_names_at_start() -> None:
    recorder = logs.LogRecorder().start(["tornado.access"])
    try:
        logging.getLogger("tornado.access").warning("seen")
        logging.getLogger("tornado.general").warning("not watched")
    finally:
        recorder.stop()
    assert recorder.messages() == ["seen"]


def test_upstream_module_installed_or_not() -> None:
    assert upstream.upstream_module() is tornado.http1connection
    theirs = upstream.upstream_module()
    with tornado_h1.installed():
        assert sys.modules["tornado.http1connection"] is not theirs
        assert upstream.upstream_module() is theirs
    assert upstream.upstream_module() is theirs


def test_wire_helpers() -> None:
    data = b"HTTP/1.1 200 OK\r\nDate: x\r\nServer: y\r\n\r\nHTTP/1.0 404 N\r\n\r\n"
    assert wire.strip_volatile(data) == b"HTTP/1.1 200 OK\r\n\r\nHTTP/1.0 404 N\r\n\r\n"
    assert wire.statuses(data) == [200, 404]
    assert wire.show(b"a\r\n") == "b'a\\r\\n'"
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"12345")
        for _ in range(100):
            if wire.unread(b) == 5:
                break
        assert wire.unread(b) == 5


def test_defined_names_and_instance_attributes(tmp_path: Path) -> None:
    source = tmp_path / "sample_module.py"
    source.write_text(
        textwrap.dedent(
            """\
            import os
            from re import compile
            A = B = 1
            C: int = 2
            D = 0
            D += 1
            if os:
                E = 3
            else:
                def f(): pass
            try:
                G = 4
            except ImportError:
                H = 5
            else:
                I = 6
            finally:
                J = 7

            class K:
                L: int

                def __init__(self, x):
                    self.m = x
                    self.n: int = 1
                    self.o += 1
                    (self.p, q) = (1, 2)

                @staticmethod
                def s():
                    t = 1

            async def g(): pass
            """
        ),
        encoding="utf-8",
    )
    module = types.ModuleType("sample_module")
    module.__file__ = str(source)
    names = exports.defined_names(module)
    assert names == set("ABCDEGHIJK") | {"f", "g"}
    namespace: dict[str, object] = {}
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    kls = namespace["K"]
    assert isinstance(kls, type)
    kls.__module__ = "sample_module"
    monkey = pytest.MonkeyPatch()
    monkey.setitem(sys.modules, "sample_module", module)
    try:
        assert exports.instance_attributes(kls) == {"L", "m", "n", "o", "p"}
        assert set(exports._own_methods(kls)) == {"__init__", "s"}
    finally:
        monkey.undo()
