"""The child processes of ``tornado-h1 bench``: servers, load generator,
uploader, HTTP client and idle connections.

Each is ``python -m tornado_h1._tools.bench _role '<json config>'``; it
prints its result (a JSON line) on stdout. Nothing here imports Tornado
before a server has installed tornado_h1 (or chosen not to)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from typing import Any, Callable, Optional, cast

from tornado_h1._tools.bench.procs import _chunked_upload, _parse_head, _raise_nofile
from tornado_h1._tools.bench.scenarios import (
    _BODY,
    _CEILING_REPLY,
    CEILING,
    HOST,
    Workload,
)
from tornado_h1._tools.bench.stats import percentile


def _watch_stdin(loop: asyncio.AbstractEventLoop, on_eof: Callable[[], None]) -> None:
    """Call ``on_eof`` when stdin (a pipe from the parent) reaches EOF: the
    parent has gone, whatever the way."""

    def readable() -> None:
        try:
            data = os.read(0, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(0)
            on_eof()

    loop.add_reader(0, readable)


def _server_main(config: dict[str, Any]) -> int:
    _raise_nofile(1 << 20)
    if config["impl"] == "tornado_h1":
        import tornado_h1

        tornado_h1.install()
    asyncio.run(_serve(config))
    return 0


def _make_server(kind: str) -> Any:
    """The server of a scenario; imported only now, after install()."""
    from tornado import httputil

    if kind == CEILING:
        from tornado import iostream
        from tornado.tcpserver import TCPServer

        class CeilingServer(TCPServer):
            async def handle_stream(
                self, stream: iostream.IOStream, address: tuple[Any, ...]
            ) -> None:
                stream.set_nodelay(True)
                try:
                    while True:
                        await stream.read_until(b"\r\n\r\n", max_bytes=65536)
                        await stream.write(_CEILING_REPLY)
                except iostream.StreamClosedError:
                    pass

        return CeilingServer()

    from tornado.httpserver import HTTPServer

    if kind == "raw":
        start = httputil.ResponseStartLine("HTTP/1.1", 200, "OK")

        class RawRequest(httputil.HTTPMessageDelegate):
            def __init__(self, connection: httputil.HTTPConnection) -> None:
                self.connection = connection

            def finish(self) -> None:
                headers = httputil.HTTPHeaders(
                    {"Content-Type": "text/plain", "Content-Length": "5"}
                )
                self.connection.write_headers(start, headers, _BODY)
                self.connection.finish()

        class RawServer(httputil.HTTPServerConnectionDelegate):
            def start_request(
                self, server_conn: object, request_conn: httputil.HTTPConnection
            ) -> httputil.HTTPMessageDelegate:
                return RawRequest(request_conn)

        return HTTPServer(RawServer())

    from tornado import web

    class Hello(web.RequestHandler):
        def get(self) -> None:
            self.write(_BODY)

    @web.stream_request_body
    class Stream(web.RequestHandler):
        def prepare(self) -> None:
            self.received = 0

        def data_received(self, chunk: bytes) -> None:
            self.received += len(chunk)

        def post(self) -> None:
            self.write(str(self.received))

    app = web.Application([("/", Hello), ("/stream", Stream)])
    return HTTPServer(app, max_body_size=1 << 40)


async def _serve(config: dict[str, Any]) -> None:
    import cProfile

    import tornado.httpserver
    from tornado.netutil import bind_sockets

    from tornado_h1 import http1connection

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    _watch_stdin(loop, stop.set)

    server = _make_server(config["kind"])
    sockets = bind_sockets(0, HOST, backlog=4096)
    server.add_sockets(sockets)
    # (Looked up by name: after install() it is tornado_h1's class.)
    used = vars(tornado.httpserver)["HTTP1ServerConnection"]
    info = {
        "port": sockets[0].getsockname()[1],
        "pid": os.getpid(),
        "impl": config["impl"],
        "tornado_h1_serving": used is http1connection.HTTP1ServerConnection,
        "connection_class": f"{used.__module__}.{used.__qualname__} "
        f"from {sys.modules[used.__module__].__file__}",
    }
    profiler = None
    if config.get("profile"):
        # Wall-clock time by default: cheap to read, so the profile distorts
        # little. CPU time ignores preemption by other processes, but reading
        # it costs a system call per event, charged to the smallest functions.
        clock = time.process_time if config.get("clock") == "cpu" else time.perf_counter
        profiler = cProfile.Profile(clock)
    if profiler is not None:
        # The parent profiles the measured loads only: SIGUSR1 before each,
        # SIGUSR2 after.
        loop.add_signal_handler(signal.SIGUSR1, profiler.enable)
        loop.add_signal_handler(signal.SIGUSR2, profiler.disable)
    print("READY " + json.dumps(info), flush=True)
    await stop.wait()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(config["profile"])
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip tearing down thousands of connections one by one.
    os._exit(0)


# -- the built-in load generator


class _LoadStats:
    def __init__(self) -> None:
        self.responses = 0
        self.errors = 0
        self.bytes = 0
        self.latencies: list[float] = []
        self.stopped = False


class _LoadProtocol(asyncio.Protocol):
    """One keep-alive connection: send ``request`` (``depth`` requests),
    read as many responses, repeat until stopped."""

    def __init__(self, request: bytes, depth: int, stats: _LoadStats) -> None:
        self.request = request
        self.depth = depth
        self.stats = stats
        self.buffer = bytearray()
        self.need = -1  # end of the current response in buffer, once known
        self.outstanding = 0
        self.sent_at = 0.0
        self.transport: Optional[asyncio.Transport] = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self) -> None:
        assert self.transport is not None
        self.outstanding = self.depth
        self.sent_at = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        stats = self.stats
        if stats.stopped:
            return
        buffer = self.buffer
        buffer += data
        pos = 0
        while True:
            if self.need < 0:
                end = buffer.find(b"\r\n\r\n", pos)
                if end < 0:
                    break
                try:
                    status, length = _parse_head(bytes(buffer[pos:end]))
                except ValueError:
                    stats.errors += 1
                    assert self.transport is not None
                    self.transport.close()
                    return
                if status != 200:
                    stats.errors += 1
                self.need = end + 4 + length
            if len(buffer) < self.need:
                break
            stats.bytes += self.need - pos
            pos = self.need
            self.need = -1
            stats.responses += 1
            stats.latencies.append(time.perf_counter() - self.sent_at)
            self.outstanding -= 1
            if self.outstanding == 0:
                self.send()
        if pos:
            del buffer[:pos]
            if self.need >= 0:
                self.need -= pos

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if not self.stats.stopped:
            self.stats.errors += 1
        if not self.lost.done():
            self.lost.set_result(None)


async def _load_run(config: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    workload = Workload(**config["workload"])
    request = workload.request_bytes()
    stats = _LoadStats()
    port = int(config["port"])

    async def connect() -> _LoadProtocol:
        _, protocol = await loop.create_connection(
            lambda: _LoadProtocol(request, workload.depth, stats), HOST, port
        )
        return protocol

    async def keep_going(protocol: _LoadProtocol) -> None:
        # Reconnect if the server closes a connection during the run.
        while not stats.stopped:
            protocol.send()
            await protocol.lost
            if stats.stopped:
                return
            protocol = await connect()

    protocols = [await connect() for _ in range(int(config["connections"]))]
    begun = time.perf_counter()
    tasks = [asyncio.ensure_future(keep_going(p)) for p in protocols]
    await asyncio.sleep(float(config["duration"]))
    stats.stopped = True
    elapsed = time.perf_counter() - begun
    for protocol in protocols:
        if protocol.transport is not None:
            protocol.transport.abort()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    ordered = sorted(stats.latencies)
    p50, p99 = percentile(ordered, 50), percentile(ordered, 99)
    return {
        "requests": stats.responses,
        "seconds": elapsed,
        "bytes": stats.bytes,
        "errors": stats.errors,
        "p50_ms": None if p50 is None else p50 * 1000,
        "p99_ms": None if p99 is None else p99 * 1000,
    }


def _load_main(config: dict[str, Any]) -> int:
    _raise_nofile(int(config["connections"]) + 256)
    print(json.dumps(asyncio.run(_load_run(config))), flush=True)
    return 0


# -- the chunked uploader


def _upload_main(config: dict[str, Any]) -> int:
    size, chunk = int(config["size"]), int(config["chunk"])
    duration = float(config["duration"])
    times: list[float] = []
    total = 0
    errors = 0
    buffer = bytearray()
    with socket.create_connection((HOST, int(config["port"])), timeout=120) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        begun = time.perf_counter()
        while not times or time.perf_counter() - begun < duration:
            started = time.perf_counter()
            status, body = _chunked_upload(sock, "/stream", size, chunk, buffer)
            times.append(time.perf_counter() - started)
            if status != 200 or body != str(size).encode():
                errors += 1
            total += size
        elapsed = time.perf_counter() - begun
    ordered = sorted(times)
    result = {
        "requests": len(times),
        "seconds": elapsed,
        "bytes": total,
        "errors": errors,
        "p50_ms": (percentile(ordered, 50) or 0.0) * 1000,
        "p99_ms": (percentile(ordered, 99) or 0.0) * 1000,
    }
    print(json.dumps(result), flush=True)
    return 0


# -- the HTTP client scenario


def _client_main(config: dict[str, Any]) -> int:
    if config["impl"] == "tornado_h1":
        import tornado_h1

        tornado_h1.install()
    print(json.dumps(asyncio.run(_client_run(config))), flush=True)
    return 0


async def _client_run(config: dict[str, Any]) -> dict[str, Any]:
    from tornado import simple_httpclient
    from tornado.netutil import Resolver

    from tornado_h1 import http1connection

    class LiteralResolver(Resolver):
        """127.0.0.1 needs no lookup: keep the executor thread that the
        default resolver uses out of the CPU time measured."""

        async def resolve(
            self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
        ) -> list[tuple[int, Any]]:
            return [(socket.AF_INET, (host, port))]

    used = vars(simple_httpclient)["HTTP1Connection"]
    ours = used is http1connection.HTTP1Connection
    client = simple_httpclient.SimpleAsyncHTTPClient(
        force_instance=True, resolver=LiteralResolver()
    )
    result = await _timed_fetches(client, config)
    result["expected_impl"] = ours == (config["impl"] == "tornado_h1")
    return result


async def _timed_fetches(client: Any, config: dict[str, Any]) -> dict[str, Any]:
    """Sequential fetches of the bench's URL for ``duration`` seconds (after
    ``warmup``), or exactly ``count`` of them; then the client is closed.
    The result of both client roles."""
    url = f"http://{HOST}:{int(config['port'])}/"
    errors: list[str] = []
    warm_until = time.perf_counter() + float(config.get("warmup", 0))
    while time.perf_counter() < warm_until:
        await _fetch_once(client, url, errors)
    count = config.get("count")
    latencies: list[float] = []
    cpu_begun = time.process_time()
    begun = now = time.perf_counter()
    deadline = begun + float(config.get("duration", 0))
    while len(latencies) < count if count else now < deadline:
        await _fetch_once(client, url, errors)
        after = time.perf_counter()
        latencies.append(after - now)
        now = after
    cpu = time.process_time() - cpu_begun
    client.close()
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "seconds": now - begun,
        "cpu_s": cpu,
        "errors": len(errors),
        "first_errors": errors[:3],
        "p50_ms": (percentile(ordered, 50) or 0.0) * 1000,
        "p99_ms": (percentile(ordered, 99) or 0.0) * 1000,
    }


async def _fetch_once(client: Any, url: str, errors: list[str]) -> None:
    """One fetch; a failure is counted (and the first few kept), not raised."""
    try:
        response = await client.fetch(url, raise_error=False)
    except Exception as e:  # (a 599: raised even with raise_error=False)
        errors.append(f"{type(e).__name__}: {e}")
        return
    if response.code != 200 or response.body != _BODY:
        errors.append(f"{response.code} {response.body[:40]!r}")


# -- the keep-alive client scenario: a canned responder and the clients

#: The path at which the canned responder tells how many connections it
#: accepted.
CONNECTIONS_PATH = "/connections"


class _CannedResponder(asyncio.Protocol):
    """Answers every request head with the same small response, as fast as
    asyncio can: the server of client-keepalive, so that the client's own
    cost dominates. ``GET /connections`` answers the count of connections
    accepted. ``Connection: close`` in a request is honoured."""

    accepted = 0

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: Optional[asyncio.Transport] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        _CannedResponder.accepted += 1
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end].lower(), self.buffer[end + 4 :]
            self.transport.write(_canned_reply(head))
            if b"\r\nconnection: close" in head:
                self.transport.close()
                return


def _canned_reply(head: bytes) -> bytes:
    if not head.startswith(f"get {CONNECTIONS_PATH} ".encode()):
        return _CEILING_REPLY
    body = str(_CannedResponder.accepted).encode()
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def _canned_main(config: dict[str, Any]) -> int:
    asyncio.run(_canned_serve())
    return 0


async def _canned_serve() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    _watch_stdin(loop, stop.set)
    server = await loop.create_server(_CannedResponder, HOST, 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print("READY " + json.dumps({"port": port, "pid": os.getpid()}), flush=True)
    await stop.wait()
    server.close()


def _keepalive_client_main(config: dict[str, Any]) -> int:
    print(json.dumps(asyncio.run(_keepalive_client_run(config))), flush=True)
    return 0


def _bench_client(keepalive: bool) -> Any:
    """Upstream's SimpleAsyncHTTPClient (with Tornado's own HTTP/1 layer:
    nothing is installed) or KeepAliveAsyncHTTPClient, resolving nothing."""
    from tornado import simple_httpclient
    from tornado.netutil import Resolver

    class LiteralResolver(Resolver):
        async def resolve(
            self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
        ) -> list[tuple[int, Any]]:
            return [(socket.AF_INET, (host, port))]

    cls: type[simple_httpclient.SimpleAsyncHTTPClient]
    cls = simple_httpclient.SimpleAsyncHTTPClient
    if keepalive:
        import tornado_h1

        cls = tornado_h1.KeepAliveAsyncHTTPClient
    return cls(force_instance=True, resolver=LiteralResolver())


async def _keepalive_client_run(config: dict[str, Any]) -> dict[str, Any]:
    client = _bench_client(config["client"] == "keepalive")
    result = await _timed_fetches(client, config)
    result["client_class"] = type(client).__name__
    return result


# -- idle connections


def _idle_main(config: dict[str, Any]) -> int:
    _raise_nofile(int(config["count"]) + 256)
    asyncio.run(_idle_run(config))
    return 0


async def _read_response_async(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status, length = _parse_head(head[:-4])
    if length:
        await reader.readexactly(length)
    return status


async def _idle_run(config: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    port = int(config["port"])
    request = Workload().request_bytes()
    commands: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        try:
            data = os.read(0, 4096)
        except OSError:
            data = b""
        commands.put_nowait(data)
        if not data:
            loop.remove_reader(0)

    loop.add_reader(0, readable)

    # Warm the server's code paths before its RSS is read.
    reader, writer = await asyncio.open_connection(HOST, port)
    for _ in range(200):
        writer.write(request)
        await _read_response_async(reader)
    writer.close()
    print("WARM", flush=True)
    if not await commands.get():
        os._exit(0)

    kept: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    gate = asyncio.Semaphore(int(config["concurrency"]))

    async def open_one() -> None:
        async with gate:
            try:
                pair = await asyncio.open_connection(HOST, port)
                pair[1].write(request)
                if await _read_response_async(pair[0]) == 200:
                    kept.append(pair)
                else:
                    pair[1].close()
            except (OSError, asyncio.IncompleteReadError):
                pass

    await asyncio.gather(*(open_one() for _ in range(int(config["count"]))))
    print("READY " + json.dumps({"opened": len(kept)}), flush=True)
    while await commands.get():
        pass
    os._exit(0)


_ROLES: dict[str, Callable[[dict[str, Any]], int]] = {
    "_server": _server_main,
    "_load": _load_main,
    "_upload": _upload_main,
    "_client": _client_main,
    "_canned": _canned_main,
    "_keepalive_client": _keepalive_client_main,
    "_idle": _idle_main,
}
