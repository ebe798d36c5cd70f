"""The oracle: Tornado's own ``tornado.http1connection``.

The one place that finds upstream's module for comparisons, whether or not
tornado_h1 is installed in its place (``pytest --tornado-h1`` installs it
before any test module is imported).
"""

from __future__ import annotations

import types

from tornado_h1 import _install


def upstream_module() -> types.ModuleType:
    """Tornado's own ``tornado.http1connection``, whether or not tornado_h1
    is installed in its place.

    Call it when you need the module rather than keeping it in a
    module-level name: :func:`tornado_h1.install` rebinds every module-level
    name that holds upstream's module to tornado_h1's.
    """
    if _install.is_installed():
        module = _install._swap.upstream
        assert module is not None
        return module
    return _install._upstream()
