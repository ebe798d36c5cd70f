"""``python -m tornado_h1._tools.fuzz``: the same as ``tornado-h1 fuzz``."""

from __future__ import annotations

import sys

from tornado_h1._tools.fuzz.main import main

if __name__ == "__main__":
    sys.exit(main())
