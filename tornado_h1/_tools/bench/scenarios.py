"""The scenarios of ``tornado-h1 bench`` (workloads, variants, metrics), its
settings and its command line."""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

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
#: Sequential fetches whose new connections the client-keepalive scenario
#: counts on the server.
COUNTED_FETCHES = 1000
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
    kind: str  # "http", "chunked", "client", "keepalive" or "idle"
    server: str  # "raw", "web" or "canned"
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
    "keepalive": ("fetches/s", True),
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
        "client-keepalive",
        "client-keepalive",
        "keepalive",
        "canned",
        "sequential fetches from a canned asyncio responder: "
        "SimpleAsyncHTTPClient (upstream) / KeepAliveAsyncHTTPClient (tornado_h1)",
        (Variant("client-keepalive"),),
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
