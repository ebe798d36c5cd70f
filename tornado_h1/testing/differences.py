"""Where tornado_h1 deliberately behaves differently from the installed
Tornado, as data: one :class:`Difference` per difference, in
:data:`DIFFERENCES`.

The docs draw their table of deliberate differences from here
(``docs/_ext/differences.py``, which fails the build if a record's code is
gone), and ``tests/test_differences.py`` checks that every test a record
names exists and names the record back: each pinned test carries
:func:`token` (``difference:<id>``) in its docstring or in the reason of
one of its marks. So a difference cannot be added, dropped or moved without
this list, the docs and the tests agreeing.

It lives in :mod:`tornado_h1.testing` because the docs, the tests and mypy
all read it as typed Python, with no file format to parse.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["DIFFERENCES", "Difference", "by_id", "token"]


class Difference(NamedTuple):
    """One deliberate difference. The text fields are reStructuredText."""

    #: Short and stable: tests refer to the record by it (see `token`).
    id: str
    #: What input or call shows the difference.
    what: str
    #: What the installed Tornado does.
    upstream: str
    #: What tornado_h1 does.
    ours: str
    #: Why tornado_h1 differs.
    why: str
    #: Dotted names of the code that makes the difference.
    code: tuple[str, ...]
    #: Node ids, from the project's root, of the tests that pin it.
    tests: tuple[str, ...]


def token(difference_id: str) -> str:
    """What a pinned test's docstring or mark reason says to name its record."""
    return "difference:" + difference_id


_DIFFERENTIAL = "tests/test_differential.py::"
_OWN = "tests/test_differences.py::"

#: :meta hide-value:
DIFFERENCES: tuple[Difference, ...] = (
    Difference(
        id="bare-cr-start-line",
        what="A lone CR around the request line (``GET / HTTP/1.1\\r\\r\\n``, "
        "or a lone CR before it)",
        upstream="stripped, request served",
        ours="400 and close",
        why="RFC 9112 §2.2: a bare CR is not a line break. Parsers that "
        "disagree on line breaks disagree on where fields start (smuggling).",
        code=("tornado_h1._wire.split_head", "tornado_h1._abnf.empty_lines"),
        tests=(
            _DIFFERENTIAL + "test_server_whole[cr-cr-lf-after-request-line]",
            _DIFFERENTIAL + "test_server_whole[lone-cr-before-request-line]",
            _DIFFERENTIAL + "test_server_bytewise[cr-cr-lf-after-request-line]",
            _DIFFERENTIAL + "test_server_bytewise[lone-cr-before-request-line]",
        ),
    ),
    Difference(
        id="content-length-digits",
        what="``Content-Length`` with more than 18 digits",
        upstream="converted with ``int()``: a small value padded with zeros "
        "is served, a large one refused as too long, and one of more than "
        "4300 digits (Python's limit) refused as not an integer",
        ours="400 and close, refused as too long without conversion",
        why="Converting thousands of attacker-supplied digits costs CPU, and "
        "no body needs 19 digits: a length that long is padded to make "
        "parsers disagree, or hostile.",
        code=("tornado_h1._wire._content_length",),
        tests=(
            _DIFFERENTIAL + "test_server_whole[cl-21-digits]",
            _OWN + "test_thousands_of_length_digits_are_not_converted",
        ),
    ),
    Difference(
        id="chunk-size-digits",
        what="A chunk-size with more than 16 hex digits (leading zeros included)",
        upstream="accepted up to the 64-byte line limit",
        ours="400 and close",
        why="RFC 9112 §7.1; a padded size is a classic way to make two "
        "parsers disagree.",
        code=("tornado_h1._wire.chunk_size",),
        tests=(_OWN + "test_a_padded_chunk_size_is_refused",),
    ),
    Difference(
        id="head-end-pattern",
        what="The pattern that finds the end of a head",
        upstream="``\\r?\\n\\r?\\n``",
        ours="``\\n\\r?\\n``: the same matches, but the regex engine can scan "
        "for the literal LF, about 25 times faster on a long head. IOStream "
        "searches the whole buffer again each time more of a head arrives, so "
        "a head trickled in many small writes costs that search many times. "
        "The one visible trace: IOStream's INFO line for an oversized head "
        "quotes the pattern.",
        why="A slow client must not cost the server much CPU.",
        code=("tornado_h1._abnf.head_end",),
        tests=(_DIFFERENTIAL + "test_server_whole[head-too-large]",),
    ),
    Difference(
        id="chunk-line-too-long",
        what="A chunk-size line longer than 64 bytes",
        upstream="IOStream's unsatisfiable read: the server closes without an "
        "answer; the client logs an ERROR and waits for its timeout",
        ours="400 and close; a clean error on the client",
        why="Bad input gets a clear error, never an application error.",
        code=("tornado_h1._abnf.chunk_line", "tornado_h1._chunked.ChunkedDecoder"),
        tests=(
            _DIFFERENTIAL + "test_server_whole[chunk-size-line-too-long]",
            _OWN + "test_a_client_refuses_a_long_chunk_size_line_at_once",
        ),
    ),
    Difference(
        id="nothing-after-close",
        what="Requests already buffered behind one whose response ends the "
        "connection (``Connection: close``, HTTP/1.0, ``no_keep_alive``, an "
        "early response)",
        upstream="read from the closed stream and handed to the application, "
        "whose answers go nowhere",
        ours="not read",
        why="RFC 9112 §9.6: a server MUST NOT process further requests after "
        "it sends ``close``.",
        code=(
            "tornado_h1.http1connection.HTTP1Connection._settle",
            "tornado_h1.http1connection.HTTP1Connection._read_head",
        ),
        tests=(
            _DIFFERENTIAL + "test_server_whole[pipelined-mixed]",
            _DIFFERENTIAL + "test_server_whole[early-with-body]",
            _DIFFERENTIAL + "test_server_whole[early-no-body]",
            _DIFFERENTIAL + "test_server_whole[no-keep-alive-param]",
        ),
    ),
    Difference(
        id="repeated-fields-linear",
        what="Repeated header fields on Tornado 6.2 to 6.5.2",
        upstream="each repeat re-joins the combined value (quadratic)",
        ours="linear",
        why="CVE-2025-67725 was fixed in Tornado's ``HTTPHeaders`` only in 6.5.3.",
        code=("tornado_h1._tornado.add_repeat", "tornado_h1._tornado.join_repeats"),
        tests=(_OWN + "test_repeated_fields_skip_a_quadratic_add",),
    ),
    Difference(
        id="framing-as-6-6-1",
        what="Message framing on Tornado 6.2 to 6.5: obs-fold in a request, a "
        "repeated or listed ``Transfer-Encoding``, a signed or underscored "
        "length or chunk size, a NUL, a lone CR or a space before the colon "
        "in a field line, a chunk not ended by CRLF",
        upstream="served by the releases that predate each fix (a bad chunk "
        "end: closed without an answer)",
        ours="400 and close, as Tornado 6.6.1 answers, on every release",
        why="Framing is never weaker than Tornado 6.6.1's: where an old "
        "release was lenient in a way later fixed as a security problem, the "
        "fix applies everywhere.",
        code=(
            "tornado_h1._wire.parse_fields",
            "tornado_h1._wire.is_chunked",
            "tornado_h1._abnf.content_length",
            "tornado_h1._chunked.ChunkedDecoder",
        ),
        tests=(_OWN + "test_framing_does_not_follow_the_release",),
    ),
    Difference(
        id="gzip-close-once",
        what="Truncated gzip body (``decompress_request=True``)",
        upstream="the application's delegate is told of the close twice; "
        "Tornado's callable adapter (an application that is a plain function) "
        "then logs an ERROR",
        ours="told once; a 400 and a close, no ERROR log",
        why="Bad input must never produce an application error.",
        code=("tornado_h1._delegates._GzipMessageDelegate.finish",),
        tests=(
            _DIFFERENTIAL + "test_known_difference_truncated_gzip[server]",
            _DIFFERENTIAL + "test_known_difference_truncated_gzip[client]",
        ),
    ),
    Difference(
        id="write-futures",
        what="``write()`` called again before an earlier write completed",
        upstream="the earlier write's future never resolves",
        ours="every future resolves when its data is written",
        why="An application awaiting the earlier future would hang.",
        code=(
            "tornado_h1.http1connection.HTTP1Connection._send",
            "tornado_h1._link.relay_write",
        ),
        tests=(_DIFFERENTIAL + "test_overlapping_write_futures",),
    ),
    Difference(
        id="nodelay-once",
        what="TCP_NODELAY on a keep-alive server connection",
        upstream="toggled on and off for every response",
        ours="on from the first response until the connection closes",
        why="Two system calls per request saved; responses are written in one "
        "piece anyway.",
        code=("tornado_h1.http1connection.HTTP1Connection.finish",),
        tests=(_DIFFERENTIAL + "test_nodelay_between_requests",),
    ),
    Difference(
        id="concurrent-read-response",
        what="``read_response()`` called again while one is still reading (a misuse)",
        upstream="IOStream's assertion fails: ``AssertionError: Already reading``",
        ours="`~tornado_h1._state.StateError` (``inbound HEAD cannot take START``)",
        why="Every move of an exchange is in a transition table; one that is "
        "not raises, naming the state it was in.",
        code=("tornado_h1._state.INBOUND", "tornado_h1._state.StateError"),
        tests=(_DIFFERENTIAL + "test_concurrent_read_response",),
    ),
)


def by_id(difference_id: str) -> Difference:
    """The record called ``difference_id`` (`KeyError` if there is none)."""
    for difference in DIFFERENCES:
        if difference.id == difference_id:
            return difference
    raise KeyError(difference_id)
