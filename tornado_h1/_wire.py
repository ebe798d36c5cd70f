"""The sans-IO core: pure functions from bytes to decisions and back.

Nothing here touches a socket, a stream, a timer or a delegate. The driver
in :mod:`tornado_h1.http1connection` reads bytes from the IOStream, asks
these functions what they mean, and writes what they produce. That makes
every rule testable with plain values:

* :func:`split_head` turns a received head into a start line and fields;
* :func:`close_reason` says why a request allows no next one (or None);
* :data:`REQUEST_CONTROL_FIELDS` are the fields without which a request
  (most GETs) needs none of the framing decisions;
* :func:`response_framing` and :func:`body_framing` apply RFC 9112 §6.3 to
  decide how the body ends;
* :func:`is_chunked` reads Transfer-Encoding;
* :func:`parse_decimal` / :func:`parse_hex` read lengths;
* :func:`response_chunked` / :func:`request_chunked` decide how what we
  send is delimited, and :func:`encode_head` / :func:`frame_chunk` build
  it.

:class:`tornado_h1._exchange.Exchange` applies these to one exchange.

Error messages are the ones upstream Tornado uses, since applications and
Tornado's own tests match them in logs.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from tornado.escape import native_str
from tornado.httputil import (
    HTTPHeaders,
    HTTPInputError,
    RequestStartLine,
    parse_request_start_line,
)

from tornado_h1 import _abnf, _tornado, _versions

# ---------------------------------------------------------------------------
# Receiving a head
# ---------------------------------------------------------------------------


def split_head(data: bytes, *, unfold: bool = False) -> tuple[str, HTTPHeaders]:
    """Split a head (as read up to and including its empty line) into the
    start-line text and the parsed header fields.

    ``unfold`` replaces obs-fold line continuations with a space (RFC 9112
    §5.2, for a user agent reading a response on releases before Tornado
    6.6); without it, a fold is an error.

    Raises `HTTPInputError` for a malformed field line.
    """
    # Latin-1 maps each byte to one character, so no input fails to decode
    # and the validation below sees every byte as it was sent.
    text = data.decode("latin1")
    # RFC 9112 §2.2: a server SHOULD ignore at least one empty line before a
    # request line (some clients send an extra CRLF after a POST body). Only
    # whole empty lines: a bare CR is never a line break here (upstream also
    # drops lone CRs; a CR that one parser ignores and another honours is
    # how heads get split differently).
    if text[:1] in ("\r", "\n"):
        text = text[_abnf.empty_lines.match(text).end() :]  # type: ignore[union-attr]
    eol = text.find("\n")
    if eol < 0:
        # Never the case for a head cut by the driver, which always ends in
        # LF. For other callers, keep upstream's reading: the last character
        # is taken as the field section.
        return text[:-1], parse_fields(text[-1:])
    # A start line ends in CRLF or a bare LF (RFC 9112 §2.2). Only that one
    # CR is dropped: any other CR stays and the start-line parser refuses it
    # (upstream strips every trailing CR; RFC 9112 §2.2 forbids bare CR).
    start_line = text[: eol - 1] if text[eol - 1 : eol] == "\r" else text[:eol]
    if unfold and ("\n " in text or "\n\t" in text):
        return start_line, parse_fields(_unfold(text[eol + 1 :]))
    return start_line, parse_fields(text, eol + 1)


def _unfold(section: str) -> str:
    """Join obs-fold continuation lines onto the line before them, with one
    SP between (RFC 9112 §5.2). Linear in the size of the section: each line
    is visited once (quadratic unfolding was GHSA-pcg2-g6cj-q92c). A
    continuation with no line before it is left alone, to be refused."""
    lines = section.split("\n")
    out: list[str] = []
    for line in lines:
        if out and out[-1] and line[:1] in (" ", "\t"):
            body = line[:-1] if line[-1:] == "\r" else line
            previous = out[-1]
            if previous[-1:] == "\r":
                previous = previous[:-1]
            out[-1] = previous.rstrip(" \t") + " " + body.lstrip(" \t")
        else:
            out.append(line)
    return "\n".join(out)


def parse_fields(text: str, pos: int = 0) -> HTTPHeaders:
    """Parse the field lines of ``text`` from ``pos`` on (RFC 9112 §5).

    Lines that are valid as they stand go through one compiled pattern
    (:data:`_abnf.field_line`); the first line it cannot take, and every line
    after it, is handled by :func:`_parse_field_line`, which raises the
    precise error.
    """
    headers = _tornado.blank_headers()
    repeated: set[str] = set()
    match = _abnf.field_line.match
    end = len(text)
    while pos < end:
        m = match(text, pos)
        if m is None:
            break
        name, value = m.groups()
        # The pattern has validated the line, so a first occurrence is
        # stored without HTTPHeaders.add() validating it a second time.
        if name in headers:
            _tornado.add_repeat(headers, name, value, repeated)
        else:
            headers[name] = value
        pos = m.end()
    if end - pos <= 2 and text[pos:] in _HEAD_ENDINGS and not repeated:
        # The usual end: every line matched, and only the empty line (or
        # nothing) is left.
        return headers
    while pos < end:
        lf = text.find("\n", pos)
        if lf < 0:
            line, pos = text[pos:], end
        else:
            # The line ends in LF, or CRLF: drop the CR too (RFC 9112 §2.2).
            line = text[pos : lf - 1] if text[lf - 1 : lf] == "\r" else text[pos:lf]
            pos = lf + 1
        _parse_field_line(headers, line, repeated)
    if repeated:
        _tornado.join_repeats(headers, repeated)
    return headers


_HEAD_ENDINGS = ("\r\n", "\n", "")


def _parse_field_line(headers: HTTPHeaders, line: str, repeated: set[str]) -> None:
    """The slow path for one field line, without its line ending."""
    if not line:
        # The empty line that ends the head.
        return
    if line[0] in " \t":
        # RFC 9112 §5.2: obs-fold. Tornado 6.6 stopped unfolding lines (the
        # unfolding was quadratic, GHSA-pcg2-g6cj-q92c); a fold is an error.
        raise HTTPInputError(
            "header line cannot start with whitespace, folding not supported"
        )
    name, colon, value = line.partition(":")
    if not colon:
        raise HTTPInputError("no colon in header line")
    # RFC 9112 §5.1: no whitespace between name and colon; the token rule
    # rejects it, along with empty names and control characters.
    if _abnf.field_name.fullmatch(name) is None:
        raise HTTPInputError("Invalid header name %r" % name)
    # Only SP and HTAB are optional whitespace (RFC 9110 §5.6.3); str.strip()
    # with no argument would also eat \x0b, \x0c, \x1c-\x1f, \x85 and \xa0.
    value = value.strip(" \t")
    if _abnf.field_value.fullmatch(value) is None:
        raise HTTPInputError("Invalid header value %r" % value)
    if name in headers:
        _tornado.add_repeat(headers, name, value, repeated)
    else:
        headers[name] = value


_request_lines: dict[str, RequestStartLine] = {}


def request_line(text: str) -> RequestStartLine:
    """Tornado's own request-line parser, behind a small cache.

    Clients repeat the same few request lines (``GET / HTTP/1.1``), and the
    parsed line is an immutable named tuple, so one parse can serve many
    requests. Errors are not cached. The cache holds at most 256 lines; when
    full it is simply emptied.
    """
    parsed = _request_lines.get(text)
    if parsed is None:
        parsed = parse_request_start_line(text)
        if len(_request_lines) >= 256:
            _request_lines.clear()
        _request_lines[text] = parsed
    return parsed


# ---------------------------------------------------------------------------
# Lengths
# ---------------------------------------------------------------------------


def parse_decimal(text: str) -> int:
    """``1*DIGIT`` as an int; `ValueError` for anything else."""
    if _abnf.content_length.fullmatch(text) is None:
        raise ValueError("not an integer: %r" % text)
    return int(text)


def parse_hex(text: str) -> int:
    """``1*HEXDIG`` as an int; `ValueError` for anything else."""
    if _abnf.chunk_size.fullmatch(text) is None:
        raise ValueError("not a hexadecimal integer: %r" % text)
    return int(text, 16)


# 16 hex digits: 2**64 bytes, past any max_body_size.
_MAX_CHUNK_SIZE_DIGITS = 16


def chunk_size(line: bytes, extensions: bool = False) -> int:
    """The size from a chunk-size line (RFC 9112 §7.1: ``1*HEXDIG CRLF``).

    Stricter than upstream, which takes any run of hex digits the 64-byte
    line allows: more than 16 digits (zeros included) is refused, so that a
    size cannot be padded to mean something else to another parser.
    Chunk extensions (§7.1.1) are refused, as upstream does, unless
    ``extensions``: then they are checked against their grammar and
    ignored. Raises `HTTPInputError`.
    """
    digits = line[:-2]
    if extensions:
        size = _abnf.chunk_size.match(digits.decode("latin1"))
        if (
            size is None
            or not line.endswith(b"\r\n")  # cut off at its length limit
            or _abnf.chunk_ext.fullmatch(digits, size.end()) is None
        ):
            raise HTTPInputError("invalid chunk size")
        digits = digits[: size.end()]
    if len(digits) > _MAX_CHUNK_SIZE_DIGITS:
        raise HTTPInputError("invalid chunk size")
    try:
        return parse_hex(digits.decode("latin1"))
    except ValueError:
        raise HTTPInputError("invalid chunk size") from None


# ---------------------------------------------------------------------------
# Connection management and framing
# ---------------------------------------------------------------------------


def is_chunked(headers: HTTPHeaders) -> bool:
    """Whether the message body is chunked (RFC 9112 §6.1).

    Strict on purpose: two parties that disagree about where a body ends is
    how requests get smuggled, so only the one coding we implement is taken.

    * no Transfer-Encoding: not chunked;
    * Transfer-Encoding with Content-Length: error (RFC 9112 §6.3 step 3
      allows dropping Content-Length instead; refusing is safer);
    * exactly ``chunked``, any case: chunked. A list (``gzip, chunked``) or
      a repeated field (joined to ``chunked,chunked``) is refused
      (GHSA-753j-mpmx-qq6g): we implement no other coding;
    * anything else: error.
    """
    if "Transfer-Encoding" not in headers:
        return False
    if "Content-Length" in headers:
        raise HTTPInputError(_versions.CURRENT.te_with_cl_message)
    coding = headers["Transfer-Encoding"]
    if coding.lower() == "chunked":
        return True
    raise HTTPInputError("Unsupported Transfer-Encoding %s" % coding)


#: Why a connection closes after this exchange (None: it is kept alive).
#: The reasons are values, so that the trace can print the core's verdict.
CLOSE_ASKED = "the request said Connection: close"
CLOSE_NO_KEEP_ALIVE = "no_keep_alive is set"
CLOSE_HTTP10 = "HTTP/1.0 without Connection: keep-alive"
CLOSE_HTTP10_UNDELIMITED = "HTTP/1.0 request whose end only a close can mark"
CLOSE_ANSWERED_EARLY = "the response ended before the request was read"
CLOSE_MAX_REQUESTS = "the connection served its max_requests"
CLOSE_DRAINING = "the server is stopping"
#: Closes the server decides for itself (beyond upstream): a 101 answering an
#: upgrade drops them (no ``Connection: close``, no close after it), since
#: its stream is handed over, not closed after the response.
SERVER_CLOSES = frozenset({CLOSE_MAX_REQUESTS, CLOSE_DRAINING})


def close_reason(
    version: str, method: str | None, headers: HTTPHeaders, no_keep_alive: bool
) -> str | None:
    """Why the connection may not carry another request after this one, or
    None if it may (RFC 9112 §9.3).

    HTTP/1.1 persists unless ``Connection: close``. HTTP/1.0 persists only
    on ``Connection: keep-alive``, and only when the request's end can be
    found without closing: it has a length, is chunked, or is a GET/HEAD.
    """
    if no_keep_alive:
        return CLOSE_NO_KEEP_ALIVE
    # ``in`` first: HTTPHeaders.get() finds a missing field by catching a
    # KeyError, which costs more than the whole test.
    connection = headers["Connection"].lower() if "Connection" in headers else None
    if version == "HTTP/1.1":
        return CLOSE_ASKED if connection == "close" else None
    if "Content-Length" in headers or is_chunked(headers) or method in ("HEAD", "GET"):
        return None if connection == "keep-alive" else CLOSE_HTTP10
    return CLOSE_HTTP10_UNDELIMITED


def keeps_alive(
    version: str, method: str | None, headers: HTTPHeaders, no_keep_alive: bool
) -> bool:
    """Whether the connection may carry another request after this one."""
    return close_reason(version, method, headers, no_keep_alive) is None


def asks_keep_alive(headers: HTTPHeaders) -> bool:
    """An HTTP/1.0 request's ``Connection: keep-alive``, which the response
    must confirm (RFC 9112 §C.2.2)."""
    return "Connection" in headers and headers["Connection"].lower() == "keep-alive"


#: The request fields that bear on persistence, framing or an interim
#: response (RFC 9112 §9.3 and §6.3, RFC 9110 §10.1.1), as HTTPHeaders
#: spells its keys.
REQUEST_CONTROL_FIELDS = frozenset(
    ("Connection", "Content-Length", "Transfer-Encoding", "Expect")
)


class Body(enum.Enum):
    """How the body of a received message is delimited."""

    NONE = "none"  # no body at all
    LENGTH = "length"  # exactly Content-Length bytes
    CHUNKED = "chunked"  # chunked coding, up to the last chunk
    UNTIL_CLOSE = "until close"  # everything until the server closes


# Plain names, for code that tests them per message (see _state).
BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_UNTIL_CLOSE = Body


# 10**18 bytes: an exabyte, past any max_body_size.
_MAX_LENGTH_DIGITS = 18


class Framing(NamedTuple):
    """How a received body ends, and the step of RFC 9112 §6.3 that says so."""

    kind: Body
    length: int = 0
    step: int = 0


#: Step 1: responses to HEAD, and 1xx, 204 and 304 responses, have no body.
NO_BODY = Framing(Body.NONE, 0, 1)
#: Step 7: a request with neither Content-Length nor Transfer-Encoding.
NO_REQUEST_BODY = Framing(Body.NONE, 0, 7)
_CHUNKED_BODY = Framing(Body.CHUNKED, 0, 4)
_UNTIL_CLOSE = Framing(Body.UNTIL_CLOSE, 0, 8)
_EMPTY_BY_LENGTH = Framing(Body.NONE, 0, 6)


def response_framing(
    request_method: str | None, status: int, headers: HTTPHeaders, max_body_size: int
) -> Framing:
    """RFC 9112 §6.3 for a response to ``request_method``: step 1 (HEAD,
    304; 1xx never gets here, and 204 is checked against its fields), then
    the field-based steps. Step 2 (a 2xx to CONNECT opens a tunnel) does not
    apply: Tornado's client never sends CONNECT."""
    if request_method == "HEAD" or status == 304:
        return NO_BODY
    return body_framing(
        headers, is_client=True, status=status, max_body_size=max_body_size
    )


def body_framing(
    headers: HTTPHeaders, *, is_client: bool, status: int, max_body_size: int
) -> Framing:
    """Decide how the body of a received message ends from its fields: RFC
    9112 §6.3 steps 3 to 8, and the part of step 1 that depends on fields
    (a 204 has no body). ``status`` is 0 for requests. The numbered steps
    below are the RFC's.

    May rewrite a repeated Content-Length to its single value, as upstream
    does, so the application sees one number.
    """
    length = _content_length(headers, max_body_size)
    # Steps 3 and 4: Transfer-Encoding (and its conflict with Content-Length).
    chunked = is_chunked(headers)
    # Step 1 (the part that depends on the body headers): 204 has no body.
    # Upstream errs on a 204 that announces one rather than ignoring it.
    if status == 204:
        if chunked or length not in (None, 0):
            raise HTTPInputError("Response with code %d should not have body" % status)
        return NO_BODY
    if chunked:
        return _CHUNKED_BODY
    # Step 6: a valid Content-Length.
    if length is not None:
        return Framing(Body.LENGTH, length, 6) if length else _EMPTY_BY_LENGTH
    # Step 8: a response without either is read until the connection closes.
    # Step 7: a request without either has no body.
    return _UNTIL_CLOSE if is_client else NO_REQUEST_BODY


def _content_length(headers: HTTPHeaders, max_body_size: int) -> int | None:
    """Step 5: the one valid Content-Length, or None if there is none."""
    if "Content-Length" not in headers:
        return None
    value = headers["Content-Length"]
    # A list of identical values (a field repeated by a proxy) may stand for
    # the value; differing values are an error.
    if "," in value:
        pieces = _abnf.list_separator.split(value)
        if any(piece != pieces[0] for piece in pieces):
            raise HTTPInputError("Multiple unequal Content-Lengths: %r" % value)
        headers["Content-Length"] = value = pieces[0]
    # Anything but 1*DIGIT is unrecoverable.
    if _abnf.content_length.fullmatch(value) is None:
        raise HTTPInputError("Only integer Content-Length is allowed: %s" % value)
    # More digits than any real body needs is too long before int() is asked
    # to convert them (Python refuses more than 4300).
    if len(value) > _MAX_LENGTH_DIGITS:
        raise HTTPInputError(LENGTH_TOO_LARGE)
    length = int(value)
    if length > max_body_size:
        raise HTTPInputError(LENGTH_TOO_LARGE)
    return length


# ---------------------------------------------------------------------------
# Sending
# ---------------------------------------------------------------------------


def response_chunked(
    request_version: str, request_method: str, status: int, headers: HTTPHeaders
) -> bool:
    """Whether a response must use chunked coding: an HTTP/1.1 peer, a body
    that may exist (not HEAD, 1xx, 204 or 304; RFC 9112 §6.3 step 1) and no
    Content-Length to delimit it."""
    return (
        request_version == "HTTP/1.1"
        and request_method != "HEAD"
        and status not in (204, 304)
        and not 100 <= status < 200
        and "Content-Length" not in headers
    )


def request_chunked(method: str, headers: HTTPHeaders) -> bool:
    """Whether a request must use chunked coding: methods that carry a body
    in practice, sent without a Content-Length."""
    return method in ("POST", "PUT", "PATCH") and "Content-Length" not in headers


def encode_head(start_line: bytes, headers: HTTPHeaders) -> bytes:
    """Serialize a start line and fields, ending with the empty line.

    Raises `ValueError` if any line would contain CR or LF (that would let a
    value start a new field or a new message: response splitting), and
    `UnicodeEncodeError` for a field that is not latin-1.
    """
    lines = [
        f"{name}: {value}"
        if type(name) is str and type(value) is str
        else f"{native_str(name)}: {native_str(value)}"
        for name, value in headers.get_all()
    ]
    # One join, two counts and one encode for the whole field section: the
    # joined text holds exactly one CR and one LF per separator unless a
    # line has its own. Only when something is wrong are the lines looked at
    # one by one, so that the error names the first bad line, start line
    # included.
    fields = "\r\n".join(lines)
    separators = len(lines) - 1 if lines else 0
    if (
        fields.count("\r") != separators
        or fields.count("\n") != separators
        or b"\r" in start_line
        or b"\n" in start_line
    ):
        _refuse_line_break(start_line, lines)
    try:
        encoded = fields.encode("latin1")
    except UnicodeEncodeError:
        for line in lines:
            line.encode("latin1")
        raise
    if lines:
        return b"%b\r\n%b\r\n\r\n" % (start_line, encoded)
    return start_line + b"\r\n\r\n"


def _refuse_line_break(start_line: bytes, lines: list[str]) -> None:
    encoded = [start_line] + [line.encode("latin1") for line in lines]
    for line in encoded:
        if _abnf.cr_or_lf.search(line) is not None:
            raise ValueError("Illegal characters (CR or LF) in header: %r" % line)


_status_lines: dict[tuple[int, str], bytes] = {}


def status_line(code: int, reason: str) -> bytes:
    """``HTTP/1.1 <code> <reason>`` as bytes, from a small cache: servers
    answer with a handful of statuses. At most 64 lines are kept; when full
    the cache is emptied. (Line breaks are refused later, by encode_head.)"""
    line = _status_lines.get((code, reason))
    if line is None:
        line = ("HTTP/1.1 %d %s" % (code, reason)).encode()
        if len(_status_lines) >= 64:
            _status_lines.clear()
        _status_lines[(code, reason)] = line
    return line


def request_line_bytes(method: str, target: str) -> bytes:
    """A request line; tornado_h1 always speaks HTTP/1.1 as a client."""
    return f"{method} {target} HTTP/1.1".encode()


def frame_chunk(chunk: bytes) -> bytes:
    """One chunk of chunked coding (RFC 9112 §7.1). Never call it with an
    empty chunk: that is the last-chunk marker."""
    return b"%x\r\n%b\r\n" % (len(chunk), chunk)


LAST_CHUNK = b"0\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 (Continue)\r\n\r\n"
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\n\r\n"


# What a body over ``max_body_size`` is refused with (upstream's words, and
# the exception stays upstream's HTTPInputError): 413 with precise errors.
LENGTH_TOO_LARGE = "Content-Length too long"
CHUNKED_TOO_LARGE = "chunked body too large"


#: The refusals a server can name precisely (see ServerOptions), by status,
#: with the reason phrases of RFC 9110 §15.5: each with an empty body and
#: the close it announces (RFC 9112 §9.6).
REFUSALS = {
    status: b"HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    % (status, reason)
    for status, reason in [
        (400, b"Bad Request"),
        (408, b"Request Timeout"),
        (413, b"Content Too Large"),
        (431, b"Request Header Fields Too Large"),
    ]
}

#: Why a request is refused with 431 (with precise errors; 400 otherwise).
HEAD_TOO_LARGE = "head over max_header_size"
TRAILERS_TOO_LARGE = "trailer section over max_header_size"
_STATUS_OF = {
    LENGTH_TOO_LARGE: 413,
    CHUNKED_TOO_LARGE: 413,
    HEAD_TOO_LARGE: 431,
    TRAILERS_TOO_LARGE: 431,
}


def refusal(error: HTTPInputError, precise: bool) -> tuple[bytes, str]:
    """A server's reply to a request refused for ``error``, and how its log
    line begins: upstream's bare 400 and words, or with precise errors the
    status that says why."""
    if not precise:
        return BAD_REQUEST, "Malformed HTTP message"
    status = _STATUS_OF.get(str(error), 400)
    return REFUSALS[status], "Refused with %d" % status


# ---------------------------------------------------------------------------
# Trailer fields (RFC 9112 §7.1.2, RFC 9110 §6.5), with ServerOptions.trailers
# ---------------------------------------------------------------------------

#: Fields a sender must not put in a trailer section (RFC 9110 §6.5.1): they
#: frame, route or control the message, authenticate it, or describe its
#: content, and so must be known before the content. Lower case.
PROHIBITED_TRAILERS = frozenset(
    (
        # framing and connection control (RFC 9112 §6, §7, §9.6; RFC 9110 §7.6)
        "content-length", "transfer-encoding", "trailer", "te", "connection",
        "keep-alive", "proxy-connection", "upgrade",
        # routing and request modifiers (RFC 9110 §7.2, §10.1, §13, §14.2)
        "host", "expect", "max-forwards", "range", "if-match", "if-none-match",
        "if-modified-since", "if-unmodified-since", "if-range",
        # authentication (RFC 9110 §11) and state (RFC 6265)
        "authorization", "proxy-authorization", "www-authenticate",
        "proxy-authenticate", "cookie", "set-cookie",
        # content format and response controls (RFC 9110 §8, §10.2)
        "content-type", "content-encoding", "content-range", "location",
        "cache-control", "age", "expires", "date", "retry-after", "vary",
    )
)  # fmt: skip


def parse_trailers(section: bytes) -> HTTPHeaders:
    """The fields of a received trailer section (its empty line included).

    The field lines are read by `parse_fields`, with the head's grammar and
    errors (obs-fold refused). Lines must end in CRLF, as everywhere else in
    a chunked body (a bare LF is refused, not taken as a line end), and a
    field of `PROHIBITED_TRAILERS` refuses the request: a sender must not
    put one there, so one that does is broken or probing for a parser that
    merges it into the header section. Raises `HTTPInputError`.
    """
    if section.count(b"\n") != section.count(b"\r\n"):
        raise HTTPInputError("bare LF in trailer section")
    trailers = parse_fields(section.decode("latin1"))
    for name in trailers:
        if name.lower() in PROHIBITED_TRAILERS:
            raise HTTPInputError("field not allowed in trailers: %s" % name)
    return trailers


def last_chunk_with(trailers: HTTPHeaders) -> bytes:
    """The last chunk carrying ``trailers`` (RFC 9112 §7.1.2), checked as
    an outgoing head is (`encode_head`: `ValueError` for CR or LF,
    `UnicodeEncodeError` past latin-1), and refusing names that are not
    tokens or are `PROHIBITED_TRAILERS`, and values with a control
    character (NUL...; RFC 9110 §5.5), with `ValueError`: what we would
    refuse to receive, we do not send. No field: the plain last chunk."""
    fields = list(trailers.get_all())
    if not fields:
        return LAST_CHUNK
    for name, value in fields:
        if _abnf.field_name.fullmatch(name) is None:
            raise ValueError("Invalid trailer name %r" % name)
        if name.lower() in PROHIBITED_TRAILERS:
            raise ValueError("%s is not allowed in trailers (RFC 9110 §6.5.1)" % name)
        if _abnf.field_value.fullmatch(value.strip(" \t")) is None:
            raise ValueError("Invalid trailer value %r" % value)
    return encode_head(b"0", trailers)


def trailer_names(last_chunk: bytes) -> str:
    """The names of the fields a last chunk carries, for the trace."""
    lines = last_chunk[3:-4].decode("latin1").split("\r\n")
    return ", ".join(line.partition(":")[0] for line in lines if line)
