"""The fuzz inputs: HTTP/1.x messages as the parts a mutation can aim at,
the bytes and values that matter to framing, and the mutations."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Optional

from tornado_h1.testing.wire import show

#: The bytes that matter to HTTP/1.x framing, and the ones Python's str
#: methods treat as whitespace although HTTP does not.
INTERESTING_BYTES = (
    b"\r",
    b"\n",
    b" ",
    b"\t",
    b"\x00",
    b":",
    b",",
    b";",
    b"\x0b",
    b"\x0c",
    b"\x85",
    b"\xa0",
    b'"',
    b"0",
    b"-",
    b"+",
    b"\x7f",
    b"\xff",
)

LINE_ENDS = (b"\r\n", b"\n", b"\r", b"\r\r\n", b"\n\r", b"\r\n\r\n", b"")
SEPARATORS = (b": ", b":", b":\t", b" :", b"\t:", b":  ", b": \x0b", b":\xa0")

#: Values to try in each framing field (and in any field).
VALUE_VARIANTS: dict[bytes, tuple[bytes, ...]] = {
    b"content-length": (
        b"0",
        b"5",
        b"05",
        b"+5",
        b"-5",
        b"5 ",
        b" 5",
        b"5_0",
        b"0x5",
        b"5.0",
        b"5, 5",
        b"5,5",
        b"5, 6",
        b"5,",
        b",5",
        b'"5"',
        b"\xb55",
        b"5\x85",
        b"5\xa0",
        b"\x0b5",
        b"99999999999999999999999",
        b"0" * 40 + b"5",
        b"",
    ),
    b"transfer-encoding": (
        b"chunked",
        b"Chunked",
        b"CHUNKED",
        b"chunked, chunked",
        b"gzip, chunked",
        b"chunked, gzip",
        b"identity",
        b"identity, chunked",
        b"chunked;q=1",
        b'"chunked"',
        b"chunked\x0b",
        b"\x0bchunked",
        b"chunked\x85",
        b"\xa0chunked",
        b"xchunked",
        b"chunk",
        b"chunked,",
        b",chunked",
        b"",
    ),
    b"host": (b"x", b"y", b"x, y", b"x y", b"x:80", b"x@y", b"", b"[::1]:80"),
    b"connection": (b"close", b"keep-alive", b"Close", b"upgrade", b"close, x"),
    b"content-encoding": (b"gzip", b"GZIP", b"deflate", b"gzip, gzip", b""),
    b"expect": (b"100-continue", b"100-Continue", b"nope"),
}

FIELD_POOL = (
    (b"Content-Length", b"5"),
    (b"Content-Length", b"0"),
    (b"Transfer-Encoding", b"chunked"),
    (b"Transfer-Encoding", b"gzip, chunked"),
    (b"Host", b"y"),
    (b"Connection", b"close"),
    (b"Connection", b"keep-alive"),
    (b"Expect", b"100-continue"),
    (b"Content-Encoding", b"gzip"),
    (b"X-A", b"b"),
    (b"X-A", b"b\x85"),
    (b"Transfer-Encoding ", b"chunked"),
    (b" Transfer-Encoding", b"chunked"),
    (b"Content-Length\x00", b"5"),
    (b"", b"x"),
    (b"Content_Length", b"5"),
)


@dataclasses.dataclass
class Field:
    name: bytes
    value: bytes
    sep: bytes = b": "
    eol: bytes = b"\r\n"

    def encode(self) -> bytes:
        return self.name + self.sep + self.value + self.eol


@dataclasses.dataclass
class Chunk:
    size: bytes
    data: bytes
    size_eol: bytes = b"\r\n"
    tail: bytes = b"\r\n"

    @classmethod
    def of(cls, data: bytes) -> Chunk:
        return cls(b"%x" % len(data), data)

    def encode(self) -> bytes:
        return self.size + self.size_eol + self.data + self.tail


@dataclasses.dataclass
class Message:
    """A request or response, as the parts a mutation can aim at."""

    start: bytes
    fields: list[Field]
    body: bytes = b""
    chunks: Optional[list[Chunk]] = None
    start_eol: bytes = b"\r\n"
    end: bytes = b"\r\n"
    last_chunk: bytes = b"0\r\n\r\n"

    def encode(self) -> bytes:
        out = [self.start, self.start_eol]
        out += [field.encode() for field in self.fields]
        out.append(self.end)
        if self.chunks is not None:
            out += [chunk.encode() for chunk in self.chunks]
            out.append(self.last_chunk)
        else:
            out.append(self.body)
        return b"".join(out)


def framed_message(
    start: bytes,
    fields: list[Field],
    body: bytes,
    framing: str,
    pieces: int = 1,
) -> Message:
    """A message whose body is delimited by ``framing``: ``"length"``,
    ``"chunked"`` (in ``pieces`` chunks) or ``"none"``."""
    fields = list(fields)
    if framing == "length":
        fields.append(Field(b"Content-Length", b"%d" % len(body)))
        return Message(start, fields, body)
    if framing == "chunked":
        fields.append(Field(b"Transfer-Encoding", b"chunked"))
        step = max(1, -(-len(body) // max(1, pieces)))
        chunks = [Chunk.of(body[i : i + step]) for i in range(0, len(body), step)]
        return Message(start, fields, chunks=chunks)
    return Message(start, fields, body)


@dataclasses.dataclass
class Case:
    """One fuzz input: the bytes, and how they are cut into writes."""

    side: str  # "server" (a request) or "client" (a response)
    pieces: tuple[bytes, ...]
    method: str = "GET"  # the client's request method, for "client"

    @property
    def data(self) -> bytes:
        return b"".join(self.pieces)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "side": self.side,
            "input": show(self.data),
            "pieces": [show(p) for p in self.pieces],
        }
        if self.side == "client":
            out["method"] = self.method
        return out


def _interesting_positions(data: bytes) -> list[int]:
    """Where a byte mutation is most likely to matter: around every
    delimiter, at line starts, and in numbers."""
    positions = {0, len(data)}
    for i, b in enumerate(data):
        if b in b"\r\n: \t,;=":
            positions.update((i, i + 1))
    return sorted(positions)


def apply_structural(message: Message, mutation: tuple[Any, ...]) -> None:
    """Apply one structural mutation to ``message`` in place."""
    op = mutation[0]
    fields = message.fields
    chunks = message.chunks
    if op == "field_insert":
        name, value = mutation[2]
        fields.insert(mutation[1] % (len(fields) + 1), Field(name, value))
    elif op == "field_dup" and fields:
        field = fields[mutation[1] % len(fields)]
        copy = dataclasses.replace(field)
        if mutation[2]:
            variants = VALUE_VARIANTS.get(field.name.lower(), (b"x",))
            copy.value = variants[(mutation[1] + 1) % len(variants)]
        fields.insert(mutation[1] % (len(fields) + 1), copy)
    elif op == "field_delete" and fields:
        del fields[mutation[1] % len(fields)]
    elif op == "field_value" and fields:
        field = fields[mutation[1] % len(fields)]
        variants = VALUE_VARIANTS.get(field.name.lower(), (b"", b"x\x85", b"\xa0"))
        field.value = variants[mutation[2] % len(variants)]
    elif op == "field_named":
        name = mutation[1]
        variants = VALUE_VARIANTS[name]
        value = variants[mutation[2] % len(variants)]
        for field in fields:
            if field.name.lower() == name:
                field.value = value
                break
        else:
            fields.append(Field(name.title(), value))
    elif op == "field_sep" and fields:
        fields[mutation[1] % len(fields)].sep = mutation[2]
    elif op == "field_eol" and fields:
        fields[mutation[1] % len(fields)].eol = mutation[2]
    elif op == "start_eol":
        message.start_eol = mutation[1]
    elif op == "end":
        message.end = mutation[1]
    elif op == "chunk_size" and chunks:
        chunks[mutation[1] % len(chunks)].size = mutation[2]
    elif op == "chunk_len" and chunks:
        chunk = chunks[mutation[1] % len(chunks)]
        delta = mutation[2]
        chunk.data = chunk.data[:delta] if delta < 0 else chunk.data + b"z" * delta
    elif op == "chunk_size_eol" and chunks:
        chunks[mutation[1] % len(chunks)].size_eol = mutation[2]
    elif op == "chunk_tail" and chunks:
        chunks[mutation[1] % len(chunks)].tail = mutation[2]
    elif op == "last_chunk" and chunks is not None:
        message.last_chunk = mutation[1]


def apply_bytewise(data: bytes, mutation: tuple[Any, ...]) -> bytes:
    """Apply one byte mutation; ``mutation[2]`` picks an interesting
    position (True) or any position (False)."""
    op, index, interesting = mutation[0], mutation[1], mutation[2]
    positions = _interesting_positions(data) if interesting else range(len(data) + 1)
    pos = positions[index % len(positions)]
    byte: bytes = mutation[3] if len(mutation) > 3 else b""
    if op == "insert":
        return data[:pos] + byte + data[pos:]
    if pos >= len(data):
        pos = max(0, len(data) - 1)
    if op == "delete":
        return data[:pos] + data[pos + 1 :]
    return data[:pos] + byte + data[pos + 1 :]


def mutate(message: Message, mutations: Sequence[tuple[Any, ...]]) -> bytes:
    """Apply the structural mutations, encode, then the byte mutations."""
    byte_ops = ("insert", "delete", "replace")
    for mutation in mutations:
        if mutation[0] not in byte_ops:
            apply_structural(message, mutation)
    data = message.encode()
    for mutation in mutations:
        if mutation[0] in byte_ops:
            data = apply_bytewise(data, mutation)
    return data


def split(data: bytes, cuts: Sequence[int]) -> tuple[bytes, ...]:
    """``data`` cut at the given offsets (taken modulo its length)."""
    if not data:
        return (data,)
    points = sorted({cut % len(data) for cut in cuts} - {0})
    bounds = [0, *points, len(data)]
    return tuple(data[a:b] for a, b in zip(bounds, bounds[1:]))
