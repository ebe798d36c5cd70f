"""Swapping tornado_h1 in for ``tornado.http1connection`` and back.

Python binds names at import time: ``tornado.httpserver`` did
``from tornado.http1connection import HTTP1ServerConnection`` when it was
first imported, so replacing ``sys.modules["tornado.http1connection"]`` alone
would not reach it. :func:`install` therefore does three things:

1. it points ``sys.modules["tornado.http1connection"]`` and the ``tornado``
   package's attribute at :mod:`tornado_h1.http1connection`, so that every
   *later* import gets our module;
2. it walks every module already imported and rebinds each name that holds
   one of upstream's classes, functions or patterns (or upstream's module
   itself) to our object of the same name, so that *earlier* imports
   (``tornado.httpserver``, ``tornado.simple_httpclient``, an application's
   own modules) switch too;
3. it relabels our public classes and functions with
   ``__module__ = "tornado.http1connection"``, which is what introspection
   (pickle, ``repr``, Tornado's API snapshot test) uses to find them.

Every change is recorded, and :func:`uninstall` undoes exactly those. It
also switches back modules that were first imported while tornado_h1 was
installed (they picked up our objects by name), except tornado_h1's own.
"""

from __future__ import annotations

import contextlib
import re
import sys
import types
from collections.abc import Iterator
from typing import Any, Optional

from tornado_h1._options import ServerOptions

UPSTREAM = "tornado.http1connection"
_OURS = "tornado_h1.http1connection"


class _Swap:
    """What :func:`install` changed, so that :func:`uninstall` can revert it."""

    def __init__(self) -> None:
        self.active = False
        self.upstream: types.ModuleType | None = None
        self.rebound: list[tuple[types.ModuleType, str, Any]] = []
        self.relabelled: list[tuple[Any, str]] = []
        # Names of the modules loaded when install() ran.
        self.preexisting: set[str] = set()
        # Our object -> upstream's, for switching back later imports.
        self.reverse: dict[int, Any] = {}
        # The write-behind policy and options our server connections had.
        self.policy: Any = None
        self.options: Any = None


_swap = _Swap()


def _swappable(value: Any) -> bool:
    # Only objects with identity worth matching: never ints or strings, which
    # the interpreter shares between unrelated modules.
    return isinstance(value, (type, types.FunctionType, re.Pattern, types.ModuleType))


def _ours() -> types.ModuleType:
    from tornado_h1 import http1connection

    return http1connection


def _upstream() -> types.ModuleType:
    module = sys.modules.get(UPSTREAM)
    if module is None or module.__name__ != UPSTREAM:
        import importlib

        module = importlib.import_module(UPSTREAM)
    return module


def is_installed() -> bool:
    """True while tornado_h1 stands in for ``tornado.http1connection``."""
    return _swap.active


def install(
    *, write_behind: str = "adaptive", options: Optional[ServerOptions] = None
) -> None:
    """Put tornado_h1 in place of ``tornado.http1connection``.

    :arg str write_behind: when server connections hold small responses
        for one flush per loop iteration (see :mod:`tornado_h1._writebehind`):
        ``"adaptive"`` (the default: while the loop is busy), ``"always"``
        or ``"off"``. Servers made while installed use it.
    :arg options: `tornado_h1.ServerOptions` for servers made while
        installed (``None``: upstream's behaviour). A second call does nothing.
    """
    if _swap.active:
        return
    import tornado

    ours = _ours()
    upstream = _upstream()
    _configure(ours, write_behind, options or ServerOptions())
    # (upstream's object, ours) for the module and each name it defines.
    pairs = [(upstream, ours)] + [
        (value, getattr(ours, name))
        for name, value in vars(upstream).items()
        if _swappable(value)
        and getattr(value, "__module__", None) == UPSTREAM
        and hasattr(ours, name)
    ]
    replacement = {id(old): new for old, new in pairs}
    _swap.reverse = {id(new): old for old, new in pairs}
    _swap.upstream = upstream
    _swap.preexisting = set(sys.modules)
    sys.modules[UPSTREAM] = ours
    tornado.http1connection = ours

    for module in list(sys.modules.values()):
        if module is None or module is ours or module is upstream:
            continue
        if getattr(module, "__name__", "").startswith("tornado_h1"):
            continue
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for name, value in list(namespace.items()):
            if _swappable(value) and id(value) in replacement:
                new = replacement[id(value)]
                namespace[name] = new
                _swap.rebound.append((module, name, value))

    for name in dir(ours):
        value = getattr(ours, name)
        home = getattr(value, "__module__", None) or ""
        # Ours, under upstream's name: defined in the module, or (like
        # _GzipMessageDelegate) in a helper module and exposed by it.
        if isinstance(value, (type, types.FunctionType)) and (
            home == _OURS or (home.startswith("tornado_h1.") and name in vars(upstream))
        ):
            value.__module__ = UPSTREAM
            _swap.relabelled.append((value, home))
    _swap.active = True


def _configure(
    ours: types.ModuleType, write_behind: str, options: ServerOptions
) -> None:
    """Give our server connections the write-behind policy and the options
    asked for (the class keeps upstream's exact shape: both are private
    class attributes, set here and restored by uninstall)."""
    from tornado_h1._writebehind import Policy

    cls = ours.HTTP1ServerConnection
    _swap.policy, _swap.options = cls._write_behind, cls._options
    cls._write_behind = Policy(write_behind)
    cls._options = options


def uninstall() -> None:
    """Restore upstream's ``tornado.http1connection`` everywhere
    :func:`install` replaced it. Safe to call when not installed."""
    if not _swap.active:
        return
    import tornado

    upstream = _swap.upstream
    assert upstream is not None
    sys.modules[UPSTREAM] = upstream
    tornado.http1connection = upstream
    for module, name, value in reversed(_swap.rebound):
        module.__dict__[name] = value
    # Modules imported while we were installed took our objects by name.
    for modname, module in list(sys.modules.items()):
        if modname in _swap.preexisting or modname.startswith("tornado_h1"):
            continue
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for name, value in list(namespace.items()):
            old = _swap.reverse.get(id(value)) if _swappable(value) else None
            if old is not None:
                namespace[name] = old
    for value, home in _swap.relabelled:
        value.__module__ = home
    server_connection = _ours().HTTP1ServerConnection
    server_connection._write_behind = _swap.policy
    server_connection._options = _swap.options
    _swap.rebound.clear()
    _swap.relabelled.clear()
    _swap.active = False


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """``with tornado_h1.installed():`` swaps tornado_h1 in for the block.

    Nested use is fine: only the outermost block uninstalls.
    """
    was_active = _swap.active
    install()
    try:
        yield
    finally:
        if not was_active:
            uninstall()
