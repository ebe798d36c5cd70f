"""Table-driven tests of the sans-IO core, :mod:`tornado_h1._wire`.

Upstream Tornado's ``tornado.http1connection`` is the oracle: for every row
of every table the expected outcome is computed by running upstream's own
code (its ``_parse_headers``, ``_read_body``, ``_can_keep_alive``,
``write_headers``, ``_format_chunk``, ``parse_int`` and ``parse_hex_int``)
on the same input, and tornado_h1 must produce the same result, or raise the
same exception type with the same message. Many rows also carry a
hand-written expectation, so that the tests do not merely check that two
implementations agree.
"""

from __future__ import annotations

import asyncio
import dis
import types
from typing import Any, Callable, NamedTuple, Optional

import pytest
import tornado.http1connection as upstream
from hypothesis import given, settings
from hypothesis import strategies as st
from tornado import httputil
from tornado.concurrent import Future
from tornado.httputil import HTTPHeaders, HTTPInputError

from tornado_h1 import _abnf, _wire
from tornado_h1 import http1connection as ours

assert upstream.__name__ == "tornado.http1connection"
assert upstream is not ours

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _outcome(func: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    """What ``func(*args)`` did, in a form that compares with ``==``."""
    try:
        result = func(*args)
    except Exception as e:
        return ("error", type(e), str(e))
    return ("ok", result)


def _head_outcome(func: Callable[[bytes], Any], data: bytes) -> tuple[Any, ...]:
    try:
        start_line, headers = func(data)
    except Exception as e:
        return ("error", type(e), str(e))
    assert isinstance(headers, HTTPHeaders)
    return ("ok", start_line, list(headers.get_all()))


def upstream_split_head(data: bytes) -> tuple[str, HTTPHeaders]:
    # ``_parse_headers`` never touches ``self`` (checked below).
    return upstream.HTTP1Connection._parse_headers(None, data)  # type: ignore[arg-type]


def test_upstream_parse_headers_does_not_use_self() -> None:
    # Calling it with self=None is only meaningful if that is true.
    assert upstream_split_head(b"GET / HTTP/1.1\r\nA: b\r\n\r\n")[0] == "GET / HTTP/1.1"
    code = upstream.HTTP1Connection._parse_headers.__code__
    assert code.co_varnames[0] == "self"
    loads = [
        ins.argval
        for ins in dis.get_instructions(code)
        if ins.opname.startswith("LOAD") and ins.argval == "self"
    ]
    assert loads == []


class HeadEnd(NamedTuple):
    head: bytes
    rest: bytes
    fed: int  # how many bytes had been fed when the head was found


def find_head_incrementally(data: bytes, step: int = 1) -> Optional[HeadEnd]:
    """Feed ``data`` ``step`` bytes at a time into a buffer and stop as soon
    as the end of a head is in it, exactly as ``IOStream.read_until_regex``
    does (it searches the whole buffer after every arrival of data)."""
    buffer = b""
    for i in range(0, len(data), step):
        buffer += data[i : i + step]
        m = _abnf.head_end.search(buffer)
        if m is not None:
            return HeadEnd(buffer[: m.end()], data[m.end() :], len(buffer))
    return None


# ---------------------------------------------------------------------------
# Head parsing: the table
# ---------------------------------------------------------------------------

REQ = b"GET / HTTP/1.1\r\n"
END = b"\r\n"


def _req(*lines: bytes) -> bytes:
    return REQ + b"".join(line + b"\r\n" for line in lines) + END


MANY = REQ + b"".join(b"X-H%d: v%d\r\n" % (i, i) for i in range(60)) + END
LONG_VALUE = b"a" * 2000 + b" \t" + b"b" * 2000

HEADS: list[tuple[str, bytes]] = [
    # --- well-formed requests and responses, CRLF
    ("get_host", _req(b"Host: example.com")),
    ("get_no_fields", REQ + END),
    (
        "post_content_length",
        b"POST /p?q=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
    ),
    ("http10_keepalive", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
    ("absolute_target", b"GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n"),
    (
        "response_200",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n",
    ),
    ("response_empty_reason", b"HTTP/1.1 204 \r\nDate: x\r\n\r\n"),
    ("response_100", b"HTTP/1.1 100 Continue\r\n\r\n"),
    ("response_http10", b"HTTP/1.0 404 Not Found\r\n\r\n"),
    ("many_fields", MANY),
    ("long_value", _req(b"X-Long: " + LONG_VALUE)),
    ("long_name", _req(b"X-" + b"n" * 500 + b": v")),
    # --- line endings
    ("bare_lf_everywhere", b"GET / HTTP/1.1\nHost: a\nX: y\n\n"),
    ("mixed_crlf_and_lf", b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\n"),
    ("lf_lines_crlf_end", b"GET / HTTP/1.1\nHost: a\n\r\n"),
    ("crlf_lines_lf_end", b"GET / HTTP/1.1\r\nHost: a\r\n\n"),
    ("lf_start_line_only", b"GET / HTTP/1.1\n\n"),
    ("start_line_double_cr", b"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n"),
    ("field_line_double_cr", _req(b"X: a\r")),
    ("line_of_two_crs", REQ + b"X: a\r\n\r\r\n\r\n"),
    ("line_of_one_cr_then_lf_end", REQ + b"X: a\r\n\r\r\n\n"),
    # --- empty lines before the start line (RFC 9112 section 2.2)
    ("leading_crlf", b"\r\n" + _req(b"Host: a")),
    ("leading_lf", b"\n" + _req(b"Host: a")),
    ("leading_cr_cr_lf", b"\r\r\n" + _req(b"Host: a")),
    ("leading_lone_cr", b"\r" + _req(b"Host: a")),
    ("only_empty_lines_crlf", b"\r\n\r\n"),
    ("only_empty_lines_lf", b"\n\n"),
    ("only_empty_lines_mixed", b"\n\r\n"),
    # --- repeated fields
    ("duplicate_field", _req(b"X-A: 1", b"X-A: 2")),
    ("duplicate_field_case", _req(b"x-a: 1", b"X-A: 2", b"X-a: 3")),
    ("duplicate_set_cookie", _req(b"Set-Cookie: a=1; Path=/", b"Set-Cookie: b=2")),
    ("duplicate_interleaved", _req(b"A: 1", b"B: 2", b"A: 3")),
    ("duplicate_content_length", _req(b"Content-Length: 5", b"Content-Length: 5")),
    ("duplicate_empty", _req(b"X:", b"X: b")),
    ("lowercase_name_normalized", _req(b"content-type: text/html")),
    ("uppercase_name_normalized", _req(b"CONTENT-TYPE: text/html")),
    # --- empty values and optional whitespace
    ("empty_value", _req(b"X-Empty:")),
    ("empty_value_spaces", _req(b"X-Empty:   ")),
    ("empty_value_tab", _req(b"X-Empty:\t")),
    ("no_ows", _req(b"X:v")),
    ("ows_spaces", _req(b"X:   v   ")),
    ("ows_tabs", _req(b"X:\tv\t")),
    ("ows_mixed", _req(b"X: \t v \t ")),
    ("tab_inside_value", _req(b"X: a\tb")),
    ("spaces_inside_value", _req(b"X: a  b")),
    ("tab_and_space_inside_value", _req(b"X: a \t b")),
    ("colon_in_value", _req(b"X: a:b: c")),
    ("host_with_port", _req(b"Host: example.com:8080")),
    ("quoted_list_value", _req(b'X: "a, b", c')),
    ("all_vchars_value", _req(b"X: " + bytes(range(0x21, 0x7F)))),
    # --- obs-text (bytes 0x80-0xff) is allowed in values
    ("obs_text_e_acute", _req(b"X: caf\xe9")),
    ("obs_text_edges", _req(b"X: \x80\xff")),
    ("obs_text_all", _req(b"X: " + bytes(range(0x80, 0x100)))),
    ("utf8_bytes_as_latin1", _req(b"X: \xc3\xa9t\xc3\xa9")),
    # --- only SP and HTAB are optional whitespace
    ("nbsp_only", _req(b"X: \xa0")),
    ("nbsp_leading", _req(b"X: \xa0v")),
    ("nbsp_trailing", _req(b"X: v\xa0")),
    ("nel_only", _req(b"X: \x85")),
    ("nel_leading", _req(b"X:\x85v")),
    ("vt_leading", _req(b"X: \x0bv")),
    ("vt_trailing", _req(b"X: v\x0b")),
    ("vt_only", _req(b"X: \x0b")),
    ("ff_leading", _req(b"X: \x0cv")),
    ("ff_trailing", _req(b"X: v\x0c ")),
    ("fs_trailing", _req(b"X: v\x1c")),
    ("us_inside", _req(b"X: a\x1fb")),
    # --- control characters in values
    ("nul_in_value", _req(b"X: a\x00b")),
    ("nul_value", _req(b"X: \x00")),
    ("del_in_value", _req(b"X: a\x7fb")),
    ("bare_cr_in_value", _req(b"X: a\rb")),
    ("bare_cr_after_colon", _req(b"X:\rb")),
    ("esc_in_value", _req(b"X: \x1b[31mred")),
    ("bell_in_value", _req(b"X: \x07")),
    # --- obs-fold is refused
    ("obs_fold_space", _req(b"X: a", b" b")),
    ("obs_fold_tab", _req(b"X: a", b"\tb")),
    ("first_field_line_folded", _req(b" X: a")),
    ("whitespace_only_line", _req(b"X: a", b"   ")),
    # --- field names
    ("space_before_colon", _req(b"X : a")),
    ("tab_before_colon", _req(b"X\t: a")),
    ("space_inside_name", _req(b"X Y: a")),
    ("empty_name", _req(b": a")),
    ("empty_name_empty_value", _req(b":")),
    ("pseudo_header_name", _req(b":authority: a")),
    ("missing_colon", _req(b"NoColonHere")),
    ("missing_colon_with_spaces", _req(b"No Colon Here")),
    ("nul_in_name", _req(b"X\x00Y: a")),
    ("del_in_name", _req(b"X\x7fY: a")),
    ("bare_cr_in_name", _req(b"X\rY: a")),
    ("at_in_name", _req(b"X@Y: a")),
    ("paren_in_name", _req(b"X(Y): a")),
    ("slash_in_name", _req(b"X/Y: a")),
    ("quote_in_name", _req(b'X"Y: a')),
    ("obs_text_in_name", _req(b"X\xe9: a")),
    ("all_tchars_name", _req(b"!#$%&'*+-.^_`|~09AZaz: a")),
    ("digit_name", _req(b"1234: a")),
    # --- the first bad line decides the error
    ("bad_value_before_bad_name", _req(b"X: \x00", b"Y Z: a")),
    ("bad_name_before_bad_value", _req(b"Y Z: a", b"X: \x00")),
    ("good_lines_then_bad", _req(b"A: 1", b"B: 2", b"C: \x7f")),
    # --- the start line is passed through unvalidated
    ("garbage_start_line", b"garbage\r\nX: a\r\n\r\n"),
    ("start_line_extra_spaces", b"GET  /  HTTP/1.1\r\n\r\n"),
    ("start_line_obs_text", b"GET /caf\xe9 HTTP/1.1\r\n\r\n"),
    ("start_line_nul", b"GET /\x00 HTTP/1.1\r\n\r\n"),
    ("start_line_leading_space", b" GET / HTTP/1.1\r\n\r\n"),
    ("start_line_trailing_space", b"GET / HTTP/1.1 \r\n\r\n"),
]

HEAD_IDS = [name for name, _ in HEADS]
assert len(set(HEAD_IDS)) == len(HEAD_IDS), "duplicate row names"
assert len(HEADS) >= 60


def test_table_rows_are_complete_heads() -> None:
    # Each row ends exactly where IOStream.read_until_regex would stop, so
    # the three replays below all see the same head.
    for name, data in HEADS:
        m = _abnf.head_end.search(data)
        assert m is not None and m.end() == len(data), name


def test_head_table_covers_both_outcomes() -> None:
    outcomes = [_head_outcome(upstream_split_head, data)[0] for _, data in HEADS]
    assert outcomes.count("ok") >= 25
    assert outcomes.count("error") >= 25


# Rows where tornado_h1 is deliberately stricter than upstream: a lone CR
# is never a line break (RFC 9112 §2.2). Upstream strips stray CRs around
# the start line; tornado_h1 keeps them in the start line, where Tornado's
# start-line parser refuses them (a 400).
STRICTER = {
    b"GET / HTTP/1.1\r\r\nHost: a\r\n\r\n",
    b"\r\r\n" + _req(b"Host: a"),
    b"\r" + _req(b"Host: a"),
}


def _has_lone_cr(data: bytes) -> bool:
    return data.replace(b"\r\n", b"").find(b"\r") >= 0


def _refused(data: bytes) -> bool:
    """Whether a server refuses this head: split_head raises, or the start
    line it yields is not a request line."""
    try:
        start_line, _ = _wire.split_head(data)
        httputil.parse_request_start_line(start_line)
    except HTTPInputError:
        return True
    return False


def assert_like_upstream(data: bytes, stricter: bool = False) -> None:
    """split_head(data) gives upstream's outcome; or, where tornado_h1 is
    deliberately stricter (``stricter``), a head that a server refuses."""
    ours = _head_outcome(_wire.split_head, data)
    theirs = _head_outcome(upstream_split_head, data)
    if not stricter:
        assert ours == theirs
        return
    assert ours != theirs
    assert _refused(data)


def test_stricter_rows_are_in_the_table() -> None:
    assert STRICTER <= {data for _, data in HEADS}


@pytest.mark.parametrize("data", [data for _, data in HEADS], ids=HEAD_IDS)
def test_split_head_whole(data: bytes) -> None:
    assert_like_upstream(data, data in STRICTER)


@pytest.mark.parametrize("data", [data for _, data in HEADS], ids=HEAD_IDS)
def test_split_head_byte_by_byte(data: bytes) -> None:
    found = find_head_incrementally(data)
    assert found is not None
    # Found exactly when its last byte arrived, not before and not after.
    assert found.fed == len(data)
    assert found.head == data
    assert found.rest == b""
    assert find_head_incrementally(data[:-1]) is None
    assert_like_upstream(found.head, data in STRICTER)


TRAILERS = [
    b"hello",
    b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n",
    b"\r\n\r\n",
    b"\n",
    b"0\r\n\r\n",
]


@pytest.mark.parametrize(
    "trailer", TRAILERS, ids=["body", "pipelined", "crlf2", "lf", "chunk"]
)
@pytest.mark.parametrize("data", [data for _, data in HEADS], ids=HEAD_IDS)
def test_split_head_with_trailing_data(data: bytes, trailer: bytes) -> None:
    stream = data + trailer
    m = _abnf.head_end.search(stream)
    assert m is not None and m.end() == len(data)
    for step in (1, 7, len(stream)):
        found = find_head_incrementally(stream, step)
        assert found is not None
        assert found.head == data
        assert found.rest == trailer  # untouched, for the next reader
    assert_like_upstream(found.head, data in STRICTER)


# Hand-written expectations for a few rows, so this is not only a diff.
HAND_HEADS: list[tuple[bytes, tuple[Any, ...]]] = [
    (_req(b"Host: example.com"), ("ok", "GET / HTTP/1.1", [("Host", "example.com")])),
    (
        b"\r\n" + b"GET / HTTP/1.1\nhost: a\nx-a: 1\r\nX-A:  2 \n\n",
        ("ok", "GET / HTTP/1.1", [("Host", "a"), ("X-A", "1"), ("X-A", "2")]),
    ),
    (_req(b"X: \xa0v\xa0"), ("ok", "GET / HTTP/1.1", [("X", "\xa0v\xa0")])),
    (_req(b"X:\t a\tb \t"), ("ok", "GET / HTTP/1.1", [("X", "a\tb")])),
    (_req(b"X:"), ("ok", "GET / HTTP/1.1", [("X", "")])),
    (
        _req(b"X: \x0bv"),
        ("error", HTTPInputError, "Invalid header value '\\x0bv'"),
    ),
    (
        _req(b"X: a", b" b"),
        (
            "error",
            HTTPInputError,
            "header line cannot start with whitespace, folding not supported",
        ),
    ),
    (_req(b"X : a"), ("error", HTTPInputError, "Invalid header name 'X '")),
    (_req(b": a"), ("error", HTTPInputError, "Invalid header name ''")),
    (_req(b"Nope"), ("error", HTTPInputError, "no colon in header line")),
    (_req(b"X: a\rb"), ("error", HTTPInputError, "Invalid header value 'a\\rb'")),
    (b"\r\n\r\n", ("ok", "", [])),
]


@pytest.mark.parametrize("data, expected", HAND_HEADS)
def test_split_head_hand_written(data: bytes, expected: tuple[Any, ...]) -> None:
    assert _head_outcome(_wire.split_head, data) == expected
    assert _head_outcome(upstream_split_head, data) == expected


def test_duplicate_fields_join_with_comma() -> None:
    _, headers = _wire.split_head(_req(b"X-A: 1", b"x-a: 2", b"X-A:"))
    assert headers["X-A"] == "1,2,"
    assert headers.get_list("x-a") == ["1", "2", ""]


def test_leading_empty_lines_then_head_end() -> None:
    # Two empty lines in a row end a head (IOStream stops there): the head
    # is empty and its start line is the empty string, which the start-line
    # parser then rejects. Upstream behaves the same.
    stream = b"\r\n\r\n" + _req(b"Host: a")
    found = find_head_incrementally(stream)
    assert found is not None and found.head == b"\r\n\r\n"
    assert _wire.split_head(found.head)[0] == ""
    with pytest.raises(httputil.HTTPInputError):
        httputil.parse_request_start_line("")


def test_parse_fields_from_offset() -> None:
    text = "ignored\r\nA: 1\r\nB:2\n\r\n"
    headers = _wire.parse_fields(text, text.index("\n") + 1)
    assert list(headers.get_all()) == [("A", "1"), ("B", "2")]
    assert list(_wire.parse_fields("").get_all()) == []


# ---------------------------------------------------------------------------
# Body framing (RFC 9112 section 6.3) against upstream's _read_body
# ---------------------------------------------------------------------------


class _FakeReader:
    """Stands in for ``self`` in upstream's ``_read_body``: the body readers
    just report which one was chosen."""

    def __init__(self, is_client: bool, max_body_size: int) -> None:
        self.is_client = is_client
        self._max_body_size = max_body_size

    def _read_fixed_body(self, length: int, delegate: object) -> tuple[str, int]:
        return ("length", length)

    def _read_chunked_body(self, delegate: object) -> tuple[str, int]:
        return ("chunked", 0)

    def _read_body_until_close(self, delegate: object) -> tuple[str, int]:
        return ("until close", 0)


def _headers(lines: list[tuple[str, str]]) -> HTTPHeaders:
    headers = HTTPHeaders()
    for name, value in lines:
        # Through __setitem__/list for values add() would refuse (e.g. a
        # non-ASCII digit, which cannot arrive from the wire but can come
        # from an application), else add() like the parser.
        if name in headers:
            headers.add(name, value)
        else:
            headers[name] = value
    return headers


def _normalize_upstream(decision: Optional[tuple[str, int]]) -> tuple[str, int]:
    # A fixed body of zero bytes is no body.
    if decision is None or decision == ("length", 0):
        return ("none", 0)
    return decision


def _normalize_ours(framing: _wire.Framing) -> tuple[str, int]:
    if framing.kind is _wire.Body.NONE or (
        framing.kind is _wire.Body.LENGTH and framing.length == 0
    ):
        return ("none", 0)
    return (framing.kind.value, framing.length)


def upstream_framing(
    lines: list[tuple[str, str]], is_client: bool, status: int, max_body_size: int
) -> tuple[Any, ...]:
    headers = _headers(lines)
    fake = _FakeReader(is_client, max_body_size)
    outcome = _outcome(upstream.HTTP1Connection._read_body, fake, status, headers, None)
    if outcome[0] == "ok":
        outcome = ("ok", _normalize_upstream(outcome[1]))
    return outcome + (list(headers.get_all()),)


def ours_framing(
    lines: list[tuple[str, str]], is_client: bool, status: int, max_body_size: int
) -> tuple[Any, ...]:
    headers = _headers(lines)
    outcome = _outcome(
        lambda: _wire.body_framing(
            headers, is_client=is_client, status=status, max_body_size=max_body_size
        )
    )
    if outcome[0] == "ok":
        outcome = ("ok", _normalize_ours(outcome[1]))
    return outcome + (list(headers.get_all()),)


MB = 100 * 1024 * 1024
CL = "Content-Length"
TE = "Transfer-Encoding"


def _err(message: str) -> tuple[Any, ...]:
    return ("error", HTTPInputError, message)


Lines = list[tuple[str, str]]


class FramingCase(NamedTuple):
    lines: Lines
    is_client: bool
    status: int  # 0 for requests, as the driver passes it
    max_body_size: int
    expected: tuple[Any, ...]


def req(lines: Lines, expected: tuple[Any, ...], limit: int = MB) -> FramingCase:
    return FramingCase(lines, False, 0, limit, expected)


def resp(
    status: int, lines: Lines, expected: tuple[Any, ...], limit: int = MB
) -> FramingCase:
    return FramingCase(lines, True, status, limit, expected)


NONE = ("ok", ("none", 0))
CHUNKED = ("ok", ("chunked", 0))
UNTIL_CLOSE = ("ok", ("until close", 0))


def length(n: int) -> tuple[Any, ...]:
    return ("ok", ("length", n))


def bad_cl(value: str) -> tuple[Any, ...]:
    return _err("Only integer Content-Length is allowed: %s" % value)


def bad_te(value: str) -> tuple[Any, ...]:
    return _err("Unsupported Transfer-Encoding %s" % value)


def unequal(value: str) -> tuple[Any, ...]:
    return _err("Multiple unequal Content-Lengths: %r" % value)


TOO_LONG = _err("Content-Length too long")
BOTH = _err("Message with both Transfer-Encoding and Content-Length")
NO_204_BODY = _err("Response with code 204 should not have body")

# The RFC 9112 section 6.3 step each row exercises starts its name.
FRAMING: list[tuple[str, FramingCase]] = [
    # step 7: a request with neither field has no body
    ("s7_request_no_fields", req([], NONE)),
    ("s7_request_other_fields", req([("Host", "a"), ("Content-Type", "t/p")], NONE)),
    # step 8: a response with neither is read until the server closes
    ("s8_response_no_fields", resp(200, [], UNTIL_CLOSE)),
    ("s8_response_500", resp(500, [("Content-Type", "t/p")], UNTIL_CLOSE)),
    # step 6: a valid Content-Length
    ("s6_cl_5_request", req([(CL, "5")], length(5))),
    ("s6_cl_5_response", resp(200, [(CL, "5")], length(5))),
    ("s6_cl_0_request", req([(CL, "0")], NONE)),
    ("s6_cl_0_response", resp(200, [(CL, "0")], NONE)),
    ("s6_cl_leading_zeros", req([(CL, "007")], length(7))),
    ("s6_cl_at_limit", req([(CL, "100")], length(100), limit=100)),
    ("s6_cl_over_limit", req([(CL, "101")], TOO_LONG, limit=100)),
    ("s6_cl_huge", req([(CL, "9" * 40)], TOO_LONG)),
    ("s6_cl_over_limit_client", resp(200, [(CL, "101")], TOO_LONG, limit=100)),
    # step 5: a repeated Content-Length
    ("s5_cl_list_equal", req([(CL, "5, 5")], length(5))),
    ("s5_cl_list_equal_nospace", req([(CL, "5,5,5")], length(5))),
    ("s5_cl_list_equal_tab", req([(CL, "5,\t5")], length(5))),
    ("s5_cl_lines_equal", req([(CL, "5"), (CL, "5")], length(5))),
    ("s5_cl_lines_unequal", req([(CL, "5"), (CL, "6")], unequal("5,6"))),
    ("s5_cl_list_unequal", req([(CL, "5, 6")], unequal("5, 6"))),
    ("s5_cl_list_space_before_comma", req([(CL, "5 ,5")], unequal("5 ,5"))),
    ("s5_cl_list_empty_member", req([(CL, "5,,5")], unequal("5,,5"))),
    ("s5_cl_list_equal_invalid", req([(CL, "x, x")], bad_cl("x"))),
    ("s5_cl_list_equal_too_long", req([(CL, "200, 200")], TOO_LONG, limit=100)),
    # step 5: a Content-Length that is not 1*DIGIT is unrecoverable
    ("s5_cl_plus", req([(CL, "+5")], bad_cl("+5"))),
    ("s5_cl_minus", req([(CL, "-5")], bad_cl("-5"))),
    ("s5_cl_underscore", req([(CL, "5_0")], bad_cl("5_0"))),
    ("s5_cl_leading_space", req([(CL, " 5")], bad_cl(" 5"))),
    ("s5_cl_trailing_space", req([(CL, "5 ")], bad_cl("5 "))),
    ("s5_cl_hex", req([(CL, "0x5")], bad_cl("0x5"))),
    ("s5_cl_arabic_indic", req([(CL, "\u0665")], bad_cl("\u0665"))),
    ("s5_cl_fullwidth", req([(CL, "\uff15")], bad_cl("\uff15"))),
    ("s5_cl_superscript", req([(CL, "\u00b2")], bad_cl("\u00b2"))),
    ("s5_cl_empty", req([(CL, "")], bad_cl(""))),
    ("s5_cl_float", req([(CL, "5.0")], bad_cl("5.0"))),
    ("s5_cl_exponent", req([(CL, "5e2")], bad_cl("5e2"))),
    ("s5_cl_newline", req([(CL, "5\n")], bad_cl("5\n"))),
    ("s5_cl_response", resp(200, [(CL, "-1")], bad_cl("-1"))),
    # step 4: Transfer-Encoding; only exactly "chunked" is taken
    ("s4_te_chunked_request", req([(TE, "chunked")], CHUNKED)),
    ("s4_te_chunked_response", resp(200, [(TE, "chunked")], CHUNKED)),
    ("s4_te_upper", req([(TE, "CHUNKED")], CHUNKED)),
    ("s4_te_mixed_case", resp(200, [(TE, "ChUnKeD")], CHUNKED)),
    # (a chunked body's size is checked while it is read, not here)
    ("s4_te_chunked_zero_limit", req([(TE, "chunked")], CHUNKED, limit=0)),
    ("s4_te_gzip_chunked", req([(TE, "gzip, chunked")], bad_te("gzip, chunked"))),
    (
        "s4_te_chunked_chunked",
        req([(TE, "chunked, chunked")], bad_te("chunked, chunked")),
    ),
    (
        "s4_te_lines_twice",
        req([(TE, "chunked"), (TE, "chunked")], bad_te("chunked,chunked")),
    ),
    ("s4_te_identity", req([(TE, "identity")], bad_te("identity"))),
    ("s4_te_gzip_response", resp(200, [(TE, "gzip")], bad_te("gzip"))),
    ("s4_te_empty", req([(TE, "")], bad_te(""))),
    ("s4_te_leading_comma", req([(TE, ",chunked")], bad_te(",chunked"))),
    ("s4_te_trailing_space", req([(TE, "chunked ")], bad_te("chunked "))),
    # step 3: both fields (refused rather than dropping Content-Length)
    ("s3_te_and_cl", req([(TE, "chunked"), (CL, "5")], BOTH)),
    ("s3_cl_and_te_response", resp(200, [(CL, "5"), (TE, "chunked")], BOTH)),
    ("s3_bad_te_and_bad_cl", req([(TE, "gzip"), (CL, "x")], bad_cl("x"))),
    ("s3_te_and_cl_too_long", req([(TE, "chunked"), (CL, "101")], TOO_LONG, 100)),
    # step 1: a 204 has no body (upstream refuses one that announces one)
    ("s1_204_no_fields", resp(204, [], NONE)),
    ("s1_204_cl_0", resp(204, [(CL, "0")], NONE)),
    ("s1_204_cl_5", resp(204, [(CL, "5")], NO_204_BODY)),
    ("s1_204_chunked", resp(204, [(TE, "chunked")], NO_204_BODY)),
    ("s1_204_bad_cl", resp(204, [(CL, "x")], bad_cl("x"))),
    ("s1_204_bad_te", resp(204, [(TE, "gzip")], bad_te("gzip"))),
]

FRAMING_IDS = [name for name, _ in FRAMING]
assert len(set(FRAMING_IDS)) == len(FRAMING_IDS)


@pytest.mark.parametrize("case", [case for _, case in FRAMING], ids=FRAMING_IDS)
def test_body_framing(case: FramingCase) -> None:
    args = (case.lines, case.is_client, case.status, case.max_body_size)
    theirs = upstream_framing(*args)
    mine = ours_framing(*args)
    # Same decision, and the headers left in the same state (a repeated
    # Content-Length is rewritten to its single value).
    assert mine == theirs
    assert mine[:-1] == case.expected


def test_body_framing_rewrites_repeated_content_length() -> None:
    headers = _headers([(CL, "5"), (CL, "5")])
    framing = _wire.body_framing(headers, is_client=False, status=0, max_body_size=MB)
    assert framing == _wire.Framing(_wire.Body.LENGTH, 5, step=6)
    assert headers.get_list(CL) == ["5"]
    assert _wire.NO_BODY == _wire.Framing(_wire.Body.NONE, 0, step=1)


@pytest.mark.parametrize("case", [case for _, case in FRAMING], ids=FRAMING_IDS)
def test_is_chunked_agrees_with_upstream(case: FramingCase) -> None:
    mine = _outcome(_wire.is_chunked, _headers(case.lines))
    assert mine == _outcome(upstream.is_transfer_encoding_chunked, _headers(case.lines))
    assert mine == _outcome(ours.is_transfer_encoding_chunked, _headers(case.lines))


# ---------------------------------------------------------------------------
# keeps_alive against upstream's _can_keep_alive
# ---------------------------------------------------------------------------

C = "Connection"
KA = ("Connection", "keep-alive")

# (version, method, header lines, no_keep_alive, expected)
KEEP_ALIVE: list[tuple[str, str, Lines, bool, Any]] = [
    ("HTTP/1.1", "GET", [], False, True),
    ("HTTP/1.1", "POST", [], False, True),
    ("HTTP/1.1", "GET", [(C, "close")], False, False),
    ("HTTP/1.1", "GET", [(C, "Close")], False, False),
    ("HTTP/1.1", "GET", [(C, "CLOSE")], False, False),
    ("HTTP/1.1", "GET", [KA], False, True),
    # Only a Connection value of exactly "close" counts, as upstream.
    ("HTTP/1.1", "GET", [(C, "close, upgrade")], False, True),
    ("HTTP/1.1", "GET", [(C, "close"), (C, "close")], False, True),
    ("HTTP/1.1", "GET", [(C, "upgrade")], False, True),
    ("HTTP/1.1", "GET", [], True, False),
    ("HTTP/1.1", "GET", [KA], True, False),
    ("HTTP/1.0", "GET", [], False, False),
    ("HTTP/1.0", "GET", [KA], False, True),
    ("HTTP/1.0", "GET", [(C, "Keep-Alive")], False, True),
    ("HTTP/1.0", "GET", [(C, "KEEP-ALIVE")], False, True),
    ("HTTP/1.0", "HEAD", [KA], False, True),
    ("HTTP/1.0", "GET", [(C, "keep-alive, upgrade")], False, False),
    ("HTTP/1.0", "GET", [(C, "close")], False, False),
    ("HTTP/1.0", "GET", [KA], True, False),
    # HTTP/1.0 without a length: the request's end is unknown.
    ("HTTP/1.0", "POST", [KA], False, False),
    ("HTTP/1.0", "DELETE", [KA], False, False),
    ("HTTP/1.0", "POST", [KA, (CL, "3")], False, True),
    ("HTTP/1.0", "POST", [KA, (CL, "x")], False, True),
    ("HTTP/1.0", "POST", [KA, (TE, "chunked")], False, True),
    ("HTTP/1.0", "POST", [KA, (TE, "gzip")], False, bad_te("gzip")),
    ("HTTP/1.0", "POST", [(TE, "chunked")], False, False),
    ("HTTP/1.0", "PUT", [(TE, "chunked"), (CL, "1"), KA], False, True),
    ("HTTP/1.0", "PUT", [(TE, "chunked"), KA], True, False),
    (
        "HTTP/1.0",
        "PUT",
        [(TE, "chunked, gzip"), (C, "close")],
        False,
        bad_te("chunked, gzip"),
    ),
    ("HTTP/1.1", "PUT", [(TE, "gzip")], False, True),
    ("HTTP/1.2", "GET", [KA], False, True),
    ("HTTP/1.2", "GET", [], False, False),
    ("HTTP/2.0", "GET", [], False, False),
    ("HTTP/0.9", "GET", [KA], False, True),
]


class _FakeParams:
    def __init__(self, no_keep_alive: bool) -> None:
        self.params = types.SimpleNamespace(no_keep_alive=no_keep_alive)


@pytest.mark.parametrize("version, method, lines, no_keep_alive, expected", KEEP_ALIVE)
def test_keeps_alive(
    version: str,
    method: str,
    lines: list[tuple[str, str]],
    no_keep_alive: bool,
    expected: Any,
) -> None:
    start_line = httputil.RequestStartLine(method, "/", version)
    theirs = _outcome(
        upstream.HTTP1Connection._can_keep_alive,
        _FakeParams(no_keep_alive),
        start_line,
        _headers(lines),
    )
    mine = _outcome(_wire.keeps_alive, version, method, _headers(lines), no_keep_alive)
    assert mine == theirs
    if isinstance(expected, bool):
        assert mine == ("ok", expected)
    else:
        assert mine == expected


# ---------------------------------------------------------------------------
# parse_decimal / parse_hex against parse_int / parse_hex_int
# ---------------------------------------------------------------------------

NUMBERS = [
    "0",
    "5",
    "007",
    "1234567890",
    "9" * 50,
    "",
    " ",
    " 5",
    "5 ",
    "\t5",
    "5\n",
    "+5",
    "-5",
    "-0",
    "5_0",
    "_5",
    "0x5",
    "0X5",
    "0b1",
    "0o7",
    "5.0",
    "5e3",
    "1,000",
    "\u0665",  # ARABIC-INDIC DIGIT FIVE
    "1\u0665",
    "\uff15",  # FULLWIDTH DIGIT FIVE
    "\u00b2",  # SUPERSCRIPT TWO
    "\u2155",  # VULGAR FRACTION ONE FIFTH (isnumeric)
    "\u0e53",  # THAI DIGIT THREE
    "a",
    "f",
    "F",
    "ff",
    "FF",
    "deadBEEF",
    "g",
    "G",
    "0xff",
    "+ff",
    "-ff",
    "f_f",
    " ff",
    "ff ",
    "\uff41",  # FULLWIDTH LATIN SMALL LETTER A
    "\u0661f",
    "0" * 64 + "1",
    "ffffffffffffffffffffffffffffffff",
    "inf",
    "nan",
    "\x00",
    "5\x00",
]

HAND_DECIMAL = {"0": 0, "5": 5, "007": 7, "1234567890": 1234567890}
HAND_HEX = {
    "0": 0,
    "5": 5,
    "a": 10,
    "F": 15,
    "ff": 255,
    "FF": 255,
    "deadBEEF": 0xDEADBEEF,
}


@pytest.mark.parametrize("text", NUMBERS)
def test_parse_decimal(text: str) -> None:
    mine = _outcome(_wire.parse_decimal, text)
    assert mine == _outcome(upstream.parse_int, text)
    assert _outcome(ours.parse_int, text) == mine
    if text in HAND_DECIMAL:
        assert mine == ("ok", HAND_DECIMAL[text])
    elif not (text.isascii() and text.isdigit()):
        assert mine == ("error", ValueError, "not an integer: %r" % text)


@pytest.mark.parametrize("text", NUMBERS)
def test_parse_hex(text: str) -> None:
    mine = _outcome(_wire.parse_hex, text)
    assert mine == _outcome(upstream.parse_hex_int, text)
    assert _outcome(ours.parse_hex_int, text) == mine
    if text in HAND_HEX:
        assert mine == ("ok", HAND_HEX[text])
    elif not (text and all(c in "0123456789abcdefABCDEF" for c in text)):
        assert mine == ("error", ValueError, "not a hexadecimal integer: %r" % text)


# ---------------------------------------------------------------------------
# Sending: encode_head, frame_chunk, and when to chunk, against upstream's
# write_headers driven over a fake stream
# ---------------------------------------------------------------------------


class _FakeStream:
    """Just enough of an IOStream for ``write_headers`` and ``write``."""

    max_buffer_size = 100 * 1024 * 1024

    def __init__(self) -> None:
        self.written = b""
        self.io_loop = types.SimpleNamespace(time=lambda: 0.0)

    def set_close_callback(self, callback: object) -> None:
        pass

    def closed(self) -> bool:
        return False

    def set_nodelay(self, value: bool) -> None:
        pass

    def write(self, data: bytes) -> Future[None]:
        self.written += data
        future: Future[None] = Future()
        future.set_result(None)
        return future


def _in_loop(func: Callable[[], Any]) -> Any:
    """Run ``func`` inside an event loop (Futures need one)."""

    async def main() -> Any:
        return func()

    return asyncio.run(main())


def _drive_write_headers(
    module: types.ModuleType,
    start_line: Any,
    headers: HTTPHeaders,
    request: Optional[httputil.RequestStartLine] = None,
    request_headers: Optional[HTTPHeaders] = None,
) -> tuple[Any, ...]:
    """Call ``module.HTTP1Connection.write_headers`` and report what it
    wrote (or raised) and the headers it ended up sending."""

    def run() -> tuple[Any, ...]:
        stream = _FakeStream()
        conn = module.HTTP1Connection(stream, request is None)
        if request is not None:
            # A server connection that has read ``request``: set up through
            # each implementation's own reading code path would need a
            # socket, so the attributes each reads are set directly.
            if module is upstream:
                conn._request_start_line = request
                conn._request_headers = request_headers or HTTPHeaders()
            else:
                conn._exchange.received_head(
                    " ".join(request), request_headers or HTTPHeaders()
                )
        try:
            conn.write_headers(start_line, headers)
        except Exception as e:
            return ("error", type(e), str(e))
        return ("ok", stream.written)

    return _in_loop(run)


ENCODE: list[tuple[str, str, list[tuple[Any, Any]], tuple[Any, ...]]] = [
    # (name, request path, header (name, value) pairs, expected)
    ("no_fields", "/", [], ("ok", b"GET / HTTP/1.1\r\n\r\n")),
    ("one_field", "/x", [("Host", "a")], ("ok", b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")),
    (
        "order_and_repeats_kept",
        "/",
        [("B", "1"), ("A", "2"), ("B", "3")],
        ("ok", b"GET / HTTP/1.1\r\nB: 1\r\nB: 3\r\nA: 2\r\n\r\n"),
    ),
    (
        "name_normalized",
        "/",
        [("x-abc-d", "v")],
        ("ok", b"GET / HTTP/1.1\r\nX-Abc-D: v\r\n\r\n"),
    ),
    ("empty_value", "/", [("X", "")], ("ok", b"GET / HTTP/1.1\r\nX: \r\n\r\n")),
    (
        "latin1_value",
        "/",
        [("X", "caf\xe9")],
        ("ok", b"GET / HTTP/1.1\r\nX: caf\xe9\r\n\r\n"),
    ),
    (
        "bytes_value_utf8",
        "/",
        [("X", "é".encode())],
        ("ok", b"GET / HTTP/1.1\r\nX: \xe9\r\n\r\n"),
    ),
    (
        "bytes_value_ascii",
        "/",
        [("X", b"abc")],
        ("ok", b"GET / HTTP/1.1\r\nX: abc\r\n\r\n"),
    ),
    ("digit_value", "/", [("X", "5")], ("ok", b"GET / HTTP/1.1\r\nX: 5\r\n\r\n")),
    ("utf8_path", "/\u00e9", [], ("ok", b"GET /\xc3\xa9 HTTP/1.1\r\n\r\n")),
    (
        "cr_in_value",
        "/",
        [("X", "a\rb")],
        ("error", ValueError, "Illegal characters (CR or LF) in header: b'X: a\\rb'"),
    ),
    (
        "lf_in_value",
        "/",
        [("X", "a\nSet-Cookie: evil")],
        (
            "error",
            ValueError,
            "Illegal characters (CR or LF) in header: b'X: a\\nSet-Cookie: evil'",
        ),
    ),
    (
        "crlf_in_bytes_value",
        "/",
        [("X", b"a\r\nb")],
        (
            "error",
            ValueError,
            "Illegal characters (CR or LF) in header: b'X: a\\r\\nb'",
        ),
    ),
    (
        "lf_in_start_line",
        "/a\nb",
        [],
        (
            "error",
            ValueError,
            "Illegal characters (CR or LF) in header: b'GET /a\\nb HTTP/1.1'",
        ),
    ),
    (
        "non_latin1_value",
        "/",
        [("X", "\u20ac")],
        ("error", UnicodeEncodeError, None),
    ),
    (
        "non_latin1_before_crlf",
        "/",
        [("A", "a\r\n"), ("X", "\u20ac")],
        ("error", UnicodeEncodeError, None),
    ),
    (
        "invalid_utf8_bytes",
        "/",
        [("X", b"\xff")],
        ("error", UnicodeDecodeError, None),
    ),
]


def _encode_headers(pairs: list[tuple[Any, Any]]) -> HTTPHeaders:
    headers = HTTPHeaders()
    for name, value in pairs:
        # __setitem__ / the list: no validation, like an application that
        # builds headers itself.
        if name in headers:
            headers._as_list[httputil._normalize_header(name)].append(value)
            headers._combined_cache.clear()
        else:
            headers[name] = value
    return headers


def _same_error(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return a == b or (a[0] == b[0] == "error" and a[1] is b[1])


@pytest.mark.parametrize(
    "path, pairs, expected", [row[1:] for row in ENCODE], ids=[row[0] for row in ENCODE]
)
def test_encode_head(
    path: str, pairs: list[tuple[Any, Any]], expected: tuple[Any, ...]
) -> None:
    start = httputil.RequestStartLine("GET", path, "HTTP/1.1")
    first = f"{start[0]} {start[1]} HTTP/1.1".encode()
    mine = _outcome(_wire.encode_head, first, _encode_headers(pairs))
    theirs = _drive_write_headers(upstream, start, _encode_headers(pairs))
    via_ours = _drive_write_headers(ours, start, _encode_headers(pairs))
    if expected[0] == "error" and expected[2] is None:
        # Unicode errors: the type is what matters (the message names the
        # codec position, which is the same anyway).
        assert mine[:2] == theirs[:2] == via_ours[:2] == expected[:2]
        assert mine == theirs
    else:
        assert mine == theirs == via_ours == expected


def test_encode_head_start_line_with_cr() -> None:
    mine = _outcome(_wire.encode_head, b"HTTP/1.1 200 O\rK", HTTPHeaders())
    assert mine == (
        "error",
        ValueError,
        "Illegal characters (CR or LF) in header: b'HTTP/1.1 200 O\\rK'",
    )


FRAME_SIZES = [1, 9, 10, 15, 16, 17, 255, 256, 4095, 4096, 65535, 65536, 1 << 20]


@pytest.mark.parametrize("size", FRAME_SIZES)
def test_frame_chunk(size: int) -> None:
    chunk = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    assert len(chunk) == size
    expected = b"%x\r\n" % size + chunk + b"\r\n"
    assert _wire.frame_chunk(chunk) == expected
    fake = types.SimpleNamespace(
        _expected_content_remaining=None, _chunking_output=True
    )
    assert upstream.HTTP1Connection._format_chunk(fake, chunk) == expected  # type: ignore[arg-type]


def test_frame_chunk_hand_written() -> None:
    assert _wire.frame_chunk(b"hello") == b"5\r\nhello\r\n"
    assert _wire.frame_chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    assert _wire.LAST_CHUNK == b"0\r\n\r\n"
    assert _wire.CONTINUE == b"HTTP/1.1 100 (Continue)\r\n\r\n"
    assert _wire.BAD_REQUEST == b"HTTP/1.1 400 Bad Request\r\n\r\n"


# Truth tables for when the sender must use chunked coding.
RESPONSE_VERSIONS = ["HTTP/1.1", "HTTP/1.0"]
RESPONSE_METHODS = ["GET", "HEAD", "POST"]
RESPONSE_STATUSES = [100, 101, 199, 200, 201, 204, 299, 304, 404, 500]


def _expected_response_chunked(
    version: str, method: str, status: int, has_cl: bool
) -> bool:
    # RFC 9112 section 6.1/6.3: only an HTTP/1.1 peer can take chunked
    # coding; HEAD, 1xx, 204 and 304 responses have no body to delimit; a
    # Content-Length delimits it already.
    return (
        version == "HTTP/1.1"
        and method != "HEAD"
        and status not in (204, 304)
        and not (100 <= status < 200)
        and not has_cl
    )


@pytest.mark.parametrize("has_cl", [False, True])
@pytest.mark.parametrize("method", RESPONSE_METHODS)
@pytest.mark.parametrize("version", RESPONSE_VERSIONS)
def test_response_chunked_truth_table(version: str, method: str, has_cl: bool) -> None:
    for status in RESPONSE_STATUSES:
        headers = HTTPHeaders({CL: "0"} if has_cl else {})
        mine = _wire.response_chunked(version, method, status, headers)
        assert mine is _expected_response_chunked(version, method, status, has_cl)
        # Upstream's decision, read from what its write_headers sends.
        request = httputil.RequestStartLine(method, "/", version)
        start = httputil.ResponseStartLine("HTTP/1.1", status, "R")
        for module in (upstream, ours):
            sent = _drive_write_headers(
                module, start, HTTPHeaders(headers), request=request
            )
            assert sent[0] == "ok"
            assert (b"\r\nTransfer-Encoding: chunked\r\n" in sent[1]) is mine, (
                module.__name__,
                status,
            )


REQUEST_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "post"]


@pytest.mark.parametrize("has_cl", [False, True])
@pytest.mark.parametrize("method", REQUEST_METHODS)
def test_request_chunked_truth_table(method: str, has_cl: bool) -> None:
    headers = HTTPHeaders({CL: "0"} if has_cl else {})
    mine = _wire.request_chunked(method, headers)
    assert mine is (method in ("POST", "PUT", "PATCH") and not has_cl)
    start = httputil.RequestStartLine(method, "/", "HTTP/1.1")
    for module in (upstream, ours):
        sent = _drive_write_headers(module, start, HTTPHeaders(headers))
        assert sent[0] == "ok"
        assert (b"\r\nTransfer-Encoding: chunked\r\n" in sent[1]) is mine


CONNECTION_CASES = [
    # (request version, request Connection, no_keep_alive, response has CL)
    ("HTTP/1.1", None, False),
    ("HTTP/1.1", "close", False),
    ("HTTP/1.1", None, True),
    ("HTTP/1.0", "keep-alive", False),
    ("HTTP/1.0", "Keep-Alive", True),
    ("HTTP/1.0", None, False),
]


@pytest.mark.parametrize("version, connection, no_keep_alive", CONNECTION_CASES)
def test_response_head_matches_upstream(
    version: str, connection: Optional[str], no_keep_alive: bool
) -> None:
    """The whole response head, framing and Connection fields included, is
    byte-for-byte what upstream sends for the same request."""
    request = httputil.RequestStartLine("GET", "/", version)
    request_headers = HTTPHeaders({"Connection": connection} if connection else {})
    close = not _wire.keeps_alive(version, "GET", request_headers, no_keep_alive)

    def run(module: types.ModuleType) -> bytes:
        stream = _FakeStream()
        conn = module.HTTP1Connection(stream, False)
        if module is upstream:
            conn._request_start_line = request
            conn._disconnect_on_finish = close
            conn._request_headers = request_headers
        else:
            conn._exchange.no_keep_alive = no_keep_alive
            conn._exchange.received_head(" ".join(request), request_headers)
        conn.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            HTTPHeaders({"Content-Type": "text/plain"}),
            b"hi",
        )
        return stream.written

    theirs = _in_loop(lambda: run(upstream))
    mine = _in_loop(lambda: run(ours))
    assert mine == theirs
    assert mine.startswith(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")


# ---------------------------------------------------------------------------
# Property: what we encode, we parse back
# ---------------------------------------------------------------------------

TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
FIELD_VCHARS = "".join(chr(c) for c in range(0x21, 0x7F)) + "".join(
    chr(c) for c in range(0x80, 0x100)
)

field_names = st.text(alphabet=TCHARS, min_size=1, max_size=20)
# A field value neither starts nor ends with whitespace (RFC 9110 5.5).
field_values = st.text(alphabet=FIELD_VCHARS + " \t", max_size=30).map(
    lambda value: value.strip(" \t")
)


@settings(max_examples=300, deadline=None)
@given(
    fields=st.lists(st.tuples(field_names, field_values), max_size=12),
    target=st.text(alphabet=FIELD_VCHARS, min_size=1, max_size=20),
)
def test_encode_split_round_trip(fields: list[tuple[str, str]], target: str) -> None:
    headers = HTTPHeaders()
    for name, value in fields:
        headers.add(name, value)
    start_line = ("GET %s HTTP/1.1" % target).encode("latin1")
    data = _wire.encode_head(start_line, headers)
    # Exactly one head, ending at the very end.
    m = _abnf.head_end.search(data)
    assert m is not None and m.end() == len(data)
    found = find_head_incrementally(data)
    assert found is not None and found.head == data
    start, parsed = _wire.split_head(data)
    assert start == start_line.decode("latin1")
    assert list(parsed.get_all()) == list(headers.get_all())
    assert _head_outcome(upstream_split_head, data) == _head_outcome(
        _wire.split_head, data
    )


# Pieces that matter to head parsing; random heads are made of these.
HEAD_PIECES = st.sampled_from(
    [
        b"\r",
        b"\n",
        b"\r\n",
        b" ",
        b"\t",
        b":",
        b"a",
        b"B",
        b"-",
        b"@",
        b"\x00",
        b"\x0b",
        b"\x0c",
        b"\x1c",
        b"\x7f",
        b"\x85",
        b"\xa0",
        b"\xff",
        b"GET / HTTP/1.1",
        b"X: y",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(HEAD_PIECES, max_size=16))
def test_random_heads_parse_like_upstream(pieces: list[bytes]) -> None:
    # Whatever IOStream would hand over as a head, both parsers agree on:
    # the same start line and fields, or the same error.
    stream = b"".join(pieces) + b"\r\n\r\n"
    found = find_head_incrementally(stream)
    assert found is not None
    assert found.head + found.rest == stream
    ours = _head_outcome(_wire.split_head, found.head)
    if ours != _head_outcome(upstream_split_head, found.head):
        # Only a lone CR may part the two, and then tornado_h1 refuses.
        assert _has_lone_cr(found.head)
        assert _refused(found.head)


# chunk_size: RFC 9112 §7.1 ``1*HEXDIG CRLF``, at most 16 digits.
CHUNK_SIZE_LINES = [
    (b"0\r\n", 0),
    (b"a\r\n", 10),
    (b"FFff\r\n", 0xFFFF),
    (b"0000000000000005\r\n", 5),  # 16 digits: accepted
    (b"00000000000000005\r\n", None),  # 17 digits: refused, zeros or not
    (b"10000000000000000\r\n", None),
    (b"\r\n", None),
    (b"5;ext=1\r\n", None),  # extensions are not accepted
    (b" 5\r\n", None),
    (b"+5\r\n", None),
    (b"0x5\r\n", None),
    (b"5 \r\n", None),
]


@pytest.mark.parametrize("line, expected", CHUNK_SIZE_LINES)
def test_chunk_size(line: bytes, expected: Any) -> None:
    if expected is None:
        with pytest.raises(HTTPInputError, match="^invalid chunk size$"):
            _wire.chunk_size(line)
    else:
        assert _wire.chunk_size(line) == expected
