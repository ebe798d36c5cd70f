"""Compare ``tornado_h1.http1connection`` with the installed Tornado's
``tornado.http1connection``: the drop-in surface, for one release.

Run it with the interpreter whose Tornado is to be compared::

    .matrix/tornado-6.2/bin/python compat/exports.py [--json]

Rules (the same ones ``tests/test_exports.py`` applies to the Tornado of the
development environment, restated here because that module needs pytest and
Tornado 6.6's ``api_test``, which older releases do not ship):

* every name the release's module binds at top level (``def``, ``class`` and
  assignments, also inside top-level ``if``/``try``; not imports), private
  ones included, must exist in tornado_h1's module;
* for the public ones (no leading underscore), the kind of object must match
  (class, function, coroutine function, data); functions must have the same
  parameters (names, kinds, defaults; annotations are ignored) and the same
  async-ness; classes the same bases, and every public method and dunder
  the release's class defines itself must exist in ours with the same
  parameters and async-ness; patterns must match in text and flags, and
  loggers must be the very same objects.

Names tornado_h1 has beyond the release (it follows the newest one) are
reported as ``extra``, which is not a difference.

Exit status: 0 when there is no difference, 1 when there is one, 2 when the
modules cannot be imported. Needs only the standard library, Tornado and
tornado_h1, and runs on every Python that tornado_h1 supports.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import logging
import re
import sys
import types
from typing import Any

UPSTREAM_NAME = "tornado.http1connection"
OURS_NAME = "tornado_h1.http1connection"


def top_level_names(module: types.ModuleType) -> set[str]:
    """The names that ``module``'s own source binds at top level."""
    with open(inspect.getfile(module), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    found: set[str] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                found.update(
                    leaf.id for leaf in ast.walk(target) if isinstance(leaf, ast.Name)
                )
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            if isinstance(node.target, ast.Name):
                found.add(node.target.id)
        elif isinstance(node, ast.If):
            pending.extend(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                pending.extend(handler.body)
    return found


def kind(value: Any) -> str:
    if inspect.isclass(value):
        return "class"
    if inspect.iscoroutinefunction(value):
        return "coroutine function"
    if inspect.isfunction(value):
        return "function"
    return "data"


def parameters(func: Any) -> list[tuple[str, str, str]]:
    """Each parameter's name, kind and default (as repr); no annotations."""
    return [
        (p.name, p.kind.name, "" if p.default is p.empty else repr(p.default))
        for p in inspect.signature(func).parameters.values()
    ]


def _base_names(cls: type) -> list[str]:
    local = {UPSTREAM_NAME, OURS_NAME}
    return [
        (
            f"<module>.{base.__qualname__}"
            if base.__module__ in local
            else f"{base.__module__}.{base.__qualname__}"
        )
        for base in cls.__bases__
    ]


def _own_methods(cls: type) -> dict[str, Any]:
    """Public and dunder functions that ``cls`` defines itself."""
    methods: dict[str, Any] = {}
    for name, value in vars(cls).items():
        if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value):
            methods[name] = value
    return methods


def _compare_functions(label: str, theirs: Any, mine: Any) -> list[str]:
    diffs: list[str] = []
    if parameters(theirs) != parameters(mine):
        diffs.append(
            f"{label}: signature {inspect.signature(mine)} "
            f"!= {inspect.signature(theirs)}"
        )
    if inspect.iscoroutinefunction(theirs) != inspect.iscoroutinefunction(mine):
        diffs.append(f"{label}: {kind(mine)} != {kind(theirs)}")
    return diffs


def _compare_class(name: str, theirs: type, mine: type) -> list[str]:
    diffs: list[str] = []
    if _base_names(theirs) != _base_names(mine):
        diffs.append(f"{name}: bases {_base_names(mine)} != {_base_names(theirs)}")
    public_theirs = {n for n in dir(theirs) if not n.startswith("_")}
    public_mine = {n for n in dir(mine) if not n.startswith("_")}
    for member in sorted(public_theirs - public_mine):
        diffs.append(f"{name}.{member}: missing")
    for member, func in sorted(_own_methods(theirs).items()):
        raw = inspect.getattr_static(mine, member, None)
        if isinstance(raw, (staticmethod, classmethod)):
            raw = raw.__func__
        if not inspect.isfunction(raw):
            if member in public_mine or member.startswith("__"):
                diffs.append(f"{name}.{member}: not a function in tornado_h1")
            continue
        diffs.extend(_compare_functions(f"{name}.{member}", func, raw))
    return diffs


def _compare_data(name: str, theirs: Any, mine: Any) -> list[str]:
    if isinstance(theirs, re.Pattern):
        same = isinstance(mine, re.Pattern) and (mine.pattern, mine.flags) == (
            theirs.pattern,
            theirs.flags,
        )
        return [] if same else [f"{name}: pattern {mine!r} != {theirs!r}"]
    if isinstance(theirs, logging.Logger):
        return [] if mine is theirs else [f"{name}: not the same logger object"]
    if type(mine) is not type(theirs) or mine != theirs:
        return [f"{name}: {mine!r} != {theirs!r}"]
    return []


def compare(upstream: types.ModuleType, ours: types.ModuleType) -> dict[str, Any]:
    """The comparison as a JSON-ready dict: ``differences`` (empty when the
    surface matches), ``checked`` (the names the release defines) and
    ``extra`` (public names only tornado_h1 has)."""
    defined = top_level_names(upstream)
    differences: list[str] = []
    for name in sorted(defined):
        if not hasattr(ours, name):
            differences.append(f"{name}: missing")
            continue
        if name.startswith("_"):
            continue
        theirs, mine = getattr(upstream, name), getattr(ours, name)
        if kind(theirs) != kind(mine):
            differences.append(f"{name}: {kind(mine)} != {kind(theirs)}")
        elif inspect.isclass(theirs):
            differences.extend(_compare_class(name, theirs, mine))
        elif inspect.isfunction(theirs):
            differences.extend(_compare_functions(name, theirs, mine))
        else:
            differences.extend(_compare_data(name, theirs, mine))
    ours_defined = top_level_names(ours)
    extra = sorted(n for n in ours_defined - defined if not n.startswith("_"))
    return {
        "checked": sorted(defined),
        "public": sorted(n for n in defined if not n.startswith("_")),
        "differences": differences,
        "extra": extra,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="compat/exports.py",
        description="Compare tornado_h1.http1connection with the installed "
        "Tornado's tornado.http1connection.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    try:
        import tornado
        import tornado.http1connection as upstream

        import tornado_h1.http1connection as ours
    except ImportError as exc:
        print(f"compat/exports.py: cannot import: {exc}", file=sys.stderr)
        return 2
    if upstream is ours or upstream.__name__ != UPSTREAM_NAME:
        print(
            "compat/exports.py: tornado.http1connection is not Tornado's own "
            "(is tornado_h1 installed in this process?)",
            file=sys.stderr,
        )
        return 2
    result = compare(upstream, ours)
    result["tornado_version"] = tornado.version
    result["ours_file"] = inspect.getfile(ours)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(
            f"Tornado {tornado.version}: {len(result['checked'])} names, "
            f"{len(result['differences'])} differences"
        )
        for diff in result["differences"]:
            print(f"  {diff}")
        if result["extra"]:
            print(f"  (tornado_h1 only: {', '.join(result['extra'])})")
    return 1 if result["differences"] else 0


if __name__ == "__main__":
    sys.exit(main())
