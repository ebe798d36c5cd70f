"""Compare ``tornado_h1.http1connection`` with the installed Tornado's
``tornado.http1connection``: the drop-in surface, for one release.

Run it with the interpreter whose Tornado is to be compared::

    .matrix/tornado-6.2/bin/python compat/exports.py [--json]

The comparison is :func:`tornado_h1.testing.exports.compare` (the one
``tests/test_exports.py`` uses too), without ``strict``; ``compare(upstream,
ours)`` here gives it as the dict ``--json`` prints: every name the
release's module binds at top level must exist in tornado_h1's, and the
public ones must match in kind, signature, async-ness, bases, members,
instance attributes and value. Names tornado_h1 has beyond the release (it
follows the newest one) are reported as ``extra``, which is not a
difference.

Exit status: 0 when there is no difference, 1 when there is one, 2 when the
modules cannot be imported. Needs only the standard library, Tornado and
tornado_h1, and runs on every Python that tornado_h1 supports.
"""

from __future__ import annotations

import sys

try:
    from tornado_h1.testing.exports import compare_release as compare
    from tornado_h1.testing.exports import main
except ImportError as exc:
    print(f"compat/exports.py: cannot import: {exc}", file=sys.stderr)
    sys.exit(2)

__all__ = ["compare", "main"]

if __name__ == "__main__":
    sys.exit(main())
