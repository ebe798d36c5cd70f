"""Chunked transfer coding, received (RFC 9112 §7.1), as an incremental
decoder that never reads past the end of the body.

The decoder does no I/O. It says what it needs next (`ChunkedDecoder.wants`:
a line up to a pattern, or up to n bytes of data, or exactly two bytes), and
takes bytes through `ChunkedDecoder.feed`. The driver asks the IOStream for
exactly that, so every byte after the body stays in the stream (for the next
request, or for a WebSocket after ``detach()``). Tests feed it plain bytes in
any split: whole, byte by byte, or with the next message behind it.

Grammar, as accepted here::

    chunked-body = *chunk last-chunk CRLF     ; trailer fields only if asked
    chunk        = chunk-size CRLF chunk-data CRLF
    chunk-size   = 1*16HEXDIG                  ; extensions only if asked
    last-chunk   = 1*"0" CRLF

With trailers accepted (`TrailerSection`), ``last-chunk trailer-section
CRLF``: field lines up to the empty line, bounded in total.
"""

from __future__ import annotations

import enum
import re
from typing import NamedTuple

from tornado.httputil import HTTPHeaders, HTTPInputError

from tornado_h1 import _abnf, _wire


class Need(enum.IntEnum):
    """What the decoder asks the driver to read next."""

    #: Bytes up to the end of a match of `Want.pattern`.
    LINE = 0
    #: Up to `Want.size` bytes of chunk data (fewer is fine).
    DATA = 1
    #: Exactly `Want.size` bytes.
    EXACT = 2


class Want(NamedTuple):
    need: Need
    pattern: re.Pattern[bytes] | None = None
    size: int = 0


class Part(enum.IntEnum):
    SIZE = 0  # a chunk-size line
    DATA = 1  # chunk data
    DATA_END = 2  # the CRLF after chunk data (and, often, the next size line)
    LAST_CRLF = 3  # the CRLF after the last chunk
    DONE = 4
    TRAILERS = 5  # the trailer section and its empty line (if accepted)


#: What each part of the body needs read. (DATA's size is the chunk's rest.)
WANTS: dict[Part, Want] = {
    # The size line up to its CRLF, or 65 bytes without one (then refused):
    # the read fails on our terms, with a 400, not by overflowing the stream.
    Part.SIZE: Want(Need.LINE, _abnf.chunk_line),
    # The CRLF after the data, with the next size line when it is plainly
    # valid and already there: one read per chunk fewer.
    Part.DATA_END: Want(Need.LINE, _abnf.chunk_end_and_line),
    Part.LAST_CRLF: Want(Need.EXACT, None, 2),
}


#: The size line when chunk extensions are accepted: longer, still bounded.
_SIZE_WITH_EXT = Want(Need.LINE, _abnf.chunk_line_with_ext)


def _extended_line_end(buffer: bytes) -> int:
    """Where a size line with extensions ends (after its LF, or, too long,
    after CHUNK_LINE_WITH_EXT_LIMIT + 1 bytes, to be refused), or -1."""
    limit = _abnf.CHUNK_LINE_WITH_EXT_LIMIT
    lf = buffer.find(b"\n", 0, limit + 1)
    if lf >= 0:
        return lf + 1
    return limit + 1 if len(buffer) > limit else -1


class TrailerSection:
    """A trailer section read in pieces, never past its end (the first
    ``LF [CR] LF``, the last-chunk line's LF counted), at most ``limit``
    bytes. `feed` takes any split of the bytes; `pattern` says how the
    driver reads the next piece (see `_abnf.section_pieces`)."""

    __slots__ = ("limit", "held", "_patterns")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        # What was read of the section, after the LF that ends last-chunk.
        self.held = bytearray(b"\n")
        self._patterns = _abnf.section_pieces(limit)

    def pattern(self) -> re.Pattern[bytes]:
        """How to read the next piece, from what the bytes so far end with."""
        tail = self.held[-2:]
        if tail[-1:] == b"\n":
            return self._patterns[1]
        return self._patterns[2 if tail == b"\n\r" else 0]

    def feed(self, data: bytes) -> tuple[int, bytes | None]:
        """How many bytes of ``data`` belong to the section, and the whole
        section once its empty line is there (else None). Raises
        `HTTPInputError` past ``limit``."""
        held = self.held
        start = len(held)
        held += data  # (a bytearray: a section trickled in costs no copies)
        # An end that began in what was held begins at most 2 bytes back.
        end = _abnf.head_end.search(held, max(start - 2, 0))
        stop = len(held) if end is None else end.end()
        if stop - 1 > self.limit:
            raise HTTPInputError(_wire.TRAILERS_TOO_LARGE)
        if end is None:
            return len(data), None
        return stop - start, bytes(held[1:stop])


class ChunkedDecoder:
    """Decodes one chunked body; ``max_body_size`` bounds its total size."""

    __slots__ = (
        "part", "remaining", "total", "limit", "extensions", "trailer_limit",
        "trailers", "_partial", "_section",
    )  # fmt: skip

    def __init__(
        self, max_body_size: int, extensions: bool = False, trailer_limit: int = 0
    ) -> None:
        """``extensions``: accept chunk extensions (RFC 9112 §7.1.1), each
        size line bounded by ``CHUNK_LINE_WITH_EXT_LIMIT``, and ignore them
        (ServerOptions.chunk_extensions); refused otherwise, as upstream.
        ``trailer_limit``: accept a trailer section of up to that many bytes
        (ServerOptions.trailers), parsed into `trailers`; 0 refuses any, as
        upstream."""
        self.part = Part.SIZE
        self.extensions = extensions
        self.trailer_limit = trailer_limit
        #: The trailer fields, once read (None: none accepted, or not yet).
        self.trailers: HTTPHeaders | None = None
        self._section: TrailerSection | None = None
        #: Bytes of the current chunk's data still to come.
        self.remaining = 0
        self.total = 0
        self.limit = max_body_size
        # The start of a line fed in pieces (at most the line's limit).
        self._partial = b""

    @property
    def done(self) -> bool:
        return self.part is Part.DONE

    def wants(self) -> Want:
        """What to read next (nothing once `done`)."""
        if self.part is Part.DATA:
            return Want(Need.DATA, None, self.remaining)
        if self.extensions and self.part is Part.SIZE:
            return _SIZE_WITH_EXT
        if self.part is Part.TRAILERS:
            return Want(Need.LINE, self._section.pattern())  # type: ignore[union-attr]
        return WANTS[self.part]

    def feed(self, data: bytes) -> tuple[int, bytes]:
        """Take bytes; returns how many were used (never any past the end of
        the body), and the chunk data found among them (possibly empty).
        Raises `~tornado.httputil.HTTPInputError` for a malformed body."""
        part = self.part
        if part is Part.DATA:
            piece = data[: self.remaining]
            self.remaining -= len(piece)
            if not self.remaining:
                self.part = Part.DATA_END
            return len(piece), piece
        if part is Part.DONE:
            return 0, b""
        if part is Part.TRAILERS:
            return self._feed_trailers(data), b""
        line, used = self._line(data)
        if line is not None:
            self._on_line(part, line)
        return used, b""

    def _line(self, data: bytes) -> tuple[bytes | None, int]:
        """The line ``data`` completes, if any, and how much of it was used."""
        held = self._partial
        buffer = held + data if held else data
        if self.part is Part.LAST_CRLF:
            end = 2 if len(buffer) >= 2 else -1
        elif self.extensions and self.part is Part.SIZE:
            end = _extended_line_end(buffer)
        else:
            match = WANTS[self.part].pattern.search(buffer)  # type: ignore[union-attr]
            end = match.end() if match is not None else -1
        if end < 0:
            self._partial = buffer
            return None, len(data)
        self._partial = b""
        return buffer[:end], end - len(held)

    def _on_line(self, part: Part, line: bytes) -> None:
        if part is Part.SIZE:
            self._on_size(line)
        elif part is Part.DATA_END:
            if line[:2] != b"\r\n":
                raise HTTPInputError("improperly terminated chunk")
            if len(line) > 2:
                self._on_size(line[2:])
            else:
                self.part = Part.SIZE
        else:
            if line != b"\r\n":
                raise HTTPInputError("improperly terminated chunked request")
            self.part = Part.DONE

    def _feed_trailers(self, data: bytes) -> int:
        used, section = self._section.feed(data)  # type: ignore[union-attr]
        if section is not None:
            self.trailers = _wire.parse_trailers(section)
            self.part = Part.DONE
        return used

    def _on_size(self, line: bytes) -> None:
        size = _wire.chunk_size(line, self.extensions)
        if size == 0:
            if self.trailer_limit:
                self._section = TrailerSection(self.trailer_limit)
                self.part = Part.TRAILERS
            else:
                self.part = Part.LAST_CRLF
            return
        self.total += size
        if self.total > self.limit:
            raise HTTPInputError(_wire.CHUNKED_TOO_LARGE)
        self.remaining = size
        self.part = Part.DATA
