"""The generated parts of ``differences.rst``: the deliberate differences
(from :mod:`tornado_h1.testing.differences`), what changes with the
Tornado release (from :mod:`tornado_h1._versions`) and which of Tornado's
own tests are expected to fail (from ``compat/known_differences``)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from tornado_h1 import _versions
from tornado_h1.testing.differences import DIFFERENCES

ROOT = Path(__file__).resolve().parents[2]


def resolve(dotted: str) -> object:
    """The object a dotted name means: the longest importable module
    prefix, then attributes. `RuntimeError` if there is no such object."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                found = getattr(found, name)
        except AttributeError:
            break
        return found
    raise RuntimeError(f"no such code: {dotted}")


def _code_reference(dotted: str) -> str:
    # The last two parts say enough (_wire.split_head, HTTP1Connection.finish).
    return f":obj:`{'.'.join(dotted.split('.')[-2:])} <{dotted}>`"


def deliberate_table() -> list[str]:
    """One row per record of ``DIFFERENCES``, then the tests that pin each
    record; fails if a record names code that does not exist."""
    rows = [("What", "Upstream", "tornado_h1", "Why")]
    pins = []
    for record in DIFFERENCES:
        for dotted in record.code:
            try:
                resolve(dotted)
            except RuntimeError as exc:
                raise RuntimeError(f"difference {record.id}: {exc}") from None
        code = ", ".join(map(_code_reference, record.code))
        # A second paragraph in the cell: the code, and the record's name.
        why = f"{record.why}\n\n       Code: {code} (record ``{record.id}``)"
        rows.append((record.what, record.upstream, record.ours, why))
        tests = ", ".join(f"``{node}``" for node in record.tests)
        pins.append(f"* ``{record.id}``: {tests}")
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 24 22 27 27", ""]
    for first, *rest in rows:
        lines.append(f"   * - {first}")
        lines += [f"     - {cell}" for cell in rest]
    return lines + ["", "The tests that pin each record:", ""] + pins + [""]


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
        lines.append(f"   * - :attr:`~tornado_h1._versions.Behaviour.{field}`")
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
        ("deliberate.inc", deliberate_table()),
        ("releases.inc", releases_table()),
        ("known_differences.inc", known_differences()),
    ):
        with open(os.path.join(folder, name), "w", encoding="utf-8") as out:
            out.write("\n".join(header + lines) + "\n")
