"""The transition tables of :mod:`tornado_h1._state`.

Every (state, event) pair is either in a table, and then moves to exactly the
state the table says, or it is not, and then raises `StateError`. The tests
enumerate all pairs, so a table entry added or dropped by mistake shows up.
"""

from __future__ import annotations

import enum
import itertools
from typing import Optional

import pytest

from tornado_h1 import _state, _wire
from tornado_h1._state import (
    INBOUND,
    OUTBOUND,
    Inbound,
    InEvent,
    Outbound,
    OutEvent,
    StateError,
)

IN_PAIRS = list(itertools.product(Inbound, InEvent))
OUT_PAIRS = list(itertools.product(Outbound, OutEvent))

# The table as it should be, written out by hand: the moves that are not
# DETACH, CLOSE or out of a terminal state (those are checked by rule below).
EXPECTED_IN_MOVES = {
    (Inbound.IDLE, InEvent.START): Inbound.HEAD,
    (Inbound.HEAD, InEvent.HEAD): Inbound.BODY,
    (Inbound.HEAD, InEvent.INFORMATIONAL): Inbound.IDLE,
    (Inbound.HEAD, InEvent.END): Inbound.DONE,
    (Inbound.BODY, InEvent.END): Inbound.DONE,
    # A client may read another response with the same connection object.
    (Inbound.DONE, InEvent.START): Inbound.HEAD,
    # detach() while the delegate handles a head, or once the message is in.
    (Inbound.HEAD, InEvent.DETACH): Inbound.DETACHED,
    (Inbound.BODY, InEvent.DETACH): Inbound.DETACHED,
    (Inbound.DONE, InEvent.DETACH): Inbound.DETACHED,
}

EXPECTED_OUT = {
    (Outbound.IDLE, OutEvent.HEAD): Outbound.BODY,
    (Outbound.IDLE, OutEvent.INTERIM): Outbound.IDLE,
    (Outbound.IDLE, OutEvent.WRITE): Outbound.IDLE,
    (Outbound.BODY, OutEvent.WRITE): Outbound.BODY,
    (Outbound.IDLE, OutEvent.FINISH): Outbound.DONE,
    (Outbound.BODY, OutEvent.FINISH): Outbound.DONE,
    (Outbound.DONE, OutEvent.WRITE): Outbound.DONE,
    (Outbound.DONE, OutEvent.FINISH): Outbound.DONE,
}


def _expected_in(state: Inbound, event: InEvent) -> Optional[Inbound]:
    if state is Inbound.CLOSED:
        return state  # the driver may still be unwinding a read
    if state is Inbound.DETACHED:
        return None  # the stream is gone: no move at all
    if event is InEvent.CLOSE:
        return Inbound.CLOSED
    return EXPECTED_IN_MOVES.get((state, event))


def test_tables_hold_only_known_states_and_events() -> None:
    for (state, event), target in INBOUND.items():
        assert isinstance(state, Inbound)
        assert isinstance(event, InEvent)
        assert isinstance(target, Inbound)
    for (state, event), target in OUTBOUND.items():
        assert isinstance(state, Outbound)
        assert isinstance(event, OutEvent)
        assert isinstance(target, Outbound)


@pytest.mark.parametrize(
    "state, event", IN_PAIRS, ids=[f"{s.name}-{e.name}" for s, e in IN_PAIRS]
)
def test_inbound_pair(state: Inbound, event: InEvent) -> None:
    expected = _expected_in(state, event)
    assert INBOUND.get((state, event)) is expected
    if expected is None:
        with pytest.raises(StateError) as info:
            INBOUND[state, event]
        assert str(info.value) == f"inbound {state.name} cannot take {event.name}"
        # Raised by the table itself, not from a KeyError: not a lookup bug.
        assert info.value.__context__ is None
    else:
        assert INBOUND[state, event] is expected


def test_inbound_illegal_pairs_by_hand() -> None:
    # A few that a driver bug could plausibly attempt.
    for state, event in [
        (Inbound.IDLE, InEvent.HEAD),
        (Inbound.IDLE, InEvent.END),
        (Inbound.IDLE, InEvent.INFORMATIONAL),
        (Inbound.HEAD, InEvent.START),
        (Inbound.BODY, InEvent.START),
        (Inbound.BODY, InEvent.HEAD),
        (Inbound.BODY, InEvent.INFORMATIONAL),
        (Inbound.DONE, InEvent.HEAD),
        (Inbound.DONE, InEvent.END),
        (Inbound.DONE, InEvent.INFORMATIONAL),
    ]:
        with pytest.raises(StateError):
            INBOUND[state, event]
    illegal = [pair for pair in IN_PAIRS if pair not in INBOUND]
    # the ten above, IDLE-DETACH, and the six events out of DETACHED
    assert len(illegal) == 17


@pytest.mark.parametrize(
    "state, event", OUT_PAIRS, ids=[f"{s.name}-{e.name}" for s, e in OUT_PAIRS]
)
def test_outbound_pair(state: Outbound, event: OutEvent) -> None:
    expected = EXPECTED_OUT.get((state, event))
    assert OUTBOUND.get((state, event)) is expected
    if expected is None:
        with pytest.raises(StateError):
            OUTBOUND[state, event]
    else:
        assert OUTBOUND[state, event] is expected


class _Bogus(enum.Enum):
    WRITE = "write"


def test_outbound_illegal_pairs() -> None:
    # A second head once a final one is out, and any head after finish():
    # each would start a second message inside the first.
    illegal = set(OUT_PAIRS) - set(OUTBOUND)
    assert illegal == {
        (Outbound.BODY, OutEvent.HEAD),
        (Outbound.BODY, OutEvent.INTERIM),
        (Outbound.DONE, OutEvent.HEAD),
        (Outbound.DONE, OutEvent.INTERIM),
    }
    with pytest.raises(StateError) as info:
        OUTBOUND[Outbound.DONE, _Bogus.WRITE]  # type: ignore[arg-type]
    assert str(info.value) == "outbound DONE cannot take WRITE"
    with pytest.raises(StateError):
        INBOUND[Inbound.IDLE, _Bogus.WRITE]  # type: ignore[arg-type]


def test_state_error_is_a_runtime_error() -> None:
    assert issubclass(StateError, RuntimeError)


def test_closed_absorbs_and_detached_takes_nothing() -> None:
    state = Inbound.CLOSED
    for event in list(InEvent) * 2:
        state = INBOUND[state, event]
        assert state is Inbound.CLOSED
    for event in InEvent:
        with pytest.raises(StateError):
            INBOUND[Inbound.DETACHED, event]


@pytest.mark.parametrize(
    "state", [Inbound.IDLE, Inbound.HEAD, Inbound.BODY, Inbound.DONE], ids=str
)
def test_close_from_any_live_state(state: Inbound) -> None:
    assert INBOUND[state, InEvent.CLOSE] is Inbound.CLOSED


def _walk_in(events: list[InEvent], start: Inbound = Inbound.IDLE) -> list[Inbound]:
    states = [start]
    for event in events:
        states.append(INBOUND[states[-1], event])
    return states


def _walk_out(events: list[OutEvent]) -> list[Outbound]:
    states = [Outbound.IDLE]
    for event in events:
        states.append(OUTBOUND[states[-1], event])
    return states


def test_lifecycle_with_body() -> None:
    # Server: read a request head and body; write the response; finish.
    assert _walk_in([InEvent.START, InEvent.HEAD, InEvent.END]) == [
        Inbound.IDLE,
        Inbound.HEAD,
        Inbound.BODY,
        Inbound.DONE,
    ]
    assert _walk_out([OutEvent.HEAD, OutEvent.FINISH]) == [
        Outbound.IDLE,
        Outbound.BODY,
        Outbound.DONE,
    ]


def test_lifecycle_without_body_then_close() -> None:
    states = _walk_in([InEvent.START, InEvent.END, InEvent.CLOSE, InEvent.START])
    assert states == [
        Inbound.IDLE,
        Inbound.HEAD,
        Inbound.DONE,
        Inbound.CLOSED,
        Inbound.CLOSED,
    ]


def test_lifecycle_detached_in_headers_received() -> None:
    # A WebSocket handshake: the delegate detaches after the head; the
    # driver stops there, and any further move is a bug.
    states = _walk_in([InEvent.START, InEvent.DETACH])
    assert states[1:] == [Inbound.HEAD, Inbound.DETACHED]
    with pytest.raises(StateError):
        INBOUND[Inbound.DETACHED, InEvent.HEAD]


def test_finish_before_head_and_twice() -> None:
    # An application may finish without writing headers, and finish() twice
    # (or write after it) is tolerated, as upstream does; a head is not.
    assert _walk_out([OutEvent.FINISH, OutEvent.FINISH, OutEvent.WRITE]) == [
        Outbound.IDLE,
        Outbound.DONE,
        Outbound.DONE,
        Outbound.DONE,
    ]
    with pytest.raises(StateError):
        OUTBOUND[Outbound.DONE, OutEvent.HEAD]


def test_interim_heads_then_final() -> None:
    assert _walk_out(
        [OutEvent.INTERIM, OutEvent.INTERIM, OutEvent.HEAD, OutEvent.WRITE]
    ) == [Outbound.IDLE, Outbound.IDLE, Outbound.IDLE, Outbound.BODY, Outbound.BODY]


@pytest.mark.parametrize("interim", [1, 2, 10])
def test_informational_loop(interim: int) -> None:
    # Client: ``interim`` 1xx responses, each a head with no body, then the
    # final response with a body.
    events = [InEvent.START, InEvent.INFORMATIONAL] * interim
    events += [InEvent.START, InEvent.HEAD, InEvent.END]
    states = _walk_in(events)
    assert states[: 2 * interim + 1] == [Inbound.IDLE, Inbound.HEAD] * interim + [
        Inbound.IDLE
    ]
    assert states[-3:] == [Inbound.HEAD, Inbound.BODY, Inbound.DONE]


def test_informational_requires_a_head() -> None:
    with pytest.raises(StateError):
        _walk_in([InEvent.START, InEvent.HEAD, InEvent.INFORMATIONAL])


def test_every_state_reachable_and_done_reachable_from_every_live_state() -> None:
    reachable = {Inbound.IDLE}
    frontier = [Inbound.IDLE]
    while frontier:
        state = frontier.pop()
        for event in InEvent:
            target = INBOUND.get((state, event))
            if target is not None and target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(Inbound)
    for state in (Inbound.IDLE, Inbound.HEAD, Inbound.BODY):
        seen, frontier = {state}, [state]
        while frontier:
            current = frontier.pop()
            for event in (
                InEvent.START,
                InEvent.HEAD,
                InEvent.END,
                InEvent.INFORMATIONAL,
            ):
                target = INBOUND.get((current, event))
                if target is not None and target not in seen:
                    seen.add(target)
                    frontier.append(target)
        assert Inbound.DONE in seen, state


def test_the_plain_names_are_the_members() -> None:
    """The module-level names the core uses per request (``IN_DONE``...)
    are bound by unpacking each enum: a reordered or missing name would
    silently swap two states."""
    named = {
        "IN_": Inbound,
        "OUT_": Outbound,
        "ON_": InEvent,
    }
    for prefix, members in named.items():
        for member in members:
            assert getattr(_state, prefix + member.name) is member
    sends = {"HEAD": "ON_SEND_HEAD", "INTERIM": "ON_SEND_INTERIM"}
    for member in OutEvent:
        assert getattr(_state, sends.get(member.name, "ON_" + member.name)) is member
    by = {"LENGTH": "BY_LENGTH", "CHUNKED": "BY_CHUNKS", "UNTIL_CLOSE": "BY_CLOSE"}
    for body in _state.OutBody:
        assert getattr(_state, by[body.name]) is body
    for kind in _wire.Body:
        assert getattr(_wire, "BODY_" + kind.name) is kind
