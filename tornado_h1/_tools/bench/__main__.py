"""``python -m tornado_h1._tools.bench``: ``tornado-h1 bench``, and how the
benchmark starts its child processes (``... _role '<json config>'``)."""

from __future__ import annotations

import sys

from tornado_h1._tools.bench.main import main

if __name__ == "__main__":
    sys.exit(main())
