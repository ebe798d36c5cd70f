"""The documentation: it builds with every reference resolved (offline),
every module has a page with its source, and the pages generated from the
code (state diagrams, the upstream map, traces) match the code."""

from __future__ import annotations

import importlib
import pkgutil
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tornado_h1
from tornado_h1 import _state
from tornado_h1._tools import statedoc

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

sphinx = pytest.importorskip("sphinx", reason="the docs need the dev extra")


def _sphinx_build(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sphinx", "-n", "-W", "--keep-going", "-q"]
        + ["-b", "html", str(source), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The whole documentation, built as ``make docs`` builds it."""
    out = tmp_path_factory.mktemp("html")
    result = _sphinx_build(DOCS, out)
    assert result.returncode == 0, result.stderr
    yield out


# ------------------------------------------------------------ the build


def test_make_test_builds_the_docs_nitpicky_before_pytest() -> None:
    makefile = (ROOT / "Makefile").read_text()
    steps = re.search(r"^test: (.*)$", makefile, re.M)
    assert steps is not None
    order = steps.group(1).split()
    assert "docs" in order and order[-1] == "pytest"
    recipe = makefile.split("\ndocs:", 1)[1].split("\n\n", 1)[0]
    assert "sphinx-build -n -W" in recipe


def test_every_module_has_a_page_with_its_source(built: Path) -> None:
    names = ["tornado_h1"] + [
        info.name
        for info in pkgutil.walk_packages(tornado_h1.__path__, "tornado_h1.")
        if not info.name.endswith("__main__")
    ]
    for name in names:
        page = built / "reference" / f"{name}.html"
        assert page.exists(), name
        text = page.read_text()
        origin = importlib.util.find_spec(name).origin  # type: ignore[union-attr]
        relative = Path(origin).relative_to(ROOT).as_posix()  # type: ignore[arg-type]
        assert f'<span class="pre">{relative}</span>' in text, name
        assert 'class="highlight-python' in text, name  # the whole source
    # Documented objects link to the highlighted source, too.
    assert (built / "_modules" / "tornado_h1" / "_wire.html").exists()


def test_the_learner_path_is_in_the_issue_s_order(built: Path) -> None:
    index = (built / "index.html").read_text()
    pages = re.findall(r'href="([a-z_]+)\.html"', index)
    path = [
        "start_here",
        "walkthrough",
        "states",
        "framing",
        "client",
        "web",
        "errors",
        "upstream_map",
        "differences",
        "matrix",
        "performance",
        "security",
        "design",
        "api",
    ]
    positions = [pages.index(page) for page in path]
    assert positions == sorted(positions)


def test_watch_page_shows_real_traces(built: Path) -> None:
    text = (built / "watch.html").read_text()
    for line in (
        "[c1] sent 100 Continue",
        "body: chunked (RFC 9112 §6.3 step 4)",
        "head sent: HTTP/1.1 101 Switching Protocols",
        "detached: the stream is the delegate",
        "keep-alive: yes",
    ):
        assert line in text.replace("&#39;", "'")


def test_references_to_tornado_and_python_link_to_their_docs(built: Path) -> None:
    text = (built / "walkthrough.html").read_text()
    assert 'href="https://www.tornadoweb.org/en/stable/iostream.html' in text
    assert 'href="https://www.tornadoweb.org/en/stable/httputil.html' in text
    api = (built / "reference" / "tornado_h1.http1connection.html").read_text()
    assert "https://docs.python.org/3/library/" in api


# ------------------------------------------------------------- offline refs


@pytest.fixture
def tiny_project(tmp_path: Path) -> Any:
    """A one-page Sphinx project with our resolver, to build in seconds."""

    def make(body: str) -> subprocess.CompletedProcess[str]:
        (tmp_path / "conf.py").write_text(
            "import sys\n"
            f"sys.path.insert(0, {str(DOCS / '_ext')!r})\n"
            f"sys.path.insert(0, {str(ROOT)!r})\n"
            "extensions = ['sphinx.ext.autodoc', 'offline_xrefs']\n"
            "default_role = 'py:obj'\n"
        )
        (tmp_path / "index.rst").write_text("Tiny\n====\n\n" + body + "\n")
        return _sphinx_build(tmp_path, tmp_path / "out")

    return make


def test_names_that_import_resolve(tiny_project: Any, tmp_path: Path) -> None:
    result = tiny_project(
        "`IOStream`, :class:`tornado.httputil.HTTPHeaders`,\n"
        ":meth:`tornado.web.RequestHandler.flush`, :class:`~_asyncio.Future`,\n"
        ":class:`collections.abc.Iterator`, :exc:`ValueError`, `None`,\n"
        ":mod:`cProfile`, :class:`_pytest.config.Config`\n"
    )
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "out" / "index.html").read_text()
    for url in (
        "tornadoweb.org/en/stable/iostream.html#tornado.iostream.IOStream",
        "tornadoweb.org/en/stable/httputil.html#tornado.httputil.HTTPHeaders",
        "web.html#tornado.web.RequestHandler.flush",
        "docs.python.org/3/library/asyncio-future.html#asyncio.Future",
        "collections.abc.html#collections.abc.Iterator",
        "library/exceptions.html#ValueError",
        "library/constants.html#None",
        "library/profile.html#module-cProfile",
        "docs.pytest.org/en/stable/reference/reference.html#pytest.Config",
    ):
        assert url in html, url


@pytest.mark.parametrize(
    "reference",
    [
        ":func:`tornado_h1._wire.no_such_function`",
        ":class:`tornado.iostream.NoSuchStream`",
        "`NoSuchNameAnywhere`",
    ],
)
def test_a_name_that_does_not_exist_fails_the_build(
    tiny_project: Any, reference: str
) -> None:
    result = tiny_project(reference)
    assert result.returncode != 0
    assert "reference target not found" in result.stderr


def test_an_undocumented_member_links_to_its_documented_owner(
    tiny_project: Any, tmp_path: Path
) -> None:
    result = tiny_project(
        ".. autoclass:: tornado_h1.http1connection.HTTP1ConnectionParameters\n\n"
        ":attr:`tornado_h1.http1connection.HTTP1ConnectionParameters.body_timeout`\n"
    )
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "out" / "index.html").read_text()
    assert 'href="#tornado_h1.http1connection.HTTP1ConnectionParameters"' in html
    # ...but only for a name that is really there.
    result = tiny_project(
        ".. autoclass:: tornado_h1.http1connection.HTTP1ConnectionParameters\n\n"
        ":attr:`tornado_h1.http1connection.HTTP1ConnectionParameters.no_such`\n"
    )
    assert result.returncode != 0


# ---------------------------------------------------------- state diagrams


def _moves(picture: str) -> set[tuple[str, str, str]]:
    """(source, event, target) for every arrow of an SVG picture."""
    root = ET.fromstring(picture)
    moves = set()
    for group in root.iter("{http://www.w3.org/2000/svg}g"):
        if group.get("class") == "move":
            for event in (group.get("data-events") or "").split():
                moves.add((group.get("data-from"), event, group.get("data-to")))
    return moves  # type: ignore[return-value]


@pytest.mark.parametrize(("picture", "table", "states"), statedoc.PICTURES)
def test_state_pictures_match_the_tables(
    picture: str, table: dict[Any, Any], states: Any
) -> None:
    drawn = _moves(statedoc.svg(table, states))
    assert drawn == {(s.name, e.name, t.name) for (s, e), t in table.items()}
    root = ET.fromstring(statedoc.svg(table, states))
    names = {
        g.get("data-name")
        for g in root.iter("{http://www.w3.org/2000/svg}g")
        if g.get("class") == "state"
    }
    assert names == {state.name for state in states}


def test_a_move_added_to_a_table_is_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    move = (_state.Outbound.DONE, _state.OutEvent.HEAD)
    monkeypatch.setitem(_state.OUTBOUND, move, _state.Outbound.BODY)
    drawn = _moves(statedoc.svg(_state.OUTBOUND, _state.Outbound))
    assert ("DONE", "HEAD", "BODY") in drawn


def test_the_built_state_page_shows_both_pictures(built: Path) -> None:
    text = (built / "states.html").read_text()
    assert "_images/inbound.svg" in text and "_images/outbound.svg" in text
    picture = (built / "_images" / "inbound.svg").read_text()
    assert _moves(picture) == {
        (s.name, e.name, t.name) for (s, e), t in _state.INBOUND.items()
    }


def test_write_svgs(tmp_path: Path) -> None:
    statedoc.write_svgs(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inbound.svg", "outbound.svg"]


# ------------------------------------------------------------ upstream map


def _upstream_map() -> Any:
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        return importlib.import_module("upstream_map")
    finally:
        sys.path.remove(str(DOCS / "_ext"))


def test_the_upstream_map_covers_the_installed_module() -> None:
    upstream_map = _upstream_map()
    assert upstream_map.check() == []
    assert set(upstream_map.upstream_names()) <= set(upstream_map.MAP)


def test_the_upstream_map_notices_a_missing_or_stale_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    upstream_map = _upstream_map()
    entries = dict(upstream_map.MAP)
    del entries["HTTP1Connection.write"]
    entries["HTTP1Connection._gone"] = ("x", "y")
    monkeypatch.setattr(upstream_map, "MAP", entries)
    assert upstream_map.check() == [
        "in the map but not in Tornado %s: HTTP1Connection._gone"
        % __import__("tornado").version,
        "not in the map: HTTP1Connection.write",
    ]
    with pytest.raises(RuntimeError):
        upstream_map.write("/nonexistent")


def test_the_upstream_map_page(built: Path) -> None:
    text = (built / "upstream_map.html").read_text()
    assert "_server_request_loop" in text
    target = "tornado_h1.http1connection.HTTP1ServerConnection._serve"
    assert f'href="reference/tornado_h1.http1connection.html#{target}"' in text


# ----------------------------------------------------- deliberate differences


def test_the_differences_page_shows_every_record(built: Path) -> None:
    from tornado_h1.testing.differences import DIFFERENCES

    text = (built / "differences.html").read_text()
    # (anchor, label) of every link into the reference pages.
    links = re.findall(
        r'href="reference/[^"#]+#([^"]+)"[^>]*>\s*<code[^>]*>'
        r'<span class="pre">([^<]+)<',
        text,
    )
    for record in DIFFERENCES:
        assert f'<span class="pre">{record.id}</span>' in text, record.id
        for dotted in record.code:
            # Each name links to its code or, for undocumented data such as
            # a pattern, to the module or class that holds it.
            shown = ".".join(dotted.split(".")[-2:])
            (anchor,) = {a for a, label in links if label == shown}
            owner = anchor.removeprefix("module-")
            assert dotted == owner or dotted.startswith(owner + "."), dotted
        for node in record.tests:
            assert node.split("::")[1].split("[")[0] in text, node
