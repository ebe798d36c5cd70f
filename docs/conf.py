"""Sphinx configuration for tornado_h1's documentation.

Build with ``make docs`` (``sphinx-build -W -b html docs docs/_build/html``).
No extension here reaches the network.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The state diagrams are drawn from the code's transition tables at build time.
from tornado_h1._tools import statedoc  # noqa: E402

statedoc.write(str(ROOT / "docs" / "_states.inc"))

_init = (ROOT / "tornado_h1" / "__init__.py").read_text()
_match = re.search(r'^__version__ = "([^"]+)"', _init, re.MULTILINE)

project = "tornado_h1"
author = "the tornado_h1 authors"
copyright = "the tornado_h1 authors"
release = _match.group(1) if _match else "unknown"
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]

# Single backticks refer to Python objects, as in the module docstrings.
default_role = "py:obj"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"show-inheritance": True}

exclude_patterns = ["_build"]
html_theme = "alabaster"
