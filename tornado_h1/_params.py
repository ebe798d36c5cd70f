"""Upstream's small parsing helpers, in tornado_h1's words.
``tornado.http1connection`` exposes them; so does
:mod:`tornado_h1.http1connection`, which imports them from here.
"""

from __future__ import annotations

from tornado import httputil

from tornado_h1 import _wire


def parse_int(s: str) -> int:
    """Read a non-negative decimal integer: ASCII digits only, no sign, no
    whitespace, no underscores. Raises `ValueError` otherwise."""
    return _wire.parse_decimal(s)


def parse_hex_int(s: str) -> int:
    """Read a non-negative hexadecimal integer: ASCII hex digits only.
    Raises `ValueError` otherwise."""
    return _wire.parse_hex(s)


def is_transfer_encoding_chunked(headers: httputil.HTTPHeaders) -> bool:
    """Whether ``headers`` announce a chunked body.

    Raises `~tornado.httputil.HTTPInputError` for any Transfer-Encoding
    other than exactly ``chunked``, and for Transfer-Encoding together with
    Content-Length (RFC 9112 §6.1 and §6.3).
    """
    return _wire.is_chunked(headers)


# Their public home is tornado_h1.http1connection (what repr, pickle and
# Tornado's API snapshot show), not this helper module.
for _public in (parse_int, parse_hex_int):
    _public.__module__ = "tornado_h1.http1connection"
is_transfer_encoding_chunked.__module__ = "tornado_h1.http1connection"
