"""Between the driver and the application's delegate.

* One guard for every delegate call (`guarded_failure`): an exception from
  the application is logged once, as ``Uncaught exception``, and unwinds the
  driver as `_QuietException`; bad input (`~tornado.httputil.HTTPInputError`)
  passes through to become a 400 (from Tornado 6.5.2 on, see
  :mod:`tornado_h1._versions`).
* `_GzipMessageDelegate`, which inflates gzip bodies for
  ``HTTP1ConnectionParameters(decompress=True)``.

Both keep upstream's names, since ``tornado.http1connection`` exposes them.
"""

from __future__ import annotations

import logging
import types
import zlib
from collections.abc import Awaitable
from typing import Optional, Union

from tornado import httputil
from tornado.log import app_log
from tornado.util import GzipDecompressor

from tornado_h1 import _versions

_INPUT_ERRORS_PASS_GUARD = not _versions.CURRENT.input_error_in_delegate_uncaught


class _QuietException(Exception):
    """Raised after a delegate failure has been logged: unwinds the driver
    without logging the same failure again."""

    def __init__(self) -> None:
        pass


def guarded_failure(error: BaseException, logger: logging.Logger = app_log) -> None:
    """What the guard does with an exception from a delegate: returns if it
    must go on as it is (the caller re-raises it), otherwise logs it and
    raises `_QuietException` in its place.

    The driver calls it from ``except BaseException`` around each delegate
    call: a try block costs nothing until something is raised."""
    if _INPUT_ERRORS_PASS_GUARD and isinstance(error, httputil.HTTPInputError):
        return
    logger.error(
        "Uncaught exception", exc_info=(type(error), error, error.__traceback__)
    )
    raise _QuietException


class _ExceptionLoggingContext:
    """The same guard as a ``with`` block (upstream's name for it), for
    code that prefers one: ``with _ExceptionLoggingContext(app_log):``."""

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
            guarded_failure(value, self.logger)


class _GzipMessageDelegate(httputil.HTTPMessageDelegate):
    """A delegate in front of another that inflates ``Content-Encoding:
    gzip`` bodies, enforcing ``max_body_size`` on the *inflated* size
    (CVE-2026-49855: a small compressed body can inflate without bound)."""

    # The limit applies to what comes out of the decompressor. Releases
    # before 6.5.6 construct it without one; the driver then sets it.
    _max_body_size: Optional[int] = None
    _inflated = 0
    _decompressor: Optional[GzipDecompressor] = None
    _inner_closed = False

    if _versions.CURRENT.gzip_takes_max_body_size:

        def __init__(
            self,
            delegate: httputil.HTTPMessageDelegate,
            chunk_size: int,
            max_body_size: int,
        ) -> None:
            self._delegate, self._chunk_size = delegate, chunk_size
            self._max_body_size = max_body_size

    else:  # pragma: no cover (releases before 6.5.6: run by the matrix)

        def __init__(  # type: ignore[misc]
            self, delegate: httputil.HTTPMessageDelegate, chunk_size: int
        ) -> None:
            self._delegate, self._chunk_size = delegate, chunk_size

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
                limit = self._max_body_size
                if limit is not None and self._inflated > limit:
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


def inflating(
    delegate: httputil.HTTPMessageDelegate, chunk_size: int, max_body_size: int
) -> _GzipMessageDelegate:
    """A `_GzipMessageDelegate` in front of ``delegate``, bounded by
    ``max_body_size`` on every release (whatever its constructor takes)."""
    if _versions.CURRENT.gzip_takes_max_body_size:
        return _GzipMessageDelegate(delegate, chunk_size, max_body_size)
    gzip = _GzipMessageDelegate(delegate, chunk_size)  # type: ignore[call-arg]  # pragma: no cover
    gzip._max_body_size = max_body_size  # pragma: no cover
    return gzip  # pragma: no cover
