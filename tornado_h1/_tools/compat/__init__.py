"""``python -m tornado_h1.compat`` (also ``tornado-h1 compat``): the installed
Tornado's own test suite with tornado_h1 in place.

:mod:`.runner` is the command line (the parent process), :mod:`.child` what
runs inside the fresh interpreter that runs the suite, :mod:`.verdict` the
known differences, the verdict and the summary.
"""

from __future__ import annotations
