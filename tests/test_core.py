"""The sans-IO core with plain bytes and values: the chunked decoder, the
exchange's decisions, the door to Tornado's internals (each fallback
forced), and the protocol trace of a real server."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from helpers import feed_in_steps, read_chunked_as_the_driver
from tornado import httputil
from tornado.httputil import HTTPHeaders, HTTPInputError, HTTPOutputError

from tornado_h1 import _abnf, _chunked, _exchange, _state, _tornado, _trace, _wire
from tornado_h1._state import Outbound, StateError

BODY = b"5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n"
NEXT = b"GET / HTTP/1.1\r\n\r\n"


def _decode(data: bytes, step: int, extensions: bool = False) -> tuple[bytes, bytes]:
    """Feed ``data`` ``step`` bytes at a time; returns (body, unused)."""
    return feed_in_steps(_chunked.ChunkedDecoder(1000, extensions), data, step)


@pytest.mark.parametrize("step", [1, 2, 3, 7, 1000])
def test_chunked_decoder_any_split_stops_at_the_end(step: int) -> None:
    assert _decode(BODY + NEXT, step) == (b"helloabc", NEXT)


EXTENDED = b'5;name=value\r\nhello\r\n3 ; a ; b = "x;y\\"z"\r\nabc\r\n0;last\r\n\r\n'


@pytest.mark.parametrize("step", [1, 2, 3, 7, 1000])
def test_chunk_extensions_when_accepted_are_ignored(step: int) -> None:
    assert _decode(EXTENDED + NEXT, step, extensions=True) == (b"helloabc", NEXT)


@pytest.mark.parametrize(
    "line",
    [b"5;\r\n", b"5;=v\r\n", b"5;a=\r\n", b'5;a="open\r\n', b"5;a b\r\n"],
)
def test_malformed_chunk_extensions_are_refused(line: bytes) -> None:
    with pytest.raises(HTTPInputError, match="invalid chunk size"):
        _decode(line + b"hello\r\n0\r\n\r\n", 1, extensions=True)


def test_a_size_line_with_extensions_is_bounded() -> None:
    line = b"5;a=" + b"v" * _abnf.CHUNK_LINE_WITH_EXT_LIMIT + b"\r\n"
    decoder = _chunked.ChunkedDecoder(1000, extensions=True)
    with pytest.raises(HTTPInputError, match="invalid chunk size"):
        decoder.feed(line)
    assert _decode(b"5;a=" + b"v" * 4000 + b"\r\nhello\r\n0\r\n\r\n", 1000, True)


def _read_extended_as_the_driver(data: bytes, arrived: int) -> tuple[bytes, int]:
    """Read ``data`` as the driver does with chunk extensions accepted
    (`helpers.read_chunked_as_the_driver`): the body, and the bytes taken."""
    decoder = _chunked.ChunkedDecoder(1000, extensions=True)
    return read_chunked_as_the_driver(decoder, data, arrived, {_chunked.Part.SIZE})


def test_a_size_line_with_extensions_is_read_without_rescans() -> None:
    """Each read of a size line with extensions matches at the first byte
    it is given, whatever has arrived (a search that moves on rescans the
    line from each of its bytes: quadratic in its length), and the body
    ends where it should."""
    long_line = b"5;a=" + b"v" * 3000 + b"\r\n"
    for body in (EXTENDED, long_line + b"hello\r\n0\r\n\r\n"):
        for arrived in list(range(1, 40)) + [len(body) - 5, len(body)]:
            assert _read_extended_as_the_driver(body + NEXT, arrived) == (
                b"helloabc" if body is EXTENDED else b"hello",
                len(body),
            )


def test_a_size_line_ended_by_a_bare_lf_is_refused_at_its_end() -> None:
    decoder = _chunked.ChunkedDecoder(1000, extensions=True)
    with pytest.raises(HTTPInputError, match="invalid chunk size"):
        decoder.feed(b"5;a=1\nhello\r\n")


@pytest.mark.parametrize(
    "wire, message",
    [
        (b"5;x=1\r\nhello\r\n0\r\n\r\n", "invalid chunk size"),
        (b"5\r\nhelloXX0\r\n\r\n", "improperly terminated chunk"),
        (b"0\r\nX-T: 1\r\n\r\n", "improperly terminated chunked request"),
        (b"ffff\r\n", "chunked body too large"),
        (b"1" * 70, "invalid chunk size"),
    ],
)
def test_chunked_decoder_refuses(wire: bytes, message: str) -> None:
    for step in (1, len(wire)):
        with pytest.raises(HTTPInputError, match=message):
            _decode(wire + b"\r\n" * 4, step)


def test_chunked_decoder_says_what_to_read() -> None:
    decoder = _chunked.ChunkedDecoder(100)
    assert decoder.wants().need is _chunked.Need.LINE
    decoder.feed(b"5\r\n")
    assert decoder.wants() == _chunked.Want(_chunked.Need.DATA, None, 5)
    assert decoder.feed(b"hel") == (3, b"hel")
    assert decoder.wants().size == 2
    decoder.feed(b"lo")
    assert decoder.wants().pattern is _wire._abnf.chunk_end_and_line
    decoder.feed(b"\r\n0\r\n")
    assert decoder.wants() == _chunked.Want(_chunked.Need.EXACT, None, 2)
    decoder.feed(b"\r\n")
    assert decoder.done and decoder.feed(b"more") == (0, b"")


def _request(
    exchange: _exchange.ServerExchange, line: str, fields: dict[str, str]
) -> None:
    exchange.start_head()
    exchange.received_head(line, HTTPHeaders(fields))


def test_exchange_keep_alive_and_its_reason() -> None:
    exchange = _exchange.ServerExchange()
    _request(exchange, "GET / HTTP/1.0", {})
    assert not exchange.keep_alive and exchange.close_reason == _wire.CLOSE_HTTP10
    exchange = _exchange.ServerExchange()
    _request(exchange, "GET / HTTP/1.1", {"Connection": "close"})
    assert exchange.close_reason == _wire.CLOSE_ASKED
    exchange = _exchange.ServerExchange()
    exchange.no_keep_alive = True
    _request(exchange, "GET / HTTP/1.1", {})
    assert exchange.close_reason == _wire.CLOSE_NO_KEEP_ALIVE


def test_exchange_response_head_cleanup_and_writers() -> None:
    exchange = _exchange.ServerExchange()
    _request(exchange, "GET / HTTP/1.0", {"Connection": "keep-alive"})
    headers = HTTPHeaders()
    head = exchange.send_head(
        httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), headers
    )
    assert head == b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\n\r\n"
    assert exchange.out_body is _state.OutBody.UNTIL_CLOSE
    exchange = _exchange.ServerExchange()
    _request(exchange, "GET / HTTP/1.1", {})
    exchange.end_message()
    exchange.send_head(httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders())
    assert exchange.send_body(b"ab") == b"2\r\nab\r\n"
    assert exchange.finish(False) == _wire.LAST_CHUNK
    assert exchange.outbound is Outbound.DONE and exchange.keep_alive
    with pytest.raises(StateError):
        exchange.send_head(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders()
        )


def test_exchange_length_is_counted_and_an_early_answer_closes() -> None:
    exchange = _exchange.ServerExchange()
    _request(exchange, "POST / HTTP/1.1", {"Content-Length": "9"})
    fields = HTTPHeaders({"Content-Length": "3"})
    exchange.send_head(httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), fields)
    with pytest.raises(HTTPOutputError, match="less than"):
        exchange.finish(False)
    with pytest.raises(HTTPOutputError, match="more data"):
        exchange.send_body(b"abcd")
    exchange.remaining = 0
    exchange.finish(False)
    assert exchange.close_reason == _wire.CLOSE_ANSWERED_EARLY


def test_exchange_interim_policy() -> None:
    exchange = _exchange.ClientExchange()
    for _ in range(_exchange.MAX_INTERIM_RESPONSES):
        exchange.start_head()
        exchange.received_head("HTTP/1.1 103 Early Hints", HTTPHeaders())
        assert exchange.is_interim(HTTPHeaders())
    exchange.start_head()
    with pytest.raises(HTTPInputError, match="Too many 1xx"):
        exchange.is_interim(HTTPHeaders())
    with pytest.raises(HTTPInputError, match="cannot have body"):
        exchange.is_interim(HTTPHeaders({"Content-Length": "1"}))


def test_door_fallbacks_keep_the_behaviour(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stream:
        _read_buffer_size = 5
        _close_callback = None
        cleared = 0

        def set_close_callback(self, callback: Any) -> None:
            self.cleared += 1

    stream: Any = Stream()
    assert _tornado._holds_data_private(stream) is True
    assert _tornado._holds_data_unknown(stream) is False  # the cautious answer
    _tornado._clear_if_set(stream)
    assert stream.cleared == 0
    _tornado._clear_always(stream)
    assert stream.cleared == 1
    # Without the list internals, repeats go through HTTPHeaders.add.
    monkeypatch.setattr(_tornado, "HAS_LIST_INTERNALS", False)
    monkeypatch.setattr(_tornado, "HEADERS_ADD_IS_LINEAR", False)
    _, headers = _wire.split_head(b"GET / HTTP/1.1\r\nA: 1\r\na: 2\r\n\r\n")
    assert headers["A"] == "1,2" and headers.get_list("A") == ["1", "2"]
    monkeypatch.setattr(_tornado, "blank_headers", HTTPHeaders)
    _, headers = _wire.split_head(b"GET / HTTP/1.1\r\nA: 1\r\n\r\n")
    assert dict(headers) == {"A": "1"}


async def test_trace_shows_the_core_decisions(
    serve: Any, raw_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import tornado.web

    class Echo(tornado.web.RequestHandler):
        def post(self) -> None:
            self.write(self.request.body)

    caplog.set_level(logging.DEBUG, logger="tornado_h1.trace")
    port = serve(tornado.web.Application([("/", Echo)]))
    client = await raw_client(port)
    await client.send(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        b"Expect: 100-continue\r\n\r\n" + BODY
    )
    assert (await client.recv_response()).startswith(b"HTTP/1.1 100")
    assert b"helloabc" in await client.recv_response()
    await client.send(b"GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n")
    lines = [r.getMessage() for r in caplog.records if r.name == "tornado_h1.trace"]
    text = "\n".join(lines)
    assert "opened: peer" in text
    assert "head received:" in text and "POST / HTTP/1.1" in text
    assert "sent 100 Continue" in text
    assert "body: chunked (RFC 9112 §6.3 step 4)" in text
    pieces = re.findall(r"delegate\.data_received: (\d+) bytes", text)
    assert sum(map(int, pieces)) == 8  # helloabc, however it was pieced
    assert "keep-alive: yes" in text
    assert all(line.startswith("[") for line in lines)


# ----------------------------------------------- the tables drive the driver


def _permissive(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables that accept every move: each missing pair goes where its event
    usually leads."""
    natural_in = {
        _state.InEvent.START: _state.Inbound.HEAD,
        _state.InEvent.HEAD: _state.Inbound.BODY,
        _state.InEvent.INFORMATIONAL: _state.Inbound.IDLE,
        _state.InEvent.END: _state.Inbound.DONE,
        _state.InEvent.DETACH: _state.Inbound.DETACHED,
        _state.InEvent.CLOSE: _state.Inbound.CLOSED,
    }
    for state in _state.Inbound:
        for event, target in natural_in.items():
            if (state, event) not in _state.INBOUND:
                monkeypatch.setitem(_state.INBOUND, (state, event), target)
    for state in _state.Outbound:
        for event in _state.OutEvent:
            if (state, event) not in _state.OUTBOUND:
                monkeypatch.setitem(_state.OUTBOUND, (state, event), state)


async def _second_head_is_refused(serve: Any, raw_client: Any) -> bool:
    """An application that writes a second head after finish(): refused
    with StateError, and nothing of it reaches the wire."""
    refused: list[bool] = []

    def handle(request: httputil.HTTPServerRequest) -> None:
        conn: Any = request.connection
        start = httputil.ResponseStartLine("HTTP/1.1", 200, "OK")
        conn.write_headers(start, HTTPHeaders({"Content-Length": "2"}), b"ok")
        conn.finish()
        try:
            conn.write_headers(start, HTTPHeaders({"Content-Length": "0"}))
        except StateError:
            refused.append(True)

    client = await raw_client(serve(handle))
    await client.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert (await client.recv_response()).endswith(b"\r\n\r\nok")
    await client.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    second = await client.recv_response()
    return refused == [True, True] and second.endswith(b"\r\n\r\nok")


async def _concurrent_read_is_refused() -> bool:
    """A second read_response() while one is reading is a StateError from
    the tables, before anything touches the stream."""
    import asyncio
    import socket

    from tornado.iostream import IOStream

    from tornado_h1.http1connection import HTTP1Connection

    a, b = socket.socketpair()
    stream = IOStream(a)
    try:
        conn = HTTP1Connection(stream, True)
        first = asyncio.ensure_future(
            conn.read_response(httputil.HTTPMessageDelegate())
        )
        await asyncio.sleep(0)  # the first read is waiting for a head
        try:
            await conn.read_response(httputil.HTTPMessageDelegate())
        except StateError:
            return True
        except Exception:
            return False
        finally:
            stream.close()
            try:
                await first
            except Exception:
                pass
        return False
    finally:
        b.close()


async def test_the_tables_drive_behaviour(serve: Any, raw_client: Any) -> None:
    assert await _second_head_is_refused(serve, raw_client)
    assert await _concurrent_read_is_refused()


async def test_tables_accepting_every_move_fail_the_behaviour(
    serve: Any, raw_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _permissive(monkeypatch)
    assert not await _second_head_is_refused(serve, raw_client)
    assert not await _concurrent_read_is_refused()


# ------------------------------------------------------------------ fairness


async def test_a_buffered_fixed_length_body_lets_the_loop_run(
    serve: Any, raw_client: Any
) -> None:
    """A whole 1 MiB body already in the socket is read without waiting, so
    the reader yields every 256 KiB: a callback scheduled before the body
    runs long before the body's end."""
    import asyncio

    import tornado.ioloop

    pieces: list[int] = []
    seen_by_callback: list[int] = []

    class Reader(httputil.HTTPMessageDelegate):
        async def headers_received(self, start_line: Any, headers: Any) -> None:
            await asyncio.sleep(0.3)  # the client sends the whole body now
            tornado.ioloop.IOLoop.current().add_callback(
                lambda: seen_by_callback.append(len(pieces))
            )

        def data_received(self, chunk: bytes) -> None:
            pieces.append(len(chunk))

        def finish(self) -> None:
            self.conn.write_headers(
                httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
                HTTPHeaders({"Content-Length": "0"}),
            )
            self.conn.finish()

    class Server(httputil.HTTPServerConnectionDelegate):
        def start_request(self, server_conn: Any, request_conn: Any) -> Any:
            reader = Reader()
            reader.conn = request_conn  # type: ignore[attr-defined]
            return reader

    size = 1 << 20
    client = await raw_client(serve(Server(), max_body_size=size))
    await client.send(
        b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size
    )
    assert (await client.recv_response()).startswith(b"HTTP/1.1 200")
    assert sum(pieces) == size
    # 64 KiB pieces: the loop ran after at most 256 KiB of them.
    assert seen_by_callback and seen_by_callback[0] < len(pieces) // 2


def test_state_diagrams_are_drawn_from_the_tables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tornado_h1._tools import statedoc

    text = statedoc.render()
    for (state, event), target in _state.OUTBOUND.items():
        arrow = f"--{event.name}-->"
        assert f"{state.name:<9} {arrow:<19} {target.name}" in text
    for (state, event), target in _state.INBOUND.items():
        if state is not _state.Inbound.CLOSED:
            arrow = f"--{event.name}-->"
            assert f"{state.name:<9} {arrow:<19} {target.name}" in text
    assert "CLOSED    --any event-->" in text
    assert (
        "(4 pairs): BODY + HEAD, BODY + INTERIM, DONE + HEAD, DONE + INTERIM." in text
    )
    # A move added to a table shows up in the drawing.
    monkeypatch.setitem(
        _state.OUTBOUND, (Outbound.DONE, _state.OutEvent.HEAD), Outbound.DONE
    )
    changed = statedoc.render()
    assert "DONE      --HEAD-->" in changed and "(3 pairs)" in changed


# ----------------------------------------- the door's fallbacks, end to end


async def _session(serve: Any, raw_client: Any) -> bytes:
    """Pipelined and sequential requests, with repeated fields, a body and
    an early close, against a real server: everything the client got."""
    import json

    import tornado.web

    from tornado_h1.testing.wire import strip_volatile

    class Show(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write(json.dumps(self.request.headers.get_list("X-A")))

        def post(self) -> None:
            self.write(self.request.body[::-1])

    client = await raw_client(serve(tornado.web.Application([("/", Show)])))
    get = b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2\r\nX-A: 3\r\n\r\n"
    post = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
    await client.send(get + post + get)  # pipelined
    got = [await client.recv_response() for _ in range(3)]
    await client.send(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    got.append(await client.recv_response())
    return strip_volatile(b"".join(got))


async def test_door_fallbacks_serve_the_same_bytes(
    serve: Any, raw_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = await _session(serve, raw_client)
    assert expected.count(b"HTTP/1.1 200 OK") == 4 and b'["1", "2", "3"]' in expected
    monkeypatch.setattr(_tornado, "holds_data", _tornado._holds_data_unknown)
    monkeypatch.setattr(_tornado, "clear_close_callback", _tornado._clear_always)
    monkeypatch.setattr(_tornado, "blank_headers", HTTPHeaders)
    monkeypatch.setattr(_tornado, "HAS_LIST_INTERNALS", False)
    monkeypatch.setattr(_tornado, "HEADERS_ADD_IS_LINEAR", False)
    assert await _session(serve, raw_client) == expected


async def test_without_the_hooks_the_substitutes_act_as_their_parents(
    serve: Any, raw_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tornado.httpclient
    import tornado.httpserver
    import tornado.web

    import tornado_h1
    from tornado_h1 import http1connection as ours

    made: list[str] = []
    original = ours.HTTP1Connection.__init__

    def spy(self: Any, stream: Any, is_client: bool, *args: Any) -> None:
        made.append("client" if is_client else "server")
        original(self, stream, is_client, *args)

    monkeypatch.setattr(ours.HTTP1Connection, "__init__", spy)
    expected = await _session(serve, raw_client)
    assert "server" in made
    made.clear()
    monkeypatch.setattr(_tornado, "HAS_SERVER_HOOK", False)
    monkeypatch.setattr(_tornado, "HAS_CLIENT_HOOK", False)
    assert await _session(serve, raw_client) == expected
    client = tornado_h1.SimpleAsyncHTTPClient(force_instance=True)
    try:
        app = tornado.web.Application(
            [("/", tornado.web.RedirectHandler, {"url": "/x"})]
        )
        port = serve(app)
        response = await client.fetch(
            f"http://127.0.0.1:{port}/", follow_redirects=False, raise_error=False
        )
        assert response.code == 301
    finally:
        client.close()
    assert made == []  # Tornado's own layer served and fetched


def test_the_trace_says_a_plain_request_has_no_body(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracer = _trace.Tracer("[t] ")
    with caplog.at_level(logging.DEBUG, logger="tornado_h1.trace"):
        tracer.head_sent(b"GET / HTTP/1.1\r\n\r\n", _state.OutBody.UNTIL_CLOSE, 0)
        tracer.head_sent(b"HTTP/1.0 200 OK\r\n\r\n", _state.OutBody.UNTIL_CLOSE, 0)
    assert [r.getMessage() for r in caplog.records] == [
        "[t] head sent: GET / HTTP/1.1, no body",
        "[t] head sent: HTTP/1.0 200 OK, body until the connection closes",
    ]
