"""tornado_h1: a from-scratch HTTP/1.x layer for Tornado.

:mod:`tornado_h1.http1connection` is a drop-in replacement for
``tornado.http1connection``. Put it in place for the whole process with
:func:`install` (undo with :func:`uninstall`, or scope it with
``with installed():``), or use the substitute classes :class:`HTTPServer`
and :class:`SimpleAsyncHTTPClient` without patching anything.
:class:`KeepAliveAsyncHTTPClient` is that client reusing connections.
:func:`request_trailers` and :func:`set_response_trailers` read and send
trailer fields (see :class:`ServerOptions`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tornado_h1._install import install, installed, is_installed, uninstall
from tornado_h1._options import ServerOptions

if TYPE_CHECKING:
    from tornado_h1._bodies import request_trailers, set_response_trailers
    from tornado_h1._keepalive import KeepAliveAsyncHTTPClient
    from tornado_h1._subclasses import HTTPServer, SimpleAsyncHTTPClient
    from tornado_h1.http1connection import (
        HTTP1Connection,
        HTTP1ConnectionParameters,
        HTTP1ServerConnection,
    )

__version__ = "0.1.0"

__all__ = [
    "HTTP1Connection",
    "HTTP1ConnectionParameters",
    "HTTP1ServerConnection",
    "HTTPServer",
    "KeepAliveAsyncHTTPClient",
    "ServerOptions",
    "SimpleAsyncHTTPClient",
    "__version__",
    "install",
    "installed",
    "is_installed",
    "request_trailers",
    "set_response_trailers",
    "uninstall",
]


def __getattr__(name: str) -> object:
    # Everything heavier than install() is loaded on first use, so that
    # ``import tornado_h1`` (say, by the pytest plugin without its flag)
    # imports no Tornado module at all.
    if name in (
        "HTTP1Connection",
        "HTTP1ConnectionParameters",
        "HTTP1ServerConnection",
    ):
        from tornado_h1 import http1connection

        return getattr(http1connection, name)
    if name in ("HTTPServer", "SimpleAsyncHTTPClient"):
        from tornado_h1 import _subclasses

        return getattr(_subclasses, name)
    if name in ("request_trailers", "set_response_trailers"):
        from tornado_h1 import _bodies

        return getattr(_bodies, name)
    if name == "KeepAliveAsyncHTTPClient":
        from tornado_h1 import _keepalive

        return _keepalive.KeepAliveAsyncHTTPClient
    raise AttributeError(f"module 'tornado_h1' has no attribute {name!r}")
