"""What outlives one exchange on a connection (`Link`: the timer, the write
side, the pacing of the serving loop), and the small event-loop helpers the
driver shares: one way to yield (`NEXT_ITERATION`), write futures, and the
lingering close after a refusal (`linger`).
"""

from __future__ import annotations

import datetime
import socket
from collections.abc import Awaitable, Generator
from typing import TYPE_CHECKING, Any, Callable, Optional, cast

from tornado import gen, iostream
from tornado.concurrent import Future
from tornado.log import gen_log
from tornado.util import TimeoutError as _WaitTimeout

from tornado_h1 import _options, _tornado, _wire, _writebehind
from tornado_h1._state import IN_HEAD

if TYPE_CHECKING:
    from tornado_h1.http1connection import HTTP1Connection

#: Requests a server serves back to back from buffered data before it lets
#: other connections have a turn.
BACK_TO_BACK = 8

#: A lingering close (`linger`) reads for at most this long in all,
LINGER_SECONDS = 5.0
#: waits at most this long for each read,
LINGER_IDLE = 1.0
#: and drops at most this much.
LINGER_BYTES = 16 * 1024 * 1024


class NextIteration:
    """``await NEXT_ITERATION`` lets the IOLoop run once: the one way the
    driver yields (``asyncio.sleep(0)`` without its two coroutine frames)."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        yield


NEXT_ITERATION = NextIteration()


def is_done(future: Awaitable[Any]) -> bool:
    """Whether an IOStream read has already completed (its data was
    buffered). IOStream declares Awaitables but returns Futures."""
    return isinstance(future, Future) and future.done()


class Link:
    """What outlives one exchange on a connection: the one lazy timer, the
    write side, and the pacing of the serving loop.

    Arming the timer only records a deadline; the IOLoop timeout is
    scheduled once and, when it fires early (its deadline was replaced by a
    later one), it re-arms itself: about one IOLoop timeout per
    ``header_timeout`` on a keep-alive connection, not one per request.
    """

    __slots__ = (
        "stream", "persistent", "policy", "options", "writer", "nodelay",
        "streak", "closing", "pause", "_handle", "_handle_due", "_due",
        "_owner", "_then",
    )  # fmt: skip

    def __init__(
        self,
        stream: iostream.IOStream,
        persistent: bool = False,
        policy: _writebehind.Policy = _writebehind.Policy.OFF,
        options: _options.ServerOptions = _options.DEFAULT,
    ) -> None:
        self.stream, self.persistent, self.policy = stream, persistent, policy
        # What the server does beyond upstream's behaviour.
        self.options = options
        # Made at the first response (an idle connection costs nothing more).
        self.writer: Optional[_writebehind.WriteBehind] = None
        self.nodelay = False
        # Requests served back to back without yielding to the IOLoop.
        self.streak = 0
        # Why the last exchange ended the connection (nothing more is read).
        self.closing: Optional[str] = None
        # Whether to yield once before reading the next head, if it is not
        # buffered yet: after a response written in this very step (a read
        # now is a wasted recv) or after a body (the next request may come
        # in pieces). Otherwise reading at once is cheaper: a request
        # arriving during a pause makes IOStream watch and unwatch the
        # socket.
        self.pause = False
        self._handle: object = None
        self._handle_due = self._due = 0.0
        self._owner: Optional[HTTP1Connection] = None
        # After an idle deadline that finds a head begun: its header_timeout.
        self._then: Optional[float] = None

    def writer_for_response(self) -> Optional[_writebehind.WriteBehind]:
        writer = self.writer
        if writer is None and self.policy is not _writebehind.Policy.OFF:
            queue = _writebehind.queue_for(self.stream)
            if queue is not None:
                always = self.policy is _writebehind.Policy.ALWAYS
                writer = self.writer = _writebehind.WriteBehind(
                    self.stream, queue, always
                )
        return writer

    def pauses_after_streak(self, buffered: bool) -> bool:
        """A pipelining client (its next head already buffered) is served
        back to back, up to BACK_TO_BACK requests; then others get a turn."""
        if not buffered:
            self.streak = 0
        elif self.streak < BACK_TO_BACK:
            self.streak += 1
        else:
            self.streak = 0
            return True
        return False

    def arm_head(
        self, owner: HTTP1Connection, header_timeout: float, kept_alive: bool
    ) -> None:
        """The deadline for a head: ``header_timeout``; or, on a kept-alive
        connection with ``ServerOptions.idle_timeout``, that long for the
        next request to begin, then ``header_timeout`` for its head."""
        idle = self.options.idle_timeout
        if kept_alive and idle is not None:
            self.arm(owner, idle)
            self._then = header_timeout
        else:
            self.arm(owner, header_timeout)

    def arm(self, owner: HTTP1Connection, seconds: float) -> None:
        self._then = None
        io_loop = self.stream.io_loop
        due = self._due = io_loop.time() + seconds
        self._owner = owner
        if self._handle is not None:
            if self._handle_due <= due:
                return
            io_loop.remove_timeout(self._handle)
        self._handle = io_loop.call_at(due, self._fire)
        self._handle_due = due

    def disarm(self) -> None:
        self._owner = None

    def cancel(self) -> None:
        self._owner = None
        if self._handle is not None:
            self.stream.io_loop.remove_timeout(self._handle)
            self._handle = None

    def _fire(self) -> None:
        self._handle = None
        owner = self._owner
        if owner is None:
            return
        if self.stream.io_loop.time() < self._due:
            self._handle = self.stream.io_loop.call_at(self._due, self._fire)
            self._handle_due = self._due
            return
        self._owner = None
        begun = _tornado.holds_data(self.stream)
        if self._then is not None and begun:
            # The idle wait is over: a request began, and has its time.
            self.arm(owner, self._then)
            return
        if begun and self.options.precise_errors and owner._exchange.inbound is IN_HEAD:
            # A head began and did not end in time (an idle connection is
            # closed without a word: its client may be sending right now).
            gen_log.info("Refused with 408 from %s: head incomplete", owner.context)
            self.stream.write(_wire.REFUSALS[408])
        owner._on_deadline()


async def linger(stream: iostream.IOStream) -> None:
    """After a refusal, before the close: send our FIN, then read and drop
    what the client still sends, within `LINGER_SECONDS`, `LINGER_IDLE` per
    read and `LINGER_BYTES`. Closing with its request unread would reset the
    connection, and a client (or a proxy such as nginx) still sending the
    body could lose the answer to the reset before reading it."""
    if stream.closed():
        return
    if not isinstance(stream, iostream.SSLIOStream):
        try:
            stream.socket.shutdown(socket.SHUT_WR)
        except OSError:
            return  # the peer is gone: nothing to linger for
    loop = stream.io_loop
    deadline = loop.time() + LINGER_SECONDS
    dropped = 0
    while dropped < LINGER_BYTES:
        wait = min(LINGER_IDLE, deadline - loop.time())
        if wait <= 0:
            return
        try:
            reading = stream.read_bytes(64 * 1024, partial=True)
            dropped += len(
                await gen.with_timeout(
                    datetime.timedelta(seconds=wait),
                    reading,
                    quiet_exceptions=(iostream.StreamClosedError,),
                )
            )
        except (_WaitTimeout, iostream.StreamClosedError):
            return  # (read_bytes raises at once on a stream already closed)


def relay_write(done: Future[None], written: Future[None]) -> None:
    """Resolve the future we returned for a write once the stream's write
    has finished. A peer that closed meanwhile is not the writer's error
    (the close callback reports it); anything else is re-raised here, in a
    done-callback, where the event loop logs it, as upstream does."""
    raise_unless_closed(written)
    if not done.done():
        done.set_result(None)


def send_unbuffered(stream: iostream.IOStream, data: bytes) -> bytes:
    """Hand ``data`` straight to the socket of a plain IOStream that has
    nothing waiting to be written; return what the socket did not take,
    for ``stream.write``.

    ``IOStream.write`` settles a future whose done-callback costs the event
    loop one more iteration: on a keep-alive client, a sixth of a fetch.
    The bytes and their order are those ``stream.write`` would send; on an
    error everything is left to ``stream.write``, which meets the error
    again and closes the stream as it always does. (A TLS stream is left
    alone: its socket's writes have rules of their own.)
    """
    if type(stream) is not iostream.IOStream or stream.writing() or stream.closed():
        return data
    try:
        sent = stream.socket.send(data)
    except OSError:
        return data
    return data[sent:] if sent else data


def when_done(future: Future[Any], callback: Callable[[Future[Any]], None]) -> None:
    """``callback(future)`` now if ``future`` is done (IOStream writes
    usually are: running it at once keeps upstream's order of events),
    else when it is."""
    if future.done():
        callback(future)
    else:
        future.add_done_callback(callback)


def raise_unless_closed(future: Future[Any]) -> None:
    """A done-callback for a stream write or an abandoned body reader:
    failing on a closed stream is expected; anything else is re-raised for
    the event loop's handler to log."""
    exc = future.exception()
    if exc is not None and not isinstance(exc, iostream.StreamClosedError):
        future.result()


def wake(waiter: Future[None], task: Future[Any]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def future_on(stream: iostream.IOStream) -> Future[None]:
    """A future of the stream's event loop (``Future()`` would look the
    loop up, which on Python 3.11 costs a ``getpid`` system call)."""
    loop = _writebehind.loop_of(stream)
    if loop is None:
        return Future()
    return cast("Future[None]", loop.create_future())


def failed_write() -> Future[None]:
    """What a write to a closed stream returns: a future failed with
    StreamClosedError, already marked retrieved (nobody may await it)."""
    failed: Future[None] = Future()
    failed.set_exception(iostream.StreamClosedError())
    failed.exception()
    return failed
