"""Behaviour by Tornado release, and the matrix that runs every release.

* ``tornado_h1._versions``: the table, its boundaries, and the switch for
  input errors raised inside a delegate (gzip), shown end to end on a client
  and on a server on both sides of the 6.5.2 boundary;
* ``compat/exports.py``: the names-and-signatures check the matrix runs in
  each release's environment;
* ``compat/matrix.py``: pass criteria, report reading, markdown.

The matrix itself (one virtualenv and one full suite per release) is run by
``make matrix`` / ``make test``, not here.
"""

from __future__ import annotations

import asyncio
import gzip
import importlib.util
import inspect
import json
import logging
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tornado
import tornado.http1connection as upstream
import tornado.httpclient
import tornado.testing
import tornado.web

import tornado_h1
from tornado_h1 import _delegates, _versions
from tornado_h1 import http1connection as h1

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str) -> types.ModuleType:
    path = ROOT / "compat" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_compat_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


matrix = _load("matrix")
exports = _load("exports")


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version_info, uncaught",
    [
        ((6, 2, 0, 0), True),
        ((6, 3, 3, 0), True),
        ((6, 4, 2, 0), True),
        ((6, 5, 0, 0), True),
        ((6, 5, 1, 0), True),
        ((6, 5, 2, 0), False),
        ((6, 5, 10, 0), False),
        ((6, 6, 0, 0), False),
        ((6, 6, 1, 0), False),
        ((7, 0, 0, 0), False),
        ((6, 1, 0, 0), True),  # older than the table: the oldest row
    ],
)
def test_input_error_in_delegate_boundary(
    version_info: tuple[int, ...], uncaught: bool
) -> None:
    # Tornado 6.5.2 (tornadoweb/tornado#3521) let HTTPInputError through the
    # delegate guard; 6.5.0 and 6.5.1 still converted it.
    behaviour = _versions.behaviour_for(version_info)
    assert behaviour.input_error_in_delegate_uncaught is uncaught


def test_other_switches_unchanged_around_6_5_2() -> None:
    # The new 6.5.2 row must not move the older boundaries.
    for info in [(6, 5, 1, 0), (6, 5, 2, 0), (6, 5, 10, 0)]:
        b = _versions.behaviour_for(info)
        assert (b.coalesce_chunks, b.unfold_responses) == (False, True)
        assert b.te_with_cl_message.startswith("Message with both")
    assert _versions.behaviour_for((6, 3, 3, 0)).te_with_cl_message.startswith(
        "Response with both"
    )
    assert _versions.behaviour_for((6, 6, 1, 0)).coalesce_chunks is True


def test_table_is_newest_first_and_complete() -> None:
    firsts = [first for first, _ in _versions._TABLE]
    assert firsts == sorted(firsts, reverse=True)
    assert firsts[-1] == (6, 2)
    for _, behaviour in _versions._TABLE:
        assert all(value is not None for value in behaviour)


def test_current_follows_the_installed_tornado() -> None:
    assert _versions.CURRENT == _versions.behaviour_for(tornado.version_info)
    assert _delegates._INPUT_ERRORS_PASS_GUARD is (
        not _versions.CURRENT.input_error_in_delegate_uncaught
    )
    # What upstream's guard does with HTTPInputError tells which row applies.
    lets_through = "HTTPInputError" in inspect.getsource(
        upstream._ExceptionLoggingContext.__exit__
    )
    assert _delegates._INPUT_ERRORS_PASS_GUARD is lets_through


# ---------------------------------------------------------------------------
# The switch, end to end
# ---------------------------------------------------------------------------

# The body of upstream's test_invalid_gzip: a gzip member and one more byte,
# which the decoder can never consume.
_TEXT = "".join(f"Hello World {i}\n" for i in range(9000))[:149051]
INVALID_GZIP = gzip.compress(_TEXT.encode(), compresslevel=6) + b"\x00"
# Which error it is depends on the release's GzipDecompressor: 6.6 rejects
# the stray byte ("invalid gzip data: expected a gzip member"), older ones
# stall on it ("encountered unconsumed gzip data without making progress").
BAD_GZIP = "gzip data"


class _InvalidGzip(tornado.web.RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        self.set_header("Content-Encoding", "gzip")
        self.write(INVALID_GZIP)


@pytest.fixture(params=[False, True], ids=["6.5.2+", "before 6.5.2"])
def uncaught(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    value: bool = request.param
    monkeypatch.setattr(_delegates, "_INPUT_ERRORS_PASS_GUARD", not value)
    return value


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO)
    yield caplog


def _records(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger]


def _check_logs(caplog: pytest.LogCaptureFixture, uncaught: bool, message: str) -> None:
    general = [r.getMessage() for r in _records(caplog, "tornado.general")]
    application = _records(caplog, "tornado.application")
    malformed = [m for m in general if m.startswith("Malformed HTTP message")]
    if uncaught:
        # As Tornado <= 6.5.1: an application error, logged once, no INFO.
        assert malformed == []
        (record,) = application
        assert record.levelno == logging.ERROR
        assert record.getMessage() == "Uncaught exception"
        assert record.exc_info is not None
        error = record.exc_info[1]
        # The delegate guard took the input error for an application error.
        assert isinstance(error, tornado.httputil.HTTPInputError)
        assert message in str(error)
    else:
        # As Tornado >= 6.5.2: malformed input, one INFO, nothing on app_log.
        assert application == []
        assert len(malformed) == 1 and message in malformed[0]


async def _serve(app: tornado.web.Application, **kwargs: Any) -> tuple[Any, int]:
    sock, port = tornado.testing.bind_unused_port()
    server = tornado_h1.HTTPServer(app, **kwargs)
    server.add_sockets([sock])
    return server, port


def test_client_invalid_gzip(uncaught: bool, logs: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        server, port = await _serve(tornado.web.Application([("/", _InvalidGzip)]))
        client = tornado_h1.SimpleAsyncHTTPClient(force_instance=True)
        try:
            with pytest.raises(tornado.httpclient.HTTPClientError) as info:
                await client.fetch(f"http://127.0.0.1:{port}/", request_timeout=10)
            # The connection was closed, not timed out.
            assert info.value.code == 599
            assert "Timeout" not in str(info.value)
        finally:
            client.close()
            server.stop()
            await server.close_all_connections()

    asyncio.run(main())
    _check_logs(logs, uncaught, BAD_GZIP)


class _Sink(tornado.web.RequestHandler):
    calls: list[int] = []

    def post(self) -> None:
        _Sink.calls.append(len(self.request.body))
        self.write("ok")


async def _raw_exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()


def _gzip_request(body: bytes) -> bytes:
    head = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    return head + body


@pytest.mark.parametrize(
    "body, message, limit",
    [
        (b"this is not gzip", "invalid gzip data", None),
        (gzip.compress(b"\0" * 300_000), "decompressed body too large", 100_000),
    ],
    ids=["not gzip", "inflates past max_body_size"],
)
def test_server_bad_gzip_request(
    uncaught: bool,
    logs: pytest.LogCaptureFixture,
    body: bytes,
    message: str,
    limit: Any,
) -> None:
    _Sink.calls = []

    async def main() -> bytes:
        app = tornado.web.Application([("/", _Sink)])
        server, port = await _serve(app, decompress_request=True, max_body_size=limit)
        try:
            return await _raw_exchange(port, _gzip_request(body))
        finally:
            server.stop()
            await server.close_all_connections()

    answer = asyncio.run(main())
    # Either way the request never reaches the handler and the connection
    # is closed (read() returned at EOF): framing is not at stake.
    assert _Sink.calls == []
    if uncaught:
        assert answer == b""  # closed without a response, as before 6.5.2
    else:
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    _check_logs(logs, uncaught, message)


def test_good_gzip_is_unaffected(uncaught: bool) -> None:
    _Sink.calls = []

    async def main() -> bytes:
        server, port = await _serve(
            tornado.web.Application([("/", _Sink)]), decompress_request=True
        )
        try:
            return await _raw_exchange(port, _gzip_request(gzip.compress(b"a" * 5000)))
        finally:
            server.stop()
            await server.close_all_connections()

    assert asyncio.run(main()).startswith(b"HTTP/1.1 200 OK\r\n")
    assert _Sink.calls == [5000]


class _Stuck:
    """A decompressor that takes no input and gives no output, as Tornado
    6.2 to 6.5's GzipDecompressor does on the byte after a gzip member."""

    unconsumed_tail = b""

    def decompress(self, data: bytes, max_length: int) -> bytes:
        self.unconsumed_tail = data
        return b""


def test_no_progress_error_follows_the_switch(
    uncaught: bool, caplog: pytest.LogCaptureFixture
) -> None:
    delegate = h1._GzipMessageDelegate(
        tornado.httputil.HTTPMessageDelegate(), 64, 10**6
    )
    delegate._decompressor = _Stuck()  # type: ignore[assignment]

    async def feed() -> None:
        # As the driver calls it: inside the delegate guard.
        with h1._ExceptionLoggingContext(tornado.log.app_log):
            await delegate.data_received(b"\x00")

    if uncaught:
        # Before 6.5.2 the guard logs it as an application error.
        with pytest.raises(h1._QuietException):
            asyncio.run(feed())
        (record,) = _records(caplog, "tornado.application")
        assert record.getMessage() == "Uncaught exception"
    else:
        with pytest.raises(
            tornado.httputil.HTTPInputError, match="^encountered unconsumed gzip data"
        ):
            asyncio.run(feed())
        assert _records(caplog, "tornado.application") == []


# ---------------------------------------------------------------------------
# compat/exports.py
# ---------------------------------------------------------------------------


def test_exports_match_the_installed_release() -> None:
    result = exports.compare(upstream, h1)
    assert result["differences"] == []
    assert "HTTP1Connection" in result["public"]
    # Private names are required too (existence only).
    assert {"_GzipMessageDelegate", "_QuietException"} <= set(result["checked"])
    assert "import" not in " ".join(result["checked"])


def _copy(**changes: Any) -> types.ModuleType:
    fake = types.ModuleType(h1.__name__)
    fake.__dict__.update(vars(h1))
    for name, value in changes.items():
        if value is None:
            del fake.__dict__[name]
        else:
            fake.__dict__[name] = value
    fake.__file__ = h1.__file__
    return fake


def _class(cls: type, bases: tuple[type, ...] | None = None, **members: Any) -> type:
    namespace = {
        k: v for k, v in vars(cls).items() if k not in ("__dict__", "__weakref__")
    }
    namespace.update(members)
    return type(cls.__name__, bases or cls.__bases__, namespace)


def _parse_int(text: str) -> int:
    return int(text)


def _gzip_init_without_limit(self: Any, delegate: Any, chunk_size: int) -> None:
    pass


def _is_done_renamed(fut: Any) -> bool:
    return True


async def _async_read_response(self: Any, delegate: Any) -> bool:
    return True


def _close_sync(self: Any) -> None:
    pass


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"_QuietException": None}, "_QuietException: missing"),
        ({"parse_int": _parse_int}, "parse_int: signature"),
        ({"parse_hex_int": 5}, "parse_hex_int: data != function"),
        ({"DIGITS": re.compile("[0-9]*")}, "DIGITS: pattern"),
        (
            {
                "HTTP1Connection": _class(
                    h1.HTTP1Connection, read_response=_async_read_response
                )
            },
            "HTTP1Connection.read_response: coroutine function != function",
        ),
        (
            {
                "HTTP1ServerConnection": _class(
                    h1.HTTP1ServerConnection, close=_close_sync
                )
            },
            "HTTP1ServerConnection.close: function != coroutine function",
        ),
        (
            {"HTTP1Connection": _class(h1.HTTP1Connection, bases=(object,))},
            "HTTP1Connection: bases",
        ),
        (
            {"HTTP1Connection": _class(h1.HTTP1Connection, detach=None)},
            "HTTP1Connection.detach: not a function in tornado_h1",
        ),
        (
            {
                "_GzipMessageDelegate": _class(
                    h1._GzipMessageDelegate, __init__=_gzip_init_without_limit
                )
            },
            "_GzipMessageDelegate.__init__: signature",
        ),
        ({"_is_done": _is_done_renamed}, "_is_done: signature"),
    ],
    ids=[
        "missing private",
        "signature",
        "kind",
        "pattern",
        "became async",
        "lost async",
        "bases",
        "method gone",
        "private constructor",
        "private function",
    ],
)
def test_exports_check_reports(changes: dict[str, Any], expected: str) -> None:
    result = exports.compare(upstream, _copy(**changes))
    assert any(expected in diff for diff in result["differences"]), result


def test_exports_script_runs_here(capsys: pytest.CaptureFixture[str]) -> None:
    assert exports.main(["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tornado_version"] == tornado.version
    assert data["differences"] == []
    assert Path(data["ours_file"]).resolve() == Path(h1.__file__).resolve()


# ---------------------------------------------------------------------------
# compat/matrix.py
# ---------------------------------------------------------------------------


def _result(version: str, *reasons: str) -> Any:
    result = matrix.Result(version)
    result.known_differences = [
        {"id": f"tornado.test.x_test.T.test_{i}", "reason": reason}
        for i, reason in enumerate(reasons)
    ]
    return result


def test_pass_criteria() -> None:
    cited = "RFC 9112 §6.3: a message with both TE and CL must be rejected"
    ok = _result("6.2", cited, "GHSA-753j-mpmx-qq6g request smuggling")
    matrix.check_budget(ok)
    assert ok.problems == []

    too_many = _result("6.3.3", cited, cited, cited)
    matrix.check_budget(too_many)
    assert any("at most 2" in p for p in too_many.problems)

    # 6.4.2 and later: no known differences at all.
    for version in ("6.4.2", "6.5.10", "6.6.1"):
        newer = _result(version, cited)
        matrix.check_budget(newer)
        assert any("at most 0" in p for p in newer.problems), version

    uncited = _result("6.2", "upstream asserts the old behaviour")
    matrix.check_budget(uncited)
    assert any("must cite" in p for p in uncited.problems)


@pytest.mark.parametrize(
    "reason, cites",
    [
        ("RFC 9112 section 6.1", True),
        ("see RFC9110 §5.5", True),
        ("CVE-2024-52804: quadratic cookie parsing", True),
        ("GHSA-8w49-h785-mj3c", True),
        ("upstream changed this", False),
        ("RFC", False),
    ],
)
def test_citation(reason: str, cites: bool) -> None:
    assert bool(matrix.CITATION.search(reason)) is cites


def _report(tmp_path: Path, ok: bool, **extra: Any) -> Path:
    report = {
        "counts": {
            "tests_run": 10,
            "passed": 8,
            "failed": 1,
            "errors": 0,
            "skipped": 1,
        },
        "log_check": {
            "infos": 0,
            "warnings": 0,
            "errors": 0,
            "stderr_bytes": 0,
            "clean": True,
        },
        "verdict": {
            "ok": ok,
            "problems": [] if ok else ["failed: tornado.test.a_test.A.test_b"],
            "expected_failures": [
                {"id": "tornado.test.x_test.X.test_y", "reason": "RFC 9112 §5.2"}
            ]
            if ok
            else [],
        },
    }
    report.update(extra)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    return path


def test_read_report(tmp_path: Path) -> None:
    good = matrix.Result("6.2")
    matrix.read_report(good, _report(tmp_path, ok=True), 0)
    assert good.ok and good.suite_ok
    assert good.counts["passed"] == 8
    assert good.known_differences[0]["reason"] == "RFC 9112 §5.2"

    bad = matrix.Result("6.6.1")
    matrix.read_report(bad, _report(tmp_path, ok=False), 1)
    assert not bad.ok
    assert bad.problems == ["suite: failed: tornado.test.a_test.A.test_b"]

    # A zero verdict with a non-zero exit is still a failure.
    odd = matrix.Result("6.6.1")
    matrix.read_report(odd, _report(tmp_path, ok=False, verdict={"ok": True}), 1)
    assert not odd.ok

    missing = matrix.Result("6.4.2")
    matrix.read_report(missing, tmp_path / "nothing.json", None)
    assert not missing.ok and "no report" in missing.problems[0]


def test_markdown(tmp_path: Path) -> None:
    good = matrix.Result("6.2")
    good.env = {
        "python": "3.11.7",
        "tornado_h1": "0.1.0",
        "behaviour": {"a": True, "b": "x"},
    }
    matrix.read_report(good, _report(tmp_path, ok=True), 0)
    good.exports = {"checked": ["A", "B"], "differences": []}
    bad = matrix.Result("6.6.1")
    bad.env = {
        "python": "3.11.7",
        "tornado_h1": "0.1.0",
        "behaviour": {"a": False, "b": "y"},
    }
    bad.problems.append("exports: parse_int: missing")
    bad.exports = {"checked": ["A"], "differences": ["parse_int: missing"]}
    text = matrix.markdown([good, bad])
    assert "| 6.2 | 10 | 8 | 1 | 0 | 1 | 1 | clean | same (2 names) | pass |" in text
    assert "| 6.6.1 | — | — | — | — | — | 0 | — | 1 differences | **FAIL** |" in text
    assert "| 6.2 | `tornado.test.x_test.X.test_y` | RFC 9112 §5.2 |" in text
    assert "| `a` | yes | no |" in text
    assert "- 6.6.1: exports: parse_int: missing" in text
    # Nothing that changes from run to run.
    assert "seconds" not in text and " s)" not in text


def test_environment_reuse_rules() -> None:
    here = str(ROOT / "tornado_h1")
    extras = {name: True for name in matrix.SUITE_EXTRAS}
    info = {"tornado": "6.5", "tornado_h1_dir": here, "extras": extras}
    assert matrix.usable(info, "6.5.0") is None
    assert "6.4.2" in matrix.usable(dict(info, tornado="6.4.2"), "6.5.0")
    assert "not this checkout" in matrix.usable(
        dict(info, tornado_h1_dir="/elsewhere"), "6.5"
    )
    missing = dict(info, extras={name: False for name in matrix.SUITE_EXTRAS})
    assert "lacks" in matrix.usable(missing, "6.5")
    assert matrix.usable({"error": "boom"}, "6.5") == "boom"


def test_progress_counts_outcomes_across_reads() -> None:
    progress = matrix._Progress()
    stream = (
        b"test_a (m.T.test_a) ... ok\ntest_b (m.T.test_b) ... FAIL\n"
        b"test_c (m.T.test_c) ... skipped 'no'\ntest_d (m.T.test_d) ... ERROR\n"
    )
    for i in range(0, len(stream), 7):  # split mid-line
        progress.feed(stream[i : i + 7])
    assert (progress.done, progress.failing) == (4, 2)


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert matrix.main(["--versions", "six"]) == 2
    assert matrix.main(["--jobs", "0"]) == 2
    assert "error" in capsys.readouterr().err


def test_matrix_probe_of_this_interpreter() -> None:
    info = matrix.probe(Path(sys.executable))
    assert info["tornado"] == tornado.version
    assert Path(info["tornado_h1_dir"]).resolve() == (ROOT / "tornado_h1").resolve()
    assert info["behaviour"] == _versions.CURRENT._asdict()
