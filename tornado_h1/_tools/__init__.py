"""tornado_h1's tools: the ``tornado-h1`` command (:mod:`.cli`), the demo
app (:mod:`.demo`), the benchmark (:mod:`.bench`), the differential fuzzer
(:mod:`.fuzz`) and the runner of Tornado's own suite (:mod:`.compat`).

Private: use them through ``tornado-h1 COMMAND`` (or ``python -m
tornado_h1 COMMAND``); what tests share with them is in
:mod:`tornado_h1.testing`.
"""

from __future__ import annotations
