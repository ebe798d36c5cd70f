"""Child processes of ``tornado-h1 bench`` (started in sessions of their
own, stopped with their process groups), what they cost, and plain HTTP
over a socket for checking a server."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Optional

from tornado_h1._tools.bench.scenarios import (
    _BODY,
    HOST,
    BenchError,
    Scenario,
    Workload,
)

# ------------------------------------------------------- child processes


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Run from a checkout too: the children import tornado_h1 from here.
    root = str(Path(__file__).resolve().parents[3])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    # Measured processes run at full speed, never under coverage's tracer.
    for name in ("COVERAGE_PROCESS_START", "COVERAGE_PROCESS_CONFIG"):
        env.pop(name, None)
    return env


class Children:
    """Every process the benchmark starts, each in a session (and process
    group) of its own, so that stopping one stops whatever it started."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.pids: list[int] = []
        self._env = _child_env()

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()

    def spawn(
        self,
        cmd: Sequence[str],
        *,
        stdout: Any = subprocess.PIPE,
        stderr: Any = subprocess.PIPE,
    ) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.PIPE,
            stdout=stdout,
            stderr=stderr,
            env=self._env,
            start_new_session=True,
            close_fds=True,
        )
        self.procs.append(proc)
        self.pids.append(proc.pid)
        return proc

    def run(self, cmd: Sequence[str], timeout: float, what: str) -> tuple[str, str]:
        """Run ``cmd`` to completion; return its stdout and stderr."""
        proc = self.spawn(cmd)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(proc)
            raise BenchError(f"{what} did not finish within {timeout:.0f} s") from None
        finally:
            self.stop(proc)
        text_out = out.decode("utf-8", "replace")
        text_err = err.decode("utf-8", "replace")
        if proc.returncode != 0:
            detail = (text_err or text_out).strip().splitlines()[-5:]
            raise BenchError(
                f"{what} failed (exit code {proc.returncode}): " + " | ".join(detail)
            )
        return text_out, text_err

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        """SIGTERM to the child's group, SIGKILL after ``grace`` seconds."""
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if proc.returncode is None:
            # Not reaped yet, so the group id is still the child's own.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        # A second Ctrl-C must not interrupt the clean-up.
        with _ignoring_signals():
            for proc in reversed(list(self.procs)):
                self.stop(proc, grace=3.0)


@contextlib.contextmanager
def _ignoring_signals() -> Iterator[None]:
    """Hold off Ctrl-C and SIGTERM (in the main thread) during clean-up."""
    saved: list[tuple[int, Any]] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            saved.append((signum, signal.signal(signum, signal.SIG_IGN)))
        except ValueError:  # not the main thread
            break
    try:
        yield
    finally:
        for number, handler in saved:
            signal.signal(number, handler)


class LineReader:
    """Lines from a child's stdout pipe, with a timeout."""

    def __init__(self, proc: subprocess.Popen[bytes], what: str) -> None:
        assert proc.stdout is not None
        self._fd = proc.stdout.fileno()
        self._buffer = b""
        self._what = what

    def line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError(f"{self._what}: no answer within {timeout:.0f} s")
            ready, _, _ = select.select([self._fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._fd, 65536)
            if not chunk:
                raise BenchError(f"{self._what} exited unexpectedly")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode("utf-8", "replace").strip()


def _child_cmd(role: str, config: dict[str, Any]) -> list[str]:
    return [sys.executable, "-m", "tornado_h1._tools.bench", role, json.dumps(config)]


def _proc_cpu_seconds(pid: int) -> Optional[float]:
    """User + system CPU time of a process, from /proc (Linux)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> Optional[float]:
    """CPU time spent by the whole machine, all CPUs, from /proc/stat."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _reaped_children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _proc_rss_kib(pid: int) -> Optional[int]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def _raise_nofile(wanted: int) -> int:
    """Raise the soft limit on open files towards ``wanted`` (up to the hard
    limit); return the soft limit now in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return sys.maxsize if soft == resource.RLIM_INFINITY else soft


# ------------------------------------------------------ HTTP on a socket


def _parse_head(head: bytes) -> tuple[int, int]:
    """Status code and Content-Length of a response head (without the
    blank line). Raises ValueError for anything the loaders cannot frame."""
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:
        if b"\r\ntransfer-encoding:" in lower:
            raise ValueError("chunked responses are not supported by the loader")
        return status, 0
    end = lower.find(b"\r\n", at + 2)
    return status, int(lower[at + 17 : end if end >= 0 else None])


def _recv_response(sock: socket.socket, buffer: bytearray) -> tuple[int, bytes]:
    """Read one response from a blocking socket; leftovers stay in ``buffer``."""
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            break
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed before a response")
        buffer += data
    status, length = _parse_head(bytes(buffer[:end]))
    total = end + 4 + length
    while len(buffer) < total:
        data = sock.recv(max(65536, total - len(buffer)))
        if not data:
            raise ConnectionError("connection closed inside a response")
        buffer += data
    body = bytes(buffer[end + 4 : total])
    del buffer[:total]
    return status, body


def _chunked_upload(
    sock: socket.socket, path: str, size: int, chunk: int, buffer: bytearray
) -> tuple[int, bytes]:
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode("latin-1")
    )
    framed = b"%x\r\n" % chunk + b"x" * chunk + b"\r\n"
    full, rest = divmod(size, chunk)
    for _ in range(full):
        sock.sendall(framed)
    if rest:
        sock.sendall(b"%x\r\n" % rest + b"x" * rest + b"\r\n")
    sock.sendall(b"0\r\n\r\n")
    return _recv_response(sock, buffer)


def check_server(port: int, scenario: Scenario, workload: Workload) -> None:
    """One request, to make sure the server answers as the loaders expect."""
    with socket.create_connection((HOST, port), timeout=30) as sock:
        buffer = bytearray()
        if scenario.kind == "chunked":
            status, body = _chunked_upload(sock, workload.path, 100_000, 30_000, buffer)
            expected = b"100000"
        else:
            sock.sendall(workload.request_bytes(depth=1))
            status, body = _recv_response(sock, buffer)
            expected = _BODY
    if status != 200 or body != expected:
        raise BenchError(
            f"{scenario.id}: the server answered {status} {body[:60]!r}, "
            f"expected 200 {expected!r}"
        )


def server_connections(port: int) -> int:
    """How many connections the canned responder of client-keepalive has
    accepted (this question's included)."""
    with socket.create_connection((HOST, port), timeout=30) as sock:
        sock.sendall(
            f"GET /connections HTTP/1.1\r\nHost: {HOST}\r\n"
            "Connection: close\r\n\r\n".encode("latin-1")
        )
        status, body = _recv_response(sock, bytearray())
    if status != 200 or not body.isdigit():
        raise BenchError(f"the canned responder answered {status} {body[:60]!r}")
    return int(body)
