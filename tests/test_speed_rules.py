"""The structural rules that make tornado_h1 fast, checked without a clock.

Speed itself is measured by ``tornado-h1 bench`` (docs/performance.rst),
never asserted here. What is asserted is that the design decisions behind
the figures still hold: which path the code takes, how many IOLoop
iterations it spends, what it builds. Each test fails if the rule it names
is dropped.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from helpers import request_bytes
from tornado import httputil, iostream
from tornado.httputil import HTTPHeaders

from tornado_h1 import _link, _tornado, _wire
from tornado_h1 import http1connection as ours

HOST = [("Host", "example.com")]


# ------------------------------------------------------------ heads going out


def test_valid_heads_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """encode_head looks at lines one by one only when a line break is in
    a field (the joined section itself holds one CRLF per separator)."""

    def refuse(*args: Any) -> None:
        raise AssertionError("slow path taken for a valid head")

    monkeypatch.setattr(_wire, "_refuse_line_break", refuse)
    headers = HTTPHeaders()
    headers["Content-Type"] = "text/plain"
    headers["Content-Length"] = "5"
    headers.add("Set-Cookie", "a=1")
    headers.add("Set-Cookie", "b=2")
    head = _wire.encode_head(b"HTTP/1.1 200 OK", headers)
    assert head == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
        b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n"
    )
    # ...and a field with its own line break still goes the slow way.
    headers["X-Bad"] = "a\r\nb"
    with pytest.raises(AssertionError, match="slow path"):
        _wire.encode_head(b"HTTP/1.1 200 OK", headers)


# ------------------------------------------------------------- heads coming in


def test_parsed_headers_skip_httpheaders_init() -> None:
    """The parser makes its HTTPHeaders without ``__init__`` (and its
    ``MutableMapping.update``), in a state equal to a real empty one."""
    assert _tornado.blank_headers is not HTTPHeaders
    made = _tornado.blank_headers()
    assert type(made) is HTTPHeaders
    assert vars(made) == vars(HTTPHeaders())
    _, headers = _wire.split_head(
        b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\n\r\n"
    )
    real = HTTPHeaders()
    real.add("Host", "a")
    real.add("X-A", "1")
    real.add("X-A", "2")
    assert list(headers.get_all()) == list(real.get_all())
    assert dict(headers) == dict(real) == {"Host": "a", "X-A": "1,2"}


def test_blank_headers_fall_back_on_unknown_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An HTTPHeaders whose empty state is not only empty dicts and None
    (a Tornado the shortcut was not written for) is made the normal way."""
    original = HTTPHeaders.__init__

    def init_with_a_list(self: HTTPHeaders, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._history = []  # type: ignore[attr-defined]

    monkeypatch.setattr(HTTPHeaders, "__init__", init_with_a_list)
    assert _tornado._blank_headers_maker() is HTTPHeaders


def test_blank_headers_fall_back_when_they_behave_differently(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The maker tries its product against a real instance before use: an
    empty state it can copy (only empty dicts here) is not enough if the
    instances then behave differently."""
    original_init = HTTPHeaders.__init__
    original_setitem = HTTPHeaders.__setitem__

    def init_with_owners(self: HTTPHeaders, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._owners = {}  # type: ignore[attr-defined]

    def setitem_noting_owner(self: HTTPHeaders, name: str, value: str) -> None:
        original_setitem(self, name, value)
        # Depends on which instance it is: a copy of the empty state cannot
        # reproduce it, so the trial run tells them apart.
        self._owners[id(self)] = name  # type: ignore[attr-defined]

    monkeypatch.setattr(HTTPHeaders, "__init__", init_with_owners)
    monkeypatch.setattr(HTTPHeaders, "__setitem__", setitem_noting_owner)
    # The empty state alone passes the first check...
    assert all(value == {} for value in vars(HTTPHeaders()).values())
    # ...and the trial run makes the maker fall back.
    assert _tornado._blank_headers_maker() is HTTPHeaders


# ------------------------------------------------- between requests (server)


@pytest.fixture
def timeline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records each IOLoop iteration the server spends before reading a head
    ("pause"), between the requests its app sees."""
    events: list[str] = []
    original = _link.NextIteration.__await__

    def counted(self: Any) -> Any:
        events.append("pause")
        return original(self)

    monkeypatch.setattr(_link.NextIteration, "__await__", counted)
    return events


def _recording_app(events: list[str], later: bool = False, body: bytes = b"ok") -> Any:
    """An app that records each request it gets and answers ``body``: at
    once, or (``later``) from a callback on a later IOLoop iteration."""

    def respond(request: httputil.HTTPServerRequest) -> None:
        request.connection.write_headers(  # type: ignore[union-attr]
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            HTTPHeaders({"Content-Length": str(len(body))}),
            body,
        )
        request.connection.finish()  # type: ignore[union-attr]

    def app(request: httputil.HTTPServerRequest) -> None:
        events.append(request.uri or "")
        if later:
            asyncio.get_running_loop().call_soon(respond, request)
        else:
            respond(request)

    return app


async def _get_one_by_one(client: Any, *paths: str) -> None:
    """GET each path, waiting for each ``ok`` before sending the next."""
    for path in paths:
        await client.send(request_bytes("GET", path, headers=HOST))
        assert (await client.recv_response()).endswith(b"\r\n\r\nok")


async def test_one_iteration_after_answering_in_the_same_step(
    serve: Any, raw_client: Any, timeline: list[str]
) -> None:
    """A client that waits for each response before it sends the next
    request, and an app that answers at once (a lone client's response is
    not held, see test_writebehind): the server lets the IOLoop run once
    before it reads (the client cannot have answered yet)."""
    port = serve(_recording_app(timeline))
    client = await raw_client(port)
    await _get_one_by_one(client, "/1", "/2", "/3")
    # No pause before the first request of a connection; one before each
    # later one (a last one, before a fourth read, may or may not be seen).
    assert timeline[:5] == ["/1", "pause", "/2", "pause", "/3"]


@pytest.mark.usefixtures("always_hold")
async def test_no_pause_after_a_held_response(
    serve: Any, raw_client: Any, timeline: list[str]
) -> None:
    """A small response answered at once is held until the next IOLoop
    iteration, and the serving loop waits for that flush: the wait is the
    iteration the client needs, so no pause is added to it."""
    port = serve(_recording_app(timeline))
    client = await raw_client(port)
    await _get_one_by_one(client, "/1", "/2", "/3")
    assert timeline[:3] == ["/1", "/2", "/3"]


async def test_buffered_requests_are_served_back_to_back(
    serve: Any, raw_client: Any, timeline: list[str]
) -> None:
    """Pipelined requests already in the stream are served without an
    IOLoop iteration between them."""
    port = serve(_recording_app(timeline))
    client = await raw_client(port)
    await client.send(
        b"".join(
            request_bytes("GET", path, headers=HOST) for path in ("/1", "/2", "/3")
        )
    )
    for _ in range(3):
        assert (await client.recv_response()).endswith(b"\r\n\r\nok")
    assert timeline[:3] == ["/1", "/2", "/3"]


async def test_back_to_back_has_a_limit(
    serve: Any, raw_client: Any, timeline: list[str]
) -> None:
    """After _BACK_TO_BACK buffered requests, other connections get a turn."""
    count = _link.BACK_TO_BACK + 3
    paths = ["/%d" % i for i in range(count)]
    port = serve(_recording_app(timeline))
    client = await raw_client(port)
    await client.send(b"".join(request_bytes("GET", p, headers=HOST) for p in paths))
    for _ in paths:
        assert (await client.recv_response()).endswith(b"\r\n\r\nok")
    served = [event for event in timeline if event != "pause"]
    assert served == paths
    first_pause = timeline.index("pause")
    # The first request, then _BACK_TO_BACK more from the buffer, then a turn.
    assert timeline[:first_pause] == paths[: _link.BACK_TO_BACK + 1]


def test_status_lines_are_cached_and_bounded() -> None:
    """Status lines come from a small cache (servers answer with a handful
    of statuses), emptied when full so that odd reasons cannot grow it."""
    _wire._status_lines.clear()
    first = _wire.status_line(200, "OK")
    assert first == b"HTTP/1.1 200 OK"
    assert _wire.status_line(200, "OK") is first
    for code in range(300, 300 + 100):
        assert _wire.status_line(code, "R") == b"HTTP/1.1 %d R" % code
        assert len(_wire._status_lines) <= 64
    assert _wire.status_line(404, "Not Found") == b"HTTP/1.1 404 Not Found"


async def test_no_iteration_after_answering_later(
    serve: Any, raw_client: Any, timeline: list[str]
) -> None:
    """When the response went out while the serving loop waited for it (an
    IOLoop iteration or more ago), the next request is read at once: a
    pause would let the stream read it on its own and stop and restart
    watching the socket."""
    port = serve(_recording_app(timeline, later=True))
    client = await raw_client(port)
    await _get_one_by_one(client, "/1", "/2", "/3")
    assert timeline[:3] == ["/1", "/2", "/3"]


async def test_one_iteration_after_a_request_with_a_body(
    serve: Any, raw_client: Any, timeline: list[str]
) -> None:
    """After a request with a body the next one may be large too: the
    server lets it arrive before reading, even when it answered later."""
    port = serve(_recording_app(timeline, later=True))
    client = await raw_client(port)
    post = HOST + [("Content-Length", "3")]
    for path in ("/1", "/2"):
        await client.send(request_bytes("POST", path, headers=post, body=b"abc"))
        assert (await client.recv_response()).endswith(b"\r\n\r\nok")
    assert timeline[:3] == ["/1", "pause", "/2"]


@pytest.mark.usefixtures("always_hold")
async def test_no_pause_after_a_body_when_the_response_was_held(
    serve: Any, raw_client: Any, timeline: list[str]
) -> None:
    """After a request with a body answered at once with a held response,
    the wait for the flush already gave the next request an iteration to
    arrive: no second one."""
    port = serve(_recording_app(timeline))
    client = await raw_client(port)
    post = HOST + [("Content-Length", "3")]
    for path in ("/1", "/2"):
        await client.send(request_bytes("POST", path, headers=post, body=b"abc"))
        assert (await client.recv_response()).endswith(b"\r\n\r\nok")
    assert timeline[:2] == ["/1", "/2"]


async def test_plain_requests_skip_the_framing_rules(
    serve: Any, raw_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request without Connection, Content-Length, Transfer-Encoding or
    Expect (most GETs) is known to have no body from one set operation;
    the full RFC 9112 §6.3 decision runs only for the others."""
    decided: list[str] = []
    original = _wire.body_framing

    def counted(headers: HTTPHeaders, **kwargs: Any) -> Any:
        decided.append(headers.get("Content-Length", "-"))
        return original(headers, **kwargs)

    monkeypatch.setattr(_wire, "body_framing", counted)
    events: list[str] = []
    port = serve(_recording_app(events))
    client = await raw_client(port)
    await client.send(request_bytes("GET", "/1", headers=HOST))
    assert (await client.recv_response()).endswith(b"\r\n\r\nok")
    post = HOST + [("Content-Length", "3")]
    await client.send(request_bytes("POST", "/2", headers=post, body=b"abc"))
    assert (await client.recv_response()).endswith(b"\r\n\r\nok")
    assert events == ["/1", "/2"]
    assert decided == ["3"]


async def test_hot_delegate_calls_skip_the_context_manager(
    serve: Any, raw_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """headers_received, data_received and finish are guarded by try/except
    (free until something is raised), not by a with block (two calls)."""
    entered: list[int] = []
    monkeypatch.setattr(
        ours._ExceptionLoggingContext, "__enter__", lambda self: entered.append(1)
    )
    events: list[str] = []
    port = serve(_recording_app(events))
    client = await raw_client(port)
    post = HOST + [("Content-Length", "3")]
    await client.send(request_bytes("POST", "/1", headers=post, body=b"abc"))
    assert (await client.recv_response()).endswith(b"\r\n\r\nok")
    assert events == ["/1"]
    assert entered == []


async def test_an_empty_close_callback_is_not_cleared_again(
    serve: Any, raw_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``stream.set_close_callback(None)`` is made where upstream makes it
    (three times per request) only when the stream has a callback to
    clear: for a stream without one it changes nothing."""
    calls: list[Any] = []
    original = iostream.BaseIOStream.set_close_callback

    def counted(self: iostream.BaseIOStream, callback: Any) -> None:
        calls.append(callback)
        original(self, callback)

    monkeypatch.setattr(iostream.BaseIOStream, "set_close_callback", counted)
    events: list[str] = []
    port = serve(_recording_app(events))
    client = await raw_client(port)
    await _get_one_by_one(client, "/1", "/2", "/3")
    assert events == ["/1", "/2", "/3"]
    assert calls == []


async def test_a_close_callback_set_on_the_stream_is_cleared(
    serve: Any, raw_client: Any, impl: str
) -> None:
    """A close callback an application sets on the stream itself is still
    cleared after its response, as upstream clears it."""
    fired: list[str] = []

    def app(request: httputil.HTTPServerRequest) -> None:
        stream = request.connection.stream  # type: ignore[union-attr]
        stream.set_close_callback(lambda: fired.append(request.uri or ""))
        _recording_app([])(request)

    port = serve(app, impl=impl)
    client = await raw_client(port)
    await client.send(request_bytes("GET", "/1", headers=HOST))
    assert (await client.recv_response()).endswith(b"\r\n\r\nok")
    client.close()
    await asyncio.sleep(0.1)
    assert fired == []


async def test_the_response_wait_makes_no_loopless_future(
    serve: Any, raw_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The future the serving loop waits on while an application answers
    later comes from the stream's loop: ``Future()`` would look the loop up
    with ``get_running_loop()``, a ``getpid`` system call on Python 3.11."""

    def refuse() -> None:
        raise AssertionError("Future() made without a loop")

    monkeypatch.setattr(ours, "Future", refuse)
    events: list[str] = []
    port = serve(_recording_app(events, later=True))
    client = await raw_client(port)
    await client.send(request_bytes("GET", "/1", headers=HOST))
    assert (await client.recv_response()).endswith(b"\r\n\r\nok")
    assert events == ["/1"]
