"""The state diagrams of the docs, drawn from :mod:`tornado_h1._state`'s
tables at build time (``docs/conf.py`` writes ``docs/_states.inc``), so
that the pictures cannot drift from the code."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from tornado_h1 import _state


def _moves(
    table: Mapping[Any, Any],
) -> list[str]:
    """One line per move: ``STATE --EVENT--> TARGET``, in table order. A
    state that takes every event and stays is drawn once, as ``any event``."""
    states: list[enum.IntEnum] = []
    for state, _ in table:
        if state not in states:
            states.append(state)
    lines = []
    for state in states:
        out = [
            (event, target)
            for (source, event), target in table.items()
            if source is state
        ]
        events = {event for event, _ in out}
        kinds: Any = type(out[0][0])
        every_event = len(events) == len(kinds)
        if every_event and all(target is state for _, target in out):
            lines.append(f"{state.name:<9} {'--any event-->':<19} {state.name}")
            continue
        for event, target in out:
            arrow = f"--{event.name}-->"
            lines.append(f"{state.name:<9} {arrow:<19} {target.name}")
    return lines


def _illegal(
    table: Mapping[Any, Any],
    states: type[enum.IntEnum],
    events: type[enum.IntEnum],
) -> list[str]:
    return [
        f"{s.name} + {e.name}" for s in states for e in events if (s, e) not in table
    ]


def render() -> str:
    """The reStructuredText of both diagrams and the illegal moves."""
    parts = []
    for title, table, states, events in (
        (
            "Inbound: the message we receive",
            _state.INBOUND,
            _state.Inbound,
            _state.InEvent,
        ),
        (
            "Outbound: the message we send",
            _state.OUTBOUND,
            _state.Outbound,
            _state.OutEvent,
        ),
    ):
        parts.append(f"**{title}** (``{states.__name__}`` × ``{events.__name__}``)\n")
        parts.append(".. code-block:: text\n")
        parts.extend("    " + line for line in _moves(table))
        illegal = _illegal(table, states, events)
        parts.append("")
        parts.append(
            "Raising ``StateError`` (%d pairs): %s.\n"
            % (len(illegal), ", ".join(illegal))
        )
    return "\n".join(parts) + "\n"


def write(path: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write(
            ".. Generated from tornado_h1/_state.py by tornado_h1._tools.statedoc.\n\n"
        )
        out.write(render())
