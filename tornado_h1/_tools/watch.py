"""Real requests against a real server, with the protocol trace of each.

The docs' "Watch a request" page and its exercises are written from what
this module records when the docs are built (``docs/conf.py`` calls
:func:`tornado_h1._tools.lessons.write_pages`). Each :class:`Scenario`
sends its bytes over a raw socket to the demo application, served by
tornado_h1 in a thread of this process, and keeps the response and the
``tornado_h1.trace`` lines it caused. Nothing on those pages is pasted. A
scenario whose response or trace no longer shows what its text promises
fails the build (:func:`check`), and ``tests/test_docs_watch.py`` runs
every one too.

Run it by hand with ``python -m tornado_h1._tools.watch [NAME ...]``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Optional, Union

#: A step of a scenario: bytes to send, a pause (seconds), or ``READ``
#: (read one whole response before going on).
Step = Union[bytes, float, str]
READ = "read"

#: The Host every request names (the port is picked when the server starts).
HOST = "localhost"


@dataclass(frozen=True)
class Scenario:
    """One request (or a few), what it shows, and what must be seen."""

    name: str
    title: str
    #: What the learner does and why (reStructuredText).
    text: str
    steps: tuple[Step, ...]
    #: Substrings the response must contain, in this order.
    response: tuple[str, ...]
    #: Substrings the trace must contain, in this order.
    trace: tuple[str, ...]
    #: HTTPServer options for this scenario's server.
    options: dict[str, Any] = field(default_factory=dict)
    #: The shell command a learner types (``None``: shown as Python).
    command: Optional[str] = None


@dataclass
class Seen:
    """What a scenario produced."""

    response: bytes
    trace: list[str]


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


class Server:
    """The demo app on tornado_h1, served by an event loop in a thread."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: Any = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        from tornado.netutil import bind_sockets

        from tornado_h1._subclasses import HTTPServer
        from tornado_h1._tools import demo

        sockets = bind_sockets(0, address="127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self._server = HTTPServer(demo.make_app(), **self.options)
        self._server.add_sockets(sockets)

    async def _stop(self) -> None:
        self._server.stop()
        await self._server.close_all_connections()

    def __enter__(self) -> Server:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@contextmanager
def tracing() -> Iterator[list[str]]:
    """The trace lines written while the block runs."""
    logger = logging.getLogger("tornado_h1.trace")
    handler = _Lines()
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def _read_response(sock: socket.socket, buffer: bytearray) -> None:
    """Read into ``buffer`` until it holds one more whole response (a 1xx
    head counts as one)."""
    start = len(buffer)
    while b"\r\n\r\n" not in buffer[start:]:
        if not _recv(sock, buffer):
            return
    end = buffer.index(b"\r\n\r\n", start) + 4
    head = bytes(buffer[start:end]).lower()
    length = re.search(rb"\r\ncontent-length: *(\d+)", head)
    if b" 101 " in head.split(b"\r\n")[0] or head.startswith(b"http/1.1 1"):
        return
    if length is not None:
        while len(buffer) < end + int(length.group(1)):
            if not _recv(sock, buffer):
                return
    elif b"chunked" in head:
        while not buffer.endswith(b"\r\n0\r\n\r\n"):
            if not _recv(sock, buffer):
                return


def _recv(sock: socket.socket, buffer: bytearray) -> bool:
    try:
        data = sock.recv(65536)
    except socket.timeout:
        return False
    buffer += data
    return bool(data)


def run(scenario: Scenario) -> Seen:
    """Run ``scenario`` against a fresh server and return what it saw."""
    import tornado_h1

    with (
        tornado_h1.installed(),
        tracing() as lines,
        Server(**scenario.options) as server,
    ):
        received = bytearray()
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.settimeout(5)
            for step in scenario.steps:
                if isinstance(step, bytes):
                    sock.sendall(step)
                elif isinstance(step, float):
                    time.sleep(step)
                else:
                    _read_response(sock, received)
            while _recv(sock, received):
                pass
        _settle(lines)
    return Seen(bytes(received), _renumber(lines))


def _settle(lines: list[str]) -> None:
    """Wait (briefly) until the server has traced the connection's end."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if any(
            line.endswith(
                ("connection over", "detached: the stream is the delegate's now")
            )
            for line in lines
        ):
            time.sleep(0.05)
            return
        time.sleep(0.01)


def _renumber(lines: list[str]) -> list[str]:
    """Connection ids from 1, in the order they appear (the server counts
    them over its whole life)."""
    ids: dict[str, str] = {}

    def swap(match: re.Match[str]) -> str:
        ids.setdefault(match.group(1), f"c{len(ids) + 1}")
        return f"[{ids[match.group(1)]}]"

    return [re.sub(r"^\[(c\d+)\]", swap, line) for line in lines]


def check(scenario: Scenario, seen: Seen) -> list[str]:
    """What ``seen`` lacks of what the scenario promises (empty if all)."""
    problems = []
    text = seen.response.decode("latin1")
    for what, wanted, haystack in (
        ("response", scenario.response, text),
        ("trace", scenario.trace, "\n".join(seen.trace)),
    ):
        pos = 0
        for part in wanted:
            found = haystack.find(part, pos)
            if found < 0:
                problems.append(f"{scenario.name}: {what} lacks {part!r}")
            else:
                pos = found + len(part)
    return problems


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the named scenarios (default: all) and print what they show."""
    from tornado_h1._tools import lessons

    names = list(sys.argv[1:] if argv is None else argv)
    failed = 0
    for scenario in lessons.ALL:
        if names and scenario.name not in names:
            continue
        seen = run(scenario)
        print(f"== {scenario.name}")
        print(seen.response.decode("latin1"))
        print("\n".join(seen.trace))
        for problem in check(scenario, seen):
            failed += 1
            print("MISSING:", problem)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
