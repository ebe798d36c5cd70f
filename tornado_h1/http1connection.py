"""HTTP/1.x for Tornado, client and server: a drop-in ``tornado.http1connection``.

This module is the *driver*. It awaits the IOStream, calls the delegate, and
does what the sans-IO core answered; it decides nothing about the protocol
itself.

One request, from socket to handler and back
--------------------------------------------

1. `HTTP1ServerConnection.start_serving` starts one task per connection, the
   *serving loop*, which makes an `HTTP1Connection` for each request in turn,
   each with its :class:`~tornado_h1._exchange.Exchange` (the exchange's
   state and every decision about it).
2. `HTTP1Connection.read_response` (on a server it reads the *request*)
   awaits the head from the IOStream; :mod:`tornado_h1._wire` splits it, and
   the exchange decides whether the connection is kept alive.
3. The delegate (for a web app, Tornado's routing and ``RequestHandler``)
   gets ``headers_received``. The exchange says whether ``100 Continue`` is
   owed and how the body ends (RFC 9112 §6.3); the body comes to the
   delegate's ``data_received`` (chunked bodies through
   :class:`~tornado_h1._chunked.ChunkedDecoder`), then ``finish``.
4. The application answers through `HTTP1Connection.write_headers`,
   `~HTTP1Connection.write` and `~HTTP1Connection.finish`: the exchange
   cleans up and encodes the head and frames the body; small responses may
   wait for the next flush (:mod:`tornado_h1._writebehind`).
5. When the response is written, the serving loop goes round for the next
   request, or closes the connection if the exchange says so.

The IOStream is the only receive buffer: every read asks it for exactly the
head, or exactly the body's bytes, so nothing past the end of a message is
ever taken out of it, and `HTTP1Connection.detach` can hand the untouched
stream to a WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging  # noqa: F401 (upstream's namespace)
import re
import types  # noqa: F401
import zlib  # noqa: F401
from collections.abc import Awaitable
from typing import Callable, Optional, Union, cast

from tornado import gen, httputil, iostream
from tornado.concurrent import Future
from tornado.escape import utf8  # noqa: F401
from tornado.log import app_log, gen_log  # noqa: F401
from tornado.util import GzipDecompressor  # noqa: F401

from tornado_h1 import _abnf, _bodies, _delegates, _exchange, _link, _params  # isort: skip
from tornado_h1 import _tornado, _trace, _versions, _wire, _writebehind  # isort: skip
from tornado_h1._link import NEXT_ITERATION, Link, failed_write, future_on  # isort: skip
from tornado_h1._link import raise_unless_closed, relay_write, when_done  # isort: skip
from tornado_h1._bodies import body_framing, read_body
from tornado_h1._delegates import guarded_failure, inflating
from tornado_h1._exchange import ClientExchange, ServerExchange
from tornado_h1._options import DEFAULT as _DEFAULT_OPTIONS
from tornado_h1._state import OUT_DONE
from tornado_h1._wire import BODY_NONE, CLOSE_MAX_REQUESTS

# Upstream's names, defined in tornado_h1's helper modules.
_is_done = _link.is_done
parse_int, parse_hex_int = _params.parse_int, _params.parse_hex_int
is_transfer_encoding_chunked = _params.is_transfer_encoding_chunked
_GzipMessageDelegate = _delegates._GzipMessageDelegate
_QuietException = _delegates._QuietException
_ExceptionLoggingContext = _delegates._ExceptionLoggingContext
_MAX_1XX_RESPONSES = _exchange.MAX_INTERIM_RESPONSES
_YIELD_THRESHOLD, _CHUNK_YIELD_COST = _bodies.YIELD_THRESHOLD, _bodies.CHUNK_YIELD_COST

_StartLine = Union[httputil.RequestStartLine, httputil.ResponseStartLine]

#: Outgoing start lines and fields must not contain a line break.
CR_OR_LF_RE = _abnf.cr_or_lf
#: ``1*DIGIT`` and ``1*HEXDIG``, as used by `parse_int` and `parse_hex_int`.
DIGITS = re.compile("[%s]+" % "0-9")
HEXDIGITS = re.compile("[%s]+" % "0-9a-fA-F")

_DEFAULT_SIZE = 1 << 16  # 64 KiB
_UNFOLD_RESPONSES = _versions.CURRENT.unfold_responses
# IOStream compiles patterns itself, and hands a compiled one back as is.
_HEAD_END = cast(bytes, _abnf.head_end)


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
        self.max_body_size, self.body_timeout = max_body_size, body_timeout
        self.header_timeout = header_timeout
        self.no_keep_alive, self.decompress = no_keep_alive, decompress


class HTTP1Connection(httputil.HTTPConnection):
    """One HTTP/1.x message exchange over an IOStream.

    A client makes one per request; on a server, `HTTP1ServerConnection`
    makes one per request it reads.
    """

    # Per-exchange starting values live on the class: making a connection
    # (one per request on a server) sets a handful of attributes, not twenty.
    _link: Optional[Link] = None
    _trace: Optional[_trace.Tracer] = None
    # Set by the serving loop for every request after the first.
    _yield_if_buffered = False
    # True while the delegate has seen headers_received but neither finish()
    # nor on_connection_close(): if we stop now, it is told of the close.
    _owes_close = False
    # A body read under a deadline waits on this.
    _deadline_waiter: Optional[Future[None]] = None
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
        limit = params.max_body_size
        self._max_body_size: int = stream.max_buffer_size if limit is None else limit
        self._body_timeout: Optional[float] = params.body_timeout
        exchange = self._exchange = ClientExchange() if is_client else ServerExchange()
        if params.no_keep_alive:
            exchange.no_keep_alive = True
        if is_client:
            self._trace = _trace.tracer(context, "client c")
        _tornado.clear_close_callback(stream)

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
        if self.params.decompress:
            # Inflate gzip bodies on the way in, with the body limit applied
            # to the inflated size.
            delegate = inflating(delegate, self.params.chunk_size, self._max_body_size)
        return self._read_exchange(delegate)

    async def _read_exchange(self, delegate: httputil.HTTPMessageDelegate) -> bool:
        # (One coroutine from here to the head read: an idle connection
        # waits in as few frames as possible, each costing memory.)
        exchange = self._exchange
        try:
            try:
                while True:
                    head = await self._read_head()
                    if head is None:  # the head did not come in time
                        self.close()
                        return False
                    start_line, headers = self._parse_head(head)
                    self._owes_close = True
                    try:
                        pending = delegate.headers_received(start_line, headers)
                        if pending is not None:
                            await pending
                    except BaseException as e:
                        guarded_failure(e)
                        raise
                    if self.stream is None:  # the delegate called detach()
                        self._owes_close = False
                        return False
                    if not (self.is_client and exchange.is_interim(headers)):
                        break
                    # Until the next head the delegate is between messages.
                    self._owes_close = False
                framing = body_framing(self, headers)
                if framing.kind is not BODY_NONE:
                    if not await read_body(self, framing, delegate):
                        return False
                    exchange.end_message()
                if exchange.delivers_body():
                    self._call(delegate.finish)
                    self._owes_close = False
                wait, held = self._response_wait()
                if wait is not None:
                    await wait
                return self._settle(
                    framing, wait is not None, held and wait is not None
                )
            except httputil.HTTPInputError as e:
                await self._refuse(e)
                return False
            finally:
                self._end_read(delegate)
        except _QuietException:
            # A delegate failed (logged already) and has been told of the
            # close; this exchange ends here.
            self.close()
            return False

    def _end_read(self, delegate: httputil.HTTPMessageDelegate) -> None:
        """However the read ended: a delegate still owed the news of a close
        gets it, and nothing of this exchange stays referenced."""
        if self._owes_close:
            self._call(delegate.on_connection_close)
        self._forget_callbacks()
        link = self._link
        if link is not None and not link.persistent:
            link.cancel()

    def _parse_head(self, head: bytes) -> tuple[_StartLine, httputil.HTTPHeaders]:
        """Split and parse a head; the exchange takes note of it."""
        start_text, headers = _wire.split_head(
            head, unfold=self.is_client and _UNFOLD_RESPONSES
        )
        start_line = self._exchange.received_head(start_text, headers)
        if self._trace:
            self._trace("head received: %d bytes, %s", len(head), start_text)
            self._trace("delegate.headers_received")
        return start_line, headers

    def _call(self, method: Callable[[], None]) -> None:
        """A delegate call under the one guard (see `guarded_failure`)."""
        if self._trace:
            self._trace("delegate.%s", method.__name__)
        try:
            method()
        except BaseException as e:
            guarded_failure(e)
            raise

    def _response_wait(self) -> tuple[Optional[Future[None]], bool]:
        """After the message: what to await before the next head, and
        whether it is the flush of a response held whole (see
        _writebehind). A server waits until its response is out; meanwhile
        a close goes to the application's close callback."""
        stream, link = self.stream, self._link
        if self._is_over or stream is None:
            return None, False
        writer = link.writer if link is not None else None
        if writer and writer.holding and self._exchange.outbound is OUT_DONE:
            closing = self._exchange.close_reason is not None
            return writer.flush_to_wait(closing), True
        if stream.closed():
            return None, False
        stream.set_close_callback(self._on_connection_close)
        if self._over is None:
            self._over = future_on(stream)
        return self._over, False

    def _settle(self, framing: _wire.Framing, waited: bool, flushed: bool) -> bool:
        """Settle the connection's fate as the exchange decided it."""
        exchange, link = self._exchange, self._link
        if link is not None:
            # Yield once before the next head? (see Link.pause; a flush
            # already gave the client that time.)
            link.pause = not waited or (framing.kind is not BODY_NONE and not flushed)
            if self._trace and self.stream is not None:
                self._trace.verdict(exchange.close_reason)
        if exchange.close_reason is not None:
            if self.is_client:
                self.close()
            elif link is not None:
                # RFC 9112 §9.6: no further request is processed, even one
                # already buffered.
                link.closing = exchange.close_reason
        return self.stream is not None

    async def _refuse(self, error: httputil.HTTPInputError) -> None:
        """Malformed input: a 400 from a server (or, with precise errors,
        the status that says why); a client's delegate learns that its
        response will not come. Then the connection closes."""
        link = self._link
        precise = link is not None and link.options.precise_errors
        reply, what = _wire.refusal(error, precise)
        gen_log.info(what + " from %s: %s", self.context, error)
        if self._trace:
            self._trace("malformed: %s", error)
        if self.is_client:
            self._owes_close = True
        else:
            await self.stream.write(reply)
            if precise:  # so that the client reads the answer: no reset
                await _link.linger(self.stream)
        self.close()

    async def _read_head(self) -> Optional[bytes]:
        """Await one head from the stream. ``None`` if the header timeout
        expired (the stream is then closed)."""
        self._exchange.start_head()
        link = self._link
        if link is not None and link.closing is not None:
            # The previous exchange ended the connection.
            raise iostream.StreamClosedError()
        pacing = link if self._yield_if_buffered else None
        if pacing is not None and pacing.pause and not _tornado.holds_data(self.stream):
            await NEXT_ITERATION
        limit = self.params.max_header_size
        reading: Future[bytes] = (
            _bodies.bounded_head(self.stream, limit)  # type: ignore[assignment]
            if link is not None and link.options.precise_errors  # (a 431, no close)
            else self.stream.read_until_regex(_HEAD_END, max_bytes=limit)
        )
        buffered = reading.done()
        if (
            pacing
            and (buffered or pacing.streak)
            and pacing.pauses_after_streak(buffered)
        ):
            await NEXT_ITERATION
        timeout = self.params.header_timeout
        if timeout is None or reading.done():
            return await reading
        link = self._stream_link()
        link.arm_head(self, timeout, kept_alive=self._yield_if_buffered)
        try:
            return await reading
        except iostream.StreamClosedError:
            if self._exchange.expired:
                return None
            raise
        finally:
            link.disarm()

    def _on_deadline(self) -> None:
        """The timer expired while we waited for a head or a body."""
        self._exchange.expired = True
        if self._trace:
            self._trace("timeout: closing")
        if self.stream is not None:
            self.stream.close()
        waiter = self._deadline_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _deliver(
        self, delegate: httputil.HTTPMessageDelegate, data: bytes
    ) -> None:
        if not self._exchange.delivers_body():
            return
        if self._trace:
            self._trace("delegate.data_received: %d bytes", len(data))
        try:
            pending = delegate.data_received(data)
            if pending is not None:
                await pending
        except BaseException as e:
            guarded_failure(e)
            raise

    # -- connection management ----------------------------------------------

    def _stream_link(self) -> Link:
        link = self._link
        if link is None:
            link = self._link = Link(self.stream)
        return link

    def _forget_callbacks(self) -> None:
        # Dropping the callbacks breaks reference cycles between the
        # connection, the stream and the application's handler.
        self._close_callback = None
        if self.stream is not None:
            _tornado.clear_close_callback(self.stream)

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
        if self._trace:
            self._trace("closed by the peer")
        callback = self._close_callback
        if callback is not None:
            self._close_callback = None
            callback()
        self._mark_over()
        self._forget_callbacks()

    def close(self) -> None:
        if self.stream is not None:
            if self._trace and not self.stream.closed():
                self._trace("closed by us")
            self.stream.close()
            self._exchange.closed()
        self._forget_callbacks()
        self._mark_over()

    def detach(self) -> iostream.IOStream:
        """Give up the connection's stream and stop all HTTP processing.

        Only valid inside ``HTTPMessageDelegate.headers_received``. Returns
        the `.IOStream`, with everything after the head still unread, for
        protocols such as WebSocket that take over after an HTTP handshake.
        """
        link = self._link
        if link is not None and link.writer is not None:
            link.writer.flush()  # whatever is held goes first
        self._forget_callbacks()
        stream = self.stream
        self.stream = None  # type: ignore[assignment]
        self._exchange.detached()
        if self._trace:
            self._trace("detached: the stream is the delegate's now")
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
        exchange = self._exchange
        if chunk and self.stream.closed():
            chunk = None
        try:
            data = exchange.send_head(start_line, headers, chunk)
        except httputil.HTTPOutputError:
            # The peer would read the excess as the next message.
            self.stream.close()
            raise
        if self._trace:
            self._trace.head_sent(data, exchange.out_body, exchange.out_length)
        link = self._link
        writer = None if link is None else link.writer or link.writer_for_response()
        if writer is not None and writer.may_hold(len(data)):
            if not writer.can_take(len(data)):
                writer.flush()  # (responses to a pipelining client add up)
            self._last_write = pending = writer.hold(data)
            return pending
        return self._send(data)

    def _frame(self, chunk: bytes) -> bytes:
        try:
            return self._exchange.send_body(chunk)
        except httputil.HTTPOutputError:
            # The peer would read the excess as the next message.
            self.stream.close()
            raise

    def _send(self, data: bytes) -> Future[None]:
        stream = self.stream
        if stream.closed():
            return failed_write()
        writer = self._link.writer if self._link is not None else None
        if writer is not None and writer.holding:
            if writer.can_take(len(data)):
                # The head is still held: what follows it waits with it.
                self._last_write = pending = writer.hold(data)
                return pending
            writer.flush()
        if self.is_client:
            data = _link.send_unbuffered(stream, data)
            if not data:  # (the socket took it all: no future to settle)
                written = self._last_write = future_on(stream)
                written.set_result(None)
                return written
        written = self._last_write = stream.write(data)
        if written.done() and written.exception() is None:
            # The usual case: the socket took everything at once.
            return written
        done: Future[None] = Future()
        when_done(written, functools.partial(relay_write, done))
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
        try:
            tail = self._exchange.finish(stream.closed())
        except httputil.HTTPOutputError:
            stream.close()
            raise
        link = self._stream_link()
        writer = link.writer
        if self._trace and tail and tail is not _wire.LAST_CHUNK:
            self._trace("trailers sent: %s", _wire.trailer_names(tail))
        if tail:
            if writer is not None and writer.holding:
                self._last_write = writer.hold(tail)
            else:
                terminator = self._last_write = stream.write(tail)
                terminator.add_done_callback(raise_unless_closed)
        if not link.nodelay:
            # Nothing more follows, so small writes must not wait for acks.
            # Set once per connection, not toggled twice per request.
            link.nodelay = True
            stream.set_nodelay(True)
        written = self._last_write
        if written is None:
            self._finish_exchange(None)
        elif writer is not None and written is writer.future:
            writer.after_flush(self._finish_exchange)  # in the flush itself
        else:
            when_done(written, self._finish_exchange)

    def _finish_exchange(self, written: Optional[Future[None]]) -> None:
        self._forget_callbacks()
        if not self.is_client and self._exchange.close_reason is not None:
            self.close()
            return
        self._mark_over()


class HTTP1ServerConnection:
    """Serves HTTP/1.x requests from one IOStream, one after another."""

    # How small responses are written (see tornado_h1._writebehind); a
    # configured subclass (tornado_h1.install(write_behind=...)) changes it.
    _write_behind = _writebehind.Policy.ADAPTIVE
    # What the server does beyond upstream's behaviour (tornado_h1.ServerOptions;
    # install(options=...) or tornado_h1.HTTPServer(h1_options=...) sets it).
    _options = _DEFAULT_OPTIONS

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
        self.stream, self.context = stream, context
        self.params = params if params is not None else HTTP1ConnectionParameters()
        self._serving: Optional[Future[None]] = None
        # The exchange under way (what a graceful drain looks at).
        self._current: Optional[HTTP1Connection] = None

    async def close(self) -> None:
        """Close the connection, and return once the serving loop has
        stopped."""
        self.stream.close()
        assert self._serving is not None
        # (start_serving's done-callback reports any failure already.)
        with contextlib.suppress(Exception):
            await self._serving

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
        stream, params = self.stream, self.params
        link = Link(stream, True, self._write_behind, self._options)
        trace = _trace.tracer(self.context)
        last = self._options.max_requests
        try:
            for served in itertools.count(1):
                conn = HTTP1Connection(stream, False, params, self.context)
                conn._link, conn._trace, self._current = link, trace, conn
                conn._yield_if_buffered = served > 1
                if served == last:
                    cast(ServerExchange, conn._exchange).make_last(CLOSE_MAX_REQUESTS)
                request_delegate = delegate.start_request(self, conn)
                try:
                    keep_going = await conn.read_response(request_delegate)
                except (
                    iostream.StreamClosedError,
                    iostream.UnsatisfiableReadError,
                    asyncio.CancelledError,
                ):
                    if trace and link.closing is None:
                        trace("closed by the peer")
                    return
                except Exception:
                    gen_log.error("Uncaught exception", exc_info=True)
                    conn.close()
                    return
                if not keep_going:
                    return
        finally:
            if trace:
                trace("connection over")
            link.cancel()
            delegate.on_close(self)


def _raise_failure(future: Future[None]) -> None:
    future.result()
