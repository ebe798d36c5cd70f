"""A wire corpus of hostile requests, each sent over a real socket to a real
``HTTPServer`` + ``tornado.web.Application``.

Each case states what tornado_h1 must do: the status codes it answers with
(in order; ``[]`` for none), whether it closes the connection, and exactly
which requests reach the application (method, target and body, recorded by
the handler). Every case also runs against Tornado's own ``HTTPServer`` with
Tornado's own ``http1connection``; tornado_h1 must never serve a request
that upstream refuses (it may refuse more).

A case tornado_h1 gets wrong is marked ``xfail(strict=True)`` with the rule
it breaks, so that fixing the core turns it into a failure to be unmarked.

The harness is :class:`tornado_h1.testing.targets.ServerTarget`: it waits for the
server to settle (closed, or waiting for input with nothing unread and
nothing to write) instead of sleeping, so the outcomes are deterministic.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from typing import Any, Callable, NamedTuple, Optional, Union

import pytest
import tornado.httpserver

import tornado_h1
from tornado_h1.testing.targets import (
    PATIENCE,
    ClientTarget,
    ResponseServer,
    ServerOutcome,
    ServerTarget,
    is_prefix,
)
from tornado_h1.testing.wire import SMUGGLED

pytestmark = pytest.mark.usefixtures("logs")

Served = tuple[str, str, bytes]


class Case(NamedTuple):
    id: str
    data: Union[bytes, tuple[bytes, ...]]
    statuses: list[int]
    closed: bool
    served: list[Served]
    options: dict[str, Any] = {}
    #: Non-empty: tornado_h1 breaks this rule today (xfail, strict).
    violates: str = ""

    @property
    def pieces(self) -> tuple[bytes, ...]:
        return self.data if isinstance(self.data, tuple) else (self.data,)


CASES: list[Case] = []


def req(
    start: bytes = b"GET / HTTP/1.1",
    fields: bytes = b"Host: x\r\n",
    body: bytes = b"",
) -> bytes:
    """A request: start line, CRLF, the field lines as given (each with its
    own line end), the empty line, the body."""
    return start + b"\r\n" + fields + b"\r\n" + body


def post(fields: bytes, body: bytes = b"", target: bytes = b"/") -> bytes:
    return req(b"POST " + target + b" HTTP/1.1", b"Host: x\r\n" + fields, body)


def bad(id: str, data: Union[bytes, tuple[bytes, ...]], **kw: Any) -> None:
    """Refused with 400, connection closed, nothing served."""
    CASES.append(Case(id, data, [400], True, [], **kw))


def ok(
    id: str,
    data: Union[bytes, tuple[bytes, ...]],
    *served: Served,
    statuses: Optional[list[int]] = None,
    closed: bool = False,
    **kw: Any,
) -> None:
    """Each of ``served`` reaches the application, answered with 200."""
    CASES.append(
        Case(
            id,
            data,
            [200] * len(served) if statuses is None else statuses,
            closed,
            list(served),
            **kw,
        )
    )


def case(
    id: str,
    data: Union[bytes, tuple[bytes, ...]],
    statuses: list[int],
    closed: bool,
    served: list[Served],
    **kw: Any,
) -> None:
    CASES.append(Case(id, data, statuses, closed, served, **kw))


GET: Served = ("GET", "/", b"")
HELLO: Served = ("POST", "/", b"hello")
CHUNKED_HELLO = b"5\r\nhello\r\n0\r\n\r\n"
TE = b"Transfer-Encoding: chunked\r\n"
NEXT = b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
NEXT_SERVED: Served = ("GET", "/next", b"")
SMUGGLED_SERVED: Served = ("GET", "/smuggled", b"")

# ---------------------------------------------------------------- baseline

ok("get", req(), GET)
ok("post-length", post(b"Content-Length: 5\r\n", b"hello"), HELLO)
ok("post-chunked", post(TE, b"3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"), HELLO)
ok("http10-no-host-closes", req(b"GET / HTTP/1.0", b""), GET, closed=True)
ok(
    "http10-keep-alive",
    req(b"GET / HTTP/1.0", b"Connection: keep-alive\r\n"),
    GET,
)
ok(
    "chunk-size-hex-upper",
    post(TE, b"A\r\nhellohello\r\n0\r\n\r\n"),
    ("POST", "/", b"hellohello"),
)
ok(
    "chunk-size-hex-lower",
    post(TE, b"a\r\nhellohello\r\n0\r\n\r\n"),
    ("POST", "/", b"hellohello"),
)
ok("chunk-size-leading-zeros", post(TE, b"0005\r\nhello\r\n0\r\n\r\n"), HELLO)
ok(
    "many-tiny-chunks",
    post(TE, b"1\r\nx\r\n" * 100 + b"0\r\n\r\n"),
    ("POST", "/", b"x" * 100),
)
ok(
    "streaming-handler",
    post(TE, CHUNKED_HELLO, b"/stream"),
    ("POST", "/stream", b"hello"),
)
ok(
    "expect-100-continue",
    post(b"Expect: 100-continue\r\nContent-Length: 5\r\n", b"hello"),
    HELLO,
    statuses=[100, 200],
)
ok("empty-line-before-request", b"\r\n" + req(), GET)
ok("bare-lf-empty-line-before-request", b"\n" + req(), GET)
# Only one: the head ends at the first empty line, so two leading empty
# lines are an (empty) head of their own, as in upstream.
bad("two-empty-lines-before-request", b"\r\n\r\n" + req())
ok(
    "get-with-body",
    req(fields=b"Host: x\r\nContent-Length: 5\r\n", body=b"hello"),
    ("GET", "/", b"hello"),
)

# ------------------------------------------------------ Content-Length rules

ok("cl-leading-zeros", post(b"Content-Length: 005\r\n", b"hello"), HELLO)
ok("cl-ows-spaces", post(b"Content-Length:   5   \r\n", b"hello"), HELLO)
ok("cl-ows-tabs", post(b"Content-Length:\t5\t\r\n", b"hello"), HELLO)
ok("cl-no-ows", post(b"Content-Length:5\r\n", b"hello"), HELLO)
ok("cl-list-equal", post(b"Content-Length: 5, 5\r\n", b"hello"), HELLO)
ok("cl-list-equal-no-space", post(b"Content-Length: 5,5,5\r\n", b"hello"), HELLO)
ok(
    "cl-repeat-equal",
    post(b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"),
    HELLO,
)
ok("cl-zero", post(b"Content-Length: 0\r\n"), ("POST", "/", b""))
bad("cl-plus", post(b"Content-Length: +5\r\n", b"hello"))
bad("cl-minus", post(b"Content-Length: -5\r\n", b"hello"))
bad("cl-minus-zero", post(b"Content-Length: -0\r\n"))
bad("cl-underscore", post(b"Content-Length: 5_0\r\n", b"hello"))
bad("cl-hex", post(b"Content-Length: 0x5\r\n", b"hello"))
bad("cl-decimal-point", post(b"Content-Length: 5.0\r\n", b"hello"))
bad("cl-exponent", post(b"Content-Length: 5e0\r\n", b"hello"))
bad("cl-inner-space", post(b"Content-Length: 1 0\r\n", b"hello"))
bad("cl-inner-tab", post(b"Content-Length: 1\t0\r\n", b"hello"))
bad("cl-quoted", post(b'Content-Length: "5"\r\n', b"hello"))
bad("cl-empty", post(b"Content-Length:\r\n", b"hello"))
bad("cl-superscript-two", post(b"Content-Length: \xb2\r\n", b"hello"))
bad("cl-fullwidth-digit-utf8", post(b"Content-Length: \xef\xbc\x95\r\n", b"hello"))
bad("cl-arabic-indic-digit-utf8", post(b"Content-Length: \xd9\xa5\r\n", b"hello"))
bad("cl-trailing-nbsp", post(b"Content-Length: 5\xa0\r\n", b"hello"))
bad("cl-leading-nbsp", post(b"Content-Length: \xa05\r\n", b"hello"))
bad("cl-trailing-nel", post(b"Content-Length: 5\x85\r\n", b"hello"))
bad("cl-trailing-vt", post(b"Content-Length: 5\x0b\r\n", b"hello"))
bad("cl-leading-ff", post(b"Content-Length: \x0c5\r\n", b"hello"))
bad("cl-trailing-nul", post(b"Content-Length: 5\x00\r\n", b"hello"))
bad("cl-list-unequal", post(b"Content-Length: 5, 6\r\n", b"hello"))
bad("cl-list-unequal-late", post(b"Content-Length: 5,5,6\r\n", b"hello"))
bad("cl-list-trailing-comma", post(b"Content-Length: 5,\r\n", b"hello"))
bad("cl-list-leading-comma", post(b"Content-Length: ,5\r\n", b"hello"))
bad("cl-list-empty-member", post(b"Content-Length: 5,,5\r\n", b"hello"))
bad("cl-list-equal-padded", post(b"Content-Length: 5, 05\r\n", b"hello"))
bad("cl-repeat-unequal", post(b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello"))
bad("cl-repeat-one-empty", post(b"Content-Length: 5\r\nContent-Length:\r\n", b"hello"))
bad("cl-too-large-for-server", post(b"Content-Length: 99999999999999999999999\r\n"))
bad(
    "cl-length-cap-20-digits",
    post(b"Content-Length: " + b"0" * 19 + b"5\r\n", b"hello"),
)
bad(
    "cl-length-cap-many-zeros",
    post(b"Content-Length: " + b"0" * 40 + b"5\r\n", b"hello"),
)
bad(
    "cl-length-cap-1000-zeros",
    post(b"Content-Length: " + b"0" * 1000 + b"5\r\n", b"hello"),
)
bad("cl-length-cap-5000-digits", post(b"Content-Length: " + b"1" * 5000 + b"\r\n"))
bad("cl-space-before-colon", post(b"Content-Length : 5\r\n", b"hello"))
bad("cl-tab-before-colon", post(b"Content-Length\t: 5\r\n", b"hello"))
bad("cl-obs-fold-value", post(b"Content-Length:\r\n 5\r\n", b"hello"))
bad("cl-obs-fold-continuation", post(b"Content-Length: 5\r\n 6\r\n", b"hello"))
bad(
    "cl-first-line-folded",
    req(b"POST / HTTP/1.1", b" Content-Length: 5\r\nHost: x\r\n", b"hello"),
)
bad("cl-nul-in-name", post(b"Content-Length\x00: 5\r\n", b"hello"))
bad("cl-latin1-in-name", post(b"Content-L\xe9ngth: 5\r\n", b"hello"))
# A name that is not Content-Length: no body, and "hello" starts the next
# request, which never completes.
ok(
    "cl-underscore-name-is-not-cl",
    post(b"Content_Length: 5\r\n", b"hello"),
    ("POST", "/", b""),
)
ok(
    "cl-zero-then-next-request",
    post(b"Content-Length: 0\r\n", NEXT),
    ("POST", "/", b""),
    NEXT_SERVED,
)
ok(
    "cl-body-holds-a-request",
    post(b"Content-Length: %d\r\n" % len(SMUGGLED), SMUGGLED),
    ("POST", "/", SMUGGLED),
)
case("cl-longer-than-data", post(b"Content-Length: 10\r\n", b"hello"), [], False, [])

# --------------------------------------------------- Transfer-Encoding rules

ok("te-capitalized", post(b"Transfer-Encoding: Chunked\r\n", CHUNKED_HELLO), HELLO)
ok("te-upper", post(b"Transfer-Encoding: CHUNKED\r\n", CHUNKED_HELLO), HELLO)
ok("te-mixed-case", post(b"Transfer-Encoding: cHuNkEd\r\n", CHUNKED_HELLO), HELLO)
ok("te-ows-tab", post(b"Transfer-Encoding:\tchunked\t\r\n", CHUNKED_HELLO), HELLO)
ok("te-name-lowercase", post(b"transfer-encoding: chunked\r\n", CHUNKED_HELLO), HELLO)
bad("te-with-cl", post(TE + b"Content-Length: 5\r\n", b"hello"))
bad("cl-with-te", post(b"Content-Length: 5\r\n" + TE, CHUNKED_HELLO))
bad("te-with-cl-zero", post(TE + b"Content-Length: 0\r\n", CHUNKED_HELLO))
bad(
    "te-list-gzip-chunked", post(b"Transfer-Encoding: gzip, chunked\r\n", CHUNKED_HELLO)
)
bad(
    "te-list-chunked-gzip", post(b"Transfer-Encoding: chunked, gzip\r\n", CHUNKED_HELLO)
)
bad(
    "te-list-chunked-chunked",
    post(b"Transfer-Encoding: chunked, chunked\r\n", CHUNKED_HELLO),
)
bad(
    "te-list-identity-chunked",
    post(b"Transfer-Encoding: identity, chunked\r\n", CHUNKED_HELLO),
)
bad("te-list-trailing-comma", post(b"Transfer-Encoding: chunked,\r\n", CHUNKED_HELLO))
bad("te-list-leading-comma", post(b"Transfer-Encoding: ,chunked\r\n", CHUNKED_HELLO))
bad("te-repeat", post(TE + TE, CHUNKED_HELLO))
bad(
    "te-repeat-identity-then-chunked",
    post(b"Transfer-Encoding: identity\r\n" + TE, CHUNKED_HELLO),
)
bad("te-identity", post(b"Transfer-Encoding: identity\r\n", b"hello"))
bad("te-gzip", post(b"Transfer-Encoding: gzip\r\n", b"hello"))
bad("te-empty", post(b"Transfer-Encoding:\r\n", CHUNKED_HELLO))
bad("te-xchunked", post(b"Transfer-Encoding: xchunked\r\n", CHUNKED_HELLO))
bad("te-chunked-suffix", post(b"Transfer-Encoding: chunkedx\r\n", CHUNKED_HELLO))
bad("te-chunk", post(b"Transfer-Encoding: chunk\r\n", CHUNKED_HELLO))
bad("te-parameter", post(b"Transfer-Encoding: chunked;q=1\r\n", CHUNKED_HELLO))
bad("te-quoted", post(b'Transfer-Encoding: "chunked"\r\n', CHUNKED_HELLO))
bad("te-trailing-vt", post(b"Transfer-Encoding: chunked\x0b\r\n", CHUNKED_HELLO))
bad("te-leading-vt", post(b"Transfer-Encoding: \x0bchunked\r\n", CHUNKED_HELLO))
bad("te-trailing-ff", post(b"Transfer-Encoding: chunked\x0c\r\n", CHUNKED_HELLO))
bad("te-trailing-nel", post(b"Transfer-Encoding: chunked\x85\r\n", CHUNKED_HELLO))
bad("te-leading-nbsp", post(b"Transfer-Encoding: \xa0chunked\r\n", CHUNKED_HELLO))
bad("te-trailing-nul", post(b"Transfer-Encoding: chunked\x00\r\n", CHUNKED_HELLO))
bad("te-inner-space", post(b"Transfer-Encoding: chun ked\r\n", CHUNKED_HELLO))
bad("te-space-before-colon", post(b"Transfer-Encoding : chunked\r\n", CHUNKED_HELLO))
bad("te-tab-before-colon", post(b"Transfer-Encoding\t: chunked\r\n", CHUNKED_HELLO))
bad("te-obs-fold-value", post(b"Transfer-Encoding:\r\n chunked\r\n", CHUNKED_HELLO))
bad(
    "te-obs-fold-tab",
    post(b"Transfer-Encoding: chunked\r\n\t, gzip\r\n", CHUNKED_HELLO),
)
bad(
    "te-first-line-folded",
    req(
        b"POST / HTTP/1.1", b" Transfer-Encoding: chunked\r\nHost: x\r\n", CHUNKED_HELLO
    ),
)
bad(
    "te-obfuscated-with-cl",
    post(b"Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n", b"hello"),
)
bad(
    "te-space-name-with-cl",
    post(b"Transfer-Encoding : chunked\r\nContent-Length: 5\r\n", b"hello"),
)
# Not Transfer-Encoding at all: no body; the chunked bytes are the next
# request, whose request line "5" is malformed.
case(
    "te-underscore-name-is-not-te",
    post(b"Transfer_Encoding: chunked\r\n", CHUNKED_HELLO),
    [200, 400],
    True,
    [("POST", "/", b"")],
)
ok("te-chunked-http10", req(b"POST / HTTP/1.0", TE, CHUNKED_HELLO), HELLO, closed=True)

# ------------------------------------------------------------ chunk syntax

bad("chunk-ext", post(TE, b"5;a=b\r\nhello\r\n0\r\n\r\n"))
bad("chunk-ext-last", post(TE, b"5\r\nhello\r\n0;a=b\r\n\r\n"))
bad("chunk-size-0x", post(TE, b"0x5\r\nhello\r\n0\r\n\r\n"))
bad("chunk-size-plus", post(TE, b"+5\r\nhello\r\n0\r\n\r\n"))
bad("chunk-size-minus", post(TE, b"-5\r\nhello\r\n0\r\n\r\n"))
bad("chunk-size-leading-space", post(TE, b" 5\r\nhello\r\n0\r\n\r\n"))
bad("chunk-size-trailing-space", post(TE, b"5 \r\nhello\r\n0\r\n\r\n"))
bad("chunk-size-trailing-tab", post(TE, b"5\t\r\nhello\r\n0\r\n\r\n"))
bad("chunk-size-empty", post(TE, b"\r\nhello\r\n0\r\n\r\n"))
bad("chunk-size-not-hex", post(TE, b"g\r\nhello\r\n0\r\n\r\n"))
bad("chunk-size-underscore", post(TE, b"0_5\r\nhello\r\n0\r\n\r\n"))
bad("chunk-size-nul", post(TE, b"5\x00\r\nhello\r\n0\r\n\r\n"))
bad("chunk-size-nbsp", post(TE, b"\xa05\r\nhello\r\n0\r\n\r\n"))
bad("chunk-size-nel", post(TE, b"5\x85\r\nhello\r\n0\r\n\r\n"))
bad("chunk-size-fullwidth-utf8", post(TE, b"\xef\xbc\x95\r\nhello\r\n0\r\n\r\n"))
bad("chunk-size-overflow", post(TE, b"F" * 20 + b"\r\nhello\r\n0\r\n\r\n"))
bad("chunk-size-overflow-64bit", post(TE, b"10000000000000005\r\nhello\r\n0\r\n\r\n"))
bad("chunk-size-length-cap-zeros", post(TE, b"0" * 40 + b"5\r\nhello\r\n0\r\n\r\n"))
bad(
    "chunk-size-length-cap-20-digits",
    post(TE, b"0" * 19 + b"5\r\nhello\r\n0\r\n\r\n"),
)
# Longer than any chunk-size line may be: a 400 (upstream: IOStream's
# unsatisfiable read closes the connection without an answer).
bad("chunk-size-line-too-long", post(TE, b"0" * 100 + b"5\r\nhello\r\n0\r\n\r\n"))
# The same faults in the size line after a chunk's data, where the driver
# reads the data's CRLF and the next size line together when it can.
AFTER = b"5\r\nhello\r\n"
ok(
    "chunk-second-line-16-digits",
    post(TE, AFTER + b"0" * 15 + b"5\r\nworld\r\n0\r\n\r\n"),
    ("POST", "/", b"helloworld"),
)
bad(
    "chunk-second-line-17-digits",
    post(TE, AFTER + b"0" * 16 + b"5\r\nworld\r\n0\r\n\r\n"),
)
bad("chunk-second-line-ext", post(TE, AFTER + b"5;a=b\r\nworld\r\n0\r\n\r\n"))
bad("chunk-second-line-space", post(TE, AFTER + b"5 \r\nworld\r\n0\r\n\r\n"))
bad("chunk-second-line-bare-cr", post(TE, AFTER + b"5\rworld\r\n0\r\n\r\n"))
bad(
    "chunk-second-line-too-long",
    post(TE, AFTER + b"0" * 100 + b"5\r\nworld\r\n0\r\n\r\n"),
)
bad("chunk-end-high-bytes", post(TE, b"5\r\nhello\xff\xfe"))
bad("chunk-end-wrong-then-line", post(TE, b"5\r\nhelloXX5\r\nworld\r\n0\r\n\r\n"))
bad("chunk-end-bare-lf", post(TE, b"5\r\nhello\n0\r\n\r\n"))
case("chunk-second-line-bare-lf-waits", post(TE, AFTER + b"5\nworld"), [], False, [])
bad("chunk-data-longer-than-size", post(TE, b"5\r\nhelloX\r\n0\r\n\r\n"))
bad("chunk-data-shorter-than-size", post(TE, b"5\r\nhel\r\n0\r\n\r\n"))
bad("chunk-data-no-crlf", post(TE, b"5\r\nhello0\r\n\r\n"))
# Unchecked, the two bytes in place of the CRLF would let this end cleanly.
bad("chunk-data-two-bytes-for-crlf", post(TE, b"5\r\nhelloXY0\r\n\r\n"))
bad("chunk-data-bare-lf", post(TE, b"5\r\nhello\n0\r\n\r\n"))
bad("chunk-data-bare-cr", post(TE, b"5\r\nhello\r0\r\n\r\n"))
bad("chunk-data-lf-cr", post(TE, b"5\r\nhello\n\r0\r\n\r\n"))
bad("chunk-size-bare-lf", post(TE, b"5\nhello\r\n0\r\n\r\n"))
bad("chunk-size-bare-cr", post(TE, b"5\rhello\r\n0\r\n\r\n"))
bad("last-chunk-bare-lf-then-request", post(TE, b"5\r\nhello\r\n0\n\n" + NEXT))
bad("last-chunk-final-bare-lf", post(TE, b"5\r\nhello\r\n0\r\n\n" + NEXT))
bad("trailer-field", post(TE, b"5\r\nhello\r\n0\r\nX-T: y\r\n\r\n"))
bad(
    "chunked-too-large",
    post(TE, b"b\r\nhello world\r\n0\r\n\r\n"),
    options={"max_body_size": 10},
)
bad(
    "chunked-too-large-in-sum",
    post(TE, b"6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"),
    options={"max_body_size": 10},
)
ok(
    "chunked-at-limit",
    post(TE, b"a\r\nhellohello\r\n0\r\n\r\n"),
    ("POST", "/", b"hellohello"),
    options={"max_body_size": 10},
)
case("last-chunk-bare-lf-waits", post(TE, b"5\r\nhello\r\n0\n\n"), [], False, [])
case("chunked-incomplete-waits", post(TE, b"5\r\nhel"), [], False, [])
case(
    "zero-chunk-then-garbage",
    post(TE, b"0\r\n\r\n" + CHUNKED_HELLO),
    [200, 400],
    True,
    [("POST", "/", b"")],
)
ok(
    "chunk-data-holds-a-request",
    post(TE, b"%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED)),
    ("POST", "/", SMUGGLED),
)

# --------------------------------------------------------- bare CR and LF

bad("bare-cr-before-request-line", b"\r" + req())
bad("bare-cr-lines-before-request-line", b"\r\r\n" + req())
bad("bare-cr-end-of-request-line", req(b"GET / HTTP/1.1\r"))
bad("bare-cr-in-request-target", req(b"GET /a\rb HTTP/1.1"))
bad("bare-cr-as-line-separator", b"GET / HTTP/1.1\rHost: x\r\n\r\n")
bad("bare-cr-in-field-value", req(fields=b"Host: x\r\nX-A: a\rb\r\n"))
bad("bare-cr-end-of-field-value", req(fields=b"Host: x\r\nX-A: a\r\r\n"))
bad("bare-cr-before-colon", req(fields=b"Host\r: x\r\n"))
bad("bare-cr-in-field-name", req(fields=b"Host: x\r\nX\rA: b\r\n"))
bad("bare-cr-line-in-head", b"GET / HTTP/1.1\r\nHost: x\r\n\r\r\n\r\n")
bad("bare-cr-field-separator", b"GET / HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n")
case("bare-cr-never-ends-head", b"GET / HTTP/1.1\r\nHost: x\r\r\r\r", [], False, [])
ok("bare-lf-head", b"GET / HTTP/1.1\nHost: x\n\n", GET)
ok("bare-lf-mixed-head", b"GET / HTTP/1.1\nHost: x\r\n\r\n", GET)
ok("bare-lf-then-crlf-end", b"GET / HTTP/1.1\r\nHost: x\n\r\n", GET)
# A bare LF ends a field line (RFC 9112 §2.2 allows it), here revealing a
# Content-Length; tornado_h1 reads it as upstream does.
ok(
    "bare-lf-splits-field-line",
    b"POST / HTTP/1.1\r\nHost: x\r\nX-A: a\nContent-Length: 5\r\n\r\nhello",
    HELLO,
)

# ------------------------------------------------------- request-line syntax

bad("rl-double-space", req(b"GET  / HTTP/1.1"))
bad("rl-tabs", req(b"GET\t/\tHTTP/1.1"))
bad("rl-trailing-space", req(b"GET / HTTP/1.1 "))
bad("rl-leading-space", req(b" GET / HTTP/1.1"))
bad("rl-lowercase-version", req(b"GET / http/1.1"))
bad("rl-http2", req(b"GET / HTTP/2.0"))
bad("rl-version-no-minor", req(b"GET / HTTP/1"))
bad("rl-version-two-digits", req(b"GET / HTTP/1.10"))
bad("rl-http09", req(b"GET /", b""))
bad("rl-method-only", req(b"GET", b""))
bad("rl-empty-method", req(b" / HTTP/1.1"))
bad("rl-nul-in-method", req(b"G\x00T / HTTP/1.1"))
bad("rl-nul-in-target", req(b"GET /\x00 HTTP/1.1"))
bad("rl-del-in-target", req(b"GET /\x7f HTTP/1.1"))
bad("rl-space-in-target", req(b"GET /a b HTTP/1.1"))
bad("rl-vt-separator", req(b"GET\x0b/ HTTP/1.1"))
bad("rl-nbsp-separator", req(b"GET\xa0/ HTTP/1.1"))
bad("rl-method-latin1", req(b"G\xc9T / HTTP/1.1"))
ok("rl-obs-text-in-target", req(b"GET /\xff HTTP/1.1"), ("GET", "/\xff", b""))
ok("rl-absolute-form", req(b"GET http://x/ HTTP/1.1"), ("GET", "http://x/", b""))
ok("rl-http12-is-http1", req(b"GET / HTTP/1.2"), GET, closed=True)
case("rl-unknown-method", req(b"FOO / HTTP/1.1"), [405], False, [])
case("rl-lowercase-method", req(b"get / HTTP/1.1"), [405], False, [])
case("rl-too-long", req(b"GET /" + b"a" * 70000 + b" HTTP/1.1"), [], True, [])

# ----------------------------------------------------------- header syntax

bad("field-space-before-colon", req(fields=b"Host: x\r\nX-A : b\r\n"))
bad("field-tab-before-colon", req(fields=b"Host: x\r\nX-A\t: b\r\n"))
bad("field-empty-name", req(fields=b"Host: x\r\n: b\r\n"))
bad("field-no-colon", req(fields=b"Host: x\r\nX-A b\r\n"))
bad("field-starts-with-space-after-start-line", req(fields=b" X-A: b\r\nHost: x\r\n"))
bad("field-starts-with-tab-after-start-line", req(fields=b"\tX-A: b\r\nHost: x\r\n"))
bad("field-obs-fold", req(fields=b"Host: x\r\nX-A: a\r\n b\r\n"))
bad("field-obs-fold-tab", req(fields=b"Host: x\r\nX-A: a\r\n\tb\r\n"))
bad("field-nul-in-value", req(fields=b"Host: x\r\nX-A: a\x00b\r\n"))
bad("field-soh-in-value", req(fields=b"Host: x\r\nX-A: a\x01b\r\n"))
bad("field-us-in-value", req(fields=b"Host: x\r\nX-A: a\x1fb\r\n"))
bad("field-del-in-value", req(fields=b"Host: x\r\nX-A: a\x7fb\r\n"))
bad("field-vt-in-value", req(fields=b"Host: x\r\nX-A: a\x0bb\r\n"))
bad("field-ff-in-value", req(fields=b"Host: x\r\nX-A: a\x0cb\r\n"))
bad("field-control-in-name", req(fields=b"Host: x\r\nX\x01A: b\r\n"))
bad("field-paren-in-name", req(fields=b"Host: x\r\nX(A): b\r\n"))
bad("field-slash-in-name", req(fields=b"Host: x\r\nX/A: b\r\n"))
bad("field-latin1-in-name", req(fields=b"Host: x\r\nX-\xe9: b\r\n"))
bad("field-nbsp-in-name", req(fields=b"Host: x\r\nX-A\xa0: b\r\n"))
ok("field-obs-text-in-value", req(fields=b"Host: x\r\nX-A: a\x85b\xa0c\xff\r\n"), GET)
ok("field-obs-text-edges-kept", req(fields=b"Host: x\r\nX-A: \xa0a\x85\r\n"), GET)
ok("field-empty-value", req(fields=b"Host: x\r\nX-A:\r\n"), GET)
ok("field-whitespace-value", req(fields=b"Host: x\r\nX-A: \t \r\n"), GET)
ok("field-repeated", req(fields=b"Host: x\r\nX-A: 1\r\nX-A: 2\r\n"), GET)
ok("field-many", req(fields=b"Host: x\r\n" + b"X-A: b\r\n" * 2000), GET)

# ------------------------------------------------------------------- Host

bad("host-missing-http11", req(fields=b""))
bad("host-repeated", req(fields=b"Host: x\r\nHost: y\r\n"))
bad("host-repeated-equal", req(fields=b"Host: x\r\nHost: x\r\n"))
bad("host-list", req(fields=b"Host: x, y\r\n"))
bad("host-space", req(fields=b"Host: x y\r\n"))
bad("host-userinfo", req(fields=b"Host: u@x\r\n"))
bad("host-slash", req(fields=b"Host: x/y\r\n"))
bad("host-nul", req(fields=b"Host: x\x00\r\n"))
ok("host-with-port", req(fields=b"Host: x:80\r\n"), GET)
ok("host-ipv6", req(fields=b"Host: [::1]:80\r\n"), GET)
ok("host-empty", req(fields=b"Host:\r\n"), GET)
ok("host-http10-optional", req(b"GET / HTTP/1.0", b""), GET, closed=True)

# ------------------------------------------------------------------ sizes

case(
    "head-too-large",
    req(fields=b"Host: x\r\nX-A: " + b"a" * 2000 + b"\r\n"),
    [],
    True,
    [],
    options={"max_header_size": 1024},
)
case(
    "head-too-many-fields",
    req(fields=b"Host: x\r\n" + b"X-A: b\r\n" * 20000),
    [],
    True,
    [],
)
ok(
    "head-at-limit",
    req(fields=b"Host: x\r\nX-A: " + b"a" * 900 + b"\r\n"),
    GET,
    options={"max_header_size": 1024},
)
bad(
    "body-length-too-large",
    post(b"Content-Length: 11\r\n", b"hello world"),
    options={"max_body_size": 10},
)
bad(
    "body-length-too-large-no-body-sent",
    post(b"Content-Length: 1000000000\r\n"),
    options={"max_body_size": 10},
)
ok(
    "body-at-limit",
    post(b"Content-Length: 10\r\n", b"hellohello"),
    ("POST", "/", b"hellohello"),
    options={"max_body_size": 10},
)

# -------------------------------------------------------------- gzip bombs

GZ = {"decompress_request": True, "max_body_size": 1000}
BOMB = gzip.compress(b"\0" * 1_000_000, mtime=0)
SMALL = gzip.compress(b"hello", mtime=0)
bad(
    "gzip-bomb-length",
    post(b"Content-Encoding: gzip\r\nContent-Length: %d\r\n" % len(BOMB), BOMB),
    options=GZ,
)
bad(
    "gzip-bomb-chunked",
    post(
        b"Content-Encoding: gzip\r\n" + TE, b"%x\r\n%s\r\n0\r\n\r\n" % (len(BOMB), BOMB)
    ),
    options=GZ,
)
bad(
    "gzip-bomb-streaming-handler",
    post(
        b"Content-Encoding: gzip\r\nContent-Length: %d\r\n" % len(BOMB),
        BOMB,
        b"/stream",
    ),
    options=GZ,
)
ok(
    "gzip-small",
    post(b"Content-Encoding: gzip\r\nContent-Length: %d\r\n" % len(SMALL), SMALL),
    HELLO,
    options=GZ,
)
ok(
    "gzip-uppercase-coding",
    post(b"Content-Encoding: GZIP\r\nContent-Length: %d\r\n" % len(SMALL), SMALL),
    HELLO,
    options=GZ,
)
bad(
    "gzip-invalid",
    post(b"Content-Encoding: gzip\r\nContent-Length: 5\r\n", b"hello"),
    options=GZ,
)
bad(
    "gzip-truncated",
    post(
        b"Content-Encoding: gzip\r\nContent-Length: %d\r\n" % (len(SMALL) - 4),
        SMALL[:-4],
    ),
    options=GZ,
)
ok(
    "gzip-not-decompressed-by-default",
    post(b"Content-Encoding: gzip\r\nContent-Length: %d\r\n" % len(BOMB), BOMB),
    ("POST", "/", BOMB),
    options={"max_body_size": 10000},
)

# ------------------------------------------------- pipelined and smuggled

ok("pipeline-two-gets", req() + NEXT, GET, NEXT_SERVED)
ok(
    "pipeline-post-between",
    req() + post(b"Content-Length: 5\r\n", b"hello") + NEXT,
    GET,
    HELLO,
    NEXT_SERVED,
)
ok(
    "pipeline-chunked-between",
    req() + post(TE, CHUNKED_HELLO) + NEXT,
    GET,
    HELLO,
    NEXT_SERVED,
)
ok(
    "pipeline-crlf-between",
    post(TE, CHUNKED_HELLO) + b"\r\n" + NEXT,
    HELLO,
    NEXT_SERVED,
)
ok(
    "pipeline-after-connection-close",
    req(fields=b"Host: x\r\nConnection: close\r\n") + NEXT,
    GET,
    closed=True,
)
ok("pipeline-after-http10", req(b"GET / HTTP/1.0", b"") + NEXT, GET, closed=True)
ok(
    "pipeline-after-http10-keep-alive",
    req(b"GET / HTTP/1.0", b"Connection: keep-alive\r\n") + NEXT,
    GET,
    NEXT_SERVED,
)
bad("pipeline-after-bad-request", req(fields=b"") + NEXT)
ok(
    "pipeline-bad-second",
    req() + req(b"GET  / HTTP/1.1") + NEXT,
    GET,
    statuses=[200, 400],
    closed=True,
)
ok("pipeline-100", b"".join([req()] * 100), *[GET] * 100)
bad(
    "smuggle-cl-te",
    post(b"Content-Length: %d\r\n" % (5 + len(SMUGGLED)) + TE, b"0\r\n\r\n" + SMUGGLED),
)
bad(
    "smuggle-te-cl",
    post(
        TE + b"Content-Length: 4\r\n",
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED),
    ),
)
bad("smuggle-te-te", post(TE + b"Transfer-Encoding: x\r\n", b"0\r\n\r\n" + SMUGGLED))
bad(
    "smuggle-cl-cl",
    post(b"Content-Length: 0\r\nContent-Length: %d\r\n" % len(SMUGGLED), SMUGGLED),
)
bad(
    "smuggle-bare-lf-chunk",
    post(TE, b"%x\n%s\r\n0\r\n\r\n" % (len(SMUGGLED), SMUGGLED)),
)
bad("smuggle-chunk-ext-lf", post(TE, b"5;\nxx\r\nhello\r\n0\r\n\r\n" + SMUGGLED))
bad(
    "smuggle-nel-te",
    post(
        b"Transfer-Encoding: chunked\x85\r\nContent-Length: 5\r\n",
        b"0\r\n\r\n" + SMUGGLED,
    ),
)
bad("smuggle-short-chunk", post(TE, b"1\r\nhello\r\n0\r\n\r\n" + SMUGGLED))
bad(
    "smuggle-bare-cr-request-line",
    b"\r" + post(b"Content-Length: %d\r\n" % len(SMUGGLED), SMUGGLED),
)
# A request that follows an empty body *is* the next request.
ok(
    "cl-zero-then-smuggled-is-a-request",
    post(b"Content-Length: 0\r\n", SMUGGLED),
    ("POST", "/", b""),
    SMUGGLED_SERVED,
)
ok(
    "head-with-body-then-next",
    req(b"HEAD / HTTP/1.1", b"Host: x\r\nContent-Length: 5\r\n", b"hello") + NEXT,
    ("HEAD", "/", b"hello"),
    NEXT_SERVED,
)

# ---------------------------------------------------------- split writes

ok("split-in-crlf", (b"GET / HTTP/1.1\r", b"\nHost: x\r\n\r\n"), GET)
ok("split-in-head-end", (b"GET / HTTP/1.1\r\nHost: x\r\n\r", b"\n"), GET)
ok(
    "split-in-chunk-size",
    (post(TE, b"1"), b"0\r\n" + b"h" * 16 + b"\r\n0\r\n\r\n"),
    ("POST", "/", b"h" * 16),
)
ok("split-in-chunk-crlf", (post(TE, b"5\r\nhello\r"), b"\n0\r\n\r\n"), HELLO)
ok("split-bytewise", tuple(bytes([b]) for b in post(TE, CHUNKED_HELLO)), HELLO)
bad("split-bare-cr-after-wait", (b"GET / HTTP/1.1\r\nHost: x\r", b"\r\n\r\n"))


# =====================================================================
# The tests
# =====================================================================

#: The rules tornado_h1 breaks today, by case id (see the module docstring).
VIOLATIONS: dict[str, str] = {}


def _param(c: Case) -> Any:
    marks = []
    reason = c.violates or VIOLATIONS.get(c.id, "")
    if reason:
        marks.append(pytest.mark.xfail(strict=True, reason=reason))
    return pytest.param(c, id=c.id, marks=marks)


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 120
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    assert set(VIOLATIONS) <= set(ids)


async def run(impl: str, c: Case, server_cls: Any = None) -> ServerOutcome:
    target = ServerTarget(impl, server_cls, **c.options).start()
    try:
        return await target.exchange(c.pieces)
    finally:
        await target.stop()


def check_sane(outcome: ServerOutcome) -> None:
    assert not outcome.stuck, "the server never settled"
    assert outcome.errors == []


@pytest.mark.parametrize("c", [_param(c) for c in CASES])
async def test_corpus(c: Case) -> None:
    """tornado_h1 answers exactly as the case says."""
    outcome = await run("tornado_h1", c)
    check_sane(outcome)
    assert (outcome.statuses, outcome.closed, outcome.served) == (
        c.statuses,
        c.closed,
        [tuple(s) for s in c.served],
    ), outcome.reasons


@pytest.mark.parametrize("c", [pytest.param(c, id=c.id) for c in CASES])
async def test_never_more_lenient_than_upstream(c: Case) -> None:
    """Whatever tornado_h1 serves, upstream serves too (in that order)."""
    theirs = await run("upstream", c)
    ours = await run("tornado_h1", c)
    check_sane(ours)
    assert is_prefix(ours.served, theirs.served), (ours.served, theirs.served)


class _InstalledServer(tornado.httpserver.HTTPServer):
    """Tornado's own HTTPServer class; with tornado_h1 installed it serves
    with tornado_h1's http1connection."""

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self.accepted: list[Any] = []

    def handle_stream(self, stream: Any, address: Any) -> None:
        self.accepted.append(stream)
        super().handle_stream(stream, address)


async def test_installed_matches_substitute_class() -> None:
    """``tornado_h1.installed()`` with Tornado's own HTTPServer gives the
    same outcome as ``tornado_h1.HTTPServer``, case for case."""
    ours = [await run("tornado_h1", c) for c in CASES]
    with tornado_h1.installed():
        from tornado_h1 import http1connection

        assert tornado.httpserver.HTTP1ServerConnection is (
            http1connection.HTTP1ServerConnection
        )
        installed = [await run("tornado_h1", c, _InstalledServer) for c in CASES]
    for c, a, b in zip(CASES, ours, installed):
        assert a.key() == b.key(), c.id


# =====================================================================
# Hostile responses, against tornado_h1.SimpleAsyncHTTPClient
# =====================================================================


def endless(block: bytes, head: bytes = b"") -> Iterator[bytes]:
    """``head``, then ``block`` forever (until the client hangs up)."""
    yield head
    while True:
        yield block


class Hostile(NamedTuple):
    id: str
    pieces: Callable[[], Iterable[bytes]]
    options: dict[str, Any] = {}
    #: Close the connection right after the last piece (no half-close).
    close: bool = False
    violates: str = ""


OK_HEAD = b"HTTP/1.1 200 OK\r\n"
BOMB_10M = gzip.compress(b"\0" * 10_000_000, mtime=0)


def once(*pieces: bytes) -> Callable[[], Iterable[bytes]]:
    return lambda: pieces


HOSTILE: list[Hostile] = [
    Hostile("endless-header-lines", lambda: endless(b"X-A: b\r\n" * 512, OK_HEAD)),
    Hostile("endless-header-value", lambda: endless(b"a" * 4096, OK_HEAD + b"X-A: ")),
    Hostile("endless-status-line", lambda: endless(b"a" * 4096, b"HTTP/1.1 200 ")),
    Hostile("endless-1xx", lambda: endless(b"HTTP/1.1 103 Early Hints\r\n\r\n" * 4)),
    Hostile(
        "1xx-flood-11",
        once(
            b"HTTP/1.1 100 Continue\r\n\r\n" * 11
            + OK_HEAD
            + b"Content-Length: 0\r\n\r\n"
        ),
    ),
    Hostile(
        "1xx-with-length",
        once(
            b"HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\n"
            + OK_HEAD
            + b"Content-Length: 0\r\n\r\n"
        ),
    ),
    Hostile(
        "huge-chunk-size",
        once(OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\nhello"),
    ),
    Hostile(
        "chunk-size-overflow",
        once(
            OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n1" + b"0" * 30 + b"\r\nhello"
        ),
    ),
    Hostile(
        "chunk-size-line-too-long",
        once(
            OK_HEAD
            + b"Transfer-Encoding: chunked\r\n\r\n"
            + b"0" * 70
            + b"5\r\nhello\r\n0\r\n\r\n"
        ),
    ),
    Hostile(
        "endless-chunks",
        lambda: endless(
            b"1000\r\n" + b"a" * 4096 + b"\r\n",
            OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n",
        ),
        options={"max_body_size": 100_000},
    ),
    Hostile(
        "endless-close-delimited-body",
        lambda: endless(b"a" * 4096, OK_HEAD + b"\r\n"),
        options={"max_body_size": 100_000},
    ),
    Hostile(
        "length-over-max-body",
        once(OK_HEAD + b"Content-Length: 200000\r\n\r\n"),
        options={"max_body_size": 100_000},
    ),
    Hostile(
        "gzip-bomb-length",
        once(
            OK_HEAD + b"Content-Encoding: gzip\r\n"
            b"Content-Length: %d\r\n\r\n" % len(BOMB_10M),
            BOMB_10M,
        ),
        options={"max_body_size": 100_000},
    ),
    Hostile(
        "gzip-bomb-chunked",
        once(
            OK_HEAD + b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(BOMB_10M), BOMB_10M),
        ),
        options={"max_body_size": 100_000},
    ),
    Hostile(
        "gzip-bomb-close-delimited",
        once(OK_HEAD + b"Content-Encoding: gzip\r\n\r\n", BOMB_10M),
        options={"max_body_size": 100_000},
    ),
    Hostile(
        "gzip-truncated",
        once(
            OK_HEAD + b"Content-Encoding: gzip\r\nContent-Length: 10\r\n\r\n",
            BOMB_10M[:10],
        ),
    ),
    Hostile(
        "lying-length-then-close",
        once(OK_HEAD + b"Content-Length: 100\r\n\r\nhello"),
        close=True,
    ),
    Hostile(
        "lying-length-then-half-close",
        once(OK_HEAD + b"Content-Length: 100\r\n\r\nhello"),
    ),
    Hostile(
        "length-list-unequal", once(OK_HEAD + b"Content-Length: 5, 6\r\n\r\nhello!")
    ),
    Hostile(
        "length-repeat-unequal",
        once(OK_HEAD + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    ),
    Hostile("length-plus", once(OK_HEAD + b"Content-Length: +5\r\n\r\nhello")),
    Hostile("length-nbsp", once(OK_HEAD + b"Content-Length: 5\xa0\r\n\r\nhello")),
    Hostile("length-superscript", once(OK_HEAD + b"Content-Length: \xb2\r\n\r\nhi")),
    Hostile(
        "close-mid-chunk",
        once(OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhel"),
        close=True,
    ),
    Hostile(
        "close-mid-chunk-size",
        once(OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n5"),
        close=True,
    ),
    Hostile(
        "close-before-last-chunk",
        once(OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"),
    ),
    Hostile(
        "chunk-longer-than-size",
        once(OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n"),
    ),
    Hostile(
        "chunk-bare-lf",
        once(OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"),
    ),
    Hostile(
        "chunk-extension",
        once(
            OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\n\r\n"
        ),
    ),
    Hostile(
        "chunk-trailer",
        once(
            OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n0\r\nX-T: y\r\n\r\n"
        ),
    ),
    Hostile(
        "te-and-cl",
        once(
            OK_HEAD + b"Transfer-Encoding: chunked\r\n"
            b"Content-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        ),
    ),
    Hostile(
        "te-gzip-chunked",
        once(
            OK_HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        ),
    ),
    Hostile(
        "te-repeated",
        once(
            OK_HEAD + b"Transfer-Encoding: chunked\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        ),
    ),
    Hostile(
        "te-nel", once(OK_HEAD + b"Transfer-Encoding: chunked\x85\r\n\r\n0\r\n\r\n")
    ),
    Hostile(
        "bare-cr-in-field", once(OK_HEAD + b"X-A: a\rb\r\nContent-Length: 0\r\n\r\n")
    ),
    Hostile(
        "bare-cr-status-line", once(b"HTTP/1.1 200 OK\r\r\nContent-Length: 0\r\n\r\n")
    ),
    Hostile(
        "bare-cr-in-reason", once(b"HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n")
    ),
    Hostile("obs-fold", once(OK_HEAD + b"X-A: a\r\n b\r\nContent-Length: 0\r\n\r\n")),
    Hostile("space-before-colon", once(OK_HEAD + b"Content-Length : 0\r\n\r\n")),
    Hostile(
        "status-code-four-digits",
        once(b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"),
    ),
    Hostile("http2-status-line", once(b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n")),
    Hostile(
        "204-with-body",
        once(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello"),
    ),
]

#: What a clean failure may look like (a timeout is a hang, never clean).
CLEAN_ERRORS = {
    "HTTPStreamClosedError",
    "HTTPClientError",
    "StreamClosedError",
    "UnsatisfiableReadError",
}


def test_hostile_response_set_is_large_enough() -> None:
    assert len(HOSTILE) >= 20
    assert len({h.id for h in HOSTILE}) == len(HOSTILE)


@pytest.mark.parametrize(
    "h",
    [
        pytest.param(
            h,
            id=h.id,
            # (allow_error_log: the ERROR is what this test fails on itself;
            # it must not also fail the teardown of an expected failure.)
            marks=[
                pytest.mark.xfail(strict=True, reason=h.violates),
                pytest.mark.allow_error_log,
            ]
            if h.violates
            else [],
        )
        for h in HOSTILE
    ],
)
async def test_hostile_response(h: Hostile) -> None:
    """Each ends in a clean error, logs nothing at ERROR, and leaves no
    connection open: the scripted server sees the client close."""
    server = ResponseServer()
    client = ClientTarget("tornado_h1", timeout=PATIENCE, **h.options)
    try:
        outcome = await client.fetch(server, h.pieces(), close=h.close)
        active = dict(client.client.active)
    finally:
        client.close()
        server.close()
    assert outcome.errors == []
    assert outcome.code == 599, outcome
    assert outcome.error in CLEAN_ERRORS, outcome
    if not h.close:
        assert outcome.peer_closed, "the client never closed its socket"
    assert active == {}
