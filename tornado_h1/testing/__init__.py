"""What tornado_h1's tests, its tools and your own tests share.

:mod:`tornado_h1.testing.pytest_plugin`
    ``pytest --tornado-h1``: run an application's tests on tornado_h1.
:mod:`tornado_h1.testing.upstream`
    The oracle: Tornado's own ``tornado.http1connection``, even while
    tornado_h1 is installed in its place.
:mod:`tornado_h1.testing.servers`
    Servers and clients built from upstream's classes or from tornado_h1's,
    and a recording application.
:mod:`tornado_h1.testing.targets`
    The harness of the security tests and of ``tornado-h1 fuzz``: throw
    bytes at a server, or feed scripted bytes to a client, and record what
    each did.
:mod:`tornado_h1.testing.logs`
    Recording the records of Tornado's loggers.
:mod:`tornado_h1.testing.exports`
    Comparing the names and signatures of two ``http1connection`` modules.
:mod:`tornado_h1.testing.differences`
    The deliberate differences from upstream, one record each, with the code
    that makes them and the tests that pin them (the docs' table is drawn
    from these).

Importing this package imports nothing else: the pytest plugin lives here,
and pytest loads it in every run, with or without ``--tornado-h1``.
"""

from __future__ import annotations
