"""The drop-in surface: compare ``tornado_h1.http1connection`` with a
``tornado.http1connection``.

:func:`compare` lists what code written against upstream's module could
notice through introspection or a call:

* every name upstream's source binds at top level (``def``, ``class`` and
  assignments, also inside top-level ``if``/``try``; not imports), private
  ones included, must exist in tornado_h1's module;
* the kind of object must match (class, function, coroutine function,
  data); functions must have the same parameters (names, kinds and defaults;
  annotations are ignored); classes the same bases, the same public members
  (of the same type: a property is not a method), and every public or dunder
  method upstream's class defines itself must exist in ours with the same
  parameters and async-ness; public instance attributes (annotated in the
  class body, or assigned through ``self`` in a method) must be set by ours
  too; patterns must match in text and flags, other data in type and value;
  loggers must be the very same objects.

Whatever tornado_h1 has beyond upstream (public names, members, instance
attributes and loggers) is reported apart, as ``extra``. With ``strict``
(the Tornado the tests run with: tornado_h1 follows the newest release),
private names are compared like public ones, and the caller counts the
extras as differences too. Without it (an older release, as
``compat/matrix.py`` checks each one), private names must exist with the
same kind, and private functions and the methods of private classes (their
constructors above all) with the same signatures.

Needs only the standard library; runs on every Python tornado_h1 supports
(``compat/exports.py`` runs it with each release's interpreter).
"""

from __future__ import annotations

import argparse
import ast
import functools
import inspect
import json
import logging
import re
import sys
import types
from typing import Any, NamedTuple, Optional

UPSTREAM_NAME = "tornado.http1connection"
OURS_NAME = "tornado_h1.http1connection"


class Comparison(NamedTuple):
    """What :func:`compare` found."""

    #: The names upstream's source binds at top level.
    checked: list[str]
    #: What code written against upstream could notice, as text.
    differences: list[str]
    #: What only tornado_h1 has, as text.
    extra: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "public": [n for n in self.checked if _is_public(n)],
            "differences": self.differences,
            "extra": self.extra,
        }


# ---------------------------------------------------------------- sources


@functools.cache
def _source_tree(path: str) -> ast.Module:
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read())


def defined_names(module: types.ModuleType) -> set[str]:
    """Names a module's own source binds at top level: assignments (also
    inside top-level ``if``/``try``), ``def``, ``async def`` and ``class``.
    Imports are not definitions. (The same rule as Tornado's api_test, which
    takes assigned names plus objects whose ``__module__`` is the module;
    reading ``def``/``class`` from the source instead keeps working while
    tornado_h1 relabels its objects' ``__module__``.)"""
    names: set[str] = set()
    pending: list[ast.stmt] = list(_source_tree(inspect.getfile(module)).body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(
                    leaf.id for leaf in ast.walk(target) if isinstance(leaf, ast.Name)
                )
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            if isinstance(node.target, ast.Name):
                names.add(node.target.id)
        elif isinstance(node, ast.If):
            pending.extend(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                pending.extend(handler.body)
    return names


def _class_def(cls: type) -> ast.ClassDef:
    """The ``class`` statement of ``cls`` in its module's source file."""
    body: list[ast.stmt] = _source_tree(inspect.getfile(cls)).body
    found: Optional[ast.ClassDef] = None
    for part in cls.__qualname__.split("."):
        found = next(n for n in body if isinstance(n, ast.ClassDef) and n.name == part)
        body = found.body
    assert found is not None
    return found


@functools.cache
def instance_attributes(cls: type) -> frozenset[str]:
    """Attributes declared in the class body with an annotation, or assigned
    through the first parameter (``self``) of any of its methods."""
    found: set[str] = set()
    for node in _class_def(cls).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found.add(node.target.id)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        params = node.args.posonlyargs + node.args.args
        if not params:
            continue
        self_name = params[0].arg
        for sub in ast.walk(node):
            targets: list[ast.expr] = []
            if isinstance(sub, ast.Assign):
                targets = list(sub.targets)
            elif isinstance(sub, (ast.AnnAssign, ast.AugAssign)):
                targets = [sub.target]
            for target in targets:
                for leaf in ast.walk(target):
                    if (
                        isinstance(leaf, ast.Attribute)
                        and isinstance(leaf.value, ast.Name)
                        and leaf.value.id == self_name
                    ):
                        found.add(leaf.attr)
    return frozenset(found)


# ------------------------------------------------------------- comparing


def kind_of(value: Any) -> str:
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


def _is_public(name: str) -> bool:
    return not name.startswith("_")


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _unwrapped(value: Any) -> Any:
    if isinstance(value, (staticmethod, classmethod)):
        return value.__func__
    return value


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
        if not (_is_public(name) or _is_dunder(name)):
            continue
        value = _unwrapped(value)
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
        diffs.append(f"{label}: {kind_of(mine)} != {kind_of(theirs)}")
    return diffs


def _compare_class(name: str, theirs: type, mine: type, extra: list[str]) -> list[str]:
    diffs: list[str] = []
    if _base_names(theirs) != _base_names(mine):
        diffs.append(f"{name}: bases {_base_names(mine)} != {_base_names(theirs)}")
    public_theirs = {n for n in dir(theirs) if _is_public(n)}
    public_mine = {n for n in dir(mine) if _is_public(n)}
    diffs += [f"{name}.{m}: missing" for m in sorted(public_theirs - public_mine)]
    extra += [
        f"{name}.{m}: not in upstream" for m in sorted(public_mine - public_theirs)
    ]
    for member in sorted(public_theirs & public_mine):
        static_theirs = inspect.getattr_static(theirs, member)
        static_mine = inspect.getattr_static(mine, member)
        if type(static_theirs) is not type(static_mine):
            diffs.append(
                f"{name}.{member}: {type(static_mine).__name__} "
                f"!= {type(static_theirs).__name__}"
            )
    for member, func in sorted(_own_methods(theirs).items()):
        raw = _unwrapped(inspect.getattr_static(mine, member, None))
        if not inspect.isfunction(raw):
            diffs.append(f"{name}.{member}: not a function in tornado_h1")
            continue
        diffs += _compare_functions(f"{name}.{member}", func, raw)
    attrs_theirs = {a for a in instance_attributes(theirs) if _is_public(a)}
    attrs_mine = {a for a in instance_attributes(mine) if _is_public(a)}
    for attr in sorted(attrs_theirs - attrs_mine):
        diffs.append(f"{name}.{attr}: instance attribute missing")
    for attr in sorted(attrs_mine - attrs_theirs):
        extra.append(f"{name}.{attr}: instance attribute not in upstream")
    return diffs


def _compare_private(name: str, theirs: Any, mine: Any) -> list[str]:
    """For a private name of an older release: the kind, and the signatures
    of a function or of the methods a class defines itself (its
    constructor above all); not its data or its other members."""
    if kind_of(theirs) != kind_of(mine):
        return [f"{name}: {kind_of(mine)} != {kind_of(theirs)}"]
    if inspect.isfunction(theirs):
        return _compare_functions(name, theirs, mine)
    diffs: list[str] = []
    if inspect.isclass(theirs):
        for member, func in sorted(_own_methods(theirs).items()):
            raw = _unwrapped(inspect.getattr_static(mine, member, None))
            if not inspect.isfunction(raw):
                diffs.append(f"{name}.{member}: not a function in tornado_h1")
            else:
                diffs += _compare_functions(f"{name}.{member}", func, raw)
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


def compare(
    upstream: types.ModuleType, ours: types.ModuleType, *, strict: bool = True
) -> Comparison:
    """Compare ``ours`` with ``upstream`` (see the module's docstring)."""
    defined = defined_names(upstream)
    differences: list[str] = []
    extra: list[str] = []
    for name in sorted(defined):
        if not hasattr(ours, name):
            differences.append(f"{name}: missing")
            continue
        theirs, mine = getattr(upstream, name), getattr(ours, name)
        if not (strict or _is_public(name)):
            differences += _compare_private(name, theirs, mine)
            continue
        if kind_of(theirs) != kind_of(mine):
            differences.append(f"{name}: {kind_of(mine)} != {kind_of(theirs)}")
        elif inspect.isclass(theirs):
            differences += _compare_class(name, theirs, mine, extra)
        elif inspect.isfunction(theirs):
            differences += _compare_functions(name, theirs, mine)
        else:
            differences += _compare_data(name, theirs, mine)
    ours_defined = defined_names(ours)
    extra += [
        f"{n}: not in upstream" for n in sorted(ours_defined - defined) if _is_public(n)
    ]
    # The loggers upstream imports: the same objects under the same names,
    # and no others.
    for name, value in vars(upstream).items():
        if isinstance(value, logging.Logger) and name not in defined:
            differences += _compare_data(name, value, getattr(ours, name, None))
    their_loggers = {
        id(v) for v in vars(upstream).values() if isinstance(v, logging.Logger)
    }
    for name in sorted(ours_defined | set(vars(ours))):
        value = getattr(ours, name, None)
        if isinstance(value, logging.Logger) and id(value) not in their_loggers:
            extra.append(f"{name}: a logger upstream does not use")
    return Comparison(sorted(defined), differences, extra)


def compare_release(
    upstream: types.ModuleType, ours: types.ModuleType
) -> dict[str, Any]:
    """:func:`compare` without ``strict``, as the JSON-ready dict
    ``compat/exports.py`` prints (``checked``, ``public``, ``differences``,
    ``extra``): the check of one release."""
    return compare(upstream, ours, strict=False).as_dict()


# ---------------------------------------------------------- command line


def main(argv: Optional[list[str]] = None) -> int:
    """``compat/exports.py``: compare with the installed Tornado's module.
    Exit status 0 when there is no difference, 1 when there is one, 2 when
    the modules cannot be imported."""
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
    result = compare_release(upstream, ours)
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
            print(f"  (tornado_h1 only: {'; '.join(result['extra'])})")
    return 1 if result["differences"] else 0
