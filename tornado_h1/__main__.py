"""``python -m tornado_h1`` runs the ``tornado-h1`` command line."""

from __future__ import annotations

import sys

from tornado_h1._tools.cli import main

if __name__ == "__main__":
    sys.exit(main())
