"""Resource bounds, measured in bytes and counts, never in speed.

* slowloris: 200 connections trickling a head never stop a normal client
  from being served, and are all closed once ``header_timeout`` passes;
* 10,000 idle keep-alive connections are held, and closed cleanly; the
  server's memory growth per connection is reported (server in a
  subprocess, its RSS read from ``/proc/<pid>/status``);
* a 1 GiB upload through ``stream_request_body`` grows the server's peak
  RSS (VmHWM) by at most 64 MiB;
* 10,000 pipelined requests, sent in one burst, are all answered, in order;
* a gzip bomb is refused at ``max_body_size`` measured after decompression,
  on the server and on the client, with bounded memory (``tracemalloc``).

Nothing here asserts how long anything takes; the waits are bounded only so
that a hang fails instead of blocking CI.
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import tracemalloc
import zlib
from collections.abc import Iterator
from typing import Any, Optional

import pytest

from tornado_h1.testing.targets import (
    PATIENCE,
    ClientTarget,
    ResponseServer,
    ServerTarget,
    statuses,
    until,
)

pytestmark = pytest.mark.usefixtures("logs")

MiB = 1024 * 1024
GiB = 1024 * MiB


# ------------------------------------------------------ server processes

SERVER_SCRIPT = os.path.join(os.path.dirname(__file__), "resource_server.py")


class ServerProcess:
    """A running ``resource_server.py``."""

    def __init__(self, impl: str, *args: str) -> None:
        self.impl = impl
        # A file, not a pipe: a server blocked on a full stderr pipe would
        # look like a server that stopped answering.
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, SERVER_SCRIPT, impl, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(10)
            raise RuntimeError("server did not start: %r" % self.read_log())
        self.port = int(line)
        self.stderr = b""

    def read_log(self) -> bytes:
        self.log.seek(0)
        return self.log.read()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def get(self, path: str, timeout: float = 30.0) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        assert response.status == 200, (response.status, body)
        return json.loads(body) if path == "/stats" else body

    def stats(self) -> dict[str, int]:
        stats: dict[str, int] = self.get("/stats")
        return stats

    def status(self) -> dict[str, int]:
        """VmRSS and VmHWM from /proc/<pid>/status, in bytes."""
        out = {}
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                name, _, value = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    out[name] = int(value.split()[0]) * 1024
        return out

    def stop(self) -> bytes:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover
                self.proc.kill()
                self.proc.wait()
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        self.stderr = self.read_log()
        self.log.close()
        return self.stderr


@pytest.fixture
def server_process() -> Iterator[Any]:
    started: list[ServerProcess] = []

    def start(impl: str, *args: str) -> ServerProcess:
        server = ServerProcess(impl, *args)
        started.append(server)
        return server

    yield start
    failures: Optional[str] = None
    for server in started:
        stderr = server.stop()
        if b"ERROR" in stderr or b"Traceback" in stderr:
            failures = "%s server logged:\n%s" % (server.impl, stderr.decode())
    if failures:
        pytest.fail(failures, pytrace=False)


async def connect(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(
            asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)),
            PATIENCE,
        )
    except BaseException:
        sock.close()
        raise
    return sock


def peer_closed(sock: socket.socket, received: bytearray) -> bool:
    """Read what is there without waiting; True once the peer has closed."""
    while True:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return False
        except OSError:
            return True
        if not data:
            return True
        received += data


# ------------------------------------------------------------------ slowloris


@pytest.mark.parametrize("impl", ["tornado_h1", "upstream"])
async def test_slowloris(impl: str) -> None:
    target = ServerTarget(impl, idle_connection_timeout=1).start()
    loris: list[socket.socket] = []
    try:
        for _ in range(200):
            sock = await connect(target.port)
            sock.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            loris.append(sock)
        assert await until(lambda: len(target.accepted) == 200)
        received = [bytearray() for _ in loris]
        closed = [False] * len(loris)

        async def trickle() -> None:
            # One more byte of the head, now and then, from each of them.
            while not all(closed):
                for i, sock in enumerate(loris):
                    if closed[i] or peer_closed(sock, received[i]):
                        closed[i] = True
                        continue
                    try:
                        sock.send(b"a")
                    except OSError:
                        closed[i] = True
                await asyncio.sleep(0.05)

        trickling = asyncio.ensure_future(trickle())
        try:
            # A normal client is served while all 200 are connected.
            normal = await target.exchange(b"GET /normal HTTP/1.1\r\nHost: x\r\n\r\n")
            assert not any(closed), "closed before the normal request was served"
            assert normal.statuses == [200]
            assert normal.served == [("GET", "/normal", b"")]
            # Then the header timeout closes every one of them, unanswered.
            await asyncio.wait_for(trickling, 10 * PATIENCE)
        finally:
            trickling.cancel()
        assert all(closed)
        assert [bytes(r) for r in received] == [b""] * len(loris)
        assert await until(lambda: len(target.server._connections) == 0)
        assert target.served == [("GET", "/normal", b"")]
    finally:
        for sock in loris:
            sock.close()
        await target.stop()


# --------------------------------------------------- 10,000 idle connections

IDLE_CONNECTIONS = 10_000


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(
            "needs %d file descriptors, the hard limit (ulimit -Hn) is %d"
            % (needed, hard)
        )
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    except (ValueError, OSError) as exc:  # pragma: no cover
        pytest.skip("cannot raise the file descriptor limit: %s" % exc)


async def hold_idle_connections(port: int, count: int) -> list[socket.socket]:
    """``count`` connections, each having had one keep-alive request
    answered, then left idle."""
    loop = asyncio.get_running_loop()
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    gate = asyncio.Semaphore(100)  # within the listen backlog

    async def one() -> socket.socket:
        async with gate:
            sock = await connect(port)
            await loop.sock_sendall(sock, request)
            response = b""
            while not response.endswith(b"\r\n\r\nok"):
                data = await asyncio.wait_for(loop.sock_recv(sock, 4096), PATIENCE)
                assert data, "closed: %r" % response
                response += data
            assert response.startswith(b"HTTP/1.1 200 ")
            return sock

    tasks = [asyncio.ensure_future(one()) for _ in range(count)]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is None:
                task.result().close()
            else:
                task.cancel()
        raise


def idle_connections(server_process: Any, impl: str) -> dict[str, float]:
    raise_fd_limit(IDLE_CONNECTIONS + 1000)
    server = server_process(impl)
    server.get("/")
    before = server.stats()

    async def run() -> tuple[dict[str, int], dict[str, int]]:
        socks = await hold_idle_connections(server.port, IDLE_CONNECTIONS)
        try:
            held = await asyncio.get_running_loop().run_in_executor(None, server.stats)
        finally:
            for sock in socks:
                sock.close()
        loop = asyncio.get_running_loop()
        stats: dict[str, int] = {}

        def all_closed() -> bool:
            stats.update(server.stats())
            return stats["connections"] == 1  # the /stats request itself

        deadline = loop.time() + 10 * PATIENCE
        while not await loop.run_in_executor(None, all_closed):
            assert loop.time() < deadline, "connections left open: %r" % stats
            await asyncio.sleep(0.05)
        return held, stats

    held, after = asyncio.run(run())
    assert held["connections"] == IDLE_CONNECTIONS + 1
    assert after["errors"] == 0
    return {
        "per_connection": (held["VmRSS"] - before["VmRSS"]) / IDLE_CONNECTIONS,
        "before": before["VmRSS"],
        "held": held["VmRSS"],
    }


def report(capsys: Any, text: str) -> None:
    """Print a measurement into the test output, even when captured."""
    with capsys.disabled():
        print("\n[resources] " + text)


def test_idle_keep_alive_connections(server_process: Any, capsys: Any) -> None:
    ours = idle_connections(server_process, "tornado_h1")
    theirs = idle_connections(server_process, "upstream")
    text = (
        "server RSS growth per idle keep-alive connection: tornado_h1 %.0f bytes "
        "(%.1f -> %.1f MiB for %d), upstream %.0f bytes"
        % (
            ours["per_connection"],
            ours["before"] / MiB,
            ours["held"] / MiB,
            IDLE_CONNECTIONS,
            theirs["per_connection"],
        )
    )
    report(capsys, text)
    assert ours["per_connection"] < 32 * 1024, text
    assert ours["per_connection"] < 1.5 * theirs["per_connection"] + 2048, text


# ------------------------------------------------------------ 1 GiB upload


def upload(port: int, size: int, *, chunked: bool) -> bytes:
    """Stream ``size`` bytes of body to ``/upload``; the response body."""
    block = b"u" * MiB
    head = b"POST /upload HTTP/1.1\r\nHost: x\r\n"
    head += (
        b"Transfer-Encoding: chunked\r\n\r\n"
        if chunked
        else (b"Content-Length: %d\r\n\r\n" % size)
    )
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)
        left = size
        while left:
            piece = block[: min(left, len(block))]
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            left -= len(piece)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
        response = b""
        while b"\r\n\r\n" not in response or not response.endswith(b"}"):
            data = sock.recv(65536)
            assert data, response
            response += data
    assert response.startswith(b"HTTP/1.1 200 "), response
    return response.split(b"\r\n\r\n", 1)[1]


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_1gib_upload_memory(server_process: Any, capsys: Any, chunked: bool) -> None:

    server = server_process("tornado_h1")
    upload(server.port, MiB, chunked=chunked)  # warm up
    before = server.status()
    result = json.loads(upload(server.port, GiB, chunked=chunked))
    after = server.status()
    assert result["received"] == GiB
    growth = after["VmHWM"] - before["VmHWM"]
    report(
        capsys,
        "1 GiB %s upload: server VmHWM grew by %.1f MiB (%.1f -> %.1f)"
        % (
            "chunked" if chunked else "Content-Length",
            growth / MiB,
            before["VmHWM"] / MiB,
            after["VmHWM"] / MiB,
        ),
    )
    assert growth <= 64 * MiB, "peak RSS grew by %.1f MiB" % (growth / MiB)
    assert server.stats()["errors"] == 0


# ------------------------------------------------------ pipelined burst

PIPELINED = 10_000


@pytest.mark.parametrize("impl", ["tornado_h1", "upstream"])
async def test_pipelined_burst(impl: str) -> None:
    target = ServerTarget(impl, echo=True).start()
    burst = b"".join(
        b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(PIPELINED)
    )
    try:
        outcome = await target.exchange(burst)
    finally:
        await target.stop()
    assert not outcome.stuck
    assert not outcome.closed
    assert outcome.served == [("GET", "/%d" % i, b"") for i in range(PIPELINED)]
    assert statuses(outcome.response) == [200] * PIPELINED
    answered = re.findall(rb"\r\n\r\nserved (/[0-9]+)\n", outcome.response)
    assert answered == [b"/%d" % i for i in range(PIPELINED)]


# ------------------------------------------------------------- gzip bombs


def gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes, gzip-compressed, without holding them."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * MiB
    out = [compressor.compress(zeros) for _ in range(size // MiB)]
    out.append(compressor.flush())
    return b"".join(out)


BOMB = gzip_bomb(256 * MiB)
LIMIT = MiB


def test_bomb_is_a_bomb() -> None:
    assert len(BOMB) < MiB
    assert len(gzip.decompress(BOMB)) == 256 * MiB


async def test_gzip_bomb_server_side(capsys: Any) -> None:
    target = ServerTarget(
        "tornado_h1", decompress_request=True, max_body_size=LIMIT
    ).start()
    request = (
        b"POST /stream HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: %d\r\n\r\n" % len(BOMB)
    ) + BOMB
    tracemalloc.start()
    try:
        outcome = await target.exchange(request)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        await target.stop()
    report(
        capsys,
        "gzip bomb (%d -> %d bytes), server side: refused, peak "
        "traced memory %.1f MiB" % (len(BOMB), 256 * MiB, peak / MiB),
    )
    assert outcome.statuses == [400]
    assert outcome.closed
    assert outcome.served == []
    assert "decompressed body too large" in outcome.reasons
    # The body is refused after about LIMIT bytes of output, whatever it
    # would inflate to: memory is bounded by the limit, not by the bomb.
    assert peak < 3 * len(BOMB) + 4 * LIMIT, "peak %d bytes" % peak


async def test_gzip_bomb_client_side(capsys: Any) -> None:
    server = ResponseServer()
    client = ClientTarget("tornado_h1", max_body_size=LIMIT)
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: %d\r\n\r\n" % len(BOMB)
    ) + BOMB
    tracemalloc.start()
    try:
        outcome = await client.fetch(server, response)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        client.close()
        server.close()
    report(
        capsys,
        "gzip bomb (%d -> %d bytes), client side: refused, peak "
        "traced memory %.1f MiB" % (len(BOMB), 256 * MiB, peak / MiB),
    )
    assert outcome.code == 599
    assert outcome.errors == []
    assert outcome.peer_closed
    assert "decompressed body too large" in outcome.reasons
    assert peak < 3 * len(BOMB) + 4 * LIMIT, "peak %d bytes" % peak
