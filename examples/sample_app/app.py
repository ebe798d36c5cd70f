"""A small Tornado application with a test suite of its own.

It knows nothing of tornado_h1: it stands for *your* application. Its tests
(``tests/test_app.py``, written with pytest-tornasync's fixtures) run on
Tornado's own HTTP/1 layer with plain ``pytest``, and on tornado_h1 with
``pytest --tornado-h1``.

Serve it with ``python app.py`` (port 8888), or on tornado_h1 with
``tornado-h1 serve app:make_app`` from this directory.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import tornado.web


class HelloHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        name = self.get_argument("name", "world")
        self.write(f"Hello, {name}!")


class ItemsHandler(tornado.web.RequestHandler):
    """A JSON collection kept in the application's memory."""

    def initialize(self, store: dict[int, dict[str, Any]]) -> None:
        self.store = store

    def get(self) -> None:
        self.write({"items": [self.store[key] for key in sorted(self.store)]})

    def post(self) -> None:
        try:
            item = json.loads(self.request.body)
        except ValueError:
            raise tornado.web.HTTPError(400, reason="Body is not JSON") from None
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise tornado.web.HTTPError(400, reason="An item needs a name")
        key = len(self.store) + 1
        self.store[key] = {"id": key, "name": item["name"]}
        self.set_status(201)
        self.set_header("Location", f"/items/{key}")
        self.write(self.store[key])


@tornado.web.stream_request_body
class UploadHandler(tornado.web.RequestHandler):
    """Counts the bytes of an upload as they arrive, without buffering it."""

    def prepare(self) -> None:
        self.received = 0
        self.pieces = 0

    def data_received(self, chunk: bytes) -> None:
        self.received += len(chunk)
        self.pieces += 1

    def put(self) -> None:
        self.write({"bytes": self.received})


class SlowHandler(tornado.web.RequestHandler):
    """Streams a response in chunks, with a pause between them."""

    async def get(self) -> None:
        for i in range(3):
            self.write(f"part {i}\n")
            await self.flush()
            await asyncio.sleep(0.01)


def make_app() -> tornado.web.Application:
    store: dict[int, dict[str, Any]] = {}
    return tornado.web.Application(
        [
            (r"/hello", HelloHandler),
            (r"/items", ItemsHandler, {"store": store}),
            (r"/upload", UploadHandler),
            (r"/slow", SlowHandler),
        ],
        compress_response=True,
    )


async def main() -> None:
    make_app().listen(8888)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
