"""The generated parts of ``differences.rst``: what changes with the
Tornado release (from :mod:`tornado_h1._versions`) and which of Tornado's
own tests are expected to fail (from ``compat/known_differences``)."""

from __future__ import annotations

import os
from pathlib import Path

from tornado_h1 import _versions

ROOT = Path(__file__).resolve().parents[2]


def _release(first: tuple[int, ...]) -> str:
    return ".".join(map(str, first)) + "+"


def releases_table() -> list[str]:
    """One row per switch of `Behaviour`, one column per release range."""
    table = list(reversed(_versions._TABLE))  # oldest first
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "",
        "   * - switch",
    ]
    lines += [f"     - {_release(first)}" for first, _ in table]
    for field in _versions.Behaviour._fields:
        lines.append(
            f"   * - :attr:`~tornado_h1._versions.Behaviour.{field}`"
        )
        for _, behaviour in table:
            value = getattr(behaviour, field)
            shown = "yes" if value is True else "no" if value is False else value
            lines.append(f"     - {shown}")
    return lines + [""]


def known_differences() -> list[str]:
    """The entries of ``compat/known_differences``, as a list."""
    path = ROOT / "compat" / "known_differences"
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        test, versions, reason = (line.split(None, 2) + ["", ""])[:3]
        entries.append(f"* ``{test}`` (releases: ``{versions}``): {reason}")
    if not entries:
        return [
            "*None today*: with tornado_h1 in place, every test of Tornado's "
            "own suite passes on every release of the matrix.",
            "",
        ]
    return entries + [""]


def write(folder: str) -> None:
    os.makedirs(folder, exist_ok=True)
    header = [".. Written at build time by docs/_ext/differences.py.", ""]
    for name, lines in (
        ("releases.inc", releases_table()),
        ("known_differences.inc", known_differences()),
    ):
        with open(os.path.join(folder, name), "w", encoding="utf-8") as out:
            out.write("\n".join(header + lines) + "\n")
