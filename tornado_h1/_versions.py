"""Where Tornado releases differ observably, and what tornado_h1 does on each.

tornado_h1 behaves like the Tornado release it is installed with. Every
switch lives in this one table; nothing else in the package checks a
version. Each entry names the upstream test that pins the behaviour.

Safety is not version-matched: message framing is as strict as Tornado
6.6.1's on every release (the fixes of 6.3.3, 6.4.1, 6.5.x and 6.6 apply
everywhere). Where an old release's own suite asserts something now unsafe,
the test is listed in ``compat/known_differences`` instead.
"""

from __future__ import annotations

from typing import NamedTuple

import tornado


class Behaviour(NamedTuple):
    """The observable choices that depend on the Tornado release."""

    #: Gather small chunks of a chunked body into pieces of up to
    #: ``chunk_size`` before ``data_received`` (6.6+); earlier releases hand
    #: each piece through as read.
    #: Pinned by ``httpserver_test.StreamingChunkSizeTest.test_chunked_body``
    #: and ``web_test.*StreamingRequestFlowControlTest
    #: .test_flow_control_chunked_body`` (6.5 and earlier: one call a chunk).
    coalesce_chunks: bool
    #: Unfold obs-fold continuation lines in *responses* (RFC 9112 §5.2 tells
    #: a user agent to replace each fold with SP) instead of refusing them.
    #: Releases before 6.6 unfold; 6.6 refuses. Requests are refused on every
    #: release (a server may reject folds, and that is the safer reading).
    #: Pinned by ``httpclient_test.HTTPClientCommonTestCase
    #: .test_multi_line_headers`` (6.5 and earlier).
    unfold_responses: bool
    #: The log message for Transfer-Encoding together with Content-Length.
    #: Pinned by ``simple_httpclient_test.ChunkedWithContentLengthTest``.
    te_with_cl_message: str
    #: Treat an ``HTTPInputError`` raised while a delegate runs as an
    #: application error: logged to ``app_log`` as ``Uncaught exception``, the
    #: connection closed without a 400 (releases before 6.5.2, whose delegate
    #: guard converted every exception). From 6.5.2 on it is malformed input:
    #: ``gen_log`` INFO ``Malformed HTTP message``, and a 400 on a server. In
    #: tornado_h1 the gzip decoder is the delegate that raises it (bad gzip,
    #: no progress, inflated past ``max_body_size``); either way the
    #: connection is closed. Pinned by ``httpclient_test.HTTPClientCommonTestCase
    #: .test_invalid_gzip`` (``ExpectLog(app_log, "Uncaught exception|...")``
    #: before 6.5.2, ``ExpectLog(gen_log, "Malformed HTTP message...")`` after)
    #: and the same test in ``simple_httpclient_test``.
    input_error_in_delegate_uncaught: bool
    #: ``_GzipMessageDelegate(delegate, chunk_size, max_body_size)`` (6.5.6
    #: and later) rather than ``(delegate, chunk_size)``. A private class,
    #: but its signature is part of the module's namespace; the inflated
    #: size is bounded on every release (the driver sets the limit).
    gzip_takes_max_body_size: bool


_MESSAGE_WITH_BOTH = "Message with both Transfer-Encoding and Content-Length"
_RESPONSE_WITH_BOTH = "Response with both Transfer-Encoding and Content-Length"

# (first release it applies to, behaviour), newest first.
_TABLE: list[tuple[tuple[int, ...], Behaviour]] = [
    (
        (6, 6),
        Behaviour(
            coalesce_chunks=True,
            unfold_responses=False,
            te_with_cl_message=_MESSAGE_WITH_BOTH,
            input_error_in_delegate_uncaught=False,
            gzip_takes_max_body_size=True,
        ),
    ),
    (
        (6, 5, 6),
        Behaviour(
            coalesce_chunks=False,
            unfold_responses=True,
            te_with_cl_message=_MESSAGE_WITH_BOTH,
            input_error_in_delegate_uncaught=False,
            gzip_takes_max_body_size=True,
        ),
    ),
    (
        (6, 5, 2),
        Behaviour(
            coalesce_chunks=False,
            unfold_responses=True,
            te_with_cl_message=_MESSAGE_WITH_BOTH,
            input_error_in_delegate_uncaught=False,
            gzip_takes_max_body_size=False,
        ),
    ),
    (
        (6, 4),
        Behaviour(
            coalesce_chunks=False,
            unfold_responses=True,
            te_with_cl_message=_MESSAGE_WITH_BOTH,
            input_error_in_delegate_uncaught=True,
            gzip_takes_max_body_size=False,
        ),
    ),
    (
        (6, 2),
        Behaviour(
            coalesce_chunks=False,
            unfold_responses=True,
            te_with_cl_message=_RESPONSE_WITH_BOTH,
            input_error_in_delegate_uncaught=True,
            gzip_takes_max_body_size=False,
        ),
    ),
]


def behaviour_for(version_info: tuple[int, ...]) -> Behaviour:
    """The behaviour for a Tornado ``version_info`` (releases older than the
    oldest entry get the oldest behaviour)."""
    for first, behaviour in _TABLE:
        if tuple(version_info[: len(first)]) >= first:
            return behaviour
    return _TABLE[-1][1]


#: The behaviour of the installed Tornado, read once at import.
CURRENT = behaviour_for(tuple(tornado.version_info))
