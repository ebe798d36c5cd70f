"""``python -m tornado_h1.compat``: the installed Tornado's own test suite
with tornado_h1 in place (the same as ``tornado-h1 compat``; ``--help``
lists the options). The runner is :mod:`tornado_h1._tools.compat`.
"""

from __future__ import annotations

import sys

from tornado_h1._tools.compat.runner import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
