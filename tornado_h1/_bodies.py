"""Reading a message body from the IOStream, for `HTTP1Connection`.

Each reader asks the stream for exactly the body's bytes (the framing the
exchange chose says how many, or the chunked decoder says what to read
next), so nothing past the message leaves the stream. What is read goes to
the delegate through ``HTTP1Connection._deliver``. Buffered data is read
without returning to the IOLoop, so a fast peer could hold the loop for a
whole body: the readers yield after every `YIELD_THRESHOLD` bytes (a chunk
counts as `CHUNK_YIELD_COST`, since tiny chunks cost per chunk).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, cast

from tornado import httputil, iostream
from tornado.concurrent import Future
from tornado.log import gen_log

from tornado_h1 import _abnf, _options, _tornado, _versions, _wire
from tornado_h1._chunked import ChunkedDecoder, Need
from tornado_h1._link import (
    NEXT_ITERATION,
    future_on,
    is_done,
    raise_unless_closed,
    wake,
)
from tornado_h1._wire import BODY_CHUNKED, BODY_LENGTH

if TYPE_CHECKING:
    from tornado_h1.http1connection import HTTP1Connection

YIELD_THRESHOLD = 1 << 18
CHUNK_YIELD_COST = 1 << 10
_COALESCE_CHUNKS = _versions.CURRENT.coalesce_chunks


def body_framing(conn: HTTP1Connection, headers: httputil.HTTPHeaders) -> _wire.Framing:
    """How the body ends (the exchange decides), after the ``100 Continue``
    it may be owed. With precise errors the framing is decided first, so
    that a body over the limit gets its 413 instead of an invitation to
    send it."""
    exchange, link = conn._exchange, conn._link
    first = link is not None and link.options.precise_errors
    if first:
        framing = exchange.framing(headers, conn._max_body_size)
    if exchange.owes_continue(headers):
        conn.stream.write(_wire.CONTINUE)
        if conn._trace:
            conn._trace("sent 100 Continue")
    if not first:
        framing = exchange.framing(headers, conn._max_body_size)
    if conn._trace:
        conn._trace.framing(framing)
    return framing


async def read_body(
    conn: HTTP1Connection,
    framing: _wire.Framing,
    delegate: httputil.HTTPMessageDelegate,
) -> bool:
    """Read the body with the chosen framing. ``False`` if the body
    timeout expired (the stream is then closed)."""
    if framing.kind is BODY_LENGTH:
        reader = _read_fixed(conn, framing.length, delegate)
    elif framing.kind is BODY_CHUNKED:
        reader = _read_chunked(conn, delegate)
    else:
        reader = _read_until_close(conn, delegate)
    timeout = conn._body_timeout
    if timeout is None:
        await reader
        return True
    # With a deadline, the reader runs as its own task so that the
    # exchange can give up on time even while the delegate is slow.
    task = asyncio.ensure_future(reader)
    waiter: Future[None] = Future()
    conn._deadline_waiter = waiter
    task.add_done_callback(functools.partial(wake, waiter))
    link = conn._stream_link()
    link.arm(conn, timeout)
    try:
        await waiter
    finally:
        link.disarm()
        conn._deadline_waiter = None
    if not conn._exchange.expired:
        task.result()  # the reader's own outcome, errors included
        return True
    if not task.done():
        task.add_done_callback(raise_unless_closed)
    elif not isinstance(task.exception(), (type(None), iostream.StreamClosedError)):
        task.result()  # it failed for another reason before the deadline
    gen_log.info("Timeout reading body from %s", conn.context)
    return False


async def _read_fixed(
    conn: HTTP1Connection, length: int, delegate: httputil.HTTPMessageDelegate
) -> None:
    stream, step = conn.stream, conn.params.chunk_size
    since_yield = 0
    while length > 0:
        data = await stream.read_bytes(min(step, length), partial=True)
        length -= len(data)
        await conn._deliver(delegate, data)
        since_yield += len(data)
        if since_yield >= YIELD_THRESHOLD:
            since_yield = 0
            await NEXT_ITERATION


async def _read_chunked(
    conn: HTTP1Connection, delegate: httputil.HTTPMessageDelegate
) -> None:
    """Chunk boundaries carry no meaning (intermediaries re-chunk), so
    small chunks are gathered into pieces of up to ``chunk_size``; what
    is gathered goes out whenever the next read would wait."""
    stream, step = conn.stream, conn.params.chunk_size
    link = conn._link
    options = _options.DEFAULT if link is None else link.options
    trailer_limit = conn.params.max_header_size if options.trailers else 0
    decoder = ChunkedDecoder(
        conn._max_body_size, options.chunk_extensions, trailer_limit
    )
    gathered = bytearray()
    since_yield = 0
    while not decoder.done:
        need, pattern, size = decoder.wants()
        reading: Awaitable[bytes]
        if need is Need.DATA:
            reading = stream.read_bytes(min(size, step), partial=True)
        elif need is Need.LINE:
            reading = stream.read_until_regex(pattern)  # type: ignore[arg-type]
            since_yield += CHUNK_YIELD_COST
        else:
            reading = stream.read_bytes(size)
        if gathered and not is_done(reading):
            piece = bytes(gathered)
            gathered.clear()
            await conn._deliver(delegate, piece)
        _, data = decoder.feed(await reading)
        if data:
            since_yield += len(data)
            await _gather(conn, delegate, data, gathered, step)
        if since_yield >= YIELD_THRESHOLD:
            since_yield = 0
            await NEXT_ITERATION
    if gathered:
        await conn._deliver(delegate, bytes(gathered))
    if decoder.trailers is not None:
        conn._exchange.trailers = decoder.trailers
        if conn._trace:
            conn._trace.trailers_received(decoder.trailers)


async def _gather(
    conn: HTTP1Connection,
    delegate: httputil.HTTPMessageDelegate,
    data: bytes,
    gathered: bytearray,
    step: int,
) -> None:
    if not gathered and (len(data) == step or not _COALESCE_CHUNKS):
        await conn._deliver(delegate, data)
        return
    gathered += data
    if len(gathered) >= step:
        # One copy out; the view must be gone before the del.
        with memoryview(gathered) as view:
            piece = view[:step].tobytes()
        del gathered[:step]
        await conn._deliver(delegate, piece)


async def _read_until_close(
    conn: HTTP1Connection, delegate: httputil.HTTPMessageDelegate
) -> None:
    """RFC 9112 §6.3 step 8, piece by piece, so that ``max_body_size``
    applies before a large body is held in memory."""
    stream, step, limit = conn.stream, conn.params.chunk_size, conn._max_body_size
    total = since_yield = 0
    while True:
        try:
            data = await stream.read_bytes(step, partial=True)
        except iostream.StreamClosedError:
            return
        total += len(data)
        if total > limit:
            raise httputil.HTTPInputError("Body too long")
        await conn._deliver(delegate, data)
        since_yield += len(data)
        if since_yield >= YIELD_THRESHOLD:
            since_yield = 0
            await NEXT_ITERATION


# -- a head read under ServerOptions.precise_errors ----------------------------


def bounded_head(stream: iostream.IOStream, limit: int) -> Future[bytes]:
    """Read a head so that one over ``limit`` is refused with our 431
    (`HTTPInputError` `_wire.HEAD_TOO_LARGE`) instead of IOStream closing the
    stream itself (as upstream's read, with ``max_bytes``, makes it do).

    While the stream holds nothing, its buffer will start with the head on
    every release, and `_abnf.bounded_head` (anchored there) takes the
    whole head, or ``limit + 1`` bytes of one that has not ended, leaving a
    head that has only begun in the stream (the timer's 408 looks there).
    The stream's buffer grows to at most about ``2 * limit`` plus one read
    (IOStream searches again each time it has doubled). A head already
    (partly) in the stream, behind a pipelined request, is read as upstream
    reads it: IOStream before 6.3 may search from an offset into its
    buffer, where nothing can anchor a pattern."""
    pattern, max_bytes = _abnf.bounded_head(limit), None
    if _tornado.buffer_is_empty(stream) is not True:
        pattern, max_bytes = _abnf.head_end, limit  # upstream's read
    reading: Future[bytes] = stream.read_until_regex(pattern, max_bytes)  # type: ignore[arg-type, assignment]
    if max_bytes is not None:
        return reading
    if reading.done():
        return _checked(reading, limit)
    checked = cast("Future[bytes]", future_on(stream))
    reading.add_done_callback(functools.partial(_relay_checked, checked, limit))
    return checked


def _checked(reading: Future[bytes], limit: int) -> Future[bytes]:
    if reading.exception() is None and len(reading.result()) > limit:
        refused: Future[bytes] = Future()
        refused.set_exception(httputil.HTTPInputError(_wire.HEAD_TOO_LARGE))
        return refused
    return reading


def _relay_checked(checked: Future[bytes], limit: int, reading: Future[bytes]) -> None:
    if checked.done():  # (its awaiter was cancelled)
        if not reading.cancelled():
            reading.exception()  # (retrieved: nobody else will)
        return
    result = _checked(reading, limit)
    error = result.exception()
    if error is not None:
        checked.set_exception(error)
    else:
        checked.set_result(result.result())


# -- trailers, for the application ---------------------------------------------


def request_trailers(
    request: httputil.HTTPServerRequest,
) -> httputil.HTTPHeaders | None:
    """The trailer fields of ``request``'s chunked body (RFC 9112 §7.1.2),
    apart from its headers, once the body is read (from a
    ``RequestHandler``'s ``post()``, with or without
    ``@stream_request_body``): an empty ``HTTPHeaders`` if the section was
    empty. ``None`` when there are none to have: the body was not chunked
    or is not read yet, ``ServerOptions.trailers`` is off, or tornado_h1
    is not serving the request."""
    exchange = getattr(request.connection, "_exchange", None)
    return getattr(exchange, "trailers", None)


def set_response_trailers(
    request: httputil.HTTPServerRequest, trailers: Mapping[str, str]
) -> None:
    """Have the last chunk of ``request``'s response carry ``trailers``
    (an ``HTTPHeaders``, or any mapping of names to values); a second call
    replaces them. The response must be chunked, its head sent, and not
    finished: in a ``RequestHandler``, ``self.flush()`` first (without a
    Content-Length), then this, then ``self.finish()``. Checked at once, as
    a head's fields are: `ValueError` otherwise (see
    `tornado_h1._exchange.Exchange.send_trailers`), ``TypeError`` if
    tornado_h1 is not serving the request."""
    exchange = getattr(request.connection, "_exchange", None)
    if exchange is None:
        raise TypeError("set_response_trailers: tornado_h1 is not serving this request")
    if not isinstance(trailers, httputil.HTTPHeaders):
        trailers = httputil.HTTPHeaders(trailers)
    exchange.send_trailers(trailers)
