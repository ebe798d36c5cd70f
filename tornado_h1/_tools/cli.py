"""The ``tornado-h1`` command (also ``python -m tornado_h1``).

``tornado-h1 serve [module:attr]``
    Serve a Tornado application with tornado_h1 in place of
    ``tornado.http1connection``. ``attr`` names a
    :class:`tornado.web.Application` or a zero-argument callable returning
    one (which may be ``async``). Without a target, serves the demo app from
    :mod:`tornado_h1._tools.demo`.
``tornado-h1 compat [args...]``
    Run Tornado's own test suite against tornado_h1
    (same as ``python -m tornado_h1.compat``; :mod:`tornado_h1._tools.compat`).
``tornado-h1 bench [args...]``
    Benchmark tornado_h1 against upstream, side by side
    (:mod:`tornado_h1._tools.bench`).
``tornado-h1 fuzz [args...]``
    Differential fuzzing against upstream (:mod:`tornado_h1._tools.fuzz`;
    needs Hypothesis).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import logging
import os
import signal
import socket
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import tornado.web

    import tornado_h1

PROG = "tornado-h1"

# Subcommands whose arguments are handed, untouched, to another module's
# main(): the help text, and the module.
_PASSTHROUGH = {
    "compat": "run Tornado's own test suite with tornado_h1 installed",
    "bench": "compare tornado_h1 with upstream side by side (see --help)",
    "fuzz": "differential fuzzing against upstream (see --help)",
}
_MODULES = {
    "compat": "tornado_h1._tools.compat.runner",
    "bench": "tornado_h1._tools.bench.main",
    "fuzz": "tornado_h1._tools.fuzz.main",
}

_SIZE_SUFFIXES = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


#: How to check, from a handler, that the swap is in effect; printed under
#: the banner. (``repr(type(conn))`` is no test: while installed, our classes
#: carry the name of the module they stand in for.)
SWAP_CHECK = (
    "check from a handler: type(self.request.connection) is "
    "tornado_h1.HTTP1Connection (its repr says tornado.http1connection, "
    "the module it replaces)"
)


class UsageError(Exception):
    """A mistake on the command line, reported without a traceback."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in _PASSTHROUGH:
        return run_passthrough(args_list[0], args_list[1:])

    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command != "serve":
        parser.print_help()
        return 2
    try:
        return serve(args)
    except UsageError as exc:
        print(f"{PROG} serve: error: {exc}", file=sys.stderr)
        return 2


# ---------------------------------------------------------------- arguments


def parse_size(text: str) -> int:
    """``"65536"``, ``"64K"``, ``"10M"`` or ``"1G"`` as a number of bytes."""
    cleaned = text.strip().upper()
    if cleaned.endswith("B"):
        cleaned = cleaned[:-1]
    suffix = cleaned[-1:] if cleaned[-1:] in _SIZE_SUFFIXES else ""
    number = cleaned[: len(cleaned) - len(suffix)]
    if not number.isdigit():
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    return int(number) * _SIZE_SUFFIXES[suffix]


def parse_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def parse_count(text: str) -> int:
    """A positive whole number."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(text)


def parse_port(text: str) -> int:
    """A TCP port: 1-65535, or 0 to let the system pick one."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(
            f"port {value} is outside 1-65535 (0 picks a free one)"
        )
    return value


def _version_text() -> str:
    import tornado

    from tornado_h1 import __version__

    return (
        f"{PROG} {__version__} (Tornado {tornado.version}, "
        f"Python {sys.version.split()[0]})"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="tornado_h1: a from-scratch HTTP/1.x layer for Tornado.",
    )
    parser.add_argument("--version", action="version", version=_version_text())
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve_parser = commands.add_parser(
        "serve",
        help="serve an application (default: the demo) using tornado_h1",
        description=(
            "Serve a tornado.web.Application with tornado_h1 installed in place "
            "of tornado.http1connection. The current directory is put on "
            "sys.path first, so `tornado-h1 serve myapp:app` finds myapp.py."
        ),
    )
    serve_parser.add_argument(
        "target",
        nargs="?",
        metavar="module:attr",
        help=(
            "an Application, or a zero-argument (possibly async) factory "
            "returning one; default: the built-in demo"
        ),
    )
    serve_parser.add_argument(
        "--host", default="127.0.0.1", help="default: %(default)s; '' for all"
    )
    serve_parser.add_argument(
        "--port",
        type=parse_port,
        default=8888,
        help="1-65535, default: %(default)s; 0 picks a free one",
    )
    serve_parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="default: %(default)s (info shows one line per request)",
    )
    serve_parser.add_argument(
        "--trace",
        action="store_true",
        help=(
            "print one line per protocol event (the tornado_h1.trace logger "
            "at DEBUG): heads, framing decisions, delegate calls, keep-alive"
        ),
    )
    http = serve_parser.add_argument_group(
        "HTTPServer options",
        "passed to tornado.httpserver.HTTPServer; sizes take K, M or G suffixes",
    )
    http.add_argument("--max-body-size", type=parse_size, metavar="SIZE")
    http.add_argument("--max-buffer-size", type=parse_size, metavar="SIZE")
    http.add_argument("--max-header-size", type=parse_size, metavar="SIZE")
    http.add_argument("--chunk-size", type=parse_size, metavar="SIZE")
    http.add_argument("--idle-connection-timeout", type=parse_seconds, metavar="SECS")
    http.add_argument("--body-timeout", type=parse_seconds, metavar="SECS")
    http.add_argument("--no-keep-alive", action="store_true")
    http.add_argument("--decompress-request", action="store_true")
    http.add_argument("--xheaders", action="store_true")
    beyond = serve_parser.add_argument_group(
        "tornado_h1 options",
        "beyond upstream's behaviour (tornado_h1.ServerOptions); off by default",
    )
    beyond.add_argument(
        "--precise-errors",
        action="store_true",
        help="answer 413 / 408 / 400 with Connection: close instead of a bare 400",
    )
    beyond.add_argument("--max-requests", type=parse_count, metavar="N")
    beyond.add_argument("--idle-timeout", type=parse_seconds, metavar="SECS")
    beyond.add_argument(
        "--chunk-extensions",
        action="store_true",
        help="accept (and ignore) chunk extensions instead of a 400",
    )
    beyond.add_argument(
        "--trailers",
        action="store_true",
        help="accept trailer fields after a chunked body (tornado_h1.request_trailers)"
        " instead of a 400",
    )
    stopping = serve_parser.add_argument_group(
        "graceful stop",
        "SIGINT or SIGTERM drains the server (tornado_h1.HTTPServer.drain)",
    )
    stopping.add_argument(
        "--idle-grace",
        type=parse_seconds,
        metavar="SECS",
        help=(
            "keep idle connections open this long while draining, each "
            "answering at most one more request (with Connection: close), "
            "instead of closing them at once; behind a proxy, set it above "
            "the proxy's upstream keep-alive timeout"
        ),
    )
    serve_parser.add_argument(
        "--processes",
        type=parse_count,
        default=1,
        metavar="N",
        help="serve from N processes sharing the socket (default: 1)",
    )

    for name, text in _PASSTHROUGH.items():
        commands.add_parser(name, help=text, add_help=False)
    return parser


def server_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``HTTPServer(...)`` keyword arguments the command line asked for."""
    options: dict[str, Any] = {}
    for name in (
        "max_body_size",
        "max_buffer_size",
        "max_header_size",
        "chunk_size",
        "idle_connection_timeout",
        "body_timeout",
    ):
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    for name in ("no_keep_alive", "decompress_request", "xheaders"):
        if getattr(args, name):
            options[name] = True
    return options


def h1_options(args: argparse.Namespace) -> tornado_h1.ServerOptions:
    """The `tornado_h1.ServerOptions` the command line asked for."""
    import tornado_h1

    return tornado_h1.ServerOptions(
        precise_errors=args.precise_errors,
        max_requests=args.max_requests,
        idle_timeout=args.idle_timeout,
        chunk_extensions=args.chunk_extensions,
        trailers=args.trailers,
    )


# ---------------------------------------------------------- pass-through


def run_passthrough(name: str, rest: list[str]) -> int:
    """Hand ``rest`` to the tool's ``main`` and return its exit code."""
    module_name = _MODULES[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise  # the module exists but something it imports does not
        module = None
    entry: Callable[[list[str]], Any] | None = getattr(module, "main", None)
    if entry is None:
        print(
            f"{PROG} {name}: not available in this version "
            f"(there is no {module_name}.main)",
            file=sys.stderr,
        )
        return 2
    code = entry(rest)
    return 0 if code is None else int(code)


# ------------------------------------------------------------------ serve


async def load_app(target: str | None) -> tornado.web.Application:
    """Import ``module:attr`` and return the Application it names or makes.

    Call this only after :func:`tornado_h1.install`, so that the user's
    module sees tornado_h1 from its first import on.
    """
    # Imported here, not at the top: `serve` installs tornado_h1 first.
    import tornado.web

    if target is None:
        from tornado_h1._tools import demo

        return demo.make_app(show_trace=True)
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise UsageError(f"expected module:attr, got {target!r}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing != module_name and not module_name.startswith(missing + "."):
            raise  # the module exists; something it imports is missing
        raise UsageError(f"no module named {module_name!r}") from None
    found: Any = module
    for part in attr.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise UsageError(f"{module_name!r} has no attribute {attr!r}") from None
    if isinstance(found, tornado.web.Application):
        return found
    _check_factory(target, found)
    made = found()
    if inspect.isawaitable(made):
        made = await made
    if not isinstance(made, tornado.web.Application):
        raise UsageError(
            f"{target}() returned type {type(made).__name__}, not an Application"
        )
    return made


def _check_factory(target: str, found: Any) -> None:
    """Raise `UsageError` unless ``found`` can be called with no arguments
    to make an Application (the call itself may still fail: that is the
    application's own error, shown whole)."""
    import tornado.web

    if isinstance(found, type) and issubclass(found, tornado.web.RequestHandler):
        raise UsageError(
            f"{target} is a RequestHandler class, not an Application: "
            f"name an Application that routes to it, e.g. "
            f"tornado.web.Application([(r'/', {found.__name__})])"
        )
    if not callable(found):
        raise UsageError(
            f"{target} is of type {type(found).__name__}, "
            "not an Application or a factory"
        )
    try:
        signature = inspect.signature(found)
    except (TypeError, ValueError):  # pragma: no cover - some builtins
        return
    try:
        signature.bind()
    except TypeError:
        raise UsageError(
            f"{target} needs arguments {signature}; "
            "give an Application or a factory that takes none"
        ) from None


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if sock.family == socket.AF_INET6:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def _log_handler(level: str) -> logging.Handler:
    from tornado.log import LogFormatter

    handler = logging.StreamHandler()
    handler.setFormatter(LogFormatter(color=False))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


def serve(args: argparse.Namespace) -> int:
    import tornado_h1

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    handler = _log_handler(args.log_level)
    trace_logger = logging.getLogger("tornado_h1.trace")
    # The demo's home page records the trace even without --trace; only
    # --trace prints it.
    trace_logger.propagate = args.trace
    if args.trace:
        trace_logger.setLevel(logging.DEBUG)
    # Install before the user's module is imported, so every Tornado name it
    # binds refers to tornado_h1 from the start.
    try:
        with tornado_h1.installed():
            if args.processes > 1:
                return _serve_forked(args)
            asyncio.run(_serve(args, _bind(args)))
    except KeyboardInterrupt:  # pragma: no cover - platforms without signals
        pass
    finally:
        logging.getLogger().removeHandler(handler)
        trace_logger.setLevel(logging.NOTSET)
        trace_logger.propagate = True
    return 0


def _bind(args: argparse.Namespace) -> list[socket.socket]:
    from tornado.netutil import bind_sockets

    try:
        return bind_sockets(args.port, address=args.host or None)
    except OSError as exc:
        where = f"{args.host or '*'}:{args.port}"
        raise UsageError(f"cannot listen on {where}: {exc.strerror}") from None


def _banner(sockets: list[socket.socket], processes: int) -> None:
    import tornado

    import tornado_h1

    urls = ", ".join(dict.fromkeys(_url(sock) for sock in sockets))
    state = "installed" if tornado_h1.is_installed() else "NOT installed"
    print(
        f"tornado_h1 {tornado_h1.__version__} serving on {urls} "
        f"(Tornado {tornado.version}, tornado_h1 {state})",
        flush=True,
    )
    print(SWAP_CHECK, flush=True)
    if processes > 1:
        print(f"tornado_h1: {processes} processes share the socket", flush=True)


def _serve_forked(args: argparse.Namespace) -> int:
    """``--processes N``: the sockets are bound once, then N children serve
    them (the kernel spreads the connections), each draining on SIGTERM.
    The parent forwards SIGINT and SIGTERM to the children, which have
    their own process group so that Ctrl-C reaches them once, and returns
    when all have stopped. (Not Tornado's fork_processes: it restarts
    children that exit and forwards no signal.)"""
    sockets = _bind(args)
    _banner(sockets, args.processes)
    children = []
    for _ in range(args.processes):
        pid = os.fork()
        if pid == 0:  # the child
            os.setpgid(0, 0)
            code = 0
            try:
                asyncio.run(_serve(args, sockets, quiet=True))
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                os._exit(code)
        children.append(pid)
    for sock in sockets:
        # Only the children accept: a socket still open here would take
        # connections into its backlog after they have all drained.
        sock.close()

    def forward(signum: int, frame: Any) -> None:
        if forwarded:
            print("tornado_h1: second signal: stopping at once", flush=True)
            signum = STOP_AT_ONCE
        else:
            print(
                "tornado_h1: draining each process (signal again to stop at once)",
                flush=True,
            )
        forwarded.append(signum)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    forwarded: list[int] = []
    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        failed = sum(os.waitpid(pid, 0)[1] != 0 for pid in children)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print("tornado_h1: stopped", flush=True)
    return 1 if failed else 0


async def _serve(
    args: argparse.Namespace, sockets: list[socket.socket], quiet: bool = False
) -> None:
    from tornado.ioloop import PeriodicCallback

    from tornado_h1._subclasses import HTTPServer

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Before the app loads: a signal while it does still drains cleanly.
    handled = _on_stop_signals(loop, stop, quiet)
    app = await load_app(args.target)
    server = HTTPServer(app, h1_options=h1_options(args), **server_options(args))
    server.add_sockets(sockets)
    if not quiet:
        _banner(sockets, 1)
    if quiet:
        # A child of --processes: if its parent dies (even by SIGKILL),
        # it drains too rather than serve on, orphaned.
        parent = os.getppid()

        def orphaned() -> None:
            if os.getppid() != parent:
                stop.set()

        PeriodicCallback(orphaned, 500).start()
    try:
        await stop.wait()
        await _drain(server, stop, quiet, args.idle_grace or 0.0)
    finally:
        server.stop()
        await server.close_all_connections()
        for signum in handled:
            loop.remove_signal_handler(signum)
    if not quiet:
        print("tornado_h1: stopped", flush=True)


#: What the parent of --processes sends its children for a second signal.
STOP_AT_ONCE = signal.SIGUSR1 if hasattr(signal, "SIGUSR1") else signal.SIGTERM


def _on_stop_signals(
    loop: asyncio.AbstractEventLoop, stop: asyncio.Event, child: bool
) -> list[int]:
    """SIGINT and SIGTERM set ``stop``: the first drains, the next stops at
    once. A child of --processes drains on the first and stops at once only
    on the parent's `STOP_AT_ONCE`: a service manager such as systemd sends
    SIGTERM to the whole group, so that a child gets its own and the one its
    parent passes on, and must not take the pair for a second signal."""
    drained: list[bool] = []

    def once() -> None:
        if not drained:
            drained.append(True)
            stop.set()

    handled: list[int] = []
    for signum, handler in (
        (signal.SIGINT, once if child else stop.set),
        (signal.SIGTERM, once if child else stop.set),
        (STOP_AT_ONCE, stop.set if child else None),
    ):
        if handler is None or signum in handled:
            continue
        try:
            loop.add_signal_handler(signum, handler)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
            continue
        handled.append(signum)
    return handled


def _quietly(*args: Any, **kwargs: Any) -> None:
    """What a child of --processes says instead of print (its parent
    speaks for all)."""


#: How long a stopping server lets the requests under way finish.
DRAIN_SECONDS = 30.0


async def _drain(
    server: Any, stop: asyncio.Event, quiet: bool, idle_grace: float
) -> None:
    """The first stop signal: a graceful drain (see HTTPServer.drain), which
    a second signal cuts short."""
    stop.clear()
    say = _quietly if quiet else print
    idle = (
        f"idle connections may take one more request for {idle_grace:g} s; "
        if idle_grace
        else ""
    )
    say(
        f"tornado_h1: draining: no new connections; {idle}the requests under "
        f"way have {DRAIN_SECONDS:g} s to finish (signal again to stop at once)",
        flush=True,
    )
    drain = asyncio.ensure_future(server.drain(DRAIN_SECONDS, idle_grace=idle_grace))
    again = asyncio.ensure_future(stop.wait())
    await asyncio.wait({drain, again}, return_when=asyncio.FIRST_COMPLETED)
    again.cancel()
    if drain.done():
        left = drain.result()
        if left:
            print(
                f"tornado_h1: {left} connection(s) cut off at the deadline", flush=True
            )
    else:
        drain.cancel()
        say("tornado_h1: second signal: stopping at once", flush=True)
