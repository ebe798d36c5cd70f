"""One exchange (a request and its response) as data: the sans-IO core.

An :class:`Exchange` holds everything that decides what happens next in one
exchange, and makes those decisions from plain values:

* the state of each direction (the tables of :mod:`tornado_h1._state`; an
  illegal move raises `~tornado_h1._state.StateError`);
* whether the connection outlives the exchange, and if not, why
  (:attr:`Exchange.close_reason`: keep-alive is state, not a flag beside it);
* how the received body ends (RFC 9112 §6.3, every step, through
  :mod:`tornado_h1._wire`), and whether to send ``100 Continue`` first;
* the interim-response (1xx) policy of a client;
* how the body we send is delimited, and the clean-up of the head we send
  (``Connection``, ``Transfer-Encoding``), for both roles;
* whether a deadline expired.

It never touches a stream, a timer or a delegate: the driver in
:mod:`tornado_h1.http1connection` awaits the IOStream, calls the delegate,
and does what the exchange answered.
"""

from __future__ import annotations

from typing import Callable, Optional, Union

from tornado.httputil import (
    HTTPHeaders,
    HTTPInputError,
    HTTPOutputError,
    RequestStartLine,
    ResponseStartLine,
    parse_response_start_line,
)

from tornado_h1 import _wire
from tornado_h1._state import (
    BY_CHUNKS,
    BY_CLOSE,
    BY_LENGTH,
    IN_DONE,
    IN_HEAD,
    IN_IDLE,
    INBOUND,
    ON_CLOSE,
    ON_DETACH,
    ON_END,
    ON_FINISH,
    ON_HEAD,
    ON_INFORMATIONAL,
    ON_SEND_HEAD,
    ON_SEND_INTERIM,
    ON_START,
    ON_WRITE,
    OUT_BODY,
    OUT_DONE,
    OUT_IDLE,
    OUTBOUND,
    OutBody,
)

#: A client accepts at most this many interim (1xx) responses before the
#: final one; a server sending more is hostile (each costs a delegate call).
MAX_INTERIM_RESPONSES = 10

_CHUNKED = "chunked"


class Exchange:
    """The state and the decisions of one exchange; the role is the type.

    A :class:`ClientExchange` is made for each request a client sends, a
    :class:`ServerExchange` for each request a server reads. The starting
    values live on the class, so that making one (once per request) sets
    no attribute at all.
    """

    inbound = IN_IDLE
    outbound = OUT_IDLE
    #: Why the connection ends after this exchange; None keeps it alive.
    close_reason: Optional[str] = None
    #: Set when the head or body deadline passed while we waited.
    expired = False
    #: The request's method and version (a client's own request, or the
    #: request a server is answering).
    request_method: Optional[str] = None
    request_version = "HTTP/1.1"
    #: How our body is delimited; for LENGTH, the length our head declared
    #: (0 for HEAD and 304 answers) and how many of its bytes are owed.
    out_body = BY_CLOSE
    out_length = 0
    remaining = 0
    #: ``HTTP1ConnectionParameters.no_keep_alive``: close after each exchange.
    no_keep_alive = False
    #: The trailer fields of the body read, when accepted (ServerOptions.trailers).
    trailers: Optional[HTTPHeaders] = None
    #: What ends a chunked body we send: the last chunk, with any trailers.
    last_chunk = _wire.LAST_CHUNK

    @property
    def keep_alive(self) -> bool:
        return self.close_reason is None

    # -- receiving --------------------------------------------------------------

    def start_head(self) -> None:
        """We are about to wait for a head."""
        self.inbound = INBOUND[self.inbound, ON_START]

    def received_head(
        self, start_text: str, headers: HTTPHeaders
    ) -> Union[RequestStartLine, ResponseStartLine]:
        """A head was read: parse its start line and take note of it."""
        raise NotImplementedError

    def is_interim(self, headers: HTTPHeaders) -> bool:
        """Whether the head just read is an interim (1xx) response, after
        which the final one follows: only a client ever reads one."""
        return False

    def framing(self, headers: HTTPHeaders, max_body_size: int) -> _wire.Framing:
        """How the body of the message just read ends (RFC 9112 §6.3); moves
        on to reading it, or, if there is none, to the message's end."""
        raise NotImplementedError

    def owes_continue(self, headers: HTTPHeaders) -> bool:
        """Whether ``100 Continue`` must be sent before the body can come
        (RFC 9110 §10.1.1): only a server ever owes one."""
        return False

    def delivers_body(self) -> bool:
        """Whether the delegate still wants what we read."""
        return True

    def _advance_to_body(self, framing: _wire.Framing) -> _wire.Framing:
        event = ON_END if framing.kind is _wire.BODY_NONE else ON_HEAD
        self.inbound = INBOUND[self.inbound, event]
        return framing

    def end_message(self) -> None:
        self.inbound = INBOUND[self.inbound, ON_END]

    def closed(self) -> None:
        self.inbound = INBOUND[self.inbound, ON_CLOSE]

    def detached(self) -> None:
        self.inbound = INBOUND[self.inbound, ON_DETACH]

    # -- sending ----------------------------------------------------------------

    def send_head(
        self,
        start_line: Union[RequestStartLine, ResponseStartLine],
        headers: HTTPHeaders,
        chunk: Optional[bytes] = None,
    ) -> bytes:
        """Clean up the head we send (the framing fields it needs are added
        to ``headers``, as upstream does) and encode it, followed by
        ``chunk``, the body's first piece, framed (see `frame`)."""
        raise NotImplementedError

    def _choose_body(
        self, headers: HTTPHeaders, has_length: bool, chunked: bool, empty: bool
    ) -> None:
        if empty:
            self.out_body, self.remaining = BY_LENGTH, 0
        elif has_length:
            self.out_body = BY_LENGTH
            length = _wire.parse_decimal(headers["Content-Length"])
            self.out_length = self.remaining = length
        elif chunked:
            self.out_body = BY_CHUNKS
        else:
            self.out_body = BY_CLOSE

    def frame(self, chunk: bytes) -> bytes:
        """``chunk`` as it goes on the wire with our body's framing. Raises
        `HTTPOutputError` for bytes past the declared length (the peer
        would read them as the next message)."""
        return _FRAMERS[self.out_body](self, chunk)

    def send_body(self, chunk: bytes) -> bytes:
        """A `frame` for ``write()``, which the tables must allow."""
        self.outbound = OUTBOUND[self.outbound, ON_WRITE]
        return _FRAMERS[self.out_body](self, chunk)

    def finish(self, stream_closed: bool) -> bytes:
        """End the body we send; returns what still has to be written (the
        last chunk, for chunked coding). Raises `HTTPOutputError` if fewer
        bytes were written than Content-Length announced."""
        finished = OUTBOUND[self.outbound, ON_FINISH]
        if self.remaining and not stream_closed:  # (only LENGTH counts down)
            raise HTTPOutputError(
                "Tried to write %d bytes less than Content-Length" % self.remaining
            )
        self.outbound = finished
        if self.inbound is not IN_DONE and self.close_reason is None:
            # The rest of the message we read can only be skipped by
            # closing.
            self.close_reason = _wire.CLOSE_ANSWERED_EARLY
        if self.out_body is BY_CHUNKS and not stream_closed:
            return self.last_chunk
        return b""

    def send_trailers(self, trailers: HTTPHeaders) -> None:
        """Have the last chunk carry ``trailers`` (RFC 9112 §7.1.2). Only a
        chunked body can: `ValueError` before the head, after `finish`, for
        any other framing, and for fields that `_wire.last_chunk_with`
        refuses."""
        if self.outbound is not OUT_BODY:
            raise ValueError(_TRAILERS_TOO_EARLY_OR_LATE[self.outbound])
        if self.out_body is not BY_CHUNKS:
            raise ValueError(
                "trailers need a chunked response; this one is not chunked "
                "(it has a Content-Length, no body, or an HTTP/1.0 client)"
            )
        self.last_chunk = _wire.last_chunk_with(trailers)


class ServerExchange(Exchange):
    """A server's exchange: reads a request, sends its response."""

    #: An HTTP/1.0 request asked to be kept alive: the response says yes.
    confirm_keep_alive = False
    #: Set by `make_last`: why this exchange ends the connection, decided
    #: before its head arrived.
    last_reason: Optional[str] = None

    def make_last(self, reason: str) -> None:
        """End the connection after this exchange, whatever the request
        asks (its response says ``Connection: close``), for ``reason``."""
        # (no_keep_alive too, so that the plain-request shortcut is not taken)
        self.no_keep_alive, self.last_reason = True, reason

    def end_connection(self, reason: str) -> None:
        """The server is going away: this exchange is the connection's last,
        for ``reason``. Before the head, as `make_last`; before the response,
        the response says ``Connection: close``; after it, the connection
        closes once the response is out (the driver stops reading)."""
        if self.inbound is IN_IDLE or self.inbound is IN_HEAD:
            self.make_last(reason)
        elif self.outbound is OUT_IDLE and self.close_reason is None:
            self.close_reason = reason

    def received_head(self, start_text: str, headers: HTTPHeaders) -> RequestStartLine:
        """A request head was read: parse its start line, and decide whether
        the connection is kept alive (RFC 9112 §9.3)."""
        start_line = _wire.request_line(start_text)
        version = start_line.version
        self.request_method, self.request_version = start_line.method, version
        if (
            version == "HTTP/1.1"
            and not self.no_keep_alive
            and _wire.REQUEST_CONTROL_FIELDS.isdisjoint(headers)
        ):
            return start_line  # no Connection field: it persists (most GETs)
        self.close_reason = self.last_reason or _wire.close_reason(
            version, start_line.method, headers, self.no_keep_alive
        )
        if version == "HTTP/1.0":
            # (never a yes that the close after this exchange would belie)
            self.confirm_keep_alive = (
                self.last_reason is None and _wire.asks_keep_alive(headers)
            )
        return start_line

    def owes_continue(self, headers: HTTPHeaders) -> bool:
        """Asked for, and not answered already."""
        return (
            "Expect" in headers
            and headers["Expect"] == "100-continue"
            and self.outbound is not OUT_DONE
        )

    def framing(self, headers: HTTPHeaders, max_body_size: int) -> _wire.Framing:
        if _wire.REQUEST_CONTROL_FIELDS.isdisjoint(headers):
            # No field that delimits a body (most GETs): step 7 at once.
            self.inbound = INBOUND[self.inbound, ON_END]
            return _wire.NO_REQUEST_BODY
        return self._advance_to_body(
            _wire.body_framing(
                headers, is_client=False, status=0, max_body_size=max_body_size
            )
        )

    def delivers_body(self) -> bool:
        """A server whose response is finished reads the rest of the
        request only to keep the framing, and drops it."""
        return self.outbound is not OUT_DONE

    def send_head(
        self,
        start_line: Union[RequestStartLine, ResponseStartLine],
        headers: HTTPHeaders,
        chunk: Optional[bytes] = None,
    ) -> bytes:
        assert isinstance(start_line, ResponseStartLine)
        status = start_line.code
        has_length = "Content-Length" in headers
        version = self.request_version
        chunked = not has_length and _wire.response_chunked(
            version, self.request_method or "", status, headers
        )
        if version == "HTTP/1.1":
            if self.close_reason is not None:
                if status == 101 and self.close_reason in _wire.SERVER_CLOSES:
                    # The stream is handed over (an upgrade), not closed.
                    self.close_reason = None
                else:
                    # RFC 9112 §9.6: announce that we will close.
                    headers["Connection"] = "close"
        elif self.confirm_keep_alive:
            # HTTP/1.0 keep-alive must be confirmed (RFC 9112 §C.2.2).
            headers["Connection"] = "Keep-Alive"
        if chunked:
            headers["Transfer-Encoding"] = _CHUNKED
        data = _wire.encode_head(_wire.status_line(status, start_line.reason), headers)
        # RFC 9110 §9.3.2 and §15.4.5: no body, whatever Content-Length says.
        empty = self.request_method == "HEAD" or status == 304
        self._choose_body(headers, has_length, chunked, empty)
        event = ON_SEND_INTERIM if 100 <= status < 200 else ON_SEND_HEAD
        self.outbound = OUTBOUND[self.outbound, event]
        if chunk:
            return data + _FRAMERS[self.out_body](self, chunk)
        return data


class ClientExchange(Exchange):
    """A client's exchange: sends a request, reads its response."""

    #: The status of the response read.
    status = 0
    interim_responses = 0

    def received_head(self, start_text: str, headers: HTTPHeaders) -> ResponseStartLine:
        """A response head was read. Keeping the connection is its owner's
        business (Tornado's client closes it), not this layer's."""
        start_line = parse_response_start_line(start_text)
        self.status = start_line.code
        self.close_reason = None
        return start_line

    def is_interim(self, headers: HTTPHeaders) -> bool:
        """After the delegate saw a response head: whether it is an interim
        (1xx) response, after which the real one follows on the same
        connection (RFC 9110 §15.2). Raises for one that announces a body,
        and past `MAX_INTERIM_RESPONSES`."""
        status = self.status
        if not 100 <= status < 200:
            return False
        if "Content-Length" in headers or "Transfer-Encoding" in headers:
            raise HTTPInputError("Response code %d cannot have body" % status)
        if self.interim_responses >= MAX_INTERIM_RESPONSES:
            raise HTTPInputError("Too many 1xx responses")
        self.interim_responses += 1
        self.inbound = INBOUND[self.inbound, ON_INFORMATIONAL]
        return True

    def framing(self, headers: HTTPHeaders, max_body_size: int) -> _wire.Framing:
        return self._advance_to_body(
            _wire.response_framing(
                self.request_method, self.status, headers, max_body_size
            )
        )

    def send_head(
        self,
        start_line: Union[RequestStartLine, ResponseStartLine],
        headers: HTTPHeaders,
        chunk: Optional[bytes] = None,
    ) -> bytes:
        assert isinstance(start_line, RequestStartLine)
        method = start_line.method
        self.request_method = method
        has_length = "Content-Length" in headers
        chunked = _wire.request_chunked(method, headers)
        if chunked:
            headers["Transfer-Encoding"] = _CHUNKED
        data = _wire.encode_head(
            _wire.request_line_bytes(method, start_line.path), headers
        )
        self._choose_body(headers, has_length, chunked, False)
        self.outbound = OUTBOUND[self.outbound, ON_SEND_HEAD]
        if chunk:
            return data + _FRAMERS[self.out_body](self, chunk)
        return data


_TRAILERS_TOO_EARLY_OR_LATE = {
    OUT_IDLE: "the response head is not sent yet, and trailers can only follow "
    "a chunked head (in a RequestHandler, flush() first)",
    OUT_DONE: "the response is finished: its last chunk is sent already",
}


def _count_down(exchange: Exchange, chunk: bytes) -> bytes:
    exchange.remaining -= len(chunk)
    if exchange.remaining < 0:
        raise HTTPOutputError("Tried to write more data than Content-Length")
    return chunk


def _chunk(exchange: Exchange, chunk: bytes) -> bytes:
    return _wire.frame_chunk(chunk) if chunk else chunk


def _as_is(exchange: Exchange, chunk: bytes) -> bytes:
    return chunk


#: The body writer for each way of delimiting our body (after h11's
#: ``_writers``).
_FRAMERS: dict[OutBody, Callable[[Exchange, bytes], bytes]] = {
    OutBody.LENGTH: _count_down,
    OutBody.CHUNKED: _chunk,
    OutBody.UNTIL_CLOSE: _as_is,
}
