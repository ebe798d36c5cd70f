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
)

from tornado_h1 import _wire
from tornado_h1._state import (
    Inbound,
    InEvent,
    OutBody,
    Outbound,
    OutEvent,
    advance_in,
    advance_out,
)

#: A client accepts at most this many interim (1xx) responses before the
#: final one; a server sending more is hostile (each costs a delegate call).
MAX_INTERIM_RESPONSES = 10

_CHUNKED = "chunked"


class Exchange:
    """The state and the decisions of one exchange.

    A client makes one per request it sends; a server one per request it
    reads. The starting values live on the class, so that making one (once
    per request) sets two attributes, not a dozen.
    """

    inbound = Inbound.IDLE
    outbound = Outbound.IDLE
    #: Why the connection ends after this exchange; None keeps it alive.
    close_reason: Optional[str] = None
    #: Set when the head or body deadline passed while we waited.
    expired = False
    #: The request's method and version (a client's own request, or the
    #: request a server is answering).
    request_method: Optional[str] = None
    request_version = "HTTP/1.1"
    #: An HTTP/1.0 request asked to be kept alive: the response says yes.
    confirm_keep_alive = False
    #: The status of the response read (client).
    status = 0
    interim_responses = 0
    #: How our body is delimited, and (for LENGTH) how many bytes are owed.
    out_body = OutBody.UNTIL_CLOSE
    remaining = 0

    def __init__(self, is_client: bool, no_keep_alive: bool = False) -> None:
        self.is_client = is_client
        self.no_keep_alive = no_keep_alive

    @property
    def keep_alive(self) -> bool:
        return self.close_reason is None

    # -- receiving --------------------------------------------------------------

    def start_head(self) -> None:
        """We are about to wait for a head."""
        self.inbound = advance_in(self.inbound, InEvent.START)

    def received_request(
        self, start_line: RequestStartLine, headers: HTTPHeaders
    ) -> None:
        """A server read a request head: decide whether the connection is
        kept alive (RFC 9112 §9.3)."""
        version = start_line.version
        self.request_method, self.request_version = start_line.method, version
        self.close_reason = _wire.close_reason(
            version, start_line.method, headers, self.no_keep_alive
        )
        if version == "HTTP/1.0":
            self.confirm_keep_alive = _wire.asks_keep_alive(headers)

    def received_response(self, start_line: ResponseStartLine) -> None:
        """A client read a response head. Keeping the connection is its
        owner's business (Tornado's client closes it), not this layer's."""
        self.status = start_line.code
        self.close_reason = None

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
        self.inbound = advance_in(self.inbound, InEvent.INFORMATIONAL)
        return True

    def owes_continue(self, headers: HTTPHeaders) -> bool:
        """Whether a server must send ``100 Continue`` before the body can
        come (RFC 9110 §10.1.1): asked for, and not answered already."""
        return (
            not self.is_client
            and "Expect" in headers
            and headers["Expect"] == "100-continue"
            and self.outbound is not Outbound.DONE
        )

    def framing(self, headers: HTTPHeaders, max_body_size: int) -> _wire.Framing:
        """How the body of the message just read ends (RFC 9112 §6.3); moves
        on to reading it, or, if there is none, to the message's end."""
        if self.is_client:
            framing = _wire.response_framing(
                self.request_method, self.status, headers, max_body_size
            )
        elif _wire.REQUEST_CONTROL_FIELDS.isdisjoint(headers):
            # No field that delimits a body (most GETs): step 7 at once.
            framing = _wire.NO_REQUEST_BODY
        else:
            framing = _wire.body_framing(
                headers, is_client=False, status=0, max_body_size=max_body_size
            )
        event = InEvent.END if framing.kind is _wire.Body.NONE else InEvent.HEAD
        self.inbound = advance_in(self.inbound, event)
        return framing

    def delivers_body(self) -> bool:
        """Whether the delegate still wants what we read: a server whose
        response is finished reads the rest of the request only to keep the
        framing, and drops it."""
        return self.is_client or self.outbound is not Outbound.DONE

    def end_message(self) -> None:
        self.inbound = advance_in(self.inbound, InEvent.END)

    def closed(self) -> None:
        self.inbound = advance_in(self.inbound, InEvent.CLOSE)

    def detached(self) -> None:
        self.inbound = advance_in(self.inbound, InEvent.DETACH)

    # -- sending ----------------------------------------------------------------

    def send_head(
        self,
        start_line: Union[RequestStartLine, ResponseStartLine],
        headers: HTTPHeaders,
    ) -> bytes:
        """Clean up the head we send (the framing fields it needs are added
        to ``headers``, as upstream does) and encode it."""
        if self.is_client:
            assert isinstance(start_line, RequestStartLine)
            return self._request_head(start_line, headers)
        assert isinstance(start_line, ResponseStartLine)
        return self._response_head(start_line, headers)

    def _request_head(
        self, start_line: RequestStartLine, headers: HTTPHeaders
    ) -> bytes:
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
        self.outbound = advance_out(self.outbound, OutEvent.HEAD)
        return data

    def _response_head(
        self, start_line: ResponseStartLine, headers: HTTPHeaders
    ) -> bytes:
        status = start_line.code
        has_length = "Content-Length" in headers
        version = self.request_version
        chunked = not has_length and _wire.response_chunked(
            version, self.request_method or "", status, headers
        )
        if version == "HTTP/1.1":
            if self.close_reason is not None:
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
        interim = 100 <= status < 200
        event = OutEvent.INTERIM if interim else OutEvent.HEAD
        self.outbound = advance_out(self.outbound, event)
        return data

    def _choose_body(
        self, headers: HTTPHeaders, has_length: bool, chunked: bool, empty: bool
    ) -> None:
        if empty:
            self.out_body, self.remaining = OutBody.LENGTH, 0
        elif has_length:
            self.out_body = OutBody.LENGTH
            self.remaining = _wire.parse_decimal(headers["Content-Length"])
        elif chunked:
            self.out_body = OutBody.CHUNKED
        else:
            self.out_body = OutBody.UNTIL_CLOSE

    def frame(self, chunk: bytes) -> bytes:
        """``chunk`` as it goes on the wire with our body's framing. Raises
        `HTTPOutputError` for bytes past the declared length (the peer
        would read them as the next message)."""
        return _FRAMERS[self.out_body](self, chunk)

    def send_body(self, chunk: bytes) -> bytes:
        """A `frame` for ``write()``, which the tables must allow."""
        self.outbound = advance_out(self.outbound, OutEvent.WRITE)
        return _FRAMERS[self.out_body](self, chunk)

    def finish(self, stream_closed: bool) -> bytes:
        """End the body we send; returns what still has to be written (the
        last chunk, for chunked coding). Raises `HTTPOutputError` if fewer
        bytes were written than Content-Length announced."""
        finished = advance_out(self.outbound, OutEvent.FINISH)
        if self.out_body is OutBody.LENGTH and self.remaining and not stream_closed:
            raise HTTPOutputError(
                "Tried to write %d bytes less than Content-Length" % self.remaining
            )
        self.outbound = finished
        if self.inbound is not Inbound.DONE and self.close_reason is None:
            # The rest of the message we read can only be skipped by
            # closing.
            self.close_reason = _wire.CLOSE_ANSWERED_EARLY
        if self.out_body is OutBody.CHUNKED and not stream_closed:
            return _wire.LAST_CHUNK
        return b""


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
