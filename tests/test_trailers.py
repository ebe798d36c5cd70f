"""Trailer fields (RFC 9112 §7.1.2, RFC 9110 §6.5), ``ServerOptions.trailers``.

The decoder with plain bytes (any split, the next request behind, the
bound, malformed and prohibited fields), the patterns the driver reads the
section with (never a byte past its end, whatever has arrived), real
servers over real sockets with ``tornado.web`` handlers, h11 as a real
client that sends request trailers and reads response trailers, and the
default: a request with trailers gets upstream Tornado's own answer.
"""

from __future__ import annotations

import json
import logging
import socket
import types
from typing import Any, Optional

import h11
import pytest
import tornado.web
from helpers import feed_in_steps, read_chunked_as_the_driver
from tornado.httputil import HTTPHeaders, HTTPInputError

import tornado_h1
from tornado_h1 import ServerOptions, _abnf, _chunked, _wire

pytestmark = pytest.mark.usefixtures("logs")

NEXT = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
TRAILERS = ServerOptions(trailers=True)
LIMIT = 100


def _decode(
    data: bytes, step: int, limit: int = LIMIT
) -> tuple[bytes, bytes, Optional[HTTPHeaders]]:
    """Feed ``data`` ``step`` bytes at a time; (body, unused, trailers)."""
    decoder = _chunked.ChunkedDecoder(1000, False, limit)
    body, unused = feed_in_steps(decoder, data, step)
    return body, unused, decoder.trailers


def _read_as_the_driver(data: bytes, arrived: int, limit: int = LIMIT) -> int:
    """How many bytes of ``data`` the driver takes for one body with
    trailers, reading as IOStream lets it
    (`helpers.read_chunked_as_the_driver`), with only ``arrived`` bytes
    there at first."""
    decoder = _chunked.ChunkedDecoder(1000, False, limit)
    anchored = {_chunked.Part.TRAILERS}
    return read_chunked_as_the_driver(decoder, data, arrived, anchored)[1]


SECTIONS = [
    b"\r\n",
    b"X-Checksum: abc\r\n\r\n",
    b"X-A: 1\r\nX-B: two words\r\nX-A: 3\r\n\r\n",
    b"X-Empty:\r\n\r\n",
]


@pytest.mark.parametrize("section", SECTIONS)
@pytest.mark.parametrize("step", [1, 2, 3, 7, 1000])
def test_any_split_stops_at_the_end(section: bytes, step: int) -> None:
    body, unused, trailers = _decode(b"5\r\nhello\r\n0\r\n" + section + NEXT, step)
    assert (body, unused) == (b"hello", NEXT)
    assert trailers is not None
    assert len(list(trailers.get_all())) == section.count(b":")


def test_the_fields_are_parsed_as_a_head_is() -> None:
    _, _, trailers = _decode(b"0\r\n" + SECTIONS[2], 1000)
    assert trailers is not None
    assert trailers.get_list("X-A") == ["1", "3"] and trailers["X-B"] == "two words"


@pytest.mark.parametrize("section", SECTIONS)
def test_the_driver_never_reads_past_the_end(section: bytes) -> None:
    """Whatever has arrived when each read begins (the section cut at every
    byte), the pieces end exactly at the section's end, and the next
    request stays unread."""
    message = b"5\r\nhello\r\n0\r\n" + section
    for arrived in range(1, len(message) + 1):
        assert _read_as_the_driver(message + NEXT, arrived) == len(message)


def test_a_piece_never_crosses_the_end_however_long_the_rest() -> None:
    """After an LF, after LF CR, and mid-line: each pattern stops at the end
    of the section even with a long next request behind it."""
    behind = b"POST / HTTP/1.1\r\nX: " + b"y" * 5000 + b"\r\n\r\n"
    for section in (b"X: 1\r\n\r\n", b"\r\n"):
        for cut in range(len(section)):
            decoder = _chunked.TrailerSection(LIMIT)
            assert decoder.feed(section[:cut]) == (cut, None)
            pattern = decoder.pattern()
            match = pattern.search(section[cut:] + behind)
            assert match is not None and match.start() == 0
            assert match.end() <= len(section) - cut


def test_the_section_is_bounded_by_the_limit() -> None:
    field = b"X: " + b"v" * 50 + b"\r\n"
    name = LIMIT - len(field) - len(b": \r\n\r\n")
    exactly = field + b"x" * name + b": \r\n\r\n"
    assert len(exactly) == LIMIT
    assert _decode(b"0\r\n" + exactly, 1)[2] is not None
    over = field + b"x" * (name + 1) + b": \r\n\r\n"
    for step in (1, 1000):
        with pytest.raises(HTTPInputError, match=_wire.TRAILERS_TOO_LARGE):
            _decode(b"0\r\n" + over, step)
    # One that never ends is refused once it passes the limit, not held on.
    section = _chunked.TrailerSection(LIMIT)
    with pytest.raises(HTTPInputError, match=_wire.TRAILERS_TOO_LARGE):
        section.feed(b"X: " + b"v" * LIMIT)


@pytest.mark.parametrize(
    "section, message",
    [
        (b"No colon\r\n\r\n", "no colon in header line"),
        (b"X : 1\r\n\r\n", "Invalid header name"),
        (b"X: a\x01b\r\n\r\n", "Invalid header value"),
        (b"X: 1\r\n folded\r\n\r\n", "folding not supported"),
        (b"X: 1\nY: 2\r\n\r\n", "bare LF in trailer section"),
        (b"X: 1\r\n\n", "bare LF in trailer section"),
        (b"\n", "bare LF in trailer section"),
        (b"Content-Length: 5\r\n\r\n", "field not allowed in trailers: Content-Length"),
        (b"transfer-encoding: chunked\r\n\r\n", "not allowed in trailers"),
        (b"Host: elsewhere\r\n\r\n", "not allowed in trailers"),
    ],
)
def test_malformed_or_prohibited_sections_are_refused(
    section: bytes, message: str
) -> None:
    for step in (1, 1000):
        with pytest.raises(HTTPInputError, match=message):
            _decode(b"0\r\n" + section + NEXT, step)


def test_without_the_option_trailers_are_refused_as_upstream() -> None:
    decoder = _chunked.ChunkedDecoder(1000)
    decoder.feed(b"0\r\n")
    with pytest.raises(HTTPInputError, match="improperly terminated chunked request"):
        decoder.feed(b"X-T: 1\r\n\r\n")


def test_the_patterns_are_the_ones_the_abnf_module_builds() -> None:
    section = _chunked.TrailerSection(LIMIT)
    assert section.pattern() is _abnf.section_pieces(LIMIT)[1]  # after last-chunk's LF


# ------------------------------------------------------------ real servers


class EchoTrailers(tornado.web.RequestHandler):
    def post(self) -> None:
        trailers = tornado_h1.request_trailers(self.request)
        self.write(
            {
                "body": self.request.body.decode(),
                "trailers": None if trailers is None else list(trailers.get_all()),
                "in_headers": "X-Checksum" in self.request.headers,
            }
        )


@tornado.web.stream_request_body
class StreamedTrailers(tornado.web.RequestHandler):
    def prepare(self) -> None:
        self.seen: list[Any] = []

    def data_received(self, chunk: bytes) -> None:
        self.seen.append(tornado_h1.request_trailers(self.request))

    def post(self) -> None:
        trailers = tornado_h1.request_trailers(self.request)
        assert trailers is not None
        self.write({"while_streaming": self.seen, "after": dict(trailers)})


def _app() -> tornado.web.Application:
    return tornado.web.Application([("/", EchoTrailers), ("/stream", StreamedTrailers)])


def _chunked_post(path: bytes, body: bytes) -> bytes:
    return (
        b"POST "
        + path
        + b" HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        + body
    )


WITH_TRAILERS = b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Count: 1\r\n\r\n"


def _json(response: bytes) -> Any:
    return json.loads(response.split(b"\r\n\r\n", 1)[1])


async def test_a_handler_reads_the_trailers_apart_from_the_headers(
    serve: Any, raw_client: Any
) -> None:
    port = serve(_app(), h1_options=TRAILERS)
    client = await raw_client(port)
    # With the next request behind it: the body ends where it should.
    await client.send(
        _chunked_post(b"/", WITH_TRAILERS) + _chunked_post(b"/", b"0\r\n\r\n")
    )
    first = _json(await client.recv_response())
    assert first == {
        "body": "hello",
        "trailers": [["X-Checksum", "abc"], ["X-Count", "1"]],
        "in_headers": False,
    }
    second = _json(await client.recv_response())
    assert second == {"body": "", "trailers": [], "in_headers": False}


async def test_without_a_chunked_body_there_are_no_trailers(
    serve: Any, raw_client: Any
) -> None:
    port = serve(_app(), h1_options=TRAILERS)
    client = await raw_client(port)
    await client.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
    assert _json(await client.recv_response())["trailers"] is None


async def test_a_streaming_handler_has_them_in_post(
    serve: Any, raw_client: Any
) -> None:
    port = serve(_app(), h1_options=TRAILERS)
    client = await raw_client(port)
    await client.send(_chunked_post(b"/stream", WITH_TRAILERS), bytewise=True, pause=0)
    answer = _json(await client.recv_response())
    assert set(answer["while_streaming"]) == {None}
    assert answer["after"] == {"X-Checksum": "abc", "X-Count": "1"}


@pytest.mark.parametrize("precise, status", [(False, None), (True, 431)])
async def test_a_section_over_max_header_size_is_refused(
    serve: Any, raw_client: Any, precise: bool, status: Optional[int]
) -> None:
    options = ServerOptions(trailers=True, precise_errors=precise)
    port = serve(_app(), h1_options=options, max_header_size=1024)
    client = await raw_client(port)
    section = b"X-Big: " + b"v" * 1100 + b"\r\n\r\n"
    await client.send(_chunked_post(b"/", b"0\r\n" + section))
    expected = _wire.BAD_REQUEST if status is None else _wire.REFUSALS[status]
    assert await client.recv_until_closed() == expected


async def test_a_prohibited_field_is_refused(serve: Any, raw_client: Any) -> None:
    port = serve(_app(), h1_options=TRAILERS)
    client = await raw_client(port)
    await client.send(_chunked_post(b"/", b"0\r\nContent-Length: 9\r\n\r\n"))
    assert await client.recv_until_closed() == _wire.BAD_REQUEST


async def test_by_default_the_answer_is_upstreams(
    serve: Any, raw_client: Any, impl: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The option off: Tornado's own http1connection is the oracle."""
    port = serve(_app(), impl=impl)
    client = await raw_client(port)
    with caplog.at_level(logging.INFO, logger="tornado.general"):
        await client.send(_chunked_post(b"/", WITH_TRAILERS) + NEXT)
        assert await client.recv_until_closed() == _wire.BAD_REQUEST
    assert [r.getMessage().split(" from ")[0] for r in caplog.records] == [
        "Malformed HTTP message"
    ]


async def test_the_trace_shows_trailers(
    serve: Any, raw_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tornado_h1.trace")
    port = serve(_app(), h1_options=TRAILERS)
    client = await raw_client(port)
    await client.send(_chunked_post(b"/", WITH_TRAILERS))
    await client.recv_response()
    await client.send(_chunked_post(b"/", b"0\r\n\r\n"))
    await client.recv_response()
    lines = [r.getMessage() for r in caplog.records if r.name == "tornado_h1.trace"]
    assert any(
        line.endswith("trailers received: X-Checksum, X-Count") for line in lines
    )
    assert any(line.endswith("trailers received: none") for line in lines)


# ---------------------------------------------------- trailers we send


class SendsTrailers(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Trailer", "X-Checksum")
        self.write("hello")
        self.flush()  # the head goes out chunked: no Content-Length
        tornado_h1.set_response_trailers(self.request, {"X-Checksum": "not yet"})
        tornado_h1.set_response_trailers(
            self.request, HTTPHeaders({"X-Checksum": "abc"})
        )  # (replaces the first)
        self.finish()


class Misuse(tornado.web.RequestHandler):
    """Each misuse raises at once, and the response is unharmed."""

    def get(self) -> None:
        errors = [self._error(HTTPHeaders({"X-A": "1"}))]  # before the head
        self.set_header("Content-Length", "2")
        self.flush()
        errors.append(self._error(HTTPHeaders({"X-A": "1"})))  # not chunked
        self.write(json.dumps(len(errors))[:0] + "ok")
        self.finish()
        errors.append(self._error(HTTPHeaders({"X-A": "1"})))  # finished
        type(self).errors = errors

    def _error(self, trailers: HTTPHeaders) -> str:
        try:
            tornado_h1.set_response_trailers(self.request, trailers)
        except (ValueError, TypeError) as e:
            return "%s: %s" % (type(e).__name__, e)
        return "accepted"


class BadFields(tornado.web.RequestHandler):
    def get(self) -> None:
        self.flush()
        errors = []
        for name, value in [
            ("X-A", "1\r\nX-Injected: 2"),
            ("X A", "1"),
            ("Content-Length", "3"),
            ("X-A", "a\x00b"),
            ("X-A", "a\x7fb"),
        ]:
            try:
                tornado_h1.set_response_trailers(self.request, {name: value})
            except ValueError as e:
                errors.append(str(e))
        type(self).errors = errors
        self.finish()


def _h11_exchange(port: int, trailers: list[tuple[bytes, bytes]], path: bytes) -> Any:
    """One request through h11 over a blocking socket: a chunked body with
    ``trailers``; returns the response, its body and its trailers."""
    conn = h11.Connection(h11.CLIENT)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            conn.send(
                h11.Request(
                    method="POST" if trailers else "GET",
                    target=path,
                    headers=[("Host", "t"), ("TE", "trailers")]
                    + ([("Transfer-Encoding", "chunked")] if trailers else []),
                )
            )
        )
        if trailers:
            sock.sendall(conn.send(h11.Data(data=b"hello")))
        sock.sendall(conn.send(h11.EndOfMessage(headers=trailers)))
        response, body = None, b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(sock.recv(65536))
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return response, body, list(event.headers)


async def test_h11_sends_request_trailers(serve: Any, in_thread: Any) -> None:
    port = serve(_app(), h1_options=TRAILERS)
    response, body, _ = await in_thread(
        _h11_exchange, port, [(b"X-Checksum", b"abc")], b"/"
    )
    assert response.status_code == 200
    assert json.loads(body)["trailers"] == [["X-Checksum", "abc"]]


@pytest.mark.parametrize("options", [ServerOptions(), TRAILERS])
async def test_h11_reads_response_trailers(
    serve: Any, in_thread: Any, options: ServerOptions
) -> None:
    port = serve(tornado.web.Application([("/", SendsTrailers)]), h1_options=options)
    response, body, trailers = await in_thread(_h11_exchange, port, [], b"/")
    assert (response.status_code, body) == (200, b"hello")
    assert trailers == [(b"x-checksum", b"abc")]


async def test_misuse_raises_at_once_and_the_response_is_unharmed(
    serve: Any, raw_client: Any
) -> None:
    port = serve(tornado.web.Application([("/", Misuse)]))
    client = await raw_client(port)
    await client.send(NEXT)
    assert (await client.recv_response()).endswith(b"\r\n\r\nok")
    errors = Misuse.errors  # type: ignore[attr-defined]
    assert [e.split(":")[0] for e in errors] == ["ValueError"] * 3
    assert "head is not sent yet" in errors[0]
    assert "not chunked" in errors[1]
    assert "finished" in errors[2]


async def test_outgoing_trailers_are_checked_like_headers(
    serve: Any, raw_client: Any
) -> None:
    port = serve(tornado.web.Application([("/", BadFields)]))
    client = await raw_client(port)
    await client.send(NEXT)
    response = await client.recv_until(b"0\r\n\r\n")
    assert b"Injected" not in response
    errors = BadFields.errors  # type: ignore[attr-defined]
    assert len(errors) == 5
    assert "Invalid trailer name" in errors[1]
    assert "not allowed in trailers" in errors[2]
    for error in (errors[0], errors[3], errors[4]):  # CR LF, NUL, DEL
        assert "Invalid trailer value" in error


async def test_not_served_by_tornado_h1_is_a_type_error(
    serve: Any, raw_client: Any
) -> None:
    from conftest import upstream_or_skip

    upstream_or_skip()
    port = serve(tornado.web.Application([("/", Misuse)]), impl="upstream")
    client = await raw_client(port)
    await client.send(NEXT)
    await client.recv_response()
    assert Misuse.errors[0].startswith("TypeError")  # type: ignore[attr-defined]
    not_served = types.SimpleNamespace(connection=None)
    assert tornado_h1.request_trailers(not_served) is None  # type: ignore[arg-type]


async def test_the_trace_shows_trailers_sent(
    serve: Any, in_thread: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tornado_h1.trace")
    port = serve(tornado.web.Application([("/", SendsTrailers)]))
    await in_thread(_h11_exchange, port, [], b"/")
    lines = [r.getMessage() for r in caplog.records if r.name == "tornado_h1.trace"]
    assert any(line.endswith("trailers sent: X-Checksum") for line in lines)


def test_the_last_chunk_carries_the_fields_or_nothing() -> None:
    # (The very object: the trace tells trailers sent by identity.)
    assert _wire.last_chunk_with(HTTPHeaders()) is _wire.LAST_CHUNK
    fields = HTTPHeaders()
    fields.add("X-A", "1")
    fields.add("X-A", "2")
    chunk = _wire.last_chunk_with(fields)
    assert chunk == b"0\r\nX-A: 1\r\nX-A: 2\r\n\r\n"
    assert _wire.trailer_names(chunk) == "X-A, X-A"


def test_a_section_too_large_is_a_431_only_with_precise_errors() -> None:
    error = HTTPInputError(_wire.TRAILERS_TOO_LARGE)
    assert _wire.refusal(error, True) == (_wire.REFUSALS[431], "Refused with 431")
    assert _wire.refusal(error, False)[0] == _wire.BAD_REQUEST
