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
        asked for one, so that it does not send the body), and ``400 Bad
        Request`` for anything else malformed. Upstream answers a bare
        ``400`` (after the ``100 Continue``), so that an uploading client
        behind a proxy cannot tell a body too large from a broken one.
        (A head over ``max_header_size`` is still closed without an answer:
        IOStream closes the connection itself when a read cannot be
        satisfied.)
    :arg int max_requests: the most requests one connection serves; the
        response to the last says ``Connection: close`` (RFC 9112 §9.6) and
        the connection then closes, so that clients spread over restarted
        or added servers. ``None`` (upstream's behaviour): no limit.
    """

    precise_errors: bool = False
    max_requests: Optional[int] = None


#: Upstream's behaviour.
DEFAULT = ServerOptions()
