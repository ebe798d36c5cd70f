"""Small helpers on sockets and raw HTTP/1.x bytes, shared by the harness
(:mod:`tornado_h1.testing.targets`) and the tests. Standard library only."""

from __future__ import annotations

import array
import fcntl
import re
import socket
import termios

#: How long anything may take before a test or the harness calls it stuck.
#: Nothing waits for a timer to fire: on loopback every expected event
#: happens within milliseconds, so this only bounds a hang.
PATIENCE = 5.0

#: A whole request that must never be served unless sent as a request.
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"

_VOLATILE = re.compile(rb"\r\n(?:Date|Server): [^\r\n]*")
_STATUS = re.compile(rb"HTTP/1\.[01] ([0-9]{3}) ")


def unread(sock: socket.socket) -> int:
    """How many received bytes wait in ``sock``'s kernel buffer."""
    buf = array.array("i", [0])
    fcntl.ioctl(sock.fileno(), termios.FIONREAD, buf)
    return buf[0]


def strip_volatile(response: bytes) -> bytes:
    """Drop the fields that hold the time or the Tornado version."""
    return _VOLATILE.sub(b"", response)


def statuses(response: bytes) -> list[int]:
    """The status codes of the responses in ``response``, in order. (The
    recording application never echoes the request, so a status line can
    only be a status line.)"""
    return [int(code) for code in _STATUS.findall(response)]


def show(data: bytes) -> str:
    """Bytes as a Python literal (``ast.literal_eval`` gives them back)."""
    return repr(data)
