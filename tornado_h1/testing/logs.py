"""Recording what Tornado's (and asyncio's) loggers say.

:class:`LogRecorder` is the one log capture of tornado_h1's tests and tools:
the tests' ``logs`` fixture, the differential tests and the fuzz harness
all use it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Optional

#: The loggers a test watches unless told otherwise.
TEST_LOGGERS = ("tornado.general", "tornado.application", "tornado.access", "asyncio")

#: What the fuzz harness watches: every Tornado logger, and asyncio's.
ALL_LOGGERS = ("tornado", "asyncio")


class LogRecorder(logging.Handler):
    """Collects the records of the named loggers while active, from
    :meth:`start` to :meth:`stop` (or as a context manager). Each logger is
    lowered to DEBUG meanwhile if it was unset or above it, and restored
    afterwards. Records collected here do not reach ``logging.lastResort``.
    """

    def __init__(self, names: Iterable[str] = TEST_LOGGERS) -> None:
        super().__init__(logging.DEBUG)
        self.names = tuple(names)
        self.records: list[logging.LogRecord] = []
        self._saved: list[tuple[logging.Logger, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def start(self, names: Optional[Iterable[str]] = None) -> LogRecorder:
        """Watch ``names`` (default: the names given to the constructor)."""
        for name in self.names if names is None else names:
            logger = logging.getLogger(name)
            self._saved.append((logger, logger.level))
            if logger.level == logging.NOTSET or logger.level > logging.DEBUG:
                logger.setLevel(logging.DEBUG)
            logger.addHandler(self)
        return self

    def stop(self) -> None:
        for logger, level in self._saved:
            logger.removeHandler(self)
            logger.setLevel(level)
        self._saved.clear()

    def __enter__(self) -> LogRecorder:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def clear(self) -> None:
        self.records.clear()

    def errors(self) -> list[logging.LogRecord]:
        """The records at ERROR or above."""
        return [r for r in self.records if r.levelno >= logging.ERROR]

    def error_lines(self) -> list[str]:
        """The records at ERROR or above, one line each (:func:`one_line`)."""
        return [one_line(record) for record in self.errors()]

    def messages(
        self, logger: Optional[str] = None, level: Optional[int] = None
    ) -> list[str]:
        """The messages of ``logger`` (any, by default) at ``level`` (any)."""
        return [
            r.getMessage()
            for r in self.records
            if (logger is None or r.name == logger)
            and (level is None or r.levelno == level)
        ]

    def summary(
        self, names: Iterable[str] = TEST_LOGGERS
    ) -> list[tuple[str, str, str]]:
        """``(logger, level, message)`` of each record of the ``names``."""
        wanted = set(names)
        return [
            (r.name, r.levelname, r.getMessage())
            for r in self.records
            if r.name in wanted
        ]

    def reasons(self) -> list[str]:
        """Why messages were refused, as logged by either implementation:
        the text after ``Malformed HTTP message from <peer>:``, and the
        other INFO-level connection-layer messages."""
        out = []
        for record in self.records:
            if record.name != "tornado.general" or record.levelno != logging.INFO:
                continue
            args = record.args
            if (
                isinstance(record.msg, str)
                and record.msg.startswith("Malformed HTTP message")
                and isinstance(args, tuple)
                and len(args) == 2
            ):
                out.append(str(args[1]))
            else:
                out.append(record.getMessage())
        return out


def one_line(record: logging.LogRecord) -> str:
    """``logger LEVEL message [ExceptionType: text]``."""
    text = "%s %s %s" % (record.name, record.levelname, record.getMessage())
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        text += " [%s: %s]" % (type(exc).__name__, exc)
    return text


def describe(records: Iterable[logging.LogRecord]) -> str:
    """The records as text, each with its traceback if it has one."""
    lines = []
    for r in records:
        lines.append("%s %s %s" % (r.name, r.levelname, r.getMessage()))
        if r.exc_info:
            lines.append(logging.Formatter().formatException(r.exc_info))
    return "\n".join(lines)
