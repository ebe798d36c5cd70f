"""Every pattern the HTTP/1.x layer matches, each under the grammar it encodes.

Header text is handled as ``str`` decoded from latin-1, so that each
character stands for exactly one byte: ``\\x80``-``\\xff`` are the bytes
RFC 9110 calls obs-text, and nothing above ``\\xff`` can occur.

The patterns are built from the named pieces below, so each one can be read
against the RFC rule it implements.
"""

from __future__ import annotations

import functools
import re

# RFC 5234 appendix B.1
#   VCHAR = %x21-7E                      ; visible (printing) characters
#   SP    = %x20
#   HTAB  = %x09
#   DIGIT = %x30-39
#   HEXDIG = DIGIT / "A"-"F"             ; case-insensitive in ABNF
VCHAR = r"\x21-\x7e"
DIGIT = r"0-9"
HEXDIG = r"0-9A-Fa-f"

# RFC 9110 §5.5
#   obs-text    = %x80-FF
#   field-vchar = VCHAR / obs-text
FIELD_VCHAR = VCHAR + r"\x80-\xff"

# RFC 9110 §5.6.2
#   tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
#           "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
#   token = 1*tchar
TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
token = re.compile(f"[{TCHAR}]+")

# RFC 9110 §5.1:  field-name = token
field_name = token

# RFC 9110 §5.5
#   field-value   = *field-content
#   field-content = field-vchar [ 1*( SP / HTAB / field-vchar ) field-vchar ]
# A field value therefore neither starts nor ends with whitespace, and holds
# no control character (CR, LF and NUL included).
FIELD_VALUE = f"(?:[{FIELD_VCHAR}](?:[\t {FIELD_VCHAR}]*[{FIELD_VCHAR}])?)?"
field_value = re.compile(FIELD_VALUE)

# RFC 9112 §5.1 and §2.2
#   field-line = field-name ":" OWS field-value OWS
#   OWS        = *( SP / HTAB )
#   each line ends in CRLF; a recipient MAY take a bare LF as the end (§2.2)
# This is the fast path of head parsing: it accepts only lines that are
# valid as they stand. Anything it stops on is re-read line by line by the
# slow path, which gives the exact error (or the upstream leniency).
field_line = re.compile(f"([{TCHAR}]+):[ \t]*({FIELD_VALUE})[ \t]*\r?\n")

# RFC 9112 §2.1: the head ends at the first empty line. Upstream Tornado
# also takes a bare LF for either line ending (RFC 9112 §2.2 allows it), so
# the end of the head is LF, optional CR, LF. (Upstream writes it with an
# optional CR in front, which ends every match at the same byte; starting
# with the literal LF lets the regex engine skip ahead with a fast scan,
# about 25 times faster on a long head, which matters because IOStream
# searches the whole buffer again each time more of a head arrives.)
head_end = re.compile(b"\n\r?\n")

# RFC 9112 §2.2: empty lines a server may skip before a request line,
# each a CRLF or a bare LF (never a lone CR).
empty_lines = re.compile(r"(?:\r?\n)*")

# RFC 9112 §6.3 and RFC 9110 §8.6:  Content-Length = 1*DIGIT
# ASCII digits only: str.isdigit() and int() would also take other scripts'
# digits, signs and underscores (GHSA-qppv-j76h-2rpx).
content_length = re.compile(f"[{DIGIT}]+")

# How the driver reads a chunk-size line: up to its CRLF, or, if 64 bytes
# pass without an LF, those 65 bytes (then refused as an invalid size). The
# read fails on our terms, with a 400, instead of IOStream closing the
# stream under us (which a client delegate reports as an application error).
chunk_line = re.compile(b"\r\n|[^\n]{65}")

# RFC 9112 §7.1:  chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
# After a chunk's data the driver reads the CRLF that ends it together with
# the next chunk-size line, when that line is already there and plainly
# valid (1 to 16 HEXDIG, then CRLF). Otherwise just the two bytes after the
# data are taken (and checked at once), and the size line is read on its
# own with chunk_line, exactly as if this pattern did not exist. Either
# alternative matches at the start of what is buffered, so nothing is
# skipped, and neither scans more than 20 bytes.
chunk_end_and_line = re.compile(
    f"\r\n[{HEXDIG}]{{1,16}}\r\n|[\x00-\xff]{{2}}".encode("latin-1")
)

# RFC 9112 §7.1:  chunk-size = 1*HEXDIG
chunk_size = re.compile(f"[{HEXDIG}]+")

# RFC 9112 §7.1.1 (accepted only with ServerOptions.chunk_extensions):
#   chunk-ext     = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
#   chunk-ext-name = token
#   chunk-ext-val  = token / quoted-string
# RFC 9110 §5.6.4:  quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
QUOTED_STRING = r'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
_BWS = "[ \t]*"
chunk_ext = re.compile(
    f"(?:{_BWS};{_BWS}[{TCHAR}]+(?:{_BWS}={_BWS}(?:[{TCHAR}]+|{QUOTED_STRING}))?)*".encode(
        "latin-1"
    )
)
# A size line with extensions may take up to CHUNK_LINE_WITH_EXT_LIMIT
# bytes and its LF; longer, it is refused as chunk_line is. It is read in
# pieces that each match at the first byte they are given: the whole line,
# or what there is of it (a search that moved on would rescan the line from
# every byte of it, some 8 million steps for a line of 4 KiB); the decoder
# joins the pieces.
CHUNK_LINE_WITH_EXT_LIMIT = 4096
chunk_line_with_ext = re.compile(
    b"[^\n]{0,%d}\n|[^\n]{1,%d}"
    % (CHUNK_LINE_WITH_EXT_LIMIT, CHUNK_LINE_WITH_EXT_LIMIT + 1)
)

# A repeated Content-Length arrives joined by commas (RFC 9110 §5.3); RFC
# 9112 §6.3 step 5 lets a recipient accept the list when all members agree.
list_separator = re.compile(",[ \t]*")

# Outgoing heads: no line may smuggle in a line break (RFC 9112 §2.2).
cr_or_lf = re.compile(b"\r|\n")

# RFC 9112 §7.1.2 (accepted only with ServerOptions.trailers):
#   chunked-body  = *chunk last-chunk trailer-section CRLF
#   trailer-section = *( field-line CRLF )
# The section ends where a head does (head_end), counting the LF of the
# last-chunk line before it, so "\r\n" at once is an empty section. It is
# read in pieces that can never pass that end: a piece is either everything
# up to the end (whole lines, then an empty one) or at most `limit + 1`
# bytes with no end in them. Each pattern matches at the first byte it is
# given, so the search never moves on (IOStream before 6.3 searches from an
# offset, where \A cannot anchor). Which of the three applies depends on
# what the bytes already read end with: LF, LF CR, or anything else.
_SECTION_REST = rb"(?:[^\n]*\n)+?\r?\n|[\x00-\xff]{1,%d}"


@functools.lru_cache(maxsize=8)
def section_pieces(limit: int) -> tuple[re.Pattern[bytes], ...]:
    """The patterns of the pieces of a bounded field section: after
    anything, after an LF, after LF CR (see above)."""
    rest = _SECTION_REST % (limit + 1)
    return tuple(re.compile(start + rest) for start in (b"", rb"\r?\n|", rb"\n|"))


# RFC 9112 §2.1 and RFC 6585 §5 (ServerOptions.precise_errors): a head read
# as whole lines up to its empty line, or, when it has not ended within
# `limit` bytes, `limit + 1` bytes (then answered 431 instead of the stream
# closing itself). Anchored at the first unread byte: only used when the
# stream holds nothing yet, so that its buffer starts there on every release
# and a head that has only begun stays in the stream.
@functools.lru_cache(maxsize=8)
def bounded_head(limit: int) -> re.Pattern[bytes]:
    return re.compile(rb"\A(?:(?:[^\n]*\n)+?\r?\n|[\x00-\xff]{%d})" % (limit + 1))
