"""Differential fuzzing: Tornado's own ``http1connection`` against tornado_h1.

``tornado-h1 fuzz --minutes N`` (or ``python -m tornado_h1 fuzz``) generates
HTTP/1.x messages with Hypothesis: valid requests and responses, then
grammar-aware mutations of them (bytes that matter inserted, deleted or
replaced at the places where they matter, header fields inserted, repeated,
deleted or rewritten, chunk sizes and terminators altered, messages
concatenated, embedded in each other's bodies and split across writes).

Each request goes over a real socket to two servers in this process, a
Tornado ``HTTPServer`` built from upstream's own classes and a
``tornado_h1.HTTPServer``, both serving the same recording
``tornado.web.Application``. Each response goes from a scripted raw-socket
server to two clients, upstream's ``SimpleAsyncHTTPClient`` and
``tornado_h1.SimpleAsyncHTTPClient``. For every input both runs record what
reached the application (method, target and body of each request served),
the bytes sent back, whether the connection was closed, the reasons logged
for refusing it, and every ERROR log record.

Each input is classified:

``identical``
    the same requests served, the same bytes back, the same close;
``stricter``
    tornado_h1 refused something upstream accepted;
``lenient``
    tornado_h1 accepted something upstream refused;
``different``
    both accepted (or both refused) but not in the same way.

The run *fails* if tornado_h1 serves a request upstream does not serve, hands
a client a response upstream refuses (or a different one), logs at ERROR,
hangs, leaks a connection, or raises. Every divergence is written to a JSON
report with its input (and a short text summary next to it); ``--replay``
runs one input again and prints both outcomes.

The harness (the two servers, the two clients, the scripted server and
the outcomes) is :mod:`tornado_h1.testing.targets`, which the security
tests use too. Here: the inputs (:mod:`.messages`), their Hypothesis
strategies (:mod:`.strategies`, the only module that imports Hypothesis),
the run and its report (:mod:`.run`) and the command line (:mod:`.main`).
Hypothesis is a test extra, not a runtime dependency: ``tornado-h1 fuzz``
says how to install it when it is missing.
"""

from __future__ import annotations

#: What ``tornado-h1 fuzz`` prints when Hypothesis is not installed.
NEEDS_HYPOTHESIS = "tornado-h1 fuzz needs Hypothesis: pip install 'tornado-h1[test]'"
