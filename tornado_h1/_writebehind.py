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
`HeldWrites` keeps the bytes (with anything else the response writes in
the same step, up to the same limit), and the event loop's `FlushQueue`
hands everything held to the streams in one callback, scheduled with
``call_soon``: it runs at the start of the next iteration, before any of
the connections reads again. A lone client is answered at once, as before:
holding would only add an iteration to each of its responses.

What it does not change
-----------------------
- The bytes on the wire and their order. While a stream has bytes held, its
  own ``write`` and ``close`` flush them first (the stream's class is
  swapped, until the flush, for a subclass that does so): a handler that
  writes to, or closes, ``request.connection.stream`` directly still sees
  what it wrote through the connection go out first.
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
"""

from __future__ import annotations

import contextvars
import functools
import weakref
from asyncio import AbstractEventLoop
from typing import Callable, Optional

from tornado import iostream
from tornado.concurrent import Future
from tornado.log import gen_log

#: Responses longer than this are written at once. Holding pays off for the
#: small ones, whose cost is per ``send()``, not per byte.
HOLD_LIMIT = 1 << 16

#: Set to False to write every response at once (for comparisons).
ENABLED = True

#: Hold only while the event loop is busy (see `FlushQueue`). Set to False
#: to hold whenever possible (the tests do, to see holding with one client).
ADAPTIVE = True

_AfterFlush = Callable[["Optional[Future[None]]"], None]


class FlushQueue:
    """The streams of one event loop that hold bytes, and the single
    callback that flushes them all.

    Holding pays only when several connections answer in the same
    iteration; for a lone client it would only add an iteration to every
    response. So responses are held only while the loop is *busy*: from an
    iteration in which two responses or more were written at once, until a
    flush that finds a single stream to send.
    """

    __slots__ = (
        "loop",
        "busy",
        "_waiting",
        "_scheduled",
        "_context",
        "_written",
        "_counting",
    )

    def __init__(self, loop: AbstractEventLoop) -> None:
        self.loop = loop
        self.busy = not ADAPTIVE
        self._waiting: list[HeldWrites] = []
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

    def add(self, held: HeldWrites) -> None:
        self._waiting.append(held)
        if not self._scheduled:
            self._scheduled = True
            self.loop.call_soon(self._flush_all, context=self._context)

    def _flush_all(self) -> None:
        self._scheduled = False
        waiting, self._waiting = self._waiting, []
        if len(waiting) < 2 and ADAPTIVE:
            # One stream: nobody to share the flush with any more.
            self.busy = False
        for held in waiting:
            try:
                held.flush()
            except Exception:
                # A failure on one stream must not keep the others' bytes.
                gen_log.error("Uncaught exception in write-behind", exc_info=True)


_queues: weakref.WeakKeyDictionary[AbstractEventLoop, FlushQueue] = (
    weakref.WeakKeyDictionary()
)


def queue_for(stream: iostream.IOStream) -> Optional[FlushQueue]:
    """The `FlushQueue` of ``stream``'s event loop, or None if write-behind
    is off or the stream's IOLoop has no asyncio loop to schedule the flush
    on."""
    if not ENABLED:
        return None
    loop = getattr(stream.io_loop, "asyncio_loop", None)
    if loop is None:
        return None
    queue = _queues.get(loop)
    if queue is None:
        queue = _queues[loop] = FlushQueue(loop)
    return queue


class HeldWrites:
    """The bytes one stream holds until the next flush."""

    __slots__ = ("stream", "queue", "future", "_pieces", "_size", "_after", "_class")

    def __init__(self, stream: iostream.IOStream, queue: FlushQueue) -> None:
        self.stream = stream
        self.queue = queue
        # Resolved once the held bytes are written (or cannot be: the
        # stream closed). The future every held write returns.
        self.future: Optional[Future[None]] = None
        self._pieces: list[bytes] = []
        self._size = 0
        self._after: list[_AfterFlush] = []
        # The stream's own class, while it wears its shadow (see hold).
        self._class: Optional[type] = None

    @property
    def holding(self) -> bool:
        return bool(self._pieces)

    def can_take(self, size: int) -> bool:
        return self._size + size <= HOLD_LIMIT

    def hold(self, data: bytes) -> Future[None]:
        """Keep ``data`` for the next flush; returns the future of the
        flush."""
        future = self.future
        if not self._pieces:
            # While bytes are held, the stream's write and close flush them
            # first: the stream's class is swapped for a subclass that does
            # so (setting instance attributes instead would give each
            # stream its own attribute table, about 1.5 KiB, for good).
            stream = self.stream
            self._class = cls = type(stream)
            _holders[id(stream)] = self
            stream.__class__ = _shadow_class(cls)
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

    def flush(self) -> None:
        """Hand the held bytes to the stream now."""
        if not self._pieces:
            return
        stream = self.stream
        pieces = self._take()
        written: Optional[Future[None]] = None
        if not stream.closed():
            data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            try:
                written = stream.write(data)
            except BaseException:
                # Nobody waiting for these bytes may be left waiting.
                self._settle(None)
                raise
        self._settle(written)

    def _take(self) -> list[bytes]:
        stream = self.stream
        if self._class is not None:
            stream.__class__ = self._class
            self._class = None
            del _holders[id(stream)]
        pieces, self._pieces, self._size = self._pieces, [], 0
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

    # What the stream's write and close do while bytes are held.

    def write_after_flush(self, data: bytes) -> Future[None]:
        self.flush()
        return self.stream.write(data)

    def close_after_flush(self, exc_info: object = False) -> None:
        if not exc_info:
            self.flush()
            self.stream.close()
            return
        # Closed for an error: nothing more can be sent. The stream closes
        # first, so that it records the error it was given (and, for
        # ``exc_info=True``, finds it in sys.exc_info()).
        self._take()
        self.stream.close(exc_info)  # type: ignore[arg-type]
        self._settle(None)


# The HeldWrites of each stream that wears its shadow class, by id(stream).
_holders: dict[int, HeldWrites] = {}
_shadows: dict[type, type] = {}


def _shadow_class(cls: type) -> type:
    """A subclass of the stream class ``cls`` whose write and close go
    through the stream's HeldWrites; made once per class."""
    shadow = _shadows.get(cls)
    if shadow is None:

        def write(self: iostream.IOStream, data: bytes) -> Future[None]:
            return _holders[id(self)].write_after_flush(data)

        def close(self: iostream.IOStream, exc_info: object = False) -> None:
            _holders[id(self)].close_after_flush(exc_info)

        shadow = _shadows[cls] = type(
            cls.__name__,
            (cls,),
            {
                "write": write,
                "close": close,
                "__module__": cls.__module__,
                "__qualname__": cls.__qualname__,
                "__doc__": cls.__doc__,
            },
        )
    return shadow


def _resolve(future: Future[None], written: object = None) -> None:
    # A write that failed because the stream closed is not the writer's
    # error (the close is reported elsewhere); upstream resolves it too.
    if not future.done():
        future.set_result(None)
