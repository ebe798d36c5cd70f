"""Opt-in server behaviour beyond upstream's: `ServerOptions`.

Tornado's own signatures (``HTTP1ConnectionParameters``, ``HTTPServer``)
stay exactly upstream's, so what tornado_h1 adds is set in one object of its
own and passed in: to :func:`tornado_h1.install` (``options=``), or to
:class:`tornado_h1.HTTPServer` (``h1_options=``). The defaults are
upstream's behaviour.
"""

from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """What a tornado_h1 server does beyond upstream's behaviour.

    :arg bool precise_errors: answer a refused request with the status that
        says why, with ``Content-Length: 0`` and ``Connection: close``, and
        log the reason: ``413 Content Too Large`` for a body over
        ``max_body_size`` (sent *instead of* ``100 Continue`` when the client
        asked for one, so that it does not send the body), ``408 Request
        Timeout`` for a head begun but not ended in time (see
        ``idle_timeout``), ``431 Request Header Fields Too Large`` for a head
        (or a trailer section) over ``max_header_size``, and ``400 Bad
        Request`` for anything else malformed. Upstream answers a bare
        ``400`` (after the ``100 Continue``), so that an uploading client
        behind a proxy cannot tell a body too large from a broken one, and
        closes a head over the limit without a word. After each refusal
        the connection lingers (reads and drops what the client still sends,
        for a few seconds) so that closing does not reset the answer before
        the client reads it. (A head that arrives
        behind a pipelined request is still read as upstream reads it: over
        the limit, it is closed without an answer.)
    :arg int max_requests: the most requests one connection serves; the
        response to the last says ``Connection: close`` (RFC 9112 §9.6) and
        the connection then closes, so that clients spread over restarted
        or added servers. ``None`` (upstream's behaviour): no limit.
    :arg float idle_timeout: how long a kept-alive connection may wait for
        its next request to begin, apart from ``header_timeout`` (which
        Tornado's ``idle_connection_timeout`` sets, and which upstream uses
        for both). Once the request's first bytes are there, its head has
        ``header_timeout``; the first request of a connection always has.
        Only applies where a ``header_timeout`` is set (HTTPServer always
        sets one). ``None``: the wait is ``header_timeout``, as upstream.
        With ``precise_errors``, a head that began but did not end in time
        is answered ``408 Request Timeout``; an idle connection is closed
        without a word, as upstream does.
    :arg bool chunk_extensions: accept chunk extensions in a chunked request
        body (``1a;name=value``, RFC 9112 §7.1.1, which says a recipient
        must ignore the ones it does not understand): each is checked
        against its grammar, the size line may then take up to 4 KiB, and
        the extensions are ignored. Upstream answers them with a 400
        (Tornado PR #3677).
    :arg bool trailers: accept a trailer section after the last chunk of
        a chunked request body (RFC 9112 §7.1.2), bounded by
        ``max_header_size``; its fields are never merged into the request's
        headers, and the application reads them with
        :func:`tornado_h1._bodies.request_trailers`. Upstream answers them
        with a 400 (see :doc:`/trailers`). (Responses can carry trailers
        whatever this says: :func:`tornado_h1._bodies.set_response_trailers`.)
    """

    precise_errors: bool = False
    max_requests: Optional[int] = None
    idle_timeout: Optional[float] = None
    chunk_extensions: bool = False
    trailers: bool = False


#: Upstream's behaviour.
DEFAULT = ServerOptions()
