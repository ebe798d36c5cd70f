"""Benchmarks: tornado_h1 against Tornado's own ``tornado.http1connection``.

``tornado-h1 bench`` (also ``python -m tornado_h1.bench``) starts, for each
scenario, one server process with Tornado's own HTTP/1 layer ("upstream") and
one with :func:`tornado_h1.install` in effect, each a single process with one
IOLoop on 127.0.0.1. It then loads them in turn, round after round (A B, B A,
A B, ...: the order flips every round so that a steady drift of the machine
weighs on both sides alike), after a warm-up of each. Every number reported
is a median over the rounds, and the ratio tornado_h1/upstream is taken per
round (the two measurements of a round are adjacent in time) so that its
spread, the min and max over the rounds, shows how much the machine's noise
moved it.

Load comes from ``wrk`` when it is installed (``apt-get install wrk``), or
else from a built-in generator: asyncio over raw sockets, keep-alive, in a
process of its own. Chunked uploads, the HTTP client and the idle
connections are always driven by code in this module.

Scenarios (``--scenarios raw,web,...``; ``--list`` describes them):

``raw``        HTTPServer with a bare HTTPMessageDelegate answering ``hello``
``web``        a ``tornado.web.Application`` hello handler
``pipelined``  16 GETs per write to the raw server
``upload``     POST with a 64 KiB body (req/s); a chunked upload streamed
               through a ``stream_request_body`` handler (MB/s)
``headers``    requests with 10, 100 and 1,000 header fields: per-field cost
``client``     ``SimpleAsyncHTTPClient`` fetches: client CPU per request
``idle``       10,000 idle keep-alive connections: server RSS per connection
``ceiling``    the raw workload against a bare IOStream loop
               (``read_until(b"\\r\\n\\r\\n")`` + a canned reply), as a reference

Output: a table on the terminal, a JSON file (``--json``), and optionally a
Markdown or reStructuredText table (``--markdown``, ``--rst``) and a PNG chart
of the ratios (``--plot``, needs matplotlib: ``pip install
'tornado-h1[plot]'``). ``--from-json`` renders those again from a saved JSON
file without measuring anything. ``--profile DIR`` runs the servers under
cProfile and summarizes where their time went (the numbers of such a run are
not comparable with others).

Speed is measured here, never asserted: ``--quick`` is a smoke test that keeps
the benchmark working, not a performance gate.

Every child process runs in a session of its own and is stopped, with its
whole process group, when the benchmark ends, fails or is interrupted
(Ctrl-C, SIGTERM); the Python children also exit by themselves when their
stdin, a pipe from this process, reaches end of file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import io
import json
import math
import os
import platform
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Optional, cast

PROG = "tornado-h1 bench"
HOST = "127.0.0.1"
SIDES = ("upstream", "tornado_h1")
CEILING = "ceiling"
SCHEMA = 1

#: Set in the environment of every child (and inherited by theirs), so that a
#: test can find any process of a run that survived it.
TAG_ENV = "TORNADO_H1_BENCH_TAG"

WRK_HINT = "install it with: apt-get install wrk (Debian/Ubuntu), brew install wrk"
PLOT_HINT = "--plot needs matplotlib: pip install 'tornado-h1[plot]'"

_BODY = b"hello"
_CEILING_REPLY = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n" + _BODY
)
#: Other load on the machine, in CPUs, above which a row gets a noise note.
#: (Some kernel work for loopback traffic is charged to no process: a quiet
#: machine shows up to about 0.25.)
_NOISY = 0.5
_MB = 1_000_000
_KIB = 1024
_MIB = 1024 * 1024


class BenchError(Exception):
    """A failure reported to the user without a traceback."""


# ------------------------------------------------------------- workloads


@dataclass(frozen=True)
class Workload:
    """What one load generator connection sends, over and over."""

    method: str = "GET"
    path: str = "/"
    body_size: int = 0
    #: Header fields in each request, ``Host`` included (a body adds
    #: ``Content-Length`` on top); the others are ``X-Bench-NNNN``.
    header_fields: int = 1
    #: Requests per write (HTTP pipelining).
    depth: int = 1

    def request_bytes(self, host: str = HOST, depth: Optional[int] = None) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}"]
        lines += [
            f"X-Bench-{i:04d}: value-{i:04d}" for i in range(1, self.header_fields)
        ]
        if self.body_size:
            lines.append(f"Content-Length: {self.body_size}")
        one = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        one += b"x" * self.body_size
        return one * (self.depth if depth is None else depth)


@dataclass(frozen=True)
class Variant:
    """One row of results: a workload run against every side."""

    id: str
    workload: Workload = Workload()


@dataclass(frozen=True)
class Scenario:
    """What runs against which servers, and what is measured."""

    group: str  # the name --scenarios selects it by
    id: str
    kind: str  # "http", "chunked", "client" or "idle"
    server: str  # "raw" or "web"
    title: str
    variants: tuple[Variant, ...]
    sides: tuple[str, ...] = SIDES

    @property
    def metric(self) -> str:
        return _METRICS[self.kind][0]

    @property
    def higher_is_better(self) -> bool:
        return _METRICS[self.kind][1]


_METRICS = {
    "http": ("req/s", True),
    "chunked": ("MB/s", True),
    "client": ("client CPU us/req", False),
    "idle": ("RSS KiB/conn", False),
}

_HEADER_COUNTS = (10, 100, 1000)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "raw",
        "raw",
        "http",
        "raw",
        "HTTPServer + bare HTTPMessageDelegate, small GET, keep-alive",
        (Variant("raw"),),
    ),
    Scenario(
        "web",
        "web",
        "http",
        "web",
        "web.Application hello handler, small GET, keep-alive",
        (Variant("web"),),
    ),
    Scenario(
        "pipelined",
        "pipelined",
        "http",
        "raw",
        "raw server, 16 pipelined GETs per write",
        (Variant("pipelined", Workload(depth=16)),),
    ),
    Scenario(
        "upload",
        "upload-64k",
        "http",
        "raw",
        "raw server, POST with a 64 KiB body",
        (Variant("upload-64k", Workload("POST", body_size=64 * _KIB)),),
    ),
    Scenario(
        "upload",
        "upload-chunked",
        "chunked",
        "web",
        "chunked upload through a stream_request_body handler",
        (Variant("upload-chunked", Workload("POST", "/stream")),),
    ),
    Scenario(
        "headers",
        "headers",
        "http",
        "raw",
        "raw server, GET with 10, 100 and 1,000 header fields",
        tuple(
            Variant(f"headers-{n}", Workload(header_fields=n)) for n in _HEADER_COUNTS
        ),
    ),
    Scenario(
        "client",
        "client",
        "client",
        "raw",
        "SimpleAsyncHTTPClient sequential fetches (tornado_h1 in the client)",
        (Variant("client"),),
    ),
    Scenario(
        "idle",
        "idle",
        "idle",
        "raw",
        "idle keep-alive connections: server RSS growth per connection",
        (Variant("idle"),),
    ),
    Scenario(
        "ceiling",
        "ceiling",
        "http",
        "raw",
        "raw workload; reference: IOStream read_until + canned reply",
        (Variant("ceiling"),),
        sides=(*SIDES, CEILING),
    ),
)

GROUPS: tuple[str, ...] = tuple(dict.fromkeys(s.group for s in SCENARIOS))


# -------------------------------------------------------------- settings


@dataclass
class Settings:
    quick: bool = False
    rounds: int = 3
    duration: float = 5.0
    warmup: float = 2.0
    connections: int = 50
    loader: str = "builtin"  # "wrk" or "builtin"
    wrk: Optional[str] = None
    idle_connections: int = 10_000
    upload_size: int = 100 * _MIB
    upload_chunk: int = 64 * _KIB
    profile_dir: Optional[Path] = None
    profile_clock: str = "wall"
    notes: list[str] = field(default_factory=list)

    @property
    def client_warmup(self) -> float:
        # Each client round is a fresh process: warm it up inside.
        return 0.1 if self.quick else max(0.3, min(1.0, self.warmup))

    @property
    def settle(self) -> float:
        return 0.2 if self.quick else 0.5


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _size(text: str) -> int:
    units = {"K": _KIB, "M": _MIB, "G": 1024 * _MIB}
    cleaned = text.strip().upper().removesuffix("B")
    factor = units.get(cleaned[-1:], 1)
    number = cleaned[:-1] if cleaned[-1:] in units else cleaned
    if not number.isdigit() or int(number) == 0:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    return int(number) * factor


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Compare tornado_h1 with Tornado's own HTTP/1 layer: each side "
            "serves from its own process and they are loaded in alternating "
            "rounds. Reports medians, latency percentiles and the "
            "tornado_h1/upstream ratio with its spread over the rounds."
        ),
        epilog=(
            "Uses wrk when it is installed (apt-get install wrk), else a "
            "built-in load generator. Numbers depend on the machine: compare "
            "ratios, and look at their spread before believing a difference."
        ),
    )
    parser.add_argument(
        "--scenarios",
        default="all",
        metavar="LIST",
        help=f"comma-separated, from: {','.join(GROUPS)} (default: all)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run of a few seconds per scenario (1 round, no warm-up)",
    )
    parser.add_argument("--rounds", type=_positive_int, help="default 3 (quick: 1)")
    parser.add_argument(
        "--duration",
        type=_positive_float,
        metavar="SECS",
        help="load per side per round; default 5 (quick: 1); wrk rounds up",
    )
    parser.add_argument(
        "--warmup",
        type=_non_negative_float,
        metavar="SECS",
        help="load per side before the rounds; default 2 (quick: 0)",
    )
    parser.add_argument(
        "--connections",
        type=_positive_int,
        metavar="N",
        help="concurrent connections of the load generator; default 50 (quick: 8)",
    )
    parser.add_argument(
        "--loader",
        choices=("auto", "wrk", "builtin"),
        default="auto",
        help="load generator: wrk if installed (auto, the default), or built-in",
    )
    parser.add_argument(
        "--idle-connections",
        type=_positive_int,
        metavar="N",
        help="for the idle scenario; default 10000 (quick: 200)",
    )
    parser.add_argument(
        "--upload-size",
        type=_size,
        metavar="SIZE",
        help="of the chunked upload; default 100M (quick: 8M)",
    )
    parser.add_argument(
        "--json",
        default="bench-results.json",
        metavar="PATH",
        help="write the results here (default: %(default)s); '-' for none",
    )
    parser.add_argument("--markdown", metavar="PATH", help="write a Markdown table")
    parser.add_argument(
        "--rst", metavar="PATH", help="write a reStructuredText table (for the docs)"
    )
    parser.add_argument(
        "--plot", metavar="PATH", help="write a PNG bar chart of the ratios"
    )
    parser.add_argument(
        "--from-json",
        metavar="PATH",
        help="measure nothing: render the table (and --markdown/--rst/--plot) "
        "from a results file",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="run the servers under cProfile; write DIR/<scenario>-<side>.prof "
        "and a summary of the top functions",
    )
    parser.add_argument(
        "--profile-clock",
        choices=("wall", "cpu"),
        default="wall",
        help="what --profile measures: wall-clock time (the default; little "
        "overhead) or CPU time (ignores preemption by other processes, but "
        "its overhead inflates small functions)",
    )
    parser.add_argument(
        "--list", action="store_true", help="describe the scenarios and exit"
    )
    return parser


def _select(text: str) -> list[Scenario]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names or names == ["all"]:
        return list(SCENARIOS)
    unknown = [name for name in names if name not in GROUPS]
    if unknown:
        raise BenchError(
            f"unknown scenario {', '.join(unknown)}; choose from {', '.join(GROUPS)}"
        )
    return [s for s in SCENARIOS if s.group in names]


def resolve_settings(args: argparse.Namespace) -> Settings:
    quick = bool(args.quick)

    def pick(value: Any, full: Any, small: Any) -> Any:
        return value if value is not None else (small if quick else full)

    settings = Settings(
        quick=quick,
        rounds=pick(args.rounds, 3, 1),
        duration=pick(args.duration, 5.0, 1.0),
        warmup=pick(args.warmup, 2.0, 0.0),
        connections=pick(args.connections, 50, 8),
        idle_connections=pick(args.idle_connections, 10_000, 200),
        upload_size=pick(args.upload_size, 100 * _MIB, 8 * _MIB),
    )
    wrk = shutil.which("wrk")
    if args.loader == "wrk" and wrk is None:
        raise BenchError(f"--loader wrk: wrk is not installed; {WRK_HINT}")
    if args.loader == "builtin" or wrk is None:
        settings.loader = "builtin"
        if args.loader == "auto":
            settings.notes.append(
                "wrk not found: used the built-in load generator (Python, "
                f"slower, shares the CPU with the servers); {WRK_HINT}"
            )
    else:
        settings.loader = "wrk"
        settings.wrk = wrk
    if args.profile:
        settings.profile_dir = Path(args.profile)
        settings.profile_clock = args.profile_clock
    return settings


# ------------------------------------------------------- child processes


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Run from a checkout too: the children import tornado_h1 from here.
    root = str(Path(__file__).resolve().parent.parent)
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
    return [sys.executable, "-m", "tornado_h1.bench", role, json.dumps(config)]


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


# ------------------------------------------------------------- statistics


def percentile(ordered: Sequence[float], q: float) -> Optional[float]:
    """Nearest-rank percentile of already sorted values."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _median(values: Sequence[Optional[float]]) -> Optional[float]:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio_summary(
    numerators: Sequence[float], denominators: Sequence[float]
) -> Optional[dict[str, Any]]:
    """Per-round ratios and their median, min and max; ``None`` unless every
    round has two positive values."""
    if not numerators or len(numerators) != len(denominators):
        return None
    if any(not (n > 0 and d > 0) for n, d in zip(numerators, denominators)):
        return None
    rounds = [n / d for n, d in zip(numerators, denominators)]
    return {
        "value": statistics.median(rounds),
        "min": min(rounds),
        "max": max(rounds),
        "rounds": rounds,
    }


def side_summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "value": statistics.median(s["value"] for s in samples),
        "rounds": [s["value"] for s in samples],
        "p50_ms": _median([s.get("p50_ms") for s in samples]),
        "p99_ms": _median([s.get("p99_ms") for s in samples]),
        "server_cpu_us_per_req": _median(
            [s.get("server_cpu_us_per_req") for s in samples]
        ),
        "server_cpu_pct": _median([s.get("server_cpu_pct") for s in samples]),
        "other_load_cpus": _median([s.get("other_load_cpus") for s in samples]),
        "errors": sum(int(s.get("errors", 0)) for s in samples),
        "samples": samples,
    }


def make_row(
    scenario: Scenario,
    variant: Variant,
    samples: dict[str, list[dict[str, Any]]],
    loader: str,
) -> dict[str, Any]:
    sides = {side: side_summary(samples[side]) for side in scenario.sides}
    row: dict[str, Any] = {
        "id": variant.id,
        "scenario": scenario.group,
        "title": scenario.title,
        "metric": scenario.metric,
        "higher_is_better": scenario.higher_is_better,
        "loader": loader,
        "derived": False,
        "sides": sides,
        "ratio": ratio_summary(
            sides["tornado_h1"]["rounds"], sides["upstream"]["rounds"]
        ),
        # Server CPU per request: hardly moved by other load on the machine.
        # (Not for the client scenario, whose server is the same for both.)
        "cpu_ratio": None
        if scenario.kind == "client"
        else ratio_summary(
            [s.get("server_cpu_us_per_req") or 0.0 for s in samples["tornado_h1"]],
            [s.get("server_cpu_us_per_req") or 0.0 for s in samples["upstream"]],
        ),
        "notes": [],
    }
    if CEILING in sides:
        row["ratios_to_ceiling"] = {
            side: ratio_summary(sides[side]["rounds"], sides[CEILING]["rounds"])
            for side in SIDES
        }
    noise = [
        s["other_load_cpus"]
        for side in scenario.sides
        for s in samples[side]
        if s.get("other_load_cpus") is not None
    ]
    if noise and max(noise) > _NOISY:
        row["notes"].append(
            f"{variant.id}: other processes used up to {max(noise):.1f} CPUs "
            "during the measurements: expect noise (server CPU per request, "
            "and its ratio, are the steadier figures)"
        )
    for side in scenario.sides:
        if sides[side]["errors"]:
            row["notes"].append(
                f"{variant.id}: {sides[side]['errors']} errors with {side}"
            )
    return row


def per_field_row(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The cost of one more header field, from the headers-N rows: the
    difference in time per request (1/throughput, and server CPU) between
    the largest and the smallest request, divided by the difference in
    fields. The same slope over the lower and the upper half of the range
    shows that the cost is linear."""
    lo, mid, hi = _HEADER_COUNTS

    def slope(side: str, a: int, b: int, cpu: bool) -> list[Optional[float]]:
        left = rows[f"headers-{a}"]["sides"][side]["samples"]
        right = rows[f"headers-{b}"]["sides"][side]["samples"]
        out: list[Optional[float]] = []
        for x, y in zip(left, right):
            if cpu:
                cx, cy = x.get("server_cpu_us_per_req"), y.get("server_cpu_us_per_req")
                out.append(None if cx is None or cy is None else (cy - cx) / (b - a))
            elif x["value"] > 0 and y["value"] > 0:
                out.append((1 / y["value"] - 1 / x["value"]) * 1e6 / (b - a))
            else:
                out.append(None)
        return out

    def both(values: dict[str, list[Optional[float]]]) -> Optional[dict[str, Any]]:
        ours, theirs = values["tornado_h1"], values["upstream"]
        if None in ours or None in theirs:
            return None
        return ratio_summary(
            [v for v in ours if v is not None], [v for v in theirs if v is not None]
        )

    sides: dict[str, Any] = {}
    walls: dict[str, list[Optional[float]]] = {}
    cpus: dict[str, list[Optional[float]]] = {}
    for side in SIDES:
        wall = walls[side] = slope(side, lo, hi, cpu=False)
        cpu = cpus[side] = slope(side, lo, hi, cpu=True)
        sides[side] = {
            "value": _median(wall),
            "rounds": wall,
            "p50_ms": None,
            "p99_ms": None,
            "server_cpu_us_per_req": _median(cpu),
            "server_cpu_rounds": cpu,
            "server_cpu_pct": None,
            "errors": 0,
            "linearity": {
                f"{lo}-{mid}": _median(slope(side, lo, mid, cpu=False)),
                f"{mid}-{hi}": _median(slope(side, mid, hi, cpu=False)),
                f"cpu {lo}-{mid}": _median(slope(side, lo, mid, cpu=True)),
                f"cpu {mid}-{hi}": _median(slope(side, mid, hi, cpu=True)),
            },
        }
    return {
        "id": "headers-per-field",
        "scenario": "headers",
        "title": "cost of one more header field (derived from headers-N)",
        "metric": "us/field",
        "higher_is_better": False,
        "loader": rows[f"headers-{lo}"]["loader"],
        "derived": True,
        "sides": sides,
        "ratio": both(walls),
        "cpu_ratio": both(cpus),
        "notes": [],
    }


# ---------------------------------------------------------------- running


ProgressFn = Callable[[str], None]


@dataclass
class Server:
    label: str
    proc: subprocess.Popen[bytes]
    port: int
    pid: int
    log: Path
    profile: Optional[Path]


class Runner:
    """Runs scenarios; owns no process that :class:`Children` does not."""

    def __init__(
        self, settings: Settings, children: Children, tmp: Path, progress: ProgressFn
    ) -> None:
        self.settings = settings
        self.children = children
        self.tmp = tmp
        self.progress = progress
        self._scripts: dict[Workload, Path] = {}
        self.profiles: list[Path] = []
        self._logs = 0

    # -- servers -------------------------------------------------------------

    def _log_path(self, label: str) -> Path:
        self._logs += 1
        return self.tmp / f"{self._logs:03d}-{label.replace('/', '-')}.log"

    def start_server(
        self, kind: str, side: str, label: str, profile_it: bool = False
    ) -> Server:
        profile = None
        if profile_it and self.settings.profile_dir is not None:
            profile = self.settings.profile_dir / f"{label.replace('/', '-')}.prof"
        impl = "tornado_h1" if side == "tornado_h1" else "upstream"
        config = {
            "kind": CEILING if side == CEILING else kind,
            "impl": impl,
            "profile": str(profile) if profile else None,
            "clock": self.settings.profile_clock,
        }
        log = self._log_path(label)
        with open(log, "wb") as err:
            proc = self.children.spawn(_child_cmd("_server", config), stderr=err)
        if profile is not None:
            self.profiles.append(profile)
        try:
            line = LineReader(proc, f"{label} server").line(timeout=60)
        except BenchError as exc:
            raise BenchError(f"{exc}: {_tail(log)}") from None
        if not line.startswith("READY "):
            raise BenchError(f"{label} server: unexpected {line!r}: {_tail(log)}")
        info = json.loads(line[6:])
        if side != CEILING and info["tornado_h1_serving"] != (impl == "tornado_h1"):
            raise BenchError(
                f"{label} server: expected {impl}, but HTTPServer uses "
                f"{info['connection_class']}"
            )
        return Server(label, proc, int(info["port"]), proc.pid, log, profile)

    def stop_server(self, server: Server) -> None:
        # With --profile the server writes its profile on SIGTERM first.
        self.children.stop(server.proc, grace=30.0)

    # -- one measurement ---------------------------------------------------

    def measure(
        self,
        scenario: Scenario,
        variant: Variant,
        server: Server,
        seconds: float,
        warmup: bool = False,
    ) -> dict[str, Any]:
        profiling = server.profile is not None and not warmup
        if profiling:
            os.kill(server.pid, signal.SIGUSR1)
        cpu_before = _proc_cpu_seconds(server.pid)
        busy_before = _machine_busy_seconds()
        loader_before = _reaped_children_cpu()
        began = time.perf_counter()
        try:
            if scenario.kind == "chunked":
                result = self._run_upload(server, seconds)
            elif self.settings.loader == "wrk":
                result = self._run_wrk(server, variant.workload, seconds)
            else:
                result = self._run_builtin(server, variant.workload, seconds)
        finally:
            if profiling:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(server.pid, signal.SIGUSR2)
        if server.proc.poll() is not None:
            raise BenchError(
                f"the {server.label} server exited (code {server.proc.returncode}): "
                + _tail(server.log)
            )
        cpu_after = _proc_cpu_seconds(server.pid)
        busy_after = _machine_busy_seconds()
        window = time.perf_counter() - began
        # The loader has been reaped by now: its CPU time is in RUSAGE_CHILDREN.
        loader_cpu = _reaped_children_cpu() - loader_before
        requests = int(result["requests"])
        elapsed = float(result["seconds"])
        if scenario.kind == "chunked":
            value = result["bytes"] / elapsed / _MB if elapsed > 0 else 0.0
        else:
            value = requests / elapsed if elapsed > 0 else 0.0
        sample: dict[str, Any] = {
            "value": value,
            "requests": requests,
            "seconds": elapsed,
            "p50_ms": result.get("p50_ms"),
            "p99_ms": result.get("p99_ms"),
            "errors": int(result.get("errors", 0)),
        }
        if cpu_before is not None and cpu_after is not None and requests:
            cpu = cpu_after - cpu_before
            sample["server_cpu_s"] = cpu
            # For uploads: per MB rather than per (100 MiB) request.
            units = result["bytes"] / _MB if scenario.kind == "chunked" else requests
            sample["server_cpu_us_per_req"] = cpu / units * 1e6
            sample["server_cpu_pct"] = 100.0 * cpu / elapsed if elapsed else None
            sample["loader_cpu_pct"] = 100.0 * loader_cpu / window
            if busy_before is not None and busy_after is not None:
                # What the rest of the machine used meanwhile, in CPUs: the
                # noise (plus kernel work that no process is charged for).
                other = busy_after - busy_before - cpu - loader_cpu
                sample["other_load_cpus"] = max(0.0, other) / window
        return sample

    def _run_builtin(
        self, server: Server, workload: Workload, seconds: float
    ) -> dict[str, Any]:
        config = {
            "port": server.port,
            "connections": self.settings.connections,
            "duration": seconds,
            "workload": asdict(workload),
        }
        out, _ = self.children.run(
            _child_cmd("_load", config), seconds + 60, "the built-in load generator"
        )
        return _last_json(out, "the built-in load generator")

    def _run_upload(self, server: Server, seconds: float) -> dict[str, Any]:
        config = {
            "port": server.port,
            "size": self.settings.upload_size,
            "chunk": self.settings.upload_chunk,
            "duration": seconds,
        }
        out, _ = self.children.run(
            _child_cmd("_upload", config), seconds + 600, "the chunked uploader"
        )
        return _last_json(out, "the chunked uploader")

    def _run_wrk(
        self, server: Server, workload: Workload, seconds: float
    ) -> dict[str, Any]:
        assert self.settings.wrk is not None
        script = self._scripts.get(workload)
        if script is None:
            script = self.tmp / f"wrk-{len(self._scripts)}.lua"
            script.write_text(wrk_script(workload))
            self._scripts[workload] = script
        whole = max(1, math.ceil(seconds))
        cmd = [
            self.settings.wrk,
            "-t1",
            f"-c{self.settings.connections}",
            f"-d{whole}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://{HOST}:{server.port}{workload.path}",
        ]
        out, _ = self.children.run(cmd, whole + 60, "wrk")
        result = parse_wrk_output(out)
        if workload.depth > 1:
            # wrk times a pipelined batch as one request, then "corrects" for
            # coordinated omission with the per-response rate: meaningless.
            result["p50_ms"] = result["p99_ms"] = None
        return result

    # -- scenarios -----------------------------------------------------------

    def run(self, scenario: Scenario) -> list[dict[str, Any]]:
        if scenario.kind in ("http", "chunked"):
            return self._run_load(scenario)
        if scenario.kind == "client":
            return self._run_client(scenario)
        return self._run_idle(scenario)

    def _order(self, sides: Sequence[str], round_no: int) -> list[str]:
        return list(sides) if round_no % 2 == 0 else list(reversed(sides))

    def _report(
        self,
        scenario: Scenario,
        variant: Variant,
        what: str,
        side: str,
        s: dict[str, Any],
    ) -> None:
        bits = [f"{variant.id}: {what} {side:<10} {_fmt(s['value'])} {scenario.metric}"]
        if s.get("p50_ms") is not None:
            bits.append(f"p50 {_fmt(s['p50_ms'])} ms p99 {_fmt(s.get('p99_ms'))} ms")
        if s.get("server_cpu_pct") is not None and scenario.kind != "client":
            bits.append(f"server CPU {s['server_cpu_pct']:.0f}%")
        if s.get("other_load_cpus") is not None:
            bits.append(f"other load {s['other_load_cpus']:.2f} CPUs")
        if s.get("errors"):
            bits.append(f"{s['errors']} errors")
        self.progress("  ".join(bits))

    def _run_load(self, scenario: Scenario) -> list[dict[str, Any]]:
        settings = self.settings
        loader = "chunked uploader" if scenario.kind == "chunked" else settings.loader
        servers: dict[str, Server] = {}
        samples: dict[str, dict[str, list[dict[str, Any]]]] = {
            v.id: {side: [] for side in scenario.sides} for v in scenario.variants
        }
        try:
            for side in scenario.sides:
                servers[side] = self.start_server(
                    scenario.server, side, f"{scenario.id}/{side}", profile_it=True
                )
                for variant in scenario.variants:
                    check_server(servers[side].port, scenario, variant.workload)
            if settings.warmup > 0:
                for variant in scenario.variants:
                    for side in scenario.sides:
                        s = self.measure(
                            scenario, variant, servers[side], settings.warmup, True
                        )
                        self._report(scenario, variant, "warm-up", side, s)
            for round_no in range(settings.rounds):
                what = f"round {round_no + 1}/{settings.rounds}"
                for variant in scenario.variants:
                    for side in self._order(scenario.sides, round_no):
                        s = self.measure(
                            scenario, variant, servers[side], settings.duration
                        )
                        samples[variant.id][side].append(s)
                        self._report(scenario, variant, what, side, s)
        finally:
            for server in servers.values():
                self.stop_server(server)
        rows = [make_row(scenario, v, samples[v.id], loader) for v in scenario.variants]
        for row in rows:
            if scenario.kind != "http":
                continue
            for side in scenario.sides:
                pct = row["sides"][side]["server_cpu_pct"]
                if pct is not None and pct < 80:
                    row["notes"].append(
                        f"{row['id']}: the {side} server used only {pct:.0f}% "
                        "of a CPU: the load generator (or other load on the "
                        "machine) limited the rate, which understates the "
                        "difference"
                    )
            if loader == "wrk" and scenario.variants[0].workload.depth > 1:
                row["notes"].append(
                    f"{row['id']}: no latency: wrk cannot time pipelined "
                    "requests (the built-in loader, --loader builtin, can)"
                )
        if scenario.id == "headers":
            rows.append(per_field_row({row["id"]: row for row in rows}))
        return rows

    def _run_client(self, scenario: Scenario) -> list[dict[str, Any]]:
        settings = self.settings
        variant = scenario.variants[0]
        samples: dict[str, list[dict[str, Any]]] = {side: [] for side in scenario.sides}
        # One fixed server (Tornado's own) for both clients.
        server = self.start_server(scenario.server, "upstream", "client/server")
        try:
            check_server(server.port, scenario, variant.workload)
            plan = [("warm-up", settings.warmup)] if settings.warmup > 0 else []
            plan += [
                (f"round {n + 1}/{settings.rounds}", settings.duration)
                for n in range(settings.rounds)
            ]
            for number, (what, seconds) in enumerate(plan):
                round_no = number - (1 if settings.warmup > 0 else 0)
                for side in self._order(scenario.sides, max(round_no, 0)):
                    config = {
                        "port": server.port,
                        "impl": side,
                        "duration": seconds,
                        "warmup": settings.client_warmup,
                    }
                    cpu_before = _proc_cpu_seconds(server.pid)
                    out, _ = self.children.run(
                        _child_cmd("_client", config), seconds + 120, "the client"
                    )
                    cpu_after = _proc_cpu_seconds(server.pid)
                    result = _last_json(out, "the client")
                    s = _client_sample(result, cpu_before, cpu_after)
                    self._report(scenario, variant, what, side, s)
                    if what != "warm-up":
                        samples[side].append(s)
        finally:
            self.stop_server(server)
        return [make_row(scenario, variant, samples, "SimpleAsyncHTTPClient")]

    def _run_idle(self, scenario: Scenario) -> list[dict[str, Any]]:
        settings = self.settings
        variant = scenario.variants[0]
        wanted = settings.idle_connections
        limit = _raise_nofile(wanted + 256)
        count = min(wanted, limit - 256)
        notes: list[str] = []
        if count < wanted:
            if count < 10:
                raise BenchError(
                    f"idle: the open files limit ({limit}) is too low; "
                    "raise it with ulimit -n"
                )
            notes.append(
                f"idle: scaled down from {wanted} to {count} connections: the "
                f"open files limit (RLIMIT_NOFILE) could only be raised to {limit}"
            )
            self.progress(notes[-1])
        samples: dict[str, list[dict[str, Any]]] = {side: [] for side in scenario.sides}
        for round_no in range(settings.rounds):
            what = f"round {round_no + 1}/{settings.rounds}"
            for side in self._order(scenario.sides, round_no):
                s = self._idle_once(scenario, side, count)
                samples[side].append(s)
                self._report(scenario, variant, what, side, s)
        row = make_row(scenario, variant, samples, "asyncio connections")
        row["connections"] = count
        row["notes"].extend(notes)
        return [row]

    def _idle_once(self, scenario: Scenario, side: str, count: int) -> dict[str, Any]:
        # A fresh server each time: memory freed by earlier connections would
        # otherwise be reused and hide the growth.
        server = self.start_server(scenario.server, side, f"idle/{side}")
        loader: Optional[subprocess.Popen[bytes]] = None
        try:
            config = {"port": server.port, "count": count, "concurrency": 100}
            log = self._log_path(f"idle-loader-{side}")
            with open(log, "wb") as err:
                loader = self.children.spawn(_child_cmd("_idle", config), stderr=err)
            lines = LineReader(loader, "the idle-connection loader")
            try:
                if lines.line(timeout=120) != "WARM":
                    raise BenchError("the idle-connection loader did not warm up")
                before = _proc_rss_kib(server.pid)
                assert loader.stdin is not None
                loader.stdin.write(b"GO\n")
                loader.stdin.flush()
                ready = lines.line(timeout=600)
            except BenchError as exc:
                raise BenchError(f"{exc}: {_tail(log)}") from None
            if not ready.startswith("READY "):
                raise BenchError(f"idle loader: unexpected {ready!r}")
            opened = int(json.loads(ready[6:])["opened"])
            time.sleep(self.settings.settle)
            after = _proc_rss_kib(server.pid)
        finally:
            self.stop_server(server)
            if loader is not None:
                self.children.stop(loader)
        if before is None or after is None or not opened:
            raise BenchError("idle: cannot read the server's RSS from /proc")
        return {
            "value": (after - before) / opened,
            "connections": opened,
            "errors": count - opened,
            "rss_before_kib": before,
            "rss_after_kib": after,
            "p50_ms": None,
            "p99_ms": None,
        }


def _client_sample(
    result: dict[str, Any], cpu_before: Optional[float], cpu_after: Optional[float]
) -> dict[str, Any]:
    requests = int(result["requests"])
    if not result.get("expected_impl", False):
        raise BenchError("the client did not run the HTTP/1 layer it was asked for")
    sample = {
        "value": result["cpu_s"] / requests * 1e6 if requests else 0.0,
        "requests": requests,
        "seconds": result["seconds"],
        "req_per_s": requests / result["seconds"] if result["seconds"] else 0.0,
        "client_cpu_s": result["cpu_s"],
        "p50_ms": result.get("p50_ms"),
        "p99_ms": result.get("p99_ms"),
        "errors": int(result.get("errors", 0)),
    }
    if cpu_before is not None and cpu_after is not None and requests:
        sample["server_cpu_us_per_req"] = (cpu_after - cpu_before) / requests * 1e6
    return sample


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


def _last_json(out: str, what: str) -> dict[str, Any]:
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    raise BenchError(f"{what} printed no result: {out[-300:]!r}")


# ------------------------------------------------------------------- wrk


_WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {\"requests\": %d, \"duration_us\": %d, \"bytes\": %d, " ..
    "\"socket_errors\": %d, \"status_errors\": %d, " ..
    "\"p50_us\": %d, \"p99_us\": %d}\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50.0), latency:percentile(99.0)))
end
"""


def wrk_script(workload: Workload) -> str:
    """A wrk Lua script sending ``workload`` and printing a JSON summary."""
    lines = [
        "-- generated by tornado-h1 bench",
        f'wrk.method = "{workload.method}"',
        f'wrk.path = "{workload.path}"',
    ]
    if workload.body_size:
        lines.append(f'wrk.body = string.rep("x", {workload.body_size})')
    if workload.header_fields > 1:
        lines += [
            f"for i = 1, {workload.header_fields - 1} do",
            '  wrk.headers[string.format("X-Bench-%04d", i)] = '
            'string.format("value-%04d", i)',
            "end",
        ]
    if workload.depth > 1:
        # As wrk's own pipeline.lua: the same request, depth times per write.
        lines += [
            "local pipelined = nil",
            "init = function(args)",
            f"  pipelined = string.rep(wrk.format(), {workload.depth})",
            "end",
            "request = function()",
            "  return pipelined",
            "end",
        ]
    return "\n".join(lines) + "\n" + _WRK_DONE


def parse_wrk_output(out: str) -> dict[str, Any]:
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            raw = json.loads(line[len("BENCH_JSON ") :])
            return {
                "requests": raw["requests"],
                "seconds": raw["duration_us"] / 1e6,
                "bytes": raw["bytes"],
                "errors": raw["socket_errors"] + raw["status_errors"],
                "p50_ms": raw["p50_us"] / 1000.0,
                "p99_ms": raw["p99_us"] / 1000.0,
            }
    raise BenchError(f"wrk printed no summary: {out[-300:]!r}")


# ----------------------------------------------------------- the whole run


def _machine() -> dict[str, Any]:
    import tornado

    from tornado_h1 import __version__

    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "tornado": tornado.version,
        "tornado_h1": __version__,
        "git": _git_revision(),
    }
    with contextlib.suppress(OSError):
        info["loadavg_start"] = list(os.getloadavg())
    return info


def _git_revision() -> Optional[str]:
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev or None


def _wrk_version(path: str) -> str:
    try:
        proc = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    words = (proc.stdout or proc.stderr).split()
    return " ".join(words[:2]) if words else "unknown"


def new_document(settings: Settings, argv: Sequence[str]) -> dict[str, Any]:
    loader = settings.loader
    if settings.wrk is not None:
        loader = f"wrk ({_wrk_version(settings.wrk)}), -t1 -c{settings.connections}"
    else:
        loader = f"built-in (asyncio, -c{settings.connections})"
    return {
        "schema": SCHEMA,
        "tool": PROG,
        "command": " ".join([PROG, *map(shlex.quote, argv)]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "complete": False,
        "machine": _machine(),
        "settings": {
            "quick": settings.quick,
            "rounds": settings.rounds,
            "duration_s": settings.duration,
            "warmup_s": settings.warmup,
            "connections": settings.connections,
            "loader": settings.loader,
            "loader_detail": loader,
            "idle_connections": settings.idle_connections,
            "upload_size": settings.upload_size,
            "upload_chunk": settings.upload_chunk,
            "profiled": settings.profile_dir is not None,
            "profile_clock": settings.profile_clock if settings.profile_dir else None,
            "order": "alternating; the order of the sides flips every round",
        },
        "notes": list(settings.notes),
        "results": [],
        "errors": [],
        "children": [],
        "profiles": [],
    }


def run(
    settings: Settings,
    scenarios: Sequence[Scenario],
    doc: dict[str, Any],
    progress: ProgressFn,
) -> None:
    """Measure ``scenarios``, appending rows to ``doc["results"]`` as each
    scenario completes. Every child process has stopped when this returns
    or raises."""
    begun = time.monotonic()
    if settings.profile_dir is not None:
        settings.profile_dir.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="tornado-h1-bench-") as tmp,
        Children() as children,
    ):
        runner = Runner(settings, children, Path(tmp), progress)
        try:
            for scenario in scenarios:
                progress(f"{scenario.id}: {scenario.title}")
                try:
                    rows = runner.run(scenario)
                except BenchError as exc:
                    progress(f"{scenario.id}: FAILED: {exc}")
                    doc["errors"].append({"scenario": scenario.id, "error": str(exc)})
                    continue
                doc["results"].extend(rows)
                for row in rows:
                    doc["notes"].extend(row["notes"])
        finally:
            doc["children"] = list(children.pids)
            doc["profiles"] = [str(path) for path in runner.profiles]
            doc["elapsed_s"] = round(time.monotonic() - begun, 1)
            with contextlib.suppress(OSError):
                doc["machine"]["loadavg_end"] = list(os.getloadavg())
    doc["complete"] = True


# ------------------------------------------------------------ rendering


def _fmt(value: Optional[float]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _pair(row: dict[str, Any], key: str) -> str:
    a = row["sides"]["upstream"].get(key)
    b = row["sides"]["tornado_h1"].get(key)
    if a is None and b is None:
        return "-"
    return f"{_fmt(a)} / {_fmt(b)}"


TABLE_HEADER = (
    "scenario",
    "metric",
    "upstream",
    "tornado_h1",
    "ratio",
    "min-max",
    "server CPU us/req u / t",
    "CPU ratio",
    "p50 ms u / t",
    "p99 ms u / t",
)


def table_rows(doc: dict[str, Any]) -> tuple[list[tuple[str, ...]], list[str]]:
    """The cells of the results table, and the notes that go below it."""
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    for row in doc["results"]:
        ratio = row.get("ratio")
        cpu_ratio = row.get("cpu_ratio")
        metric = row["metric"] + ("" if row["higher_is_better"] else " (lower better)")
        rows.append(
            (
                row["id"],
                metric,
                _fmt(row["sides"]["upstream"]["value"]),
                _fmt(row["sides"]["tornado_h1"]["value"]),
                f"{ratio['value']:.2f}" if ratio else "-",
                f"{ratio['min']:.2f}-{ratio['max']:.2f}" if ratio else "-",
                _pair(row, "server_cpu_us_per_req"),
                f"{cpu_ratio['value']:.2f}" if cpu_ratio else "-",
                _pair(row, "p50_ms"),
                _pair(row, "p99_ms"),
            )
        )
        if "ratios_to_ceiling" in row:
            parts = []
            for side in SIDES:
                r = row["ratios_to_ceiling"].get(side)
                if r:
                    parts.append(
                        f"{side} {100 * r['value']:.0f}% "
                        f"({100 * r['min']:.0f}-{100 * r['max']:.0f}%)"
                    )
            ceiling = row["sides"][CEILING]
            notes.append(
                f"ceiling (IOStream read_until + canned reply): "
                f"{_fmt(ceiling['value'])} req/s, p50 {_fmt(ceiling['p50_ms'])} ms, "
                f"server CPU {_fmt(ceiling['server_cpu_us_per_req'])} us/req; "
                "reached: " + ", ".join(parts)
            )
        if row["id"] == "headers-per-field":
            for side in SIDES:
                lin = row["sides"][side]["linearity"]
                keys = list(lin)
                notes.append(
                    f"headers, {side}: us per field over {keys[0]} fields "
                    f"{_fmt(lin[keys[0]])}, over {keys[1]} {_fmt(lin[keys[1]])} "
                    f"(server CPU: {_fmt(lin[keys[2]])} and {_fmt(lin[keys[3]])}); "
                    "similar slopes mean linear cost"
                )
        if row["id"] == "upload-chunked":
            notes.append("upload-chunked: the server CPU column is us per MB")
        if row["id"] == "idle" and "connections" in row:
            notes.append(f"idle: {row['connections']} connections per server")
    notes.extend(doc.get("notes", []))
    for error in doc.get("errors", []):
        notes.append(f"FAILED {error['scenario']}: {error['error']}")
    return rows, list(dict.fromkeys(notes))


def _describe_run(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    s = doc["settings"]
    return (
        f"{doc['started']}: {m['cpus']} CPUs ({m['cpu_model']}), {m['system']}, "
        f"Python {m['python']}, Tornado {m['tornado']}, tornado_h1 "
        f"{m['tornado_h1']}" + (f" ({m['git']})" if m.get("git") else "") + "; "
        f"{s['rounds']} round(s) of {s['duration_s']:g} s per side after "
        f"{s['warmup_s']:g} s of warm-up; load: {s['loader_detail']}, on the "
        "same machine"
        + ("; quick (smoke) run" if s["quick"] else "")
        + ("; PROFILED: not comparable" if s.get("profiled") else "")
    )


def render_text(doc: dict[str, Any]) -> str:
    rows, notes = table_rows(doc)
    widths = [
        max(len(r[i]) for r in [TABLE_HEADER, *rows]) for i in range(len(TABLE_HEADER))
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(widths[i]) if i < 2 else c.rjust(widths[i])
            for i, c in enumerate(cells)
        ).rstrip()

    out = [_describe_run(doc), "ratio = tornado_h1 / upstream, median over rounds", ""]
    out.append(line(TABLE_HEADER))
    out.append(line(["-" * w for w in widths]))
    out += [line(r) for r in rows]
    if notes:
        out.append("")
        out += [f"* {note}" for note in notes]
    return "\n".join(out) + "\n"


def render_markdown(doc: dict[str, Any]) -> str:
    rows, notes = table_rows(doc)
    out = [
        f"Measured {_describe_run(doc)}.",
        "",
        "| " + " | ".join(TABLE_HEADER) + " |",
        "|"
        + "|".join("---" if i < 2 else "---:" for i in range(len(TABLE_HEADER)))
        + "|",
    ]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    if notes:
        out.append("")
        out += [f"- {note}" for note in notes]
    return "\n".join(out) + "\n"


def render_rst(doc: dict[str, Any]) -> str:
    """A ``list-table``, for ``.. include::`` from the documentation."""
    rows, notes = table_rows(doc)

    def cell(text: str) -> str:
        return text.replace("\\", "\\\\").replace("*", "\\*").replace("|", "\\|")

    out = [
        f"Measured {cell(_describe_run(doc))}, by ``{doc['command']}``.",
        "",
        ".. list-table:: tornado_h1 / upstream (ratio > 1: tornado_h1 higher)",
        "   :header-rows: 1",
        "",
    ]
    for cells in [TABLE_HEADER, *rows]:
        out.append(f"   * - {cell(cells[0])}")
        out += [f"     - {cell(c)}" for c in cells[1:]]
    if notes:
        out.append("")
        out += [f"* {cell(note)}" for note in notes]
    return "\n".join(out) + "\n"


def _load_pyplot() -> Any:
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        raise BenchError(PLOT_HINT) from None
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def render_plot(doc: dict[str, Any], path: Path) -> None:
    """Bars of tornado_h1's advantage per row (ratio, inverted where lower
    is better, so that > 1 always favours tornado_h1), min-max as error bars."""
    plt = _load_pyplot()
    labels: list[str] = []
    values: list[float] = []
    low: list[float] = []
    high: list[float] = []
    for row in doc["results"]:
        ratio = row.get("ratio")
        if not ratio:
            continue
        flip = not row["higher_is_better"]
        value = 1 / ratio["value"] if flip else ratio["value"]
        worst = 1 / ratio["max"] if flip else ratio["min"]
        best = 1 / ratio["min"] if flip else ratio["max"]
        labels.append(f"{row['id']}\n{row['metric']}")
        values.append(value)
        low.append(value - worst)
        high.append(best - value)
    if not values:
        raise BenchError("--plot: no ratios to plot")
    figure, axes = plt.subplots(figsize=(max(6.0, 1.1 * len(values)), 4.5))
    colours = ["tab:green" if v >= 1 else "tab:red" for v in values]
    axes.bar(range(len(values)), values, yerr=[low, high], color=colours, capsize=4)
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_xticks(range(len(values)))
    axes.set_xticklabels(labels, fontsize=8)
    axes.set_ylabel("tornado_h1 vs upstream (> 1: tornado_h1 better)")
    axes.set_title("tornado-h1 bench: median ratio, min-max over rounds", fontsize=10)
    figure.tight_layout()
    figure.savefig(str(path), dpi=120)
    plt.close(figure)


def summarize_profiles(paths: Sequence[Path], top: int = 10) -> str:
    """The top functions by own time of each profile; also written next to
    each profile as ``.txt``."""
    import pstats

    out: list[str] = []
    for prof in paths:
        if not prof.exists():
            out.append(f"== {prof.stem}: no profile written\n")
            continue
        buffer = io.StringIO()
        stats = pstats.Stats(str(prof), stream=buffer)
        stats.sort_stats("tottime").print_stats(top)
        text = buffer.getvalue()
        prof.with_suffix(".txt").write_text(text)
        body = text[text.find("ncalls") :] if "ncalls" in text else text
        total = getattr(stats, "total_tt", 0.0)
        out.append(f"== {prof.stem} (total {total:.2f} s)\n{body.rstrip()}\n")
    return "\n".join(out)


# ------------------------------------------------------------------ main


def _progress_printer(stream: IO[str]) -> ProgressFn:
    begun = time.monotonic()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - begun:6.1f}s] {message}", file=stream, flush=True)

    return progress


class _Interrupted(KeyboardInterrupt):
    pass


def _on_sigterm(signum: int, frame: Optional[types.FrameType]) -> None:
    raise _Interrupted


def _write_outputs(
    doc: dict[str, Any], args: argparse.Namespace, measured: bool
) -> None:
    if measured and args.json and args.json != "-":
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"results: {args.json}")
    if args.markdown:
        Path(args.markdown).write_text(render_markdown(doc))
        print(f"markdown table: {args.markdown}")
    if args.rst:
        Path(args.rst).write_text(render_rst(doc))
        print(f"reStructuredText table: {args.rst}")
    if args.plot:
        render_plot(doc, Path(args.plot))
        print(f"chart: {args.plot}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``tornado-h1 bench``; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in _ROLES:
        return _ROLES[args_list[0]](json.loads(args_list[1]))
    args = build_parser().parse_args(args_list)
    if args.list:
        for s in SCENARIOS:
            print(f"{s.group:<10} {s.id:<15} {s.metric:<20} {s.title}")
        return 0
    try:
        if sys.platform == "win32":
            raise BenchError("needs a POSIX system (process groups, /proc)")
        if args.plot:
            _load_pyplot()  # fail now, not after the whole run
        if args.from_json:
            doc = json.loads(Path(args.from_json).read_text())
            print(render_text(doc), end="")
            _write_outputs(doc, args, measured=False)
            return 0
        scenarios = _select(args.scenarios)
        settings = resolve_settings(args)
    except BenchError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2

    progress = _progress_printer(sys.stderr)
    for note in settings.notes:
        progress(note)
    doc = new_document(settings, args_list)
    try:
        old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        old_term = None
    try:
        run(settings, scenarios, doc, progress)
    except KeyboardInterrupt as exc:
        print(f"{PROG}: interrupted; all child processes stopped", file=sys.stderr)
        if doc["results"] and args.json and args.json != "-":
            Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
            print(f"{PROG}: partial results in {args.json}", file=sys.stderr)
        return 128 + (
            signal.SIGTERM if isinstance(exc, _Interrupted) else signal.SIGINT
        )
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)

    print()
    print(render_text(doc), end="")
    try:
        _write_outputs(doc, args, measured=True)
    except BenchError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    if doc["profiles"]:
        print()
        print(summarize_profiles([Path(p) for p in doc["profiles"]]), end="")
    return 1 if doc["errors"] else 0


# =================================================== child process roles
#
# Each is ``python -m tornado_h1.bench _role '<json config>'``; it prints its
# result (a JSON line) on stdout.


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
    url = f"http://{HOST}:{int(config['port'])}/"
    errors = 0
    warm_until = time.perf_counter() + float(config["warmup"])
    while time.perf_counter() < warm_until:
        await client.fetch(url, raise_error=False)
    latencies: list[float] = []
    cpu_begun = time.process_time()
    begun = time.perf_counter()
    deadline = begun + float(config["duration"])
    now = begun
    while now < deadline:
        response = await client.fetch(url, raise_error=False)
        if response.code != 200 or response.body != _BODY:
            errors += 1
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
        "errors": errors,
        "p50_ms": (percentile(ordered, 50) or 0.0) * 1000,
        "p99_ms": (percentile(ordered, 99) or 0.0) * 1000,
        "expected_impl": ours == (config["impl"] == "tornado_h1"),
    }


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
    "_idle": _idle_main,
}


if __name__ == "__main__":
    sys.exit(main())
