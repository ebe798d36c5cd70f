"""Write-behind: the small responses finished in one IOLoop iteration are sent
together, at the start of the next.

Why
---
A ``send()`` on loopback or a fast LAN does the receiver's work too, in the
sender's time: the kernel delivers the segment and, if the reading process
is asleep, wakes it. On a virtual machine that wake-up (an interrupt to
another CPU) is the most expensive part of the call. A server that answers
many connections one after another, each with its own ``send()``, gives the
client just enough time to fall asleep between two responses, and pays for
a wake-up every time. Measured on the 2-core machine of
``docs/performance.rst``: 7 of 44 µs per request of the raw benchmark went
to waking the load generator; with the sends of an iteration made back to
back, 1.7 µs.

How
---
While the event loop is *busy* (see `FlushQueue`: an iteration has written
two responses or more), a server connection that writes a response head of
at most `HOLD_LIMIT` bytes does not pass it to the IOStream at once.
The connection's `WriteBehind` keeps the bytes (with anything else the
response writes in the same step, up to the same limit), and the event
loop's `FlushQueue`
hands everything held to the streams in one callback, scheduled with
``call_soon``: it runs at the start of the next iteration, before any of
the connections reads again. A lone client is answered at once, as before:
holding would only add an iteration to each of its responses.

What it does not change
-----------------------
- The bytes on the wire and their order. While a stream has bytes held, its
  own ``write`` and ``close`` flush them first: at its connection's first
  held response, the stream's class becomes, for good, a subclass that
  does so (`stream_class_for`; its name says it: ``IOStreamWithWriteBehind``).
  A handler that writes to, or closes, ``request.connection.stream``
  directly still sees what it wrote through the connection go out first.
  ``HTTP1Connection.detach`` flushes before it hands the stream over.
- When the next request is read: the serving loop waits for a held
  response to be flushed, exactly as it waits for any response to be
  written, so a client that does not read still holds up its connection
  (memory stays bounded). The one exception is a pipelining client, whose
  next request is already buffered: it is served at once and its response
  joins the same flush (one ``send()`` for the batch), but never while an
  earlier flush is still being written.
- What a write's future says: the future ``write_headers`` returns resolves
  once the bytes are written. It never fails because the peer went away:
  upstream's does not either.

Streams with a ``max_write_buffer_size`` are never held, so that the error
for a full buffer is still raised by the call that overflows it.

Configuration
-------------
Each server connection gets a policy (`Policy`) from its
``HTTP1ServerConnection``: ``adaptive`` (the default), ``always`` (hold
whenever possible: tests and ``python -m tornado_h1.compat --always-hold``
use it to see holding with one client) or ``off``. It is passed in, never
switched by a module global: ``tornado_h1.install(write_behind="always")``.
"""

from __future__ import annotations

import contextvars
import enum
import functools
import weakref
from asyncio import AbstractEventLoop
from typing import Any, Callable, Optional

from tornado import iostream
from tornado.concurrent import Future
from tornado.log import gen_log

from tornado_h1 import _tornado

#: Responses longer than this are written at once. Holding pays off for the
#: small ones, whose cost is per ``send()``, not per byte.
HOLD_LIMIT = 1 << 16

_AfterFlush = Callable[["Optional[Future[None]]"], None]


class Policy(str, enum.Enum):
    """When a server connection holds its small responses."""

    ADAPTIVE = "adaptive"  # while the event loop is busy (see FlushQueue)
    ALWAYS = "always"  # whenever possible
    OFF = "off"  # never


class FlushQueue:
    """The connections of one event loop that hold bytes, and the single
    callback that flushes them all.

    Holding pays only when several connections answer in the same
    iteration; for a lone client it would only add an iteration to every
    response. So (under the adaptive policy) responses are held only while
    the loop is *busy*: from an iteration in which two responses or more
    were written at once, until a flush that finds a single stream to send.
    """

    __slots__ = (
        "loop",
        "busy",
        "holders",
        "_scheduled",
        "_context",
        "_written",
        "_counting",
    )

    def __init__(self, loop: AbstractEventLoop) -> None:
        self.loop = loop
        self.busy = False
        #: The writers holding bytes now, by stream (what a stream's own
        #: write and close look up; entries leave at the flush).
        self.holders: dict[iostream.IOStream, WriteBehind] = {}
        self._scheduled = False
        # The flush runs in a context of its own, not in the context of
        # whichever handler happened to hold the first response.
        self._context = contextvars.Context()
        # Responses written at once (not held) since the last count.
        self._written = 0
        self._counting = False

    def wrote_at_once(self) -> None:
        """Note a response that could have been held but was written at
        once; a count at the start of the next iteration decides whether
        the loop is busy."""
        self._written += 1
        if not self._counting:
            self._counting = True
            self.loop.call_soon(self._count, context=self._context)

    def _count(self) -> None:
        self._counting = False
        if self._written >= 2:
            self.busy = True
        self._written = 0

    def add(self, writer: WriteBehind) -> None:
        self.holders[writer.stream] = writer
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._flush_all, context=self._context)

    def _flush_all(self) -> None:
        self._scheduled = False
        waiting = list(self.holders.values())
        if len(waiting) < 2:
            # One stream: nobody to share the flush with any more.
            self.busy = False
        for writer in waiting:
            try:
                writer.flush()
            except Exception:
                # A failure on one stream must not keep the others' bytes.
                gen_log.error("Uncaught exception in write-behind", exc_info=True)


_queues: weakref.WeakKeyDictionary[AbstractEventLoop, FlushQueue] = (
    weakref.WeakKeyDictionary()
)


def loop_of(stream: iostream.IOStream) -> Optional[AbstractEventLoop]:
    """The asyncio loop under ``stream``'s IOLoop (None for an IOLoop
    without one)."""
    return getattr(stream.io_loop, "asyncio_loop", None)


def queue_for(stream: iostream.IOStream) -> Optional[FlushQueue]:
    """The `FlushQueue` of ``stream``'s event loop, or None if the stream's
    IOLoop has no asyncio loop to schedule the flush on."""
    loop = loop_of(stream)
    if loop is None:
        return None
    queue = _queues.get(loop)
    if queue is None:
        queue = _queues[loop] = FlushQueue(loop)
    return queue


class WriteBehind:
    """The write side of one server connection: decides whether a response
    is held, holds it, flushes it, and tells the serving loop what to wait
    for."""

    __slots__ = (
        "stream",
        "queue",
        "always",
        "future",
        "holding",
        "_pieces",
        "_size",
        "_after",
        "_write",
    )

    def __init__(
        self, stream: iostream.IOStream, queue: FlushQueue, always: bool
    ) -> None:
        self.stream = stream
        self.queue = queue
        self.always = always
        # Resolved once the held bytes are written (or cannot be: the
        # stream closed). The future every held write returns.
        self.future: Optional[Future[None]] = None
        #: Whether bytes wait for the next flush.
        self.holding = False
        self._pieces: list[bytes] = []
        self._size = 0
        self._after: list[_AfterFlush] = []
        # The stream class's own write, which a flush calls directly.
        self._write: Callable[[iostream.IOStream, bytes], Future[None]] = type(
            stream
        ).write

    def may_hold(self, size: int) -> bool:
        """Whether a response head of ``size`` bytes (with what came with
        it) waits for the next flush: a small one, on an open stream
        without a write-buffer limit (whose overflow must raise in the
        call), while the loop is busy or this stream already holds."""
        stream = self.stream
        if (
            size > HOLD_LIMIT
            or stream.closed()
            or stream.max_write_buffer_size is not None
        ):
            return False
        if self.always or self.queue.busy or self.holding:
            return True
        self.queue.wrote_at_once()
        return False

    def can_take(self, size: int) -> bool:
        return self._size + size <= HOLD_LIMIT

    def hold(self, data: bytes) -> Future[None]:
        """Keep ``data`` for the next flush; returns the future of the
        flush."""
        future = self.future
        if not self.holding:
            self.holding = True
            stream = self.stream
            cls = type(stream)
            if not getattr(cls, "_h1_write_behind", False):
                # Once per connection: from now on the stream's own write
                # and close flush what is held first.
                self._write = cls.write
                stream.__class__ = stream_class_for(cls)
                stream._h1_writer = self  # type: ignore[attr-defined]
            future = self.future = self.queue.loop.create_future()
            self.queue.add(self)
        self._pieces.append(data)
        self._size += len(data)
        assert future is not None
        return future

    def after_flush(self, callback: _AfterFlush) -> None:
        """Call ``callback(write_future)`` when the held bytes are written:
        in the flush itself if the stream takes them at once."""
        self._after.append(callback)

    def flush_to_wait(self, closing: bool) -> Optional[Future[None]]:
        """After a response held whole: the flush the serving loop waits
        for before it reads on, as for any response. No close callback is
        registered: the application has finished. A pipelining client's
        next request is already here: it is served at once (None), and its
        response joins this one in the same flush, but never while an
        earlier flush is still being written, so that a client that does
        not read holds up its own requests."""
        stream = self.stream
        if not _tornado.holds_data(stream) or stream.writing() or closing:
            return self.future
        return None

    def flush(self) -> None:
        """Hand the held bytes to the stream now."""
        if not self.holding:
            return
        stream = self.stream
        pieces = self._take()
        written: Optional[Future[None]] = None
        if not stream.closed():
            data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            try:
                written = self._write(stream, data)
            except BaseException:
                # Nobody waiting for these bytes may be left waiting.
                self._settle(None)
                raise
        self._settle(written)

    def _take(self) -> list[bytes]:
        self.queue.holders.pop(self.stream, None)
        pieces, self._pieces, self._size = self._pieces, [], 0
        self.holding = False
        return pieces

    def _settle(self, written: Optional[Future[None]]) -> None:
        future, self.future = self.future, None
        after, self._after = self._after, []
        assert future is not None
        if written is None or written.done():
            for callback in after:
                callback(written)
            _resolve(future)
        else:
            for callback in after:
                written.add_done_callback(callback)
            written.add_done_callback(functools.partial(_resolve, future))

    def drop(self) -> None:
        """Forget what is held: the stream is closing for an error, so
        nothing more can be sent. (`release` then frees its waiters.)"""
        self._take()

    def release(self) -> None:
        """Resolve the future of bytes that were dropped."""
        self._settle(None)


_stream_classes: dict[type, type] = {}


def stream_class_for(cls: type) -> type:
    """The subclass of the stream class ``cls`` whose ``write`` and
    ``close`` first flush what the stream's connection holds; made once per
    class."""
    made = _stream_classes.get(cls)
    if made is None:
        base: Any = cls

        def write(self: Any, data: bytes) -> Future[None]:
            writer: Optional[WriteBehind] = self._h1_writer
            if writer is not None and writer.holding:
                writer.flush()
            return base.write(self, data)  # type: ignore[no-any-return]

        def close(self: Any, exc_info: Any = False) -> None:
            writer: Optional[WriteBehind] = self._h1_writer
            self._h1_writer = None  # (no stream-writer cycle left behind)
            if writer is None or not writer.holding:
                base.close(self, exc_info)
            elif not exc_info:
                writer.flush()  # what is held goes out first
                base.close(self, exc_info)
            else:
                # Closed for an error: the held bytes are dropped before the
                # stream closes (so that it records the error it was given),
                # and their waiters released after.
                writer.drop()
                base.close(self, exc_info)
                writer.release()

        made = _stream_classes[cls] = type(
            cls.__name__ + "WithWriteBehind",
            (cls,),
            {
                "write": write,
                "close": close,
                "_h1_write_behind": True,
                # The connection's writer, set with the class (see hold).
                "_h1_writer": None,
                "__module__": __name__,
                "__doc__": "A %s whose write and close first flush what its "
                "HTTP/1 connection holds (tornado_h1._writebehind)." % cls.__name__,
            },
        )
    return made


def _resolve(future: Future[None], written: object = None) -> None:
    # A write that failed because the stream closed is not the writer's
    # error (the close is reported elsewhere); upstream resolves it too.
    if not future.done():
        future.set_result(None)
