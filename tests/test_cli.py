"""The ``tornado-h1`` command line and the demo app it serves.

Most tests here start ``python -m tornado_h1 serve`` as a real process and
talk to it over real sockets with the standard library's ``http.client``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import http.client
import importlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest
import tornado
import tornado.httpclient
import tornado.testing
import tornado.websocket

import tornado_h1
from tornado_h1._tools import cli, demo

STARTUP_TIMEOUT = 30.0
BANNER = re.compile(
    r"tornado_h1 (?P<version>\S+) serving on (?P<url>http://127\.0\.0\.1:(?P<port>\d+)/)"
    r" \(Tornado (?P<tornado>\S+), tornado_h1 installed\)$"
)

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="uses POSIX signals on a child process"
)


# ------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """``python -m tornado_h1 serve ...`` running in a child process.

    Its stdout and stderr go to files, so that nothing blocks on a full pipe.
    """

    def __init__(
        self, workdir: Path, *args: str, command: Optional[list[str]] = None
    ) -> None:
        self.stdout_path = workdir / "stdout.txt"
        self.stderr_path = workdir / "stderr.txt"
        env = dict(os.environ)
        if command is None:
            command = [sys.executable, "-m", "tornado_h1"]
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(workdir), env.get("PYTHONPATH")) if p
            )
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [*command, "serve", *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=workdir,
                env=env,
            )
        self.banner = self._wait_for_banner()
        self.port = int(self.banner["port"])

    def _wait_for_banner(self) -> re.Match[str]:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            first_line = self.stdout().partition("\n")
            if first_line[1]:
                match = BANNER.match(first_line[0])
                assert match, f"unexpected banner: {first_line[0]!r}"
                return match
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"server did not start; stderr:\n{self.stderr()}")

    def stdout(self) -> str:
        return self.stdout_path.read_text()

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def stop(self, signum: int = signal.SIGINT) -> int:
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    started: list[Server] = []

    def start(*args: str, command: Optional[list[str]] = None) -> Server:
        server = Server(tmp_path, *args, command=command)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


def request(
    server: Server,
    method: str,
    path: str,
    body: Optional[bytes] = None,
    headers: Optional[dict[str, str]] = None,
) -> tuple[http.client.HTTPResponse, bytes]:
    conn = server.connection()
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


# ------------------------------------------------- serving the demo app


def test_serve_demo_over_real_sockets(start_server: Any) -> None:
    port = free_port()
    server = start_server("--port", str(port))
    assert server.banner["url"] == f"http://127.0.0.1:{port}/"
    assert server.banner["version"] == tornado_h1.__version__
    assert server.banner["tornado"] == tornado.version

    response, body = request(server, "GET", "/")
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/plain; charset=utf-8"
    host = f"127.0.0.1:{port}"
    assert body.decode() == (
        f"Hello from tornado_h1 {tornado_h1.__version__}!\n"
        f"tornado_h1 is installed (Tornado {tornado.version}).\n"
        "\n"
        "Try:\n"
        f"  curl -d 'hello' http://{host}/echo\n"
        f"  curl -T some-file http://{host}/upload\n"
        f"  curl -N http://{host}/chunked\n"
        f"  a WebSocket client on ws://{host}/ws\n"
        "  or open this page in a browser: it shows its own trace\n"
    )

    payload = b"echo \x00\xff me\r\n" * 1000
    response, body = request(
        server, "POST", "/echo", payload, {"Content-Type": "application/x-test"}
    )
    assert response.status == 200
    assert response.getheader("Content-Type") == "application/x-test"
    assert body == payload

    response, body = request(server, "GET", "/chunked")
    assert response.status == 200
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.getheader("Content-Length") is None
    assert body == b"".join(b"chunk %d of 5\n" % n for n in range(1, 6))

    upload = os.urandom(3 * 1024 * 1024 + 7)
    response, body = request(server, "PUT", "/upload", upload)
    assert response.status == 200
    assert json.loads(body) == {
        "bytes": len(upload),
        "sha256": hashlib.sha256(upload).hexdigest(),
    }

    assert server.stop(signal.SIGINT) == 0
    assert server.stdout().splitlines()[-1] == "tornado_h1: stopped"
    stderr = server.stderr()
    assert "Traceback" not in stderr
    assert "200 GET /chunked" in stderr  # one access-log line per request


def test_chunked_framing_on_the_wire(start_server: Any) -> None:
    server = start_server("--port", "0")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw = b""
        while True:
            data = sock.recv(65536)
            if not data:
                break
            raw += data
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    # five 13-byte chunks ("chunk N of 5\n"), then the zero-length last chunk
    expected = b"".join(b"d\r\nchunk %d of 5\n\r\n" % n for n in range(1, 6))
    assert body.lower() == expected + b"0\r\n\r\n"
    assert server.stop() == 0


def test_sigterm_with_an_idle_keep_alive_connection(start_server: Any) -> None:
    server = start_server("--port", "0", "--idle-connection-timeout", "3600")
    conn = server.connection()
    try:
        conn.request("GET", "/")
        assert conn.getresponse().read().startswith(b"Hello from tornado_h1")
        # the connection stays open; shutting down must close it, not wait
        started = time.monotonic()
        assert server.stop(signal.SIGTERM) == 0
        assert time.monotonic() - started < 20
    finally:
        conn.close()
    assert "Traceback" not in server.stderr()


def test_http_server_options_are_applied(start_server: Any) -> None:
    server = start_server("--port", "0", "--max-body-size", "1K", "--no-keep-alive")
    response, body = request(server, "POST", "/echo", b"x" * 1024)
    assert (response.status, len(body)) == (200, 1024)
    assert response.getheader("Connection") == "close"
    # over the limit: the server refuses the body (tornado answers 400 or
    # simply drops the connection; either way the echo never happens)
    try:
        response, body = request(server, "POST", "/echo", b"x" * 1025)
    except (ConnectionError, http.client.HTTPException):
        pass
    else:
        assert response.status == 400
    assert server.stop() == 0
    assert "Traceback" not in server.stderr()


# ------------------------------------------------ serving module:attr

APP_MODULE = """
    import sys

    import tornado.http1connection
    import tornado.web

    import tornado_h1

    # Which module stood behind tornado.http1connection when we were imported?
    SEEN = tornado.http1connection.__name__


    class Hello(tornado.web.RequestHandler):
        def get(self):
            self.write(
                f"{self.settings['label']}: installed={tornado_h1.is_installed()}"
                f" seen={SEEN}"
            )


    app = tornado.web.Application([("/", Hello)], label="object")


    def make_app():
        return tornado.web.Application([("/", Hello)], label="factory")


    async def make_app_async():
        return tornado.web.Application([("/", Hello)], label="async factory")


    class Holder:
        app = tornado.web.Application([("/", Hello)], label="dotted")


    class Swap(tornado.web.RequestHandler):
        def get(self):
            conn = self.request.connection
            self.write(f"{type(conn) is tornado_h1.HTTP1Connection} {type(conn)!r}")


    swap_app = tornado.web.Application([("/", Swap)])


    not_an_app = 42


    def bad_factory():
        return "not an app"


    def needs_settings(debug, port=1):
        return tornado.web.Application([("/", Hello)], label="settings")


    def raises_type_error():
        return tornado.web.Application(42)
"""


@pytest.fixture
def app_module(tmp_path: Path) -> str:
    (tmp_path / "h1_cli_app.py").write_text(textwrap.dedent(APP_MODULE))
    (tmp_path / "h1_cli_broken.py").write_text("import h1_no_such_dependency\n")
    return "h1_cli_app"


@pytest.mark.parametrize(
    ("attr", "label"),
    [
        ("app", "object"),
        ("make_app", "factory"),
        ("make_app_async", "async factory"),
        ("Holder.app", "dotted"),
    ],
)
def test_serve_module_attr(
    start_server: Any, app_module: str, attr: str, label: str
) -> None:
    server = start_server(f"{app_module}:{attr}", "--port", "0")
    response, body = request(server, "GET", "/")
    assert response.status == 200
    assert body == (f"{label}: installed=True seen=tornado_h1.http1connection".encode())
    assert server.stop() == 0
    assert "Traceback" not in server.stderr()


def test_console_script_finds_apps_in_the_current_directory(
    start_server: Any, app_module: str
) -> None:
    script = Path(sys.executable).with_name("tornado-h1")
    if not script.exists():
        pytest.skip("the tornado-h1 script is not installed (pip install -e .)")
    # no PYTHONPATH: the module is found only because it is in the cwd
    server = start_server(f"{app_module}:app", "--port", "0", command=[str(script)])
    response, body = request(server, "GET", "/")
    assert body == b"object: installed=True seen=tornado_h1.http1connection"
    assert server.stop() == 0


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("h1_cli_app", "expected module:attr, got 'h1_cli_app'"),
        ("h1_cli_app:", "expected module:attr, got 'h1_cli_app:'"),
        ("h1_no_such_module:app", "no module named 'h1_no_such_module'"),
        ("h1_cli_app:missing", "'h1_cli_app' has no attribute 'missing'"),
        (
            "h1_cli_app:not_an_app",
            "h1_cli_app:not_an_app is of type int, not an Application or a factory",
        ),
        (
            "h1_cli_app:bad_factory",
            "h1_cli_app:bad_factory() returned type str, not an Application",
        ),
        (
            "h1_cli_app:needs_settings",
            "h1_cli_app:needs_settings needs arguments (debug, port=1); "
            "give an Application or a factory that takes none",
        ),
        (
            "h1_cli_app:Hello",
            "h1_cli_app:Hello is a RequestHandler class, not an Application: "
            "name an Application that routes to it, e.g. "
            "tornado.web.Application([(r'/', Hello)])",
        ),
    ],
)
def test_serve_bad_target(
    tmp_path: Path, app_module: str, target: str, message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tornado_h1", "serve", target, "--port", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == f"tornado-h1 serve: error: {message}\n"
    assert result.stdout == ""


@pytest.mark.parametrize("port", ["99999", "65536", "-1", "http"])
def test_serve_refuses_a_port_outside_the_range(tmp_path: Path, port: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tornado_h1", "serve", "--port", port],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    last = result.stderr.splitlines()[-1]
    assert last.startswith("tornado-h1 serve: error: argument --port: ")
    assert ("outside 1-65535" in last) or ("not a port number" in last)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_parse_port() -> None:
    assert [cli.parse_port(text) for text in ("0", "1", "8888", "65535")] == [
        0,
        1,
        8888,
        65535,
    ]
    for text in ("65536", "-1", "99999", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            cli.parse_port(text)


def test_a_factory_that_fails_inside_shows_its_traceback(
    tmp_path: Path, app_module: str
) -> None:
    # The factory takes no arguments; its own TypeError is the app's bug.
    result = subprocess.run(
        [sys.executable, "-m", "tornado_h1", "serve", "h1_cli_app:raises_type_error"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr


def test_the_documented_swap_check_holds(start_server: Any, app_module: str) -> None:
    """The banner's second line says how to check the swap; the check holds
    while ``repr`` names upstream's module (which is why repr is no check)."""
    server = start_server(f"{app_module}:swap_app", "--port", "0")
    assert server.stdout().splitlines()[1] == cli.SWAP_CHECK
    response, body = request(server, "GET", "/")
    assert body == b"True <class 'tornado.http1connection.HTTP1Connection'>"
    assert server.stop() == 0


def test_serve_on_a_busy_port(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "tornado_h1", "serve", "--port", str(port)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"tornado-h1 serve: error: cannot listen on 127.0.0.1:{port}: "
    )
    assert "Traceback" not in result.stderr


def test_serve_module_with_missing_dependency_shows_traceback(
    tmp_path: Path, app_module: str
) -> None:
    # A missing dependency of the user's module is their bug: show it whole.
    result = subprocess.run(
        [sys.executable, "-m", "tornado_h1", "serve", "h1_cli_broken:app"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "No module named 'h1_no_such_dependency'" in result.stderr


# ------------------------------------------------------ the demo


def test_demo_answers_head_wherever_get_works(start_server: Any) -> None:
    server = start_server("--port", "0")
    for path in ("/", "/chunked"):
        got, got_body = request(server, "GET", path)
        head, head_body = request(server, "HEAD", path)
        assert (got.status, head.status) == (200, 200), path
        assert head_body == b"" and got_body != b""
        assert head.getheader("Content-Type") == got.getheader("Content-Type")
    head, _ = request(server, "HEAD", "/")
    assert head.getheader("Content-Length") == str(len(request(server, "GET", "/")[1]))
    assert server.stop() == 0


def test_demo_echo_takes_any_body(start_server: Any) -> None:
    # curl -d sends application/x-www-form-urlencoded; the body is not a form.
    server = start_server("--port", "0")
    payload = bytes(range(256)) * 4
    form = "application/x-www-form-urlencoded"
    response, body = request(server, "POST", "/echo", payload, {"Content-Type": form})
    assert (response.status, body) == (200, payload)
    response, body = request(server, "POST", "/echo", b"a=1&b=%zz")
    assert (response.status, body) == (200, b"a=1&b=%zz")
    assert server.stop() == 0


def test_demo_home_page_shows_the_trace_of_its_own_request(
    start_server: Any,
) -> None:
    server = start_server("--port", "0")  # no --trace: the page has it anyway
    conn = server.connection()
    try:
        pages = []
        for _ in range(2):
            conn.request("GET", "/", headers={"Accept": "text/html"})
            response = conn.getresponse()
            assert response.getheader("Content-Type") == "text/html; charset=UTF-8"
            pages.append(response.read().decode())
    finally:
        conn.close()
    trace = re.search(r'<pre id="trace">(.*?)</pre>', pages[1], re.S)
    assert trace is not None
    lines = trace.group(1).splitlines()
    ids = {line.split("] ")[0] for line in lines}
    assert len(ids) == 1  # one connection: this page's
    text = "\n".join(line.split("] ", 1)[1] for line in lines)
    # The first request's whole exchange, then this one's so far.
    assert text.count("head received: ") == 2
    assert "keep-alive: yes" in text
    assert text.endswith(
        "GET / HTTP/1.1\ndelegate.headers_received\n"
        "body: none (RFC 9112 §6.3 step 7)\ndelegate.finish"
    )
    # The page links to what it describes and carries a WebSocket client.
    page = pages[1]
    for needle in ('href="/chunked"', 'action="/upload"', "new WebSocket(", '"/ws"'):
        assert needle in page
    assert server.stop() == 0
    assert "head received" not in server.stderr()  # printed only with --trace


def test_demo_page_without_a_trace_says_so() -> None:
    async def scenario() -> str:
        sock, port = tornado.testing.bind_unused_port()
        server = tornado_h1.HTTPServer(demo.make_app())
        server.add_sockets([sock])
        client = tornado.httpclient.AsyncHTTPClient()
        try:
            response = await client.fetch(
                f"http://127.0.0.1:{port}/", headers={"Accept": "text/html"}
            )
            return response.body.decode()
        finally:
            server.stop()
            await server.close_all_connections()

    assert "(no trace: serve with tornado-h1 serve to see one)" in asyncio.run(
        scenario()
    )


# ------------------------------------------------------ the WebSocket


def test_demo_websocket_echo() -> None:
    async def scenario() -> list[Any]:
        sock, port = tornado.testing.bind_unused_port()
        server = tornado_h1.HTTPServer(demo.make_app())
        server.add_sockets([sock])
        try:
            ws = await tornado.websocket.websocket_connect(f"ws://127.0.0.1:{port}/ws")
            received = []
            for message in ("hello", b"\x00\x01\xfe\xff", "x" * 100_000):
                await ws.write_message(message, binary=isinstance(message, bytes))
                received.append(await ws.read_message())
            ws.close()
            received.append(await ws.read_message())  # None once closed
            return received
        finally:
            server.stop()
            await server.close_all_connections()

    assert asyncio.run(scenario()) == [
        "hello",
        b"\x00\x01\xfe\xff",
        "x" * 100_000,
        None,
    ]


# ------------------------------------------------- in-process pieces


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    python = sys.version.split()[0]
    assert capsys.readouterr().out == (
        f"tornado-h1 {tornado_h1.__version__} (Tornado {tornado.version}, "
        f"Python {python})\n"
    )


def test_python_dash_m_runs_the_cli() -> None:
    import tornado_h1.__main__ as dunder_main  # importing it must not run it

    assert dunder_main.main is cli.main


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    out = capsys.readouterr().out
    assert out.startswith("usage: tornado-h1 ")
    for command in ("serve", "compat", "bench", "fuzz"):
        assert f"    {command} " in out


def test_main_reads_sys_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_main(rest: list[str]) -> int:
        calls.append(rest)
        return 0

    fake = types.ModuleType(cli._MODULES["bench"])
    fake.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, cli._MODULES["bench"], fake)
    monkeypatch.setattr(sys, "argv", ["tornado-h1", "bench", "--quick"])
    assert cli.main() == 0
    assert calls == [["--quick"]]


@pytest.mark.parametrize("command", ["compat", "bench", "fuzz"])
def test_passthrough_modules_exist(command: str) -> None:
    """Each pass-through command names a module of tornado_h1._tools with a
    main() (imported, not run)."""
    assert set(cli._MODULES) == set(cli._PASSTHROUGH)
    module = importlib.import_module(cli._MODULES[command])
    assert module.__name__.startswith("tornado_h1._tools.")
    assert callable(module.main)


@pytest.mark.parametrize("command", ["compat", "bench", "fuzz"])
def test_passthrough_hands_over_the_rest(
    monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    calls: list[list[str]] = []

    def fake_main(rest: list[str]) -> int:
        calls.append(rest)
        return 3

    fake = types.ModuleType(cli._MODULES[command])
    fake.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, cli._MODULES[command], fake)
    assert cli.main([command, "-k", "serve", "--help"]) == 3
    assert calls == [["-k", "serve", "--help"]]


def test_passthrough_none_means_success(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType(cli._MODULES["fuzz"])
    fake.main = lambda rest: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, cli._MODULES["fuzz"], fake)
    assert cli.main(["fuzz"]) == 0


@pytest.mark.parametrize("command", ["compat", "bench", "fuzz"])
def test_passthrough_not_available(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    # None in sys.modules makes the import fail as if the module did not exist.
    monkeypatch.setitem(sys.modules, cli._MODULES[command], None)
    assert cli.main([command, "--anything"]) == 2
    assert capsys.readouterr().err == (
        f"tornado-h1 {command}: not available in this version "
        f"(there is no {cli._MODULES[command]}.main)\n"
    )


def test_passthrough_module_without_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, cli._MODULES["bench"], types.ModuleType("x"))
    assert cli.main(["bench"]) == 2
    assert "not available in this version" in capsys.readouterr().err


def test_passthrough_broken_module_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def import_module(name: str) -> types.ModuleType:
        raise ModuleNotFoundError("No module named 'numpy'", name="numpy")

    monkeypatch.setattr(cli.importlib, "import_module", import_module)
    with pytest.raises(ModuleNotFoundError, match="numpy"):
        cli.main(["bench"])


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 0),
        ("65536", 65536),
        ("64k", 65536),
        ("64KB", 65536),
        ("10M", 10 << 20),
        ("2G", 2 << 30),
        (" 7 ", 7),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert cli.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "K", "-1", "1.5M", "10T", "ten"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not a size"):
        cli.parse_size(text)


def test_parse_seconds() -> None:
    assert cli.parse_seconds("2.5") == 2.5
    with pytest.raises(argparse.ArgumentTypeError, match="not a number of seconds"):
        cli.parse_seconds("soon")
    with pytest.raises(argparse.ArgumentTypeError, match="must be positive"):
        cli.parse_seconds("0")


def test_server_options_mapping() -> None:
    parser = cli.build_parser()
    assert cli.server_options(parser.parse_args(["serve"])) == {}
    args = parser.parse_args(
        [
            "serve",
            "app:make",
            "--host",
            "::1",
            "--port",
            "0",
            "--max-body-size",
            "1G",
            "--max-buffer-size",
            "2M",
            "--max-header-size",
            "16K",
            "--chunk-size",
            "4096",
            "--idle-connection-timeout",
            "30",
            "--body-timeout",
            "1.5",
            "--no-keep-alive",
            "--decompress-request",
            "--xheaders",
        ]
    )
    assert (args.target, args.host, args.port) == ("app:make", "::1", 0)
    assert cli.server_options(args) == {
        "max_body_size": 1 << 30,
        "max_buffer_size": 2 << 20,
        "max_header_size": 16 << 10,
        "chunk_size": 4096,
        "idle_connection_timeout": 30.0,
        "body_timeout": 1.5,
        "no_keep_alive": True,
        "decompress_request": True,
        "xheaders": True,
    }


def test_urls_of_bound_sockets() -> None:
    with socket.socket(socket.AF_INET) as sock:
        sock.bind(("127.0.0.1", 0))
        assert cli._url(sock) == f"http://127.0.0.1:{sock.getsockname()[1]}/"
    if not socket.has_ipv6:
        return
    with socket.socket(socket.AF_INET6) as sock:
        try:
            sock.bind(("::1", 0))
        except OSError:
            return  # IPv6 is compiled in but not configured here
        assert cli._url(sock) == f"http://[::1]:{sock.getsockname()[1]}/"


def test_bad_option_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--max-body-size", "lots"])
    assert exit_info.value.code == 2
    assert "argument --max-body-size: not a size: 'lots'" in capsys.readouterr().err


def _raw_exchange(port: int, data: bytes, until: bytes = b"\r\n\r\n") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while until not in received:
            piece = sock.recv(65536)
            if not piece:
                break
            received += piece
        return received


def test_serve_trace_shows_the_protocol(start_server: Any) -> None:
    """``serve --trace``: one line per protocol event, each with its
    connection's id, for a keep-alive GET, a chunked POST, a 100-continue
    upload, a malformed request and a WebSocket upgrade."""
    server = start_server("--port", "0", "--trace")
    conn = server.connection()
    for _ in range(2):  # keep-alive: two requests on one connection
        conn.request("GET", "/")
        assert conn.getresponse().read()
    body = iter([b"hello ", b"there"])
    headers = {"Content-Type": "text/plain"}
    conn.request("POST", "/echo", body=body, headers=headers, encode_chunked=True)
    assert conn.getresponse().read() == b"hello there"
    conn.close()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"PUT /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 100")
        sock.sendall(b"12345")
        assert b'"bytes": 5' in sock.recv(1000)
    bad = _raw_exchange(server.port, b"GET / HTTP/1.1\r\nNo colon\r\n\r\n")
    assert bad.startswith(b"HTTP/1.1 400")
    upgrade = _raw_exchange(
        server.port,
        b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    assert upgrade.startswith(b"HTTP/1.1 101")
    time.sleep(0.3)
    assert server.stop(signal.SIGINT) == 0
    lines = [line for line in server.stderr().splitlines() if "] " in line]
    trace = [line.split("] ", 1)[1] for line in lines if re.search(r"\[c\d+\] ", line)]
    text = "\n".join(trace)
    # Each head that parsed (the malformed one says why it did not).
    assert text.count("head received: ") == 5
    assert re.search(r"head received: \d+ bytes, GET / HTTP/1.1", text)
    assert "body: none (RFC 9112 §6.3 step 7)" in text
    assert "body: chunked (RFC 9112 §6.3 step 4)" in text
    assert "sent 100 Continue" in text
    assert "body: Content-Length 5 (RFC 9112 §6.3 step 6)" in text
    # The chunked body's 11 bytes, in one piece or as its chunks arrived.
    post = text[text.index("POST /echo") :]
    post = post[: post.index("delegate.finish")]
    pieces = re.findall(r"delegate\.data_received: (\d+) bytes", post)
    assert sum(map(int, pieces)) == 11
    assert "head sent: HTTP/1.1 200 OK, body Content-Length 11" in text
    assert "closed by the peer" in text and "closed by us" in text
    assert "keep-alive: yes" in text
    assert "malformed: no colon in header line" in text
    assert "head sent: HTTP/1.1 101 Switching Protocols" in text
    assert "detached: the stream is the delegate's now" in text
    # Connections are told apart: the keep-alive GETs share one id.
    ids = re.findall(r"\[(c\d+)\] opened", "\n".join(lines))
    assert len(ids) == len(set(ids)) >= 4


_SLOW_APP = """
import asyncio
import tornado.web


class Slow(tornado.web.RequestHandler):
    async def get(self):
        await asyncio.sleep(float(self.get_argument("s", "1")))
        self.write("done")


app = tornado.web.Application([("/slow", Slow)])
"""


def _send_slow(server: Server, seconds: float) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=20)
    sock.sendall(b"GET /slow?s=%g HTTP/1.1\r\nHost: x\r\n\r\n" % seconds)
    time.sleep(0.3)  # the handler is under way
    return sock


def _read_to_close(sock: socket.socket) -> bytes:
    data = b""
    while True:
        piece = sock.recv(65536)
        if not piece:
            return data
        data += piece


def test_a_stop_signal_drains_the_requests_under_way(
    start_server: Any, tmp_path: Path
) -> None:
    (tmp_path / "slowapp.py").write_text(_SLOW_APP)
    server = start_server("slowapp:app", "--port", "0")
    with _send_slow(server, 1.0) as sock:
        server.proc.send_signal(signal.SIGTERM)
        response = _read_to_close(sock)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and body == b"done"
    assert b"connection: close" in head.lower()
    assert server.proc.wait(timeout=30) == 0
    lines = server.stdout().splitlines()
    assert lines[-2].startswith("tornado_h1: draining:")
    assert lines[-1] == "tornado_h1: stopped"


def test_a_second_signal_stops_at_once(start_server: Any, tmp_path: Path) -> None:
    (tmp_path / "slowapp.py").write_text(_SLOW_APP)
    server = start_server("slowapp:app", "--port", "0")
    with _send_slow(server, 60) as sock:
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        started = time.monotonic()
        assert server.stop(signal.SIGINT) == 0
        assert time.monotonic() - started < 20  # not the 30 s of the drain
        assert _read_to_close(sock) == b""
    assert "second signal: stopping at once" in server.stdout()


def test_the_tornado_h1_options_flags(start_server: Any) -> None:
    """--precise-errors, --max-requests and --idle-timeout reach the
    server: a 413 instead of a bare 400, a close after the second request,
    and an idle close long before the idle-connection-timeout."""
    args = cli.build_parser().parse_args(
        [
            "serve", "--precise-errors", "--max-requests", "2",
            "--idle-timeout", "0.5", "--chunk-extensions", "--trailers",
        ]
    )  # fmt: skip
    assert cli.h1_options(args) == tornado_h1.ServerOptions(
        precise_errors=True,
        max_requests=2,
        idle_timeout=0.5,
        chunk_extensions=True,
        trailers=True,
    )
    assert cli.h1_options(cli.build_parser().parse_args(["serve"])) == (
        tornado_h1.ServerOptions()
    )
    server = start_server(
        "--port", "0", "--max-body-size", "100", "--precise-errors",
        "--max-requests", "2", "--idle-timeout", "0.5",
        "--idle-connection-timeout", "600",
    )  # fmt: skip
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n")
        assert _read_to_close(sock).startswith(b"HTTP/1.1 413 Content Too Large\r\n")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
        replies = _read_to_close(sock)
        assert replies.count(b"HTTP/1.1 200 OK") == 2
        assert replies.lower().count(b"connection: close") == 1
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        assert b"200 OK" in _read_to_close(sock)
        assert time.monotonic() - started < 60  # not the 600 s
    assert server.stop() == 0


def test_max_requests_must_be_a_positive_number() -> None:
    for bad in ("0", "-1", "x"):
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args(["serve", "--max-requests", bad])


_PID_APP = """
import asyncio
import os
import tornado.web


class Pid(tornado.web.RequestHandler):
    async def get(self):
        await asyncio.sleep(float(self.get_argument("s", "0")))
        self.write(str(os.getpid()))


app = tornado.web.Application([("/pid", Pid)])
"""


def _pids_seen(server: Server, connections: int) -> set[bytes]:
    socks = [
        socket.create_connection(("127.0.0.1", server.port), timeout=20)
        for _ in range(connections)
    ]
    for sock in socks:
        sock.sendall(b"GET /pid?s=0.2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    seen = set()
    for sock in socks:
        with sock:
            seen.add(_read_to_close(sock).partition(b"\r\n\r\n")[2])
    return seen


def _both_children(server: Server) -> set[bytes]:
    """The pids of the two children of ``--processes 2``, as they answer
    (the kernel picks the process for each connection)."""
    seen: set[bytes] = set()
    for _ in range(10):
        seen |= _pids_seen(server, 8)
        if len(seen) == 2:
            break
    return seen


def test_processes_share_the_socket_and_drain_together(
    start_server: Any, tmp_path: Path
) -> None:
    (tmp_path / "pidapp.py").write_text(_PID_APP)
    server = start_server("pidapp:app", "--port", "0", "--processes", "2")
    assert "2 processes share the socket" in server.stdout()
    seen: set[bytes] = set()
    for _ in range(10):  # the kernel picks the process for each connection
        seen |= _pids_seen(server, 8)
        if len(seen) == 2:
            break
    assert len(seen) == 2 and str(server.proc.pid).encode() not in seen
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(b"GET /pid?s=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)
        server.proc.send_signal(signal.SIGTERM)
        head, _, body = _read_to_close(sock).partition(b"\r\n\r\n")
    assert b"200 OK" in head and body in seen  # drained, not cut off
    assert server.proc.wait(timeout=30) == 0
    assert server.stdout().splitlines()[-1] == "tornado_h1: stopped"
    for pid in seen:
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)


def test_processes_take_a_group_sigterm_as_one(
    start_server: Any, tmp_path: Path
) -> None:
    """A service manager (systemd's KillMode=control-group) sends SIGTERM to
    the parent and to every child at once: each child gets its own and the
    one its parent passes on, and must drain, not take the pair for a
    second signal."""
    (tmp_path / "pidapp.py").write_text(_PID_APP)
    server = start_server("pidapp:app", "--port", "0", "--processes", "2")
    seen = _both_children(server)
    assert len(seen) == 2
    with contextlib.ExitStack() as opened:
        socks = [
            opened.enter_context(
                socket.create_connection(("127.0.0.1", server.port), timeout=20)
            )
            for _ in range(4)
        ]
        for sock in socks:
            sock.sendall(b"GET /pid?s=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)
        for pid in [server.proc.pid, *(int(pid) for pid in seen)]:
            os.kill(pid, signal.SIGTERM)
        for sock in socks:
            head, _, body = _read_to_close(sock).partition(b"\r\n\r\n")
            assert b"200 OK" in head and body in seen  # drained, not cut off
    assert server.proc.wait(timeout=30) == 0


def test_processes_stop_when_their_parent_is_killed(
    start_server: Any, tmp_path: Path
) -> None:
    (tmp_path / "pidapp.py").write_text(_PID_APP)
    server = start_server("pidapp:app", "--port", "0", "--processes", "2")
    seen = _both_children(server)
    server.kill()  # SIGKILL: the parent cannot pass anything on
    deadline = time.monotonic() + 20
    alive = {int(pid) for pid in seen}
    while alive and time.monotonic() < deadline:
        for pid in list(alive):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                alive.discard(pid)
        time.sleep(0.1)
    assert not alive


def test_idle_grace_keeps_an_idle_connection_for_one_more_request(
    start_server: Any,
) -> None:
    server = start_server("--port", "0", "--idle-grace", "20")
    conn = server.connection()
    try:
        conn.request("GET", "/")
        assert conn.getresponse().read().startswith(b"Hello from tornado_h1")
        server.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        while "draining" not in server.stdout() and time.monotonic() < deadline:
            time.sleep(0.05)
        # Draining, and the idle connection still takes a request.
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.read().startswith(b"Hello from tornado_h1")
        assert response.getheader("Connection") == "close"
    finally:
        conn.close()
    assert server.proc.wait(timeout=30) == 0
    assert "idle connections may take one more request for 20 s" in server.stdout()


def test_processes_refuse_connections_once_draining(
    start_server: Any, tmp_path: Path
) -> None:
    """The parent holds no copy of the listening socket: once the children
    stop accepting, a new connection is refused, not left in a backlog
    nobody accepts (and reset when the parent exits)."""
    (tmp_path / "pidapp.py").write_text(_PID_APP)
    server = start_server("pidapp:app", "--port", "0", "--processes", "2")
    socks = [
        socket.create_connection(("127.0.0.1", server.port), timeout=20)
        for _ in range(2)
    ]
    try:
        for sock in socks:
            sock.sendall(b"GET /pid?s=3 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # both children have begun to drain
        assert server.proc.poll() is None  # still finishing the requests
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
    finally:
        for sock in socks:
            sock.close()
    assert server.proc.wait(timeout=30) == 0
