"""A server process for the resource tests (not a test module).

``python resource_server.py IMPL [--idle-timeout S]``
serves, with ``IMPL`` ``tornado_h1`` (``tornado_h1.HTTPServer``) or
``upstream`` (Tornado's own ``HTTPServer``):

* ``/`` — ``ok``;
* ``/stats`` — JSON: open connections, this process's VmRSS and VmHWM
  (bytes), and the number of ERROR log records so far;
* ``/upload`` — a ``stream_request_body`` handler that counts the body's
  bytes without keeping them, and answers with the count and VmHWM.

It prints its port on the first line of stdout, then serves until stdin
closes or it gets SIGTERM. Log records go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import signal
import sys
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web


def memory() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in bytes."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out[name] = int(value.split()[0]) * 1024
    return out


class Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


ERRORS = Errors()


class Root(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write(b"ok")


class Stats(tornado.web.RequestHandler):
    def initialize(self, holder: dict[str, Any]) -> None:
        self.server = holder["server"]

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(
            json.dumps(
                {
                    "connections": len(self.server._connections),
                    "errors": ERRORS.count,
                    **memory(),
                }
            )
        )


@tornado.web.stream_request_body
class Upload(tornado.web.RequestHandler):
    def prepare(self) -> None:
        self.received = 0
        self.request.connection.set_max_body_size(1 << 40)  # type: ignore[union-attr]

    def data_received(self, chunk: bytes) -> None:
        self.received += len(chunk)

    def post(self) -> None:
        self.write({"received": self.received, **memory()})

    put = post


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("impl", choices=("tornado_h1", "upstream"))
    parser.add_argument("--idle-timeout", type=float, default=None)
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(message)s"
    )
    logging.getLogger().addHandler(ERRORS)

    if args.impl == "tornado_h1":
        import tornado_h1

        server_class: Any = tornado_h1.HTTPServer
    else:
        server_class = tornado.httpserver.HTTPServer
    holder: dict[str, Any] = {}
    app = tornado.web.Application(
        [
            (r"/", Root),
            (r"/stats", Stats, {"holder": holder}),
            (r"/upload", Upload),
        ]
    )
    server = holder["server"] = server_class(
        app, idle_connection_timeout=args.idle_timeout
    )
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", backlog=4096)
    server.add_sockets(sockets)
    print(sockets[0].getsockname()[1], flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(
        sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.read(1) else None
    )
    await stop.wait()
    server.stop()
    await server.close_all_connections()


if __name__ == "__main__":
    asyncio.run(main())
