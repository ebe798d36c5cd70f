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


# ------------------------------------------------------------ the pictures

_BOX_W, _BOX_H, _GAP = 104, 34, 160
_FONT = 'font-family="sans-serif" font-size="12"'


def _arcs(
    table: Mapping[Any, Any],
) -> dict[tuple[enum.IntEnum, enum.IntEnum], list[enum.IntEnum]]:
    """The events of each (source, target) pair, in table order; a state
    that takes every event and stays gets the single label ``any event``."""
    arcs: dict[tuple[Any, Any], list[Any]] = {}
    for (source, event), target in table.items():
        arcs.setdefault((source, target), []).append(event)
    return arcs


def _labels(events: list[enum.IntEnum]) -> str:
    if len(events) == len(type(events[0])):
        return "any event"
    return ", ".join(event.name for event in events)


def _arc(x1: float, x2: float, y: float, rise: float) -> tuple[str, float, float]:
    """A curve from (x1, y) to (x2, y) whose apex is ``rise`` above (below
    if negative) the line; returns the path and the apex."""
    mid = (x1 + x2) / 2
    path = f"M {x1:.0f} {y:.0f} Q {mid:.0f} {y - 2 * rise:.0f} {x2:.0f} {y:.0f}"
    return path, mid, y - rise


def _loop(x: float, y: float) -> tuple[str, float, float]:
    """A loop under the box centred at ``x`` whose bottom edge is ``y``."""
    path = (
        f"M {x - 14:.0f} {y:.0f} C {x - 40:.0f} {y + 46:.0f} "
        f"{x + 40:.0f} {y + 46:.0f} {x + 14:.0f} {y:.0f}"
    )
    return path, x, y + 48


def svg(table: Mapping[Any, Any], states: type[enum.IntEnum]) -> str:
    """The state diagram of ``table`` as an SVG picture: the states in a
    row, each move an arrow labelled with its events (forward moves above
    the row, backward ones and loops below). Every arrow is a ``<g
    class="move">`` carrying its source, target and events as data, so
    that a test can read the picture back."""
    order = {state: index for index, state in enumerate(states)}
    arcs = _arcs(table)
    ahead = [order[t] - order[s] for s, t in arcs if order[t] > order[s]]
    back = [order[s] - order[t] for s, t in arcs if order[t] <= order[s]]
    top = 30 + 30 * max(ahead, default=0)
    width = 40 + _GAP * (len(order) - 1) + _BOX_W
    below = 30 * max(back, default=0) + 24
    if 0 in back:  # a loop, and its label under it
        below = max(below, 72)
    height = top + _BOX_H + below
    row_y = top + _BOX_H / 2
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height:.0f}" viewBox="0 0 {width} {height:.0f}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>',
    ]
    centre = {state: 20 + _BOX_W / 2 + _GAP * index for state, index in order.items()}
    for state in states:
        x = centre[state] - _BOX_W / 2
        parts.append(
            f'<g class="state" data-name="{state.name}"><rect x="{x:.0f}" '
            f'y="{top}" width="{_BOX_W}" height="{_BOX_H}" rx="8" '
            f'fill="#eef3fb" stroke="#34495e"/><text x="{centre[state]:.0f}" '
            f'y="{row_y + 4:.0f}" text-anchor="middle" {_FONT} '
            f'font-weight="bold">{state.name}</text></g>'
        )
    for (source, target), events in arcs.items():
        span = order[target] - order[source]
        if span == 0:
            path, lx, ly = _loop(centre[source], top + _BOX_H)
            ly += 12
        elif span > 0:
            path, lx, ly = _arc(
                centre[source] + 12, centre[target] - 12, top, 30 * span
            )
            ly -= 4
        else:
            bottom = top + _BOX_H
            path, lx, ly = _arc(
                centre[source] - 12, centre[target] + 12, bottom, -30 * -span
            )
            ly += 14
        names = " ".join(event.name for event in events)
        parts.append(
            f'<g class="move" data-from="{source.name}" data-to="{target.name}" '
            f'data-events="{names}"><path d="{path}" fill="none" '
            f'stroke="#34495e" marker-end="url(#arrow)"/><text x="{lx:.0f}" '
            f'y="{ly:.0f}" text-anchor="middle" {_FONT} fill="#1a5276" '
            'stroke="white" stroke-width="4" paint-order="stroke">'
            f"{_labels(events)}</text></g>"
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


#: The pictures :func:`write_svgs` writes: file name, table, states.
PICTURES = (
    ("inbound.svg", _state.INBOUND, _state.Inbound),
    ("outbound.svg", _state.OUTBOUND, _state.Outbound),
)


def write_svgs(folder: str) -> None:
    """Write ``inbound.svg`` and ``outbound.svg`` into ``folder``."""
    import os

    os.makedirs(folder, exist_ok=True)
    for name, table, states in PICTURES:
        with open(os.path.join(folder, name), "w", encoding="utf-8") as out:
            out.write(svg(table, states))
