"""HTTP/1.x for Tornado, client and server: a drop-in ``tornado.http1connection``.

One request, from socket to handler and back
--------------------------------------------

1. `HTTP1ServerConnection.start_serving` starts one task per connection, the
   *serving loop*, which makes an `HTTP1Connection` for each request in turn.
2. `HTTP1Connection.read_response` (the name is historical: on a server it
   reads the *request*) awaits the head from the IOStream, and hands the bytes
   to the pure functions of :mod:`tornado_h1._wire`, which split and validate
   them and decide how the body ends (RFC 9112 §6.3).
3. The delegate (for a web app, Tornado's routing and ``RequestHandler``)
   gets ``headers_received``, then ``data_received`` for each piece of the
   body, then ``finish``.
4. The application answers through `HTTP1Connection.write_headers`,
   `~HTTP1Connection.write` and `~HTTP1Connection.finish`, which serialize
   with :mod:`tornado_h1._wire` and write to the same IOStream.
5. When the response has been flushed, the serving loop goes round for the
   next request, or closes the connection.

The IOStream is the only receive buffer: every read asks it for exactly the
head, or exactly the body's bytes, so nothing past the end of a message is
ever taken out of it, and `HTTP1Connection.detach` can hand the untouched
stream to a WebSocket.

Only two methods await the network for a message: ``_read_head`` and the
body readers; everything they read is interpreted elsewhere.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import types
import zlib
from collections.abc import Awaitable, Generator
from typing import Any, Callable, Optional, Union, cast

from tornado import gen, httputil, iostream
from tornado.concurrent import Future
from tornado.escape import utf8
from tornado.log import app_log, gen_log
from tornado.util import GzipDecompressor

from tornado_h1 import _abnf, _versions, _wire, _writebehind
from tornado_h1._state import (
    Inbound,
    InEvent,
    Outbound,
    OutEvent,
    advance_in,
    advance_out,
)
from tornado_h1._wire import Body

_StartLine = Union[httputil.RequestStartLine, httputil.ResponseStartLine]

#: Outgoing start lines and fields must not contain a line break.
CR_OR_LF_RE = _abnf.cr_or_lf

#: ``1*DIGIT`` and ``1*HEXDIG``, as used by `parse_int` and `parse_hex_int`.
DIGITS = re.compile("[%s]+" % "0-9")
HEXDIGITS = re.compile("[%s]+" % "0-9a-fA-F")

# A client accepts at most this many interim (1xx) responses before the final
# one; a server sending more is hostile (each costs a delegate call).
_MAX_1XX_RESPONSES = 10

# Data that is already buffered is read without returning to the IOLoop, so
# a fast peer could hold the loop for a whole body. Body readers therefore
# yield to the loop after this many bytes; each chunk of a chunked body is
# counted as _CHUNK_YIELD_COST bytes, since tiny chunks cost per chunk.
_YIELD_THRESHOLD = 1 << 18  # 256 KiB
_CHUNK_YIELD_COST = 1 << 10
# Requests a server connection may serve back to back from already buffered
# data before it yields to the IOLoop.
_BACK_TO_BACK = 8

# What depends on the installed Tornado release (see tornado_h1._versions).
_COALESCE_CHUNKS = _versions.CURRENT.coalesce_chunks
_UNFOLD_RESPONSES = _versions.CURRENT.unfold_responses
_INPUT_ERRORS_PASS_GUARD = not _versions.CURRENT.input_error_in_delegate_uncaught


# IOStream passes a pattern through re.compile(), which hands an already
# compiled one back unchanged: no per-read cache lookup. (IOStream's
# annotations say bytes, hence the casts, done once here.)
_HEAD_END = cast(bytes, _abnf.head_end)
_CHUNK_LINE = cast(bytes, _abnf.chunk_line)
_CHUNK_END_AND_LINE = cast(bytes, _abnf.chunk_end_and_line)

_DEFAULT_SIZE = 1 << 16  # 64 KiB
_CHUNKED = "chunked"


def _wants_keep_alive(headers: httputil.HTTPHeaders) -> bool:
    """An HTTP/1.0 request asking to keep the connection open."""
    return "Connection" in headers and headers["Connection"].lower() == "keep-alive"


def _is_done(future: Awaitable[Any]) -> bool:
    """Whether an IOStream read has already completed (its data was
    buffered). IOStream declares Awaitables but returns Futures."""
    return isinstance(future, Future) and future.done()


class _QuietException(Exception):
    """Raised after a delegate failure has been logged: unwinds the driver
    without logging the same failure again."""

    def __init__(self) -> None:
        pass


class _ExceptionLoggingContext:
    """A ``with`` block around delegate calls: any exception except
    `~tornado.httputil.HTTPInputError` is logged to ``logger`` as
    ``Uncaught exception`` and replaced by `_QuietException`.
    `~tornado.httputil.HTTPInputError` passes through, so that bad input
    from the peer becomes a 400 rather than an application error (on
    Tornado 6.5.2 and later; earlier releases treat it like any other
    exception, see `tornado_h1._versions`)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def __enter__(self) -> None:
        pass

    def __exit__(
        self,
        typ: Optional[type[BaseException]],
        value: Optional[BaseException],
        tb: Optional[types.TracebackType],
    ) -> None:
        if value is not None:
            _delegate_failed(value, self.logger)


def _delegate_failed(error: BaseException, logger: logging.Logger = app_log) -> None:
    """What the guard does with an exception from a delegate: returns if it
    must go on as it is (the caller re-raises it), otherwise logs it and
    raises `_QuietException` in its place."""
    if _INPUT_ERRORS_PASS_GUARD and isinstance(error, httputil.HTTPInputError):
        return
    logger.error(
        "Uncaught exception", exc_info=(type(error), error, error.__traceback__)
    )
    raise _QuietException


# Stateless, so one instance serves every delegate call.
_delegate_guard = _ExceptionLoggingContext(app_log)


class HTTP1ConnectionParameters:
    """Settings shared by `HTTP1Connection` and `HTTP1ServerConnection`."""

    def __init__(
        self,
        no_keep_alive: bool = False,
        chunk_size: Optional[int] = None,
        max_header_size: Optional[int] = None,
        header_timeout: Optional[float] = None,
        max_body_size: Optional[int] = None,
        body_timeout: Optional[float] = None,
        decompress: bool = False,
    ) -> None:
        """
        :arg bool no_keep_alive: close the connection after every message.
        :arg int chunk_size: the most body data read into memory per step
            (default 64 KiB).
        :arg int max_header_size: the most bytes a head may take (64 KiB).
        :arg float header_timeout: seconds allowed for a whole head to
            arrive; ``None`` waits forever.
        :arg int max_body_size: the largest body accepted; ``None`` means
            the stream's ``max_buffer_size``.
        :arg float body_timeout: seconds allowed for a whole body.
        :arg bool decompress: decode ``Content-Encoding: gzip`` bodies.
        """
        # Sizes: None or 0 means the 64 KiB default. Limits and timeouts:
        # None means none (max_body_size then falls back to the stream's).
        self.chunk_size = chunk_size if chunk_size else _DEFAULT_SIZE
        self.max_header_size = max_header_size if max_header_size else _DEFAULT_SIZE
        self.max_body_size, self.header_timeout, self.body_timeout = (
            max_body_size,
            header_timeout,
            body_timeout,
        )
        self.no_keep_alive, self.decompress = no_keep_alive, decompress


class _StreamLink:
    """What outlives one request on a connection: the single timer and
    whether Nagle's algorithm has been turned off.

    The timer is *lazy*: arming it only records a deadline; the IOLoop
    timeout is scheduled once and, when it fires early (because the deadline
    it was set for has been replaced by a later one), it re-arms itself for
    the current deadline. A keep-alive connection therefore schedules about
    one IOLoop timeout per ``header_timeout`` rather than one per request.
    """

    __slots__ = (
        "io_loop",
        "persistent",
        "flush_queue",
        "held",
        "nodelay",
        "streak",
        "ended",
        "pause",
        "_handle",
        "_handle_due",
        "_due",
        "_owner",
    )

    def __init__(self, stream: iostream.IOStream, persistent: bool = False) -> None:
        self.io_loop = stream.io_loop
        # True when a serving loop owns it across requests (and cancels it).
        self.persistent = persistent
        # Where a serving loop's small responses wait for the next flush
        # (see tornado_h1._writebehind): the event loop's flush queue, None
        # where nothing is held back, and this stream's held bytes, made at
        # the first response held (an idle connection costs nothing more).
        self.flush_queue = _writebehind.queue_for(stream) if persistent else None
        self.held: Optional[_writebehind.HeldWrites] = None
        self.nodelay = False
        # Requests served back to back without yielding to the IOLoop.
        self.streak = 0
        # Set when a response ended the connection: nothing more is read.
        self.ended = False
        # Whether to yield before reading the next head (see _read_head).
        self.pause = False
        self._handle: object = None
        self._handle_due = 0.0
        self._due = 0.0
        self._owner: Optional[HTTP1Connection] = None

    def arm(self, owner: HTTP1Connection, seconds: float) -> None:
        due = self.io_loop.time() + seconds
        self._due = due
        self._owner = owner
        if self._handle is not None:
            if self._handle_due <= due:
                return
            self.io_loop.remove_timeout(self._handle)
        self._handle = self.io_loop.call_at(due, self._fire)
        self._handle_due = due

    def disarm(self) -> None:
        self._owner = None

    def cancel(self) -> None:
        self._owner = None
        if self._handle is not None:
            self.io_loop.remove_timeout(self._handle)
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        owner = self._owner
        if owner is None:
            return
        if self.io_loop.time() < self._due:
            self._handle = self.io_loop.call_at(self._due, self._fire)
            self._handle_due = self._due
            return
        self._owner = None
        owner._on_deadline()


_status_lines: dict[tuple[int, str], bytes] = {}


def _status_line(code: int, reason: str) -> bytes:
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


def _relay_write(done: Future[None], written: Future[None]) -> None:
    """Resolve the future we returned for a write once the stream's write
    has finished. A peer that closed meanwhile is not the writer's error:
    the future resolves (the close is reported by the close callback). Any
    other failure is re-raised here, inside a done-callback, where the event
    loop logs it, as upstream does."""
    _raise_unless_closed(written)
    if not done.done():
        done.set_result(None)


def _when_done(future: Future[Any], callback: Callable[[Future[Any]], None]) -> None:
    """``callback(future)`` now if ``future`` is done, else when it is.
    (IOStream writes usually complete synchronously; running the callback at
    once keeps the order of events the same as upstream's.)"""
    if future.done():
        callback(future)
    else:
        future.add_done_callback(callback)


class HTTP1Connection(httputil.HTTPConnection):
    """One HTTP/1.x message exchange over an IOStream.

    A client makes one per request; on a server, `HTTP1ServerConnection`
    makes one per request it reads.
    """

    # The state every exchange starts with is kept on the class: an instance
    # gets its own value only when one changes, so making a connection (one
    # per request on a server) sets a handful of attributes, not twenty.
    _link: Optional[_StreamLink] = None
    _inbound = Inbound.IDLE
    _outbound = Outbound.IDLE
    # Set when the timer expired while we waited on the stream; a body read
    # under a deadline waits on _deadline_waiter.
    _expired = False
    _deadline_waiter: Optional[Future[None]] = None
    # Set by the serving loop for every request after the first.
    _yield_if_buffered = False
    # Close once this exchange is over (decided from the request, or by an
    # application that finished before the request was read).
    _close_after = False
    # How our outgoing body is delimited: chunked, or a byte count still
    # owed (None: neither, the body ends when we close).
    _chunking = False
    _remaining: Optional[int] = None
    _request_line: Optional[httputil.RequestStartLine] = None
    _request_headers: Optional[httputil.HTTPHeaders] = None
    # The stream write that must complete before the exchange is over.
    _last_write: Optional[Future[None]] = None
    # Resolved when the response is out (server) or the request is
    # (client); made only if someone has to wait for it.
    _over: Optional[Future[None]] = None
    _is_over = False
    _close_callback: Optional[Callable[[], None]] = None

    def __init__(
        self,
        stream: iostream.IOStream,
        is_client: bool,
        params: Optional[HTTP1ConnectionParameters] = None,
        context: Optional[object] = None,
    ) -> None:
        """
        :arg stream: the `.IOStream` to speak over.
        :arg bool is_client: ``True`` to send requests and read responses,
            ``False`` to read requests and send responses.
        :arg params: an `HTTP1ConnectionParameters`, or ``None`` for the
            defaults.
        :arg context: anything the application wants to find again as
            ``connection.context`` (HTTPServer puts the peer address here).
        """
        if params is None:
            params = HTTP1ConnectionParameters()
        self.stream, self.is_client, self.context = stream, is_client, context
        self.params = params
        # Copied, like the limits below, so that one exchange can differ.
        self.no_keep_alive = params.no_keep_alive
        # Per-request limits; the delegate may change them in headers_received.
        self._max_body_size: int = (
            params.max_body_size
            if params.max_body_size is not None
            else stream.max_buffer_size
        )
        self._body_timeout: Optional[float] = params.body_timeout
        _clear_close_callback(stream)

    # -- reading ------------------------------------------------------------

    def read_response(self, delegate: httputil.HTTPMessageDelegate) -> Awaitable[bool]:
        """Read one message and feed it to ``delegate``.

        On a client this is the response to the request written with
        `write_headers`, `write` and `finish`; on a server (through
        `HTTP1ServerConnection`) it is the request.

        :arg delegate: an `.HTTPMessageDelegate`.

        Returns an awaitable that resolves to ``True`` if the connection can
        carry another message, ``False`` if it was closed or detached.
        """
        params = self.params
        target = delegate
        if params.decompress:
            # Inflate gzip bodies on the way in, with the body limit applied
            # to the inflated size.
            target = _GzipMessageDelegate(
                delegate, params.chunk_size, self._max_body_size
            )
        return self._read_message(target)

    async def _read_message(self, delegate: httputil.HTTPMessageDelegate) -> bool:
        try:
            return await self._exchange(delegate)
        except _QuietException:
            # A delegate failed (logged already) and has been told of the
            # close; this exchange ends here.
            self.close()
            return False

    async def _exchange(self, delegate: httputil.HTTPMessageDelegate) -> bool:
        # ``owed_close`` is True while the delegate has seen headers_received
        # but neither finish() nor on_connection_close(): if we stop now it
        # must be told the connection closed.
        owed_close = False
        try:
            informational = 0
            while True:
                head = await self._read_head()
                if head is None:
                    self.close()
                    return False
                start_text, headers = _wire.split_head(
                    head, unfold=self.is_client and _UNFOLD_RESPONSES
                )
                start_line: _StartLine
                if self.is_client:
                    start_line = httputil.parse_response_start_line(start_text)
                    self._close_after = False
                else:
                    start_line = _wire.request_line(start_text)
                    self._request_line = start_line
                    self._request_headers = headers
                    self._close_after = not _wire.keeps_alive(
                        start_line.version,
                        start_line.method,
                        headers,
                        self.params.no_keep_alive,
                    )
                owed_close = True
                # (The hot delegate calls are guarded by try/except, which
                # costs nothing until something is raised, rather than by
                # `with _delegate_guard`, which costs two calls.)
                try:
                    pending = delegate.headers_received(start_line, headers)
                    if pending is not None:
                        await pending
                except BaseException as e:
                    _delegate_failed(e)
                    raise
                if self.stream is None:
                    # The delegate called detach(): the stream is not ours.
                    owed_close = False
                    return False
                if not self.is_client:
                    break
                assert isinstance(start_line, httputil.ResponseStartLine)
                status = start_line.code
                if not 100 <= status < 200:
                    break
                # An interim response (RFC 9110 §15.2): no body, and the
                # real response follows on the same connection.
                if "Content-Length" in headers or "Transfer-Encoding" in headers:
                    raise httputil.HTTPInputError(
                        "Response code %d cannot have body" % status
                    )
                if informational >= _MAX_1XX_RESPONSES:
                    raise httputil.HTTPInputError("Too many 1xx responses")
                informational += 1
                self._inbound = advance_in(self._inbound, InEvent.INFORMATIONAL)
                # Until the next head arrives, the delegate is between
                # messages: a close now is reported by the exception alone.
                owed_close = False

            framing = self._framing(start_line, headers)
            if framing.kind is not Body.NONE:
                self._inbound = advance_in(self._inbound, InEvent.HEAD)
                if not await self._read_body(framing, delegate):
                    return False
            self._inbound = advance_in(self._inbound, InEvent.END)
            if self.is_client or self._outbound is not Outbound.DONE:
                try:
                    delegate.finish()
                except BaseException as e:
                    _delegate_failed(e)
                    raise
                owed_close = False
            # Wait for the response to be written (server) before reading
            # the next request; meanwhile, a close is reported to the
            # application's close callback.
            waited = flushed = False
            if not self._is_over and self.stream is not None:
                held = self._link.held if self._link is not None else None
                if (
                    held is not None
                    and held.holding
                    and self._outbound is Outbound.DONE
                ):
                    # The whole response is held for the next flush (see
                    # _writebehind). No close callback is registered: the
                    # application has finished, and once the write
                    # completes or fails its close callback is cleared
                    # before a close could reach it, as upstream's is.
                    #
                    # A pipelining client's next request is already here:
                    # it is served at once, and its response joins this one
                    # in the same flush (one send for the batch). Never
                    # while an earlier flush is still being written, so
                    # that a client that does not read holds up its own
                    # requests. Otherwise, wait until the flush has written
                    # the response (the exchange is then over).
                    if (
                        not _holds_data(self.stream)
                        or self.stream.writing()
                        or self._close_after
                    ):
                        assert held.future is not None
                        await held.future
                        waited = flushed = True
                elif not self.stream.closed():
                    self.stream.set_close_callback(self._on_connection_close)
                    over = self._over
                    if over is None:
                        over = self._over = _future_on(self.stream)
                    await over
                    waited = True
            if self._link is not None:
                # Whether to let the IOLoop run once before reading the
                # next request (see _read_head). The flush of a held
                # response came an iteration before this point: that is
                # the time a pause would give the client.
                self._link.pause = not waited or (
                    framing.kind is not Body.NONE and not flushed
                )
            if self._close_after:
                if self.is_client:
                    self.close()
                elif self._link is not None:
                    # RFC 9112 §9.6: after a response that ends the
                    # connection, no further request is processed, even one
                    # already buffered (upstream goes on to read it from the
                    # closed stream and hands it to the application).
                    self._link.ended = True
            if self.stream is None:
                return False
        except httputil.HTTPInputError as e:
            gen_log.info("Malformed HTTP message from %s: %s", self.context, e)
            if not self.is_client:
                await self.stream.write(_wire.BAD_REQUEST)
            else:
                # Even a delegate that never saw a head must learn that its
                # response will not come, or a client request would hang.
                owed_close = True
            self.close()
            return False
        finally:
            if owed_close:
                with _delegate_guard:
                    delegate.on_connection_close()
            self._forget_callbacks()
            link = self._link
            if link is not None and not link.persistent:
                link.cancel()
        return True

    async def _read_head(self) -> Optional[bytes]:
        """Await one head from the stream. ``None`` if the header timeout
        expired (the stream is then closed)."""
        self._inbound = advance_in(self._inbound, InEvent.START)
        stream = self.stream
        link = self._link
        if link is not None and link.ended:
            # The previous exchange ended the connection (see _exchange).
            raise iostream.StreamClosedError()
        if (
            self._yield_if_buffered
            and link is not None
            and link.pause
            and not _holds_data(stream)
        ):
            # The next request is not in the stream yet, and the client may
            # not even have our response yet: we wrote it in this very step
            # (a read now is a wasted recv), or the last request had a body
            # (the next may too, and reading it at once would take it in
            # pieces: more recv calls, a read buffer regrown per piece, and
            # malloc returning and re-faulting pages for every 64 KiB
            # upload). One IOLoop iteration gives it time to arrive.
            # Otherwise (the response went out while we waited, at least an
            # iteration ago) pausing costs more than it saves: a request
            # that arrives during the pause is read by the stream on its
            # own, which then stops and restarts watching the socket (two
            # epoll_ctl calls).
            await _NEXT_ITERATION
        reading: Future[bytes] = stream.read_until_regex(  # type: ignore[assignment]
            _HEAD_END, max_bytes=self.params.max_header_size
        )
        if self._yield_if_buffered:
            # A pipelining client (its next head is already buffered) is
            # served back to back, without a loop iteration per request, up
            # to _BACK_TO_BACK requests; then other connections get a turn.
            link = self._stream_link()
            if not reading.done():
                link.streak = 0
            elif link.streak < _BACK_TO_BACK:
                link.streak += 1
            else:
                link.streak = 0
                await _NEXT_ITERATION
        timeout = self.params.header_timeout
        if timeout is None or reading.done():
            # Nothing to wait for, or no limit on the wait.
            return await reading
        link = self._stream_link()
        link.arm(self, timeout)
        try:
            return await reading
        except iostream.StreamClosedError:
            if self._expired:
                return None
            raise
        finally:
            link.disarm()

    def _framing(
        self, start_line: _StartLine, headers: httputil.HTTPHeaders
    ) -> _wire.Framing:
        """Apply the request- and status-dependent rules of RFC 9112 §6.3
        step 1, then let `_wire.body_framing` decide from the headers."""
        if self.is_client:
            assert isinstance(start_line, httputil.ResponseStartLine)
            status = start_line.code
            request = self._request_line
            if (request is not None and request.method == "HEAD") or status == 304:
                return _wire.NO_BODY
        else:
            if _wire.is_plain_request(headers):
                # No field that asks for an interim response or delimits a
                # body (most GETs): no body (RFC 9112 §6.3 step 7).
                return _wire.NO_BODY
            status = 0
            if (
                "Expect" in headers
                and headers["Expect"] == "100-continue"
                and (self._outbound is not Outbound.DONE)
            ):
                # RFC 9110 §10.1.1: the client waits for this before it
                # sends the body.
                self.stream.write(_wire.CONTINUE)
        return _wire.body_framing(
            headers,
            is_client=self.is_client,
            status=status,
            max_body_size=self._max_body_size,
        )

    async def _read_body(
        self, framing: _wire.Framing, delegate: httputil.HTTPMessageDelegate
    ) -> bool:
        """Read the body with the chosen framing. ``False`` if the body
        timeout expired (the stream is then closed)."""
        if framing.kind is Body.LENGTH:
            reader = self._read_fixed_body(framing.length, delegate)
        elif framing.kind is Body.CHUNKED:
            reader = self._read_chunked_body(delegate)
        else:
            reader = self._read_body_until_close(delegate)
        timeout = self._body_timeout
        if timeout is None:
            await reader
            return True
        # With a deadline, the reader runs as its own task so that the
        # exchange can give up on time even while the delegate is slow.
        task = asyncio.ensure_future(reader)
        waiter: Future[None] = Future()
        self._deadline_waiter = waiter
        task.add_done_callback(functools.partial(_wake, waiter))
        link = self._stream_link()
        link.arm(self, timeout)
        try:
            await waiter
        finally:
            link.disarm()
            self._deadline_waiter = None
        if not self._expired:
            task.result()  # the reader's own outcome, errors included
            return True
        if not task.done():
            task.add_done_callback(_raise_unless_closed)
        elif not isinstance(task.exception(), (type(None), iostream.StreamClosedError)):
            task.result()  # it failed for another reason before the deadline
        gen_log.info("Timeout reading body from %s", self.context)
        return False

    def _on_deadline(self) -> None:
        """The timer expired while we waited for a head or a body."""
        self._expired = True
        stream = self.stream
        if stream is not None:
            stream.close()
        waiter = self._deadline_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _deliver(
        self, delegate: httputil.HTTPMessageDelegate, data: bytes
    ) -> None:
        # A server whose response is already finished no longer wants the
        # body: it is read (to keep framing) and dropped.
        if self.is_client or self._outbound is not Outbound.DONE:
            try:
                pending = delegate.data_received(data)
                if pending is not None:
                    await pending
            except BaseException as e:
                _delegate_failed(e)
                raise

    async def _read_fixed_body(
        self, length: int, delegate: httputil.HTTPMessageDelegate
    ) -> None:
        stream = self.stream
        step = self.params.chunk_size
        since_yield = 0
        while length > 0:
            data = await stream.read_bytes(min(step, length), partial=True)
            length -= len(data)
            await self._deliver(delegate, data)
            since_yield += len(data)
            if since_yield >= _YIELD_THRESHOLD:
                since_yield = 0
                await asyncio.sleep(0)

    async def _read_chunked_body(self, delegate: httputil.HTTPMessageDelegate) -> None:
        """RFC 9112 §7.1, without chunk extensions or trailer fields (both
        refused as an invalid size line or a bad terminator).

        Chunk boundaries carry no meaning (intermediaries may re-chunk), so
        small chunks are gathered into pieces of up to ``chunk_size`` bytes;
        what has been gathered is handed over whenever the next read would
        have to wait, so streaming adds no latency.
        """
        stream = self.stream
        step = self.params.chunk_size
        limit = self._max_body_size
        gathered = bytearray()
        total = 0
        since_yield = 0

        def next_read(reading: Awaitable[bytes]) -> Awaitable[bytes]:
            # Most reads are answered from the buffer: hand back the read
            # itself; only a read that must wait delivers what was gathered.
            if gathered and not _is_done(reading):
                return deliver_then(reading)
            return reading

        async def deliver_then(reading: Awaitable[bytes]) -> bytes:
            data = bytes(gathered)
            gathered.clear()
            await self._deliver(delegate, data)
            return await reading

        # chunk-size line: 1*HEXDIG CRLF (extensions are not accepted).
        line = await next_read(stream.read_until_regex(_CHUNK_LINE))
        while True:
            since_yield += _CHUNK_YIELD_COST
            if since_yield >= _YIELD_THRESHOLD:
                since_yield = 0
                await asyncio.sleep(0)
            size = _wire.chunk_size(line)
            if size == 0:
                # last-chunk, then the empty line (no trailer section).
                if await next_read(stream.read_bytes(2)) != b"\r\n":
                    raise httputil.HTTPInputError(
                        "improperly terminated chunked request"
                    )
                if gathered:
                    await self._deliver(delegate, bytes(gathered))
                return
            total += size
            if total > limit:
                raise httputil.HTTPInputError("chunked body too large")
            while size:
                data = await next_read(stream.read_bytes(min(size, step), partial=True))
                size -= len(data)
                if not gathered and (len(data) == step or not _COALESCE_CHUNKS):
                    await self._deliver(delegate, data)
                else:
                    gathered += data
                    if len(gathered) >= step:
                        # One copy out (slicing the bytearray first would
                        # make two); the view must be gone before the del.
                        with memoryview(gathered) as view:
                            piece = view[:step].tobytes()
                        del gathered[:step]
                        await self._deliver(delegate, piece)
                since_yield += len(data)
                if since_yield >= _YIELD_THRESHOLD:
                    since_yield = 0
                    await asyncio.sleep(0)
            # Every chunk's data ends with CRLF; checked, never assumed.
            # The next size line usually comes in the same read (see
            # _abnf.chunk_end_and_line): one IOStream read per chunk fewer.
            tail = await next_read(stream.read_until_regex(_CHUNK_END_AND_LINE))
            if tail[:2] != b"\r\n":
                raise httputil.HTTPInputError("improperly terminated chunk")
            if len(tail) > 2:
                line = tail[2:]
            else:
                line = await next_read(stream.read_until_regex(_CHUNK_LINE))

    async def _read_body_until_close(
        self, delegate: httputil.HTTPMessageDelegate
    ) -> None:
        """RFC 9112 §6.3 step 8: a response body without a length ends when
        the server closes. Read piece by piece, so that ``max_body_size``
        applies before a large body is held in memory."""
        stream = self.stream
        step = self.params.chunk_size
        limit = self._max_body_size
        total = 0
        since_yield = 0
        while True:
            try:
                data = await stream.read_bytes(step, partial=True)
            except iostream.StreamClosedError:
                return
            total += len(data)
            if total > limit:
                raise httputil.HTTPInputError("Body too long")
            await self._deliver(delegate, data)
            since_yield += len(data)
            if since_yield >= _YIELD_THRESHOLD:
                since_yield = 0
                await asyncio.sleep(0)

    # -- connection management ----------------------------------------------

    def _stream_link(self) -> _StreamLink:
        link = self._link
        if link is None:
            link = self._link = _StreamLink(self.stream)
        return link

    def _forget_callbacks(self) -> None:
        # Dropping the callbacks breaks reference cycles between the
        # connection, the stream and the application's handler.
        self._close_callback = None
        stream = self.stream
        if stream is not None:
            _clear_close_callback(stream)

    def _mark_over(self) -> None:
        self._is_over = True
        over = self._over
        if over is not None and not over.done():
            over.set_result(None)

    def set_close_callback(self, callback: Optional[Callable[[], None]]) -> None:
        """Run ``callback`` if the connection closes while no delegate is
        reading a message: typically, on a server, when the client goes away
        after sending its request but before the response is complete.
        (A close *during* a message is reported to the delegate's
        ``on_connection_close`` instead.)"""
        self._close_callback = callback

    def _on_connection_close(self) -> None:
        # Registered on the stream only while we wait for the response.
        callback = self._close_callback
        if callback is not None:
            self._close_callback = None
            callback()
        self._mark_over()
        self._forget_callbacks()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self._inbound = advance_in(self._inbound, InEvent.CLOSE)
        self._forget_callbacks()
        self._mark_over()

    def detach(self) -> iostream.IOStream:
        """Give up the connection's stream and stop all HTTP processing.

        Only valid inside ``HTTPMessageDelegate.headers_received``. Returns
        the `.IOStream`, with everything after the head still unread, for
        protocols such as WebSocket that take over after an HTTP handshake.
        """
        link = self._link
        if link is not None and link.held is not None:
            # Whatever is held goes first, and the stream is handed over
            # with its own class (see _writebehind.HeldWrites.hold).
            link.held.flush()
        self._forget_callbacks()
        stream = self.stream
        self.stream = None  # type: ignore[assignment]
        self._inbound = advance_in(self._inbound, InEvent.DETACH)
        self._mark_over()
        return stream

    def set_body_timeout(self, timeout: float) -> None:
        """Allow ``timeout`` seconds for this request's body, instead of
        `HTTP1ConnectionParameters.body_timeout`."""
        self._body_timeout = timeout

    def set_max_body_size(self, max_body_size: int) -> None:
        """Accept up to ``max_body_size`` bytes of body for this request,
        instead of `HTTP1ConnectionParameters.max_body_size`."""
        self._max_body_size = max_body_size

    # -- writing --------------------------------------------------------------

    def write_headers(
        self,
        start_line: Union[httputil.RequestStartLine, httputil.ResponseStartLine],
        headers: httputil.HTTPHeaders,
        chunk: Optional[bytes] = None,
    ) -> Future[None]:
        """Send a start line and header fields, and optionally the first
        piece of the body. Implements `.HTTPConnection.write_headers`.

        Adds the framing fields the message needs (``Transfer-Encoding:
        chunked``, ``Connection``) to ``headers``.
        """
        # (Looked up once: HTTPHeaders lookups normalize the name.)
        has_length = "Content-Length" in headers
        if self.is_client:
            assert isinstance(start_line, httputil.RequestStartLine)
            self._request_line = start_line
            first = utf8(f"{start_line[0]} {start_line[1]} HTTP/1.1")
            self._chunking = _wire.request_chunked(start_line.method, headers)
        else:
            assert isinstance(start_line, httputil.ResponseStartLine)
            request = self._request_line
            assert request is not None
            assert self._request_headers is not None
            first = _status_line(start_line[1], start_line[2])
            self._chunking = not has_length and _wire.response_chunked(
                request.version, request.method, start_line.code, headers
            )
            if request.version == "HTTP/1.1":
                if self._close_after:
                    # RFC 9112 §9.6: announce that we will close.
                    headers["Connection"] = "close"
            elif request.version == "HTTP/1.0" and _wants_keep_alive(
                self._request_headers
            ):
                # HTTP/1.0 keep-alive must be confirmed (RFC 9112 §C.2.2).
                headers["Connection"] = "Keep-Alive"
        if self._chunking:
            headers["Transfer-Encoding"] = _CHUNKED
        if not self.is_client and (
            self._request_line.method == "HEAD"  # type: ignore[union-attr]
            or start_line[1] == 304
        ):
            # RFC 9110 §9.3.2 and §15.4.5: no body, whatever Content-Length
            # says.
            self._remaining = 0
        elif has_length:
            self._remaining = _wire.parse_decimal(headers["Content-Length"])
        else:
            self._remaining = None
        data = _wire.encode_head(first, headers)
        self._outbound = advance_out(self._outbound, OutEvent.HEAD)
        stream = self.stream
        if chunk and not stream.closed():
            data += self._frame(chunk)
        link = self._link
        if link is not None and link.flush_queue is not None and self._may_hold(data):
            queue = link.flush_queue
            held = link.held
            if queue.busy or (held is not None and held.holding):
                if held is None:
                    held = link.held = _writebehind.HeldWrites(stream, queue)
                elif not held.can_take(len(data)):
                    # (Responses to a pipelining client add up.)
                    held.flush()
                self._last_write = pending = held.hold(data)
                return pending
            queue.wrote_at_once()
        return self._send(data)

    def _may_hold(self, data: bytes) -> bool:
        """Whether a response head may wait for the next flush (see
        tornado_h1._writebehind): a small one, on an open stream without a
        write-buffer limit (whose overflow must raise in the call)."""
        stream = self.stream
        return (
            len(data) <= _writebehind.HOLD_LIMIT
            and not stream.closed()
            and stream.max_write_buffer_size is None
        )

    def _frame(self, chunk: bytes) -> bytes:
        """Account for ``chunk`` against the declared length, and apply
        chunked coding if we are using it."""
        if self._remaining is not None:
            self._remaining -= len(chunk)
            if self._remaining < 0:
                # The peer would read the excess as the next message.
                self.stream.close()
                raise httputil.HTTPOutputError(
                    "Tried to write more data than Content-Length"
                )
        if self._chunking and chunk:
            return _wire.frame_chunk(chunk)
        return chunk

    def _send(self, data: bytes) -> Future[None]:
        stream = self.stream
        if stream.closed():
            failed: Future[None] = Future()
            failed.set_exception(iostream.StreamClosedError())
            # Mark the exception retrieved: nobody may await this future.
            failed.exception()
            return failed
        held = self._link.held if self._link is not None else None
        if held is not None and held.holding and held.can_take(len(data)):
            # The head is still held: what follows it waits with it. (A
            # piece too large to join it goes to the stream, whose write
            # flushes the held bytes first.)
            self._last_write = pending = held.hold(data)
            return pending
        written = self._last_write = stream.write(data)
        if written.done() and written.exception() is None:
            # The usual case: the socket took everything at once. The
            # stream's own future already says what ours would.
            return written
        done: Future[None] = Future()
        _when_done(written, functools.partial(_relay_write, done))
        return done

    def write(self, chunk: bytes) -> Future[None]:
        """Send a piece of the body. Implements `.HTTPConnection.write`.

        (Calling it without `write_headers`, with a head already encoded at
        the start of ``chunk``, still works, but is deprecated.)
        """
        if self.stream.closed():
            return self._send(b"")
        return self._send(self._frame(chunk))

    def finish(self) -> None:
        """End the message we are sending. Implements
        `.HTTPConnection.finish`."""
        stream = self.stream
        if self._remaining and not stream.closed():
            stream.close()
            raise httputil.HTTPOutputError(
                "Tried to write %d bytes less than Content-Length" % self._remaining
            )
        link = self._link
        held = link.held if link is not None else None
        if self._chunking and not stream.closed():
            if held is not None and held.holding:
                self._last_write = held.hold(_wire.LAST_CHUNK)
            else:
                terminator = self._last_write = stream.write(_wire.LAST_CHUNK)
                terminator.add_done_callback(_raise_unless_closed)
        self._outbound = advance_out(self._outbound, OutEvent.FINISH)
        if self._inbound is not Inbound.DONE:
            # The application answered before reading the whole request:
            # the rest of the request can only be skipped by closing.
            self._close_after = True
        # Nothing more follows, so small writes must not wait for acks. Set
        # once per connection instead of toggled twice per request.
        link = self._stream_link()
        if not link.nodelay:
            link.nodelay = True
            stream.set_nodelay(True)
        written = self._last_write
        if written is None:
            self._finish_exchange(None)
        elif held is not None and written is held.future:
            # Still held: done in the flush itself, without a callback hop.
            held.after_flush(self._finish_exchange)
        else:
            _when_done(written, self._finish_exchange)

    def _finish_exchange(self, written: Optional[Future[None]]) -> None:
        self._forget_callbacks()
        if not self.is_client and self._close_after:
            self.close()
            return
        self._mark_over()


def _clear_close_callback(stream: iostream.IOStream) -> None:
    """``stream.set_close_callback(None)``, skipped when the stream has no
    close callback: clearing an empty one changes nothing (IOStream only
    starts watching an idle socket for a callback that is set), and the
    call is made three times per request, at the points where upstream
    makes it. The stream's attribute is private; without it, the call is
    made."""
    if getattr(stream, "_close_callback", stream) is not None:
        stream.set_close_callback(None)


def _future_on(stream: iostream.IOStream) -> Future[None]:
    """A future of the stream's event loop. ``Future()`` would find the loop
    with ``get_running_loop()``, which on Python 3.11 costs a ``getpid``
    system call."""
    loop = getattr(stream.io_loop, "asyncio_loop", None)
    if loop is None:
        return Future()
    return cast("Future[None]", loop.create_future())


def _holds_data(stream: iostream.IOStream) -> bool:
    """Whether the stream has received bytes nobody has read yet. IOStream
    has no public way to ask; its private counter exists in every release
    from 6.2 to 6.6.1, and without it the answer is "no" (the cautious one:
    it costs one IOLoop iteration)."""
    return bool(getattr(stream, "_read_buffer_size", 0))


class _NextIteration:
    """``await _NEXT_ITERATION`` lets the IOLoop run once before going on:
    ``asyncio.sleep(0)`` without its two coroutine frames (an asyncio Task
    reschedules itself when what it awaits yields None)."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        yield


_NEXT_ITERATION = _NextIteration()


def _wake(waiter: Future[None], task: Future[Any]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _raise_unless_closed(future: Future[Any]) -> None:
    """A done-callback for a stream write or an abandoned body reader:
    failing on a closed stream is expected; anything else is a real error,
    re-raised here for the event loop's handler to log."""
    exc = future.exception()
    if exc is not None and not isinstance(exc, iostream.StreamClosedError):
        future.result()


class _GzipMessageDelegate(httputil.HTTPMessageDelegate):
    """A delegate in front of another that inflates ``Content-Encoding:
    gzip`` bodies, enforcing ``max_body_size`` on the *inflated* size
    (CVE-2026-49855: a small compressed body can inflate without bound)."""

    def __init__(
        self,
        delegate: httputil.HTTPMessageDelegate,
        chunk_size: int,
        max_body_size: int,
    ) -> None:
        self._delegate, self._chunk_size = delegate, chunk_size
        # The limit applies to what comes out of the decompressor.
        self._max_body_size = max_body_size
        self._inflated = 0
        self._decompressor: Optional[GzipDecompressor] = None
        self._inner_closed = False

    def headers_received(
        self,
        start_line: Union[httputil.RequestStartLine, httputil.ResponseStartLine],
        headers: httputil.HTTPHeaders,
    ) -> Optional[Awaitable[None]]:
        coding = headers.get("Content-Encoding", "")
        if coding.lower() == "gzip":
            self._decompressor = GzipDecompressor()
            # The delegate behind us sees plain data; say so in the headers.
            headers.add("X-Consumed-Content-Encoding", coding)
            del headers["Content-Encoding"]
        return self._delegate.headers_received(start_line, headers)

    async def data_received(self, chunk: bytes) -> None:
        decompressor = self._decompressor
        if decompressor is None:
            pending = self._delegate.data_received(chunk)
            if pending is not None:
                await pending
            return
        while chunk:
            try:
                # At most chunk_size bytes of output per step: memory stays
                # bounded however well the input compresses.
                plain = decompressor.decompress(chunk, self._chunk_size)
            except zlib.error as e:
                raise httputil.HTTPInputError("invalid gzip data: %s" % e) from None
            if plain:
                self._inflated += len(plain)
                if self._inflated > self._max_body_size:
                    raise httputil.HTTPInputError("decompressed body too large")
                pending = self._delegate.data_received(plain)
                if pending is not None:
                    await pending
            rest = decompressor.unconsumed_tail
            if not plain and len(rest) >= len(chunk):
                # No output and no input consumed: looping would never end.
                raise httputil.HTTPInputError(
                    "encountered unconsumed gzip data without making progress"
                )
            chunk = rest

    def finish(self) -> None:
        if self._decompressor is not None:
            try:
                # All input was consumed above; this only detects a
                # truncated stream.
                self._decompressor.flush()
            except zlib.error as e:
                # The inner delegate will not get finish(); it must get
                # exactly one of finish() and on_connection_close(). The
                # connection will also call our on_connection_close() for
                # this error: that second call must not reach the inner
                # delegate (upstream passes it on, and HTTPServer's
                # callable adapter then fails with an ERROR log).
                self._inner_closed = True
                self._delegate.on_connection_close()
                raise httputil.HTTPInputError("invalid gzip data: %s" % e) from None
        return self._delegate.finish()

    def on_connection_close(self) -> None:
        if self._inner_closed:
            return None
        self._inner_closed = True
        return self._delegate.on_connection_close()


class HTTP1ServerConnection:
    """Serves HTTP/1.x requests from one IOStream, one after another."""

    def __init__(
        self,
        stream: iostream.IOStream,
        params: Optional[HTTP1ConnectionParameters] = None,
        context: Optional[object] = None,
    ) -> None:
        """
        :arg stream: the `.IOStream` of an accepted connection.
        :arg params: an `HTTP1ConnectionParameters`, or ``None`` for the
            defaults.
        :arg context: passed on to each `HTTP1Connection` as its
            ``context``.
        """
        self.stream = stream
        if params is None:
            params = HTTP1ConnectionParameters()
        self.params = params
        self.context = context
        self._serving: Optional[Future[None]] = None

    async def close(self) -> None:
        """Close the connection, and return once the serving loop has
        stopped."""
        self.stream.close()
        assert self._serving is not None
        try:
            await self._serving
        except Exception:
            # start_serving's done-callback reports any failure already.
            pass

    def start_serving(self, delegate: httputil.HTTPServerConnectionDelegate) -> None:
        """Begin reading requests and passing them to ``delegate``.

        :arg delegate: an `.HTTPServerConnectionDelegate` (an HTTPServer).
        """
        assert isinstance(delegate, httputil.HTTPServerConnectionDelegate)
        serving = gen.convert_yielded(self._serve(delegate))
        self._serving = serving
        # Through the IOLoop, so that a crash of the loop gets logged.
        self.stream.io_loop.add_future(serving, _raise_failure)

    async def _serve(self, delegate: httputil.HTTPServerConnectionDelegate) -> None:
        stream = self.stream
        params = self.params
        link = _StreamLink(stream, persistent=True)
        later = False
        try:
            while True:
                conn = HTTP1Connection(stream, False, params, self.context)
                conn._link = link
                conn._yield_if_buffered = later
                later = True
                request_delegate = delegate.start_request(self, conn)
                try:
                    keep_going = await conn.read_response(request_delegate)
                except (
                    iostream.StreamClosedError,
                    iostream.UnsatisfiableReadError,
                    asyncio.CancelledError,
                ):
                    return
                except Exception:
                    gen_log.error("Uncaught exception", exc_info=True)
                    conn.close()
                    return
                if not keep_going:
                    return
        finally:
            link.cancel()
            delegate.on_close(self)


def _raise_failure(future: Future[None]) -> None:
    future.result()


def parse_int(s: str) -> int:
    """Read a non-negative decimal integer: ASCII digits only, no sign, no
    whitespace, no underscores. Raises `ValueError` otherwise."""
    return _wire.parse_decimal(s)


def parse_hex_int(s: str) -> int:
    """Read a non-negative hexadecimal integer: ASCII hex digits only.
    Raises `ValueError` otherwise."""
    return _wire.parse_hex(s)


def is_transfer_encoding_chunked(headers: httputil.HTTPHeaders) -> bool:
    """Whether ``headers`` announce a chunked body.

    Raises `~tornado.httputil.HTTPInputError` for any Transfer-Encoding
    other than exactly ``chunked``, and for Transfer-Encoding together with
    Content-Length (RFC 9112 §6.1 and §6.3).
    """
    return _wire.is_chunked(headers)
