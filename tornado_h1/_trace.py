"""The protocol trace: one readable line per protocol event.

Turn it on with the ``tornado_h1.trace`` logger at DEBUG (``tornado-h1 serve
--trace`` does). Every line starts with a connection id, so interleaved
connections can be told apart::

    [c1] opened: peer 127.0.0.1
    [c1] head received: 78 bytes, GET / HTTP/1.1
    [c1] body: none (RFC 9112 §6.3 step 7)
    [c1] delegate.headers_received
    ...

The lines print the core's own answers (the framing an
:class:`~tornado_h1._exchange.Exchange` chose, the reason it gave for
closing); nothing is worked out again for the trace. Whether the trace is on
is asked once per connection, so with the logger off a connection pays one
``None`` test per event.
"""

from __future__ import annotations

import itertools
import logging
from typing import Optional

from tornado.httputil import HTTPHeaders

from tornado_h1 import _wire
from tornado_h1._state import OutBody

#: The logger of the trace.
logger = logging.getLogger("tornado_h1.trace")

_ids = itertools.count(1)

_OUT_WORDS = {
    OutBody.CHUNKED: "chunked",
    OutBody.UNTIL_CLOSE: "until the connection closes",
}
_BODY_WORDS = {
    _wire.Body.NONE: "none",
    _wire.Body.LENGTH: "Content-Length %d",
    _wire.Body.CHUNKED: "chunked",
    _wire.Body.UNTIL_CLOSE: "until the connection closes",
}


class Tracer:
    """Writes the trace lines of one connection."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, message: str, *args: object) -> None:
        logger.debug(self.prefix + message, *args)

    def framing(self, framing: _wire.Framing) -> None:
        words = _BODY_WORDS[framing.kind]
        if framing.kind is _wire.Body.LENGTH:
            words = words % framing.length
        self("body: %s (RFC 9112 §6.3 step %d)", words, framing.step)

    def head_sent(self, head: bytes, body: OutBody, length: int) -> None:
        first = head[: head.index(b"\r")].decode("latin1")
        if body is OutBody.LENGTH:
            self("head sent: %s, body Content-Length %d", first, length)
        elif body is OutBody.UNTIL_CLOSE and not first.startswith("HTTP/"):
            # A request with neither field has no body (RFC 9112 §6.3 step 7).
            self("head sent: %s, no body", first)
        else:
            self("head sent: %s, body %s", first, _OUT_WORDS[body])

    def trailers_received(self, fields: HTTPHeaders) -> None:
        names = ", ".join(name for name, _ in fields.get_all())
        self("trailers received: %s", names or "none")

    def verdict(self, close_reason: Optional[str]) -> None:
        if close_reason is None:
            self("keep-alive: yes")
        else:
            self("keep-alive: no, %s", close_reason)


def tracer(peer: object = None, role: str = "c") -> Optional[Tracer]:
    """A `Tracer` for a new connection, or None while the trace is off."""
    if not logger.isEnabledFor(logging.DEBUG):
        return None
    trace = Tracer("[%s%d] " % (role, next(_ids)))
    trace("opened: peer %s", _peer_text(peer))
    return trace


def _peer_text(peer: object) -> str:
    address = getattr(peer, "remote_ip", None) or getattr(peer, "address", None)
    return str(address if address is not None else peer)
