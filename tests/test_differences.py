"""The deliberate differences from upstream (tornado_h1.testing.differences):
every record names code that exists and tests that exist and name the
record back; and the tests that pin the records nobody else pins."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import tornado

from tornado_h1.testing import differences
from tornado_h1.testing.differences import DIFFERENCES, Difference, token
from tornado_h1.testing.targets import (
    PATIENCE,
    ClientTarget,
    ResponseServer,
    ServerTarget,
)

pytestmark = pytest.mark.usefixtures("logs")

ROOT = Path(__file__).resolve().parent.parent

# ------------------------------------------------------------------ records


def _docs_extension() -> Any:
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        return importlib.import_module("differences")
    finally:
        sys.path.remove(str(ROOT / "docs" / "_ext"))


def test_records_are_complete_and_unique() -> None:
    ids = [record.id for record in DIFFERENCES]
    assert len(ids) == len(set(ids))
    for record in DIFFERENCES:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", record.id), record.id
        assert all(record[:5]), record.id
        assert record.code and record.tests, record.id
        assert differences.by_id(record.id) is record
    with pytest.raises(KeyError):
        differences.by_id("no-such-difference")


@pytest.mark.parametrize("record", DIFFERENCES, ids=lambda r: r.id)
def test_the_code_a_record_names_exists(record: Difference) -> None:
    resolve = _docs_extension().resolve
    for dotted in record.code:
        assert resolve(dotted) is not None


def test_the_docs_build_fails_for_code_that_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extension = _docs_extension()
    gone = DIFFERENCES[0]._replace(code=("tornado_h1._wire.no_such_function",))
    monkeypatch.setattr(extension, "DIFFERENCES", (gone,))
    with pytest.raises(RuntimeError, match="no such code: tornado_h1._wire.no_such"):
        extension.deliberate_table()
    with pytest.raises(RuntimeError):
        extension.resolve("tornado_h1.no_such_module.thing")


# ----------------------------------------------------------- pinned tests

# Loaded into a pytest that only collects: for every test, the text it
# carries (docstring, and the string arguments of its marks, xfail reasons
# included), written as JSON to $PINS_OUT.
_COLLECTOR = """
import json, os

def pytest_collection_finish(session):
    texts = {}
    for item in session.items:
        parts = [getattr(getattr(item, "obj", None), "__doc__", None) or ""]
        for mark in item.iter_markers():
            values = list(mark.args) + list(mark.kwargs.values())
            parts += [value for value in values if isinstance(value, str)]
        texts[item.nodeid] = "\\n".join(parts)
    with open(os.environ["PINS_OUT"], "w") as out:
        json.dump(texts, out)
"""


def collect_texts(files: list[str], folder: Path) -> dict[str, str]:
    """Every test of ``files`` (node id -> its text), as pytest collects them."""
    (folder / "pins_collector.py").write_text(_COLLECTOR)
    out = folder / "texts.json"
    env = {
        **os.environ,
        "PINS_OUT": str(out),
        "PYTHONPATH": os.pathsep.join(
            [str(folder)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
        ),
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q"]
        + ["-p", "no:cacheprovider", "-p", "pins_collector", *files],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    texts: dict[str, str] = json.loads(out.read_text())
    return texts


@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    files = sorted({node.split("::")[0] for r in DIFFERENCES for node in r.tests})
    return collect_texts(files, tmp_path_factory.mktemp("pins"))


def _items(node: str, texts: dict[str, str]) -> list[str]:
    """The tests a record's node id stands for: itself, or each case of a
    parametrized test named without its case."""
    return [n for n in texts if n == node or n.startswith(node + "[")]


@pytest.mark.parametrize("record", DIFFERENCES, ids=lambda r: r.id)
def test_every_pinned_test_exists(record: Difference, texts: dict[str, str]) -> None:
    missing = [node for node in record.tests if not _items(node, texts)]
    assert missing == [], f"{record.id}: no such test"


@pytest.mark.parametrize("record", DIFFERENCES, ids=lambda r: r.id)
def test_every_pinned_test_names_its_record(
    record: Difference, texts: dict[str, str]
) -> None:
    silent = [
        item
        for node in record.tests
        for item in _items(node, texts)
        if token(record.id) not in texts[item]
    ]
    assert silent == [], f"say {token(record.id)!r} in their docstring or a mark"


def test_every_named_record_exists(texts: dict[str, str]) -> None:
    ids = {record.id for record in DIFFERENCES}
    named = {
        found
        for text in texts.values()
        for found in re.findall(r"difference:([a-z0-9-]*[a-z0-9])", text)
    }
    assert named - ids == set()


# ------------------------------------------------------------ the pins
# Differences no test elsewhere shows against upstream.


def _post(fields: bytes, body: bytes) -> bytes:
    return b"POST / HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n" + body


async def _both(data: bytes) -> dict[str, Any]:
    outcomes = {}
    for impl in ("upstream", "tornado_h1"):
        target = ServerTarget(impl).start()
        try:
            outcomes[impl] = await target.exchange(data)
        finally:
            await target.stop()
    return outcomes


async def test_thousands_of_length_digits_are_not_converted() -> None:
    """difference:content-length-digits: upstream's ``int()`` refuses a
    length of more than 4300 digits as not an integer; tornado_h1 refuses
    it as too long, having counted its digits."""
    outcome = await _both(_post(b"Content-Length: " + b"1" * 5000 + b"\r\n", b"x"))
    theirs, ours = outcome["upstream"], outcome["tornado_h1"]
    assert (
        (theirs.statuses, theirs.closed)
        == (ours.statuses, ours.closed)
        == ([400], True)
    )
    assert theirs.reasons[0].startswith("Only integer Content-Length is allowed: 111")
    assert ours.reasons == ["Content-Length too long"]


async def test_a_padded_chunk_size_is_refused() -> None:
    """difference:chunk-size-digits: 17 digits, the first 16 of them zeros."""
    data = _post(
        b"Transfer-Encoding: chunked\r\n", b"0" * 16 + b"5\r\nhello\r\n0\r\n\r\n"
    )
    outcome = await _both(data)
    assert [s.body for s in outcome["upstream"].served] == [b"hello"]
    ours = outcome["tornado_h1"]
    assert (ours.statuses, ours.closed, ours.served) == ([400], True, [])
    assert ours.reasons == ["invalid chunk size"]


@pytest.mark.allow_error_log  # upstream's client logs the failed read
async def test_a_client_refuses_a_long_chunk_size_line_at_once() -> None:
    """difference:chunk-line-too-long, the client's side: upstream's client
    logs an ERROR and waits for its request timeout; tornado_h1's fails at
    once, with no ERROR."""
    response = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"0" * 100
        + b"5\r\nhello\r\n0\r\n\r\n"
    )
    outcomes = {}
    # Upstream's client only gives up at its timeout: a short one.
    for impl, timeout in (("upstream", 1.0), ("tornado_h1", 3 * PATIENCE)):
        server, client = ResponseServer(), ClientTarget(impl, timeout=timeout)
        try:
            outcomes[impl] = await client.fetch(server, response, shutdown=False)
        finally:
            client.close()
            server.close()
    theirs, ours = outcomes["upstream"], outcomes["tornado_h1"]
    assert (theirs.code, theirs.error) == (599, "HTTPTimeoutError")
    assert any("UnsatisfiableReadError" in line for line in theirs.errors)
    assert (ours.code, ours.error, ours.errors) == (599, "HTTPStreamClosedError", [])
    assert ours.reasons == ["invalid chunk size"]


def _pythons() -> list[Any]:
    """The interpreter running the tests, and those of the release matrix
    (``.matrix``, built by ``make test``) if it is there."""
    found = [pytest.param(sys.executable, id=f"installed-{tornado.version}")]
    for python in sorted(ROOT.glob(".matrix/tornado-*/bin/python")):
        found.append(pytest.param(str(python), id=python.parent.parent.name))
    return found


def _run_in(python: str, script: str) -> Any:
    """Run ``script`` with ``python`` in the project's root; its last line
    of output, as JSON."""
    result = subprocess.run(
        [python, "-c", textwrap.dedent(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


_REPEATS = """
    import json
    from tornado.httputil import HTTPHeaders
    from tornado_h1 import _tornado, _wire
    calls = []
    add = HTTPHeaders.add
    HTTPHeaders.add = lambda self, *a: calls.append(a) or add(self, *a)
    _, headers = _wire.split_head(
        b"GET / HTTP/1.1\\r\\n" + b"X-A: v\\r\\n" * 2000 + b"X-B: w\\r\\n\\r\\n"
    )
    print(json.dumps({
        "linear": _tornado.HEADERS_ADD_IS_LINEAR,
        "adds": len(calls),
        "value": headers["X-A"] == ",".join(["v"] * 2000),
        "list": headers.get_list("X-A") == ["v"] * 2000,
        "other": headers["X-B"],
    }))
"""


@pytest.mark.parametrize("python", _pythons())
def test_repeated_fields_skip_a_quadratic_add(python: str) -> None:
    """difference:repeated-fields-linear: where ``HTTPHeaders.add`` re-joins
    the value on every repeat (Tornado before 6.5.3), repeats never go
    through it; where it is linear, they may."""
    seen = _run_in(python, _REPEATS)
    assert (seen["value"], seen["list"], seen["other"]) == (True, True, "w")
    if not seen["linear"]:
        assert seen["adds"] == 0


_FRAMING = """
    import asyncio, json, tornado
    from tornado_h1.testing.targets import ServerTarget

    def post(fields, body=b""):
        return b"POST / HTTP/1.1\\r\\nHost: x\\r\\n" + fields + b"\\r\\n" + body

    TE = b"Transfer-Encoding: chunked\\r\\n"
    CASES = {
        "obs-fold": post(b"X-A: a\\r\\n b\\r\\n"),
        "te-twice": post(TE + TE, b"5\\r\\nhello\\r\\n0\\r\\n\\r\\n"),
        "te-list": post(b"Transfer-Encoding: gzip, chunked\\r\\n", b"0\\r\\n\\r\\n"),
        "length-signed": post(b"Content-Length: +5\\r\\n", b"hello"),
        "length-underscore": post(b"Content-Length: 0_5\\r\\n", b"hello"),
        "chunk-size-signed": post(TE, b"+5\\r\\nhello\\r\\n0\\r\\n\\r\\n"),
        "nul-in-value": post(b"X-A: a\\x00b\\r\\n"),
        "lone-cr-in-value": post(b"X-A: a\\rb\\r\\n"),
        "space-before-colon": post(b"X-A : b\\r\\n"),
        "chunk-end-not-crlf": post(TE, b"5\\r\\nhelloXY0\\r\\n\\r\\n"),
    }

    async def main():
        seen = {}
        for name, data in CASES.items():
            for impl in ("upstream", "tornado_h1"):
                target = ServerTarget(impl).start()
                try:
                    outcome = await target.exchange(data)
                finally:
                    await target.stop()
                seen[impl + " " + name] = [
                    outcome.statuses, outcome.closed, len(outcome.served)
                ]
        return seen

    print(json.dumps({"version": tornado.version_info[:2], **asyncio.run(main())}))
"""


@pytest.mark.parametrize("python", _pythons())
def test_framing_does_not_follow_the_release(python: str) -> None:
    """difference:framing-as-6-6-1: on every release, tornado_h1 refuses
    what Tornado 6.6 refuses; older releases served some of it."""
    seen = _run_in(python, _FRAMING)
    version = tuple(seen.pop("version"))
    ours = {
        k.split(" ", 1)[1]: v for k, v in seen.items() if k.startswith("tornado_h1")
    }
    theirs = {
        k.split(" ", 1)[1]: v for k, v in seen.items() if k.startswith("upstream")
    }
    assert all(outcome == [[400], True, 0] for outcome in ours.values()), ours
    served = sorted(name for name, outcome in theirs.items() if outcome[2])
    if version >= (6, 6):
        assert theirs == ours
    else:
        assert served, "an old release that refuses all of these"
