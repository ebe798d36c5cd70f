"""Resolve the references Sphinx cannot, without the network.

tornado_h1's docstrings name Tornado's classes (`HTTPMessageDelegate`,
`tornado.iostream.IOStream`) and the standard library's
(`collections.abc.Iterator`), often by their short names. Intersphinx
would need the inventories of both projects, downloaded at build time.
Instead, this extension answers Sphinx's ``missing-reference`` event by
*importing* the name: a name that imports is linked to its entry in
Tornado's or Python's online documentation; a name that does not import
stays unresolved, so that ``sphinx-build -n -W`` fails on it (a renamed
function surfaces as a build error, not as stale text).

For tornado_h1's own names that have no entry of their own (an instance
attribute, a method without a docstring), the link goes to the nearest
documented parent, but only if the name really exists there.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import sys
from typing import Any, Optional

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.nodes import make_refnode

TORNADO_DOCS = "https://www.tornadoweb.org/en/stable/"
PYTHON_DOCS = "https://docs.python.org/3/library/"

# Where a short name (``IOStream``) is looked for, in this order.
SEARCH = (
    "tornado.httputil",
    "tornado.iostream",
    "tornado.tcpserver",
    "tornado.httpserver",
    "tornado.httpclient",
    "tornado.simple_httpclient",
    "tornado.web",
    "tornado.websocket",
    "tornado.ioloop",
    "tornado.netutil",
    "tornado.http1connection",
    "asyncio",
    "pathlib",
    "builtins",
)

# Tornado documents some modules on another module's page.
TORNADO_PAGES = {
    "simple_httpclient": "httpclient",
    "curl_httpclient": "httpclient",
}

# The page of Python's library reference that documents a name, where it
# is not the module's own page.
PYTHON_PAGES = {
    "asyncio.Future": "asyncio-future",
    "asyncio.Task": "asyncio-task",
    "asyncio.Event": "asyncio-sync",
    "asyncio.AbstractEventLoop": "asyncio-eventloop",
    "cProfile": "profile",
    "builtins": "functions",
}

# Other projects' documentation, by top-level package: (page, the package
# whose name the page uses for the object).
OTHERS = {
    "_pytest": ("https://docs.pytest.org/en/stable/reference/reference.html", "pytest"),
    "pytest": ("https://docs.pytest.org/en/stable/reference/reference.html", "pytest"),
    "hypothesis": (
        "https://hypothesis.readthedocs.io/en/latest/reference/api.html",
        "hypothesis",
    ),
}

# C accelerator modules document under their Python name.
ALIASES = {"_asyncio": "asyncio", "_socket": "socket", "_io": "io"}


def locate(path: str) -> Optional[tuple[Any, str]]:
    """Import ``path`` (``package.module.Class.attr``) and return the object
    and its dotted name, or None if it does not exist."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            found: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        except Exception:  # noqa: BLE001 - a module that fails to import
            return None
        for attr in parts[cut:]:
            try:
                found = getattr(found, attr)
            except AttributeError:
                return None
        return found, path
    return None


def canonical(obj: Any, path: str) -> str:
    """The name under which ``obj`` is documented: where it is defined."""
    if inspect.ismodule(obj):
        return obj.__name__
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if (inspect.isclass(obj) or inspect.isroutine(obj)) and module and qualname:
        module = ALIASES.get(module, module)
        if "<" not in qualname:
            return f"{module}.{qualname}"
    return path


def external_url(name: str, is_module: bool) -> Optional[str]:
    """Tornado's or Python's documentation page for ``name``."""
    anchor = f"module-{name}" if is_module else name
    if name == "tornado" or name.startswith("tornado."):
        module = name.split(".")[1] if "." in name else "index"
        page = TORNADO_PAGES.get(module, module)
        return f"{TORNADO_DOCS}{page}.html#{anchor}"
    top = name.split(".")[0]
    if top in OTHERS:
        page, public = OTHERS[top]
        return f"{page}#{public}.{name.rsplit('.', 1)[-1]}"
    if top in sys.stdlib_module_names and not top.startswith("_"):
        for prefix in sorted(PYTHON_PAGES, key=len, reverse=True):
            if name == prefix or name.startswith(prefix + "."):
                page = PYTHON_PAGES[prefix]
                break
        else:
            page = "collections.abc" if name.startswith("collections.abc") else top
        if top == "builtins":
            anchor = name.split(".", 1)[-1]
            page = _builtin_page(anchor)
        return f"{PYTHON_DOCS}{page}.html#{anchor}"
    return None


def _builtin_page(name: str) -> str:
    if name in ("None", "True", "False", "NotImplemented", "Ellipsis"):
        return "constants"
    value = getattr(builtins, name, None)
    if inspect.isclass(value) and issubclass(value, BaseException):
        return "exceptions"
    return "functions"


def candidates(target: str, module: Optional[str], klass: Optional[str]) -> list[str]:
    names = []
    if module and klass:
        names.append(f"{module}.{klass}.{target}")
    if module:
        names.append(f"{module}.{target}")
    names.append(target)
    names.extend(f"{home}.{target}" for home in SEARCH)
    return names


def _has_attribute(owner: Any, name: str) -> bool:
    """Whether ``name`` exists on ``owner``, instance attributes included."""
    if hasattr(owner, name):
        return True
    if not inspect.isclass(owner):
        return False
    try:
        source = inspect.getsource(owner)
    except (OSError, TypeError):
        return False
    return f"self.{name} =" in source or f"self.{name}," in source


def documented_parent(env: Any, path: str) -> Optional[tuple[str, str]]:
    """(docname, anchor) of ``path``'s entry, or of the nearest documented
    object that holds it (a private helper, a type alias, an instance
    attribute), provided ``path`` really exists."""
    objects = env.get_domain("py").objects
    if path in objects:
        return objects[path].docname, objects[path].node_id
    parent, _, leaf = path.rpartition(".")
    if locate(path) is None:
        owner = locate(parent) if parent else None
        if owner is None or not _has_attribute(owner[0], leaf):
            return None
    while parent:
        if parent in objects:
            return objects[parent].docname, objects[parent].node_id
        parent = parent.rpartition(".")[0]
    return None


def resolve(
    app: Sphinx, env: Any, node: Any, contnode: nodes.Element
) -> Optional[nodes.Element]:
    """The ``missing-reference`` handler for the Python domain."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip(".~")
    module, klass = node.get("py:module"), node.get("py:class")
    for name in candidates(target, module, klass):
        if name.startswith("tornado_h1"):
            place = documented_parent(env, name)
            if place is not None:
                return make_refnode(
                    app.builder, node["refdoc"], place[0], place[1], contnode
                )
            continue
        found = locate(name)
        if found is None:
            continue
        home = canonical(*found)
        url = external_url(home, inspect.ismodule(found[0]))
        if url is not None:
            reference = nodes.reference("", "", internal=False, refuri=url)
            reference.append(contnode)
            return reference
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("missing-reference", resolve)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
