"""The states of one HTTP/1.x message exchange, and how they may change.

An :class:`~tornado_h1.http1connection.HTTP1Connection` carries one request
and its response. Each direction has its own small machine:

* :class:`Inbound` tracks the message we receive (the request on a server,
  the response on a client): waiting for its head, reading its body, done.
* :class:`Outbound` tracks the message we send: nothing yet, head sent and
  body under way, finished.

Whether the connection outlives the exchange, how our body is delimited and
whether a deadline expired are part of the exchange's state too: see
:class:`tornado_h1._exchange.Exchange`, which holds these states and makes
every decision from them.

:data:`INBOUND` and :data:`OUTBOUND` are the complete transition tables:
a move that is not in a table is a programming error in the driver, and
the table says so by raising :class:`StateError` (see :class:`Transitions`).
Keeping them as tables (after h11's ``_state.py``) means the whole life of a
connection can be read in one screen.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TypeVar

# IntEnum, not Enum: the driver looks transitions up several times per
# request, and an IntEnum member hashes as its int, in C.


class Inbound(enum.IntEnum):
    #: Nothing read yet for this exchange.
    IDLE = 0
    #: Waiting for the start line and header fields (RFC 9112 §2.1).
    HEAD = 1
    #: Reading the body with the framing chosen by RFC 9112 §6.3.
    BODY = 2
    #: The whole message was read and handed to the delegate.
    DONE = 3
    #: ``detach()`` gave the stream away; HTTP processing has stopped.
    DETACHED = 4
    #: The connection closed (by us, the peer, an error or a timeout).
    CLOSED = 5


class Outbound(enum.IntEnum):
    #: No head written yet.
    IDLE = 0
    #: Head written; the body may still be written.
    BODY = 1
    #: ``finish()`` was called; nothing more will be written.
    DONE = 2


class InEvent(enum.IntEnum):
    START = 0  # begin reading a head
    HEAD = 1  # a head was parsed and the message has a body
    INFORMATIONAL = 2  # a 1xx head was read; another head follows
    END = 3  # the message is complete
    DETACH = 4
    CLOSE = 5


class OutEvent(enum.IntEnum):
    HEAD = 0  # write_headers() with a final head
    INTERIM = 1  # write_headers() with a 1xx head (server); a final one follows
    WRITE = 2  # write()
    FINISH = 3  # finish()


# Plain names for the members, which the core tests on every request: in
# Python 3.11 each ``Inbound.DONE`` runs EnumType's __getattr__ hook, while a
# module global is one dict hit. (Tables and docs spell the members out.)
IN_IDLE, IN_HEAD, IN_BODY, IN_DONE, IN_DETACHED, IN_CLOSED = Inbound
OUT_IDLE, OUT_BODY, OUT_DONE = Outbound
ON_START, ON_HEAD, ON_INFORMATIONAL, ON_END, ON_DETACH, ON_CLOSE = InEvent
ON_SEND_HEAD, ON_SEND_INTERIM, ON_WRITE, ON_FINISH = OutEvent


class StateError(RuntimeError):
    """A move the transition table does not allow: a bug in the driver."""


State = TypeVar("State", bound=enum.IntEnum)
Event = TypeVar("Event", bound=enum.IntEnum)


class Transitions(dict[tuple[State, Event], State]):
    """A transition table: ``table[state, event]`` is the state after the
    move, and a move the table does not hold raises `StateError` (a plain
    dict lookup, so that the driver's moves cost no function call)."""

    def __init__(
        self, direction: str, moves: Mapping[tuple[State, Event], State]
    ) -> None:
        super().__init__(moves)
        self.direction = direction

    def __missing__(self, move: tuple[State, Event]) -> State:
        state, event = move
        raise StateError(f"{self.direction} {state.name} cannot take {event.name}")


_LIVE_IN = (Inbound.IDLE, Inbound.HEAD, Inbound.BODY, Inbound.DONE)

INBOUND: Transitions[Inbound, InEvent] = Transitions(
    "inbound",
    {
        (Inbound.IDLE, InEvent.START): Inbound.HEAD,
        (Inbound.HEAD, InEvent.HEAD): Inbound.BODY,
        (Inbound.HEAD, InEvent.INFORMATIONAL): Inbound.IDLE,
        (Inbound.HEAD, InEvent.END): Inbound.DONE,
        (Inbound.BODY, InEvent.END): Inbound.DONE,
        # A client may read a further response with the same object, as
        # upstream allows.
        (Inbound.DONE, InEvent.START): Inbound.HEAD,
        # detach() is for delegates: it comes while they handle a head, or (as
        # a WebSocket handshake does) when the message is complete.
        (Inbound.HEAD, InEvent.DETACH): Inbound.DETACHED,
        (Inbound.BODY, InEvent.DETACH): Inbound.DETACHED,
        (Inbound.DONE, InEvent.DETACH): Inbound.DETACHED,
        **{(state, InEvent.CLOSE): Inbound.CLOSED for state in _LIVE_IN},
        # Closed is final. The driver may still be unwinding a read when the
        # application closes the connection (say, by answering early); its
        # remaining steps then fail on the closed stream, and the state stays.
        **{(Inbound.CLOSED, event): Inbound.CLOSED for event in InEvent},
    },
)

OUTBOUND: Transitions[Outbound, OutEvent] = Transitions(
    "outbound",
    {
        (Outbound.IDLE, OutEvent.HEAD): Outbound.BODY,
        # An interim response (100 Continue, 103 Early Hints) precedes the
        # final head.
        (Outbound.IDLE, OutEvent.INTERIM): Outbound.IDLE,
        # A write before any head is upstream's old way of sending a head
        # encoded by hand (deprecated, still allowed).
        (Outbound.IDLE, OutEvent.WRITE): Outbound.IDLE,
        (Outbound.BODY, OutEvent.WRITE): Outbound.BODY,
        (Outbound.IDLE, OutEvent.FINISH): Outbound.DONE,
        (Outbound.BODY, OutEvent.FINISH): Outbound.DONE,
        # After finish(), upstream still takes a write (refused by the framing
        # when a length was declared) and a second finish; applications see
        # what these do, so they stay. A second head never: once a final head
        # is out, another would start a second response inside the first.
        (Outbound.DONE, OutEvent.WRITE): Outbound.DONE,
        (Outbound.DONE, OutEvent.FINISH): Outbound.DONE,
    },
)


class OutBody(enum.IntEnum):
    """How the body we send is delimited (chosen by the head we send)."""

    #: Content-Length bytes, counted down (0 for HEAD and 304 answers).
    LENGTH = 0
    #: Chunked coding (RFC 9112 §7.1), ended by the last chunk.
    CHUNKED = 1
    #: Neither: the body ends when the connection closes (HTTP/1.0 peers,
    #: or a request without a body).
    UNTIL_CLOSE = 2


BY_LENGTH, BY_CHUNKS, BY_CLOSE = OutBody
