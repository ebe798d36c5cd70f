"""Benchmarks: tornado_h1 against Tornado's own ``tornado.http1connection``.

``tornado-h1 bench`` (also ``python -m tornado_h1 bench``) starts, for each
scenario, one server process with Tornado's own HTTP/1 layer ("upstream") and
one with :func:`tornado_h1.install` in effect, each a single process with one
IOLoop on 127.0.0.1. It then loads them in turn, round after round (A B, B A,
A B, ...: the order flips every round so that a steady drift of the machine
weighs on both sides alike), after a warm-up of each. Every number reported
is a median over the rounds, and the ratio tornado_h1/upstream is taken per
round (the two measurements of a round are adjacent in time) so that its
spread, the min and max over the rounds, shows how much the machine's noise
moved it.

Load comes from ``wrk`` when it is installed (``apt-get install wrk``), or
else from a built-in generator: asyncio over raw sockets, keep-alive, in a
process of its own. Chunked uploads, the HTTP client and the idle
connections are always driven by code in this package.

Scenarios (``--scenarios raw,web,...``; ``--list`` describes them):

``raw``        HTTPServer with a bare HTTPMessageDelegate answering ``hello``
``web``        a ``tornado.web.Application`` hello handler
``pipelined``  16 GETs per write to the raw server
``upload``     POST with a 64 KiB body (req/s); a chunked upload streamed
               through a ``stream_request_body`` handler (MB/s)
``headers``    requests with 10, 100 and 1,000 header fields: per-field cost
``client``     ``SimpleAsyncHTTPClient`` fetches: client CPU per request
``client-keepalive``  sequential fetches per second (and client CPU per
               fetch) of upstream's ``SimpleAsyncHTTPClient`` against
               ``tornado_h1.KeepAliveAsyncHTTPClient``, from a canned
               ``asyncio`` responder in its own process, and the
               connections each opened for 1,000 fetches
``idle``       10,000 idle keep-alive connections: server RSS per connection
``ceiling``    the raw workload against a bare IOStream loop
               (``read_until(b"\\r\\n\\r\\n")`` + a canned reply), as a reference

Output: a table on the terminal, a JSON file (``--json``), a PNG chart of the
ratios beside it whenever matplotlib is installed (``pip install
'tornado-h1[plot]'``; ``--plot`` for another path), and optionally a Markdown
or reStructuredText table (``--markdown``, ``--rst``). ``--from-json``
renders those again from a saved JSON file without measuring anything.
``--profile DIR`` runs the servers under cProfile and summarizes where their
time went (the numbers of such a run are not comparable with others).

Speed is measured here, never asserted: ``--quick`` is a smoke test that keeps
the benchmark working, not a performance gate.

Every child process runs in a session of its own and is stopped, with its
whole process group, when the benchmark ends, fails or is interrupted
(Ctrl-C, SIGTERM); the Python children also exit by themselves when their
stdin, a pipe from this process, reaches end of file.

The modules: :mod:`.scenarios` (what is measured, the settings and the
command line's options), :mod:`.procs` (child processes), :mod:`.stats`,
:mod:`.runner` (the rounds, ``wrk``, the result document), :mod:`.report`
(rendering), :mod:`.roles` (what the child processes run) and :mod:`.main`.
"""

from __future__ import annotations
