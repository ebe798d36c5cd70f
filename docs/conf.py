"""Sphinx configuration for tornado_h1's documentation.

Build with ``make docs`` (``sphinx-build -n -W``: every reference must
resolve). Nothing here reaches the network: references to Tornado and to
Python are resolved by importing them (``_ext/offline_xrefs.py``).

Some pages are written at build time, from the code itself, so that they
cannot drift from it:

* ``reference/*.rst``: one page per module of the package, each with its
  source (``sphinx.ext.viewcode``);
* ``_states.inc``: the state diagrams, from ``tornado_h1/_state.py``'s tables;
* ``_generated/*.inc``: the traces of real requests and the exercises, by
  running them against a real server (``tornado_h1._tools.watch``); the
  map of upstream's functions; the deliberate differences (from
  ``tornado_h1/testing/differences.py``); the release switches; the bench
  table and chart (from ``_bench_results.json``).
"""

from __future__ import annotations

import importlib.util
import json
import pkgutil
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

import differences  # noqa: E402
import tornado  # noqa: E402
import upstream_map  # noqa: E402

import tornado_h1  # noqa: E402
from tornado_h1._tools import lessons, statedoc  # noqa: E402

GENERATED = str(DOCS / "_generated")
statedoc.write(str(DOCS / "_states.inc"))
statedoc.write_svgs(GENERATED)
upstream_map.write(GENERATED)
differences.write(GENERATED)
# Real requests to a real server, in this process (a few seconds).
lessons.write_pages(GENERATED)


def write_bench_report() -> None:
    """The bench table and chart of performance.rst, from the saved results,
    by the code that prints the terminal report."""
    from tornado_h1._tools.bench import report

    doc = json.loads((DOCS / "_bench_results.json").read_text())
    (DOCS / "_generated" / "bench_table.inc").write_text(report.render_rst(doc))
    report.render_plot(doc, DOCS / "_generated" / "bench_chart.png")


write_bench_report()


def module_names() -> list[str]:
    """Every module of the package (``__main__`` modules run on import)."""
    names = ["tornado_h1"]
    for info in pkgutil.walk_packages(tornado_h1.__path__, "tornado_h1."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return sorted(names)


def write_reference_pages() -> None:
    """``reference/<module>.rst`` for every module, and nothing stale."""
    folder = DOCS / "reference"
    folder.mkdir(exist_ok=True)
    wanted = {}
    for name in module_names():
        title = f"``{name}``"
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None
        source = Path(spec.origin).relative_to(ROOT).as_posix()
        wanted[f"{name}.rst"] = (
            f".. Written by docs/conf.py at build time.\n\n"
            f"{title}\n{'=' * len(title)}\n\n"
            f".. automodule:: {name}\n"
            "   :members:\n"
            "   :undoc-members:\n"
            "   :private-members:\n"
            "   :show-inheritance:\n\n"
            "Source\n------\n\n"
            f"``{source}``, whole:\n\n"
            f".. literalinclude:: ../../{source}\n"
            "   :language: python\n"
            "   :linenos:\n"
        )
    for old in folder.glob("*.rst"):
        if old.name not in wanted:
            old.unlink()
    for filename, text in wanted.items():
        path = folder / filename
        if not path.exists() or path.read_text() != text:
            path.write_text(text)


write_reference_pages()

# Module docstrings that are not valid reStructuredText, in files the docs
# do not own: shown as written (a literal block) until they are fixed. The
# build fails if one of them parses cleanly again, so this list cannot go
# stale; a docstring that breaks anywhere else fails the build as usual.
VERBATIM = {
    "tornado_h1._tornado": "a table cell wider than its column",
    "tornado_h1._tools.bench": "a table written without its borders",
}


def _parses_cleanly(env: object, lines: list[str]) -> bool:
    from docutils.core import publish_doctree
    from docutils.utils import Reporter

    settings = {
        "report_level": Reporter.SEVERE_LEVEL + 1,
        "halt_level": 5,
        "env": env,
    }
    tree = publish_doctree("\n".join(lines), settings_overrides=settings)
    return not any(
        node["level"] >= Reporter.WARNING_LEVEL
        for node in tree.findall(lambda n: n.tagname == "system_message")
    )


def show_verbatim(
    app: object, what: str, name: str, obj: object, options: object, lines: list[str]
) -> None:
    if what != "module" or name not in VERBATIM:
        return
    if _parses_cleanly(app.env, lines):  # type: ignore[attr-defined]
        raise RuntimeError(f"{name}'s docstring parses now: remove it from VERBATIM")
    lines[:] = ["::", ""] + ["    " + line for line in lines]


def setup(app: object) -> None:
    app.connect("autodoc-process-docstring", show_verbatim)  # type: ignore[attr-defined]

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
    "offline_xrefs",
]

# Single backticks refer to Python objects, as in the module docstrings.
default_role = "py:obj"
nitpicky = True

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"show-inheritance": True}

exclude_patterns = ["_build"]
rst_epilog = f".. |tornado_version| replace:: {tornado.version}\n"
html_theme = "alabaster"
html_theme_options = {"page_width": "1100px", "sidebar_width": "230px"}
