"""The drop-in surface: ``tornado_h1.http1connection`` against the installed
``tornado.http1connection``.

:func:`compare_modules` (:func:`tornado_h1.testing.exports.compare`, which
``compat/exports.py`` runs for every release) lists every difference that
code written against upstream could notice through introspection or a
call: a missing name, a different kind of object, a different signature
(parameter names, kinds and defaults; not annotations), a coroutine function
where upstream has a plain one, different base classes, public instance
attributes or loggers, and different constants. It is checked on the real
modules, and on deliberately altered copies to show that it does report each
kind of difference.

Finally Tornado's own API snapshot test (``tornado.test.api_test``) is run
with tornado_h1 installed in place of ``tornado.http1connection``.
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import logging
import re
import subprocess
import sys
import types
import unittest
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
import tornado
import tornado.http1connection as upstream
from tornado import httputil
from tornado.test import api_test

import tornado_h1
from tornado_h1 import http1connection as ours
from tornado_h1.testing import exports
from tornado_h1.testing.exports import (
    compare,
    defined_names,
    instance_attributes,
    kind_of,
)

assert upstream.__name__ == "tornado.http1connection"
assert upstream is not ours

# ---------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------


def compare_modules(
    reference: types.ModuleType, candidate: types.ModuleType
) -> list[str]:
    """Every difference between the two modules' surfaces, as text; an
    empty list means ``candidate`` is a drop-in for ``reference``. On the
    Tornado of the development environment, the newest release, what
    tornado_h1 has beyond upstream counts too: it would be new API."""
    found = compare(reference, candidate, strict=True)
    return found.differences + found.extra


def _is_public(name: str) -> bool:
    return not name.startswith("_")


# Differences that are known and accepted, each with the reason. A test
# below fails when an entry no longer occurs, so the list cannot go stale.
KNOWN_DIFFERENCES: set[str] = set()


# ---------------------------------------------------------------------------
# The real modules
# ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _not_installed() -> Iterator[None]:
    # While installed, inspect.getsource(upstream class) would read
    # tornado_h1's file (it looks the module up by __module__ in sys.modules).
    assert not tornado_h1.is_installed()
    yield
    assert not tornado_h1.is_installed()


def test_upstream_names_are_what_the_brief_lists() -> None:
    # The rule finds the private names too; pin a few so that a broken rule
    # (say, one that saw only classes) cannot pass vacuously.
    names = defined_names(upstream)
    for name in [
        "HTTP1Connection",
        "HTTP1ConnectionParameters",
        "HTTP1ServerConnection",
        "_GzipMessageDelegate",
        "_QuietException",
        "_ExceptionLoggingContext",
        "_MAX_1XX_RESPONSES",
        "_YIELD_THRESHOLD",
        "_CHUNK_YIELD_COST",
        "CR_OR_LF_RE",
        "DIGITS",
        "HEXDIGITS",
        "parse_int",
        "parse_hex_int",
        "is_transfer_encoding_chunked",
    ]:
        assert name in names
    # Imports are not definitions.
    for name in ["re", "httputil", "Future", "gen_log", "app_log", "Optional"]:
        assert name not in names


def test_modules_match() -> None:
    diffs = compare_modules(upstream, ours)
    assert sorted(set(diffs) - KNOWN_DIFFERENCES) == []


def test_known_differences_still_occur() -> None:
    if not KNOWN_DIFFERENCES:
        pytest.skip("no known differences are listed")
    diffs = set(compare_modules(upstream, ours))
    assert KNOWN_DIFFERENCES <= diffs, "remove the fixed entries"


@pytest.mark.parametrize(
    "name",
    sorted(
        n for n in defined_names(upstream) if f"{n}: missing" not in KNOWN_DIFFERENCES
    ),
)
def test_same_kind(name: str) -> None:
    assert kind_of(getattr(ours, name)) == kind_of(getattr(upstream, name))


def test_async_ness_of_public_methods() -> None:
    checked = 0
    for cls_name in [
        "HTTP1Connection",
        "HTTP1ServerConnection",
        "_GzipMessageDelegate",
    ]:
        for member in dir(getattr(upstream, cls_name)):
            ref = getattr(getattr(upstream, cls_name), member)
            if not (_is_public(member) and inspect.isfunction(ref)):
                continue
            mine = getattr(getattr(ours, cls_name), member)
            assert inspect.iscoroutinefunction(mine) == inspect.iscoroutinefunction(
                ref
            ), f"{cls_name}.{member}"
            checked += 1
    assert checked >= 15
    # By hand, the two that matter most to callers:
    assert inspect.iscoroutinefunction(ours.HTTP1ServerConnection.close)
    assert not inspect.iscoroutinefunction(ours.HTTP1Connection.read_response)
    assert inspect.iscoroutinefunction(ours._GzipMessageDelegate.data_received)


def test_hand_written_signatures() -> None:
    assert str(inspect.signature(ours.HTTP1Connection.write_headers)).startswith(
        "(self, start_line"
    )
    assert [p for p in inspect.signature(ours.HTTP1Connection).parameters] == [
        "stream",
        "is_client",
        "params",
        "context",
    ]
    defaults = {
        name: p.default
        for name, p in inspect.signature(
            ours.HTTP1ConnectionParameters
        ).parameters.items()
    }
    assert defaults == {
        "no_keep_alive": False,
        "chunk_size": None,
        "max_header_size": None,
        "header_timeout": None,
        "max_body_size": None,
        "body_timeout": None,
        "decompress": False,
    }


def test_public_instance_attributes() -> None:
    assert {a for a in instance_attributes(ours.HTTP1Connection) if _is_public(a)} == {
        "is_client",
        "stream",
        "params",
        "context",
        "no_keep_alive",
    }
    assert {
        a for a in instance_attributes(ours.HTTP1ServerConnection) if _is_public(a)
    } == {"stream", "params", "context"}


def test_constants_and_patterns() -> None:
    assert ours._MAX_1XX_RESPONSES == upstream._MAX_1XX_RESPONSES == 10
    assert ours._YIELD_THRESHOLD == upstream._YIELD_THRESHOLD
    assert ours._CHUNK_YIELD_COST == upstream._CHUNK_YIELD_COST
    for name in ["CR_OR_LF_RE", "DIGITS", "HEXDIGITS"]:
        mine, theirs = getattr(ours, name), getattr(upstream, name)
        assert isinstance(mine, re.Pattern)
        assert (mine.pattern, mine.flags) == (theirs.pattern, theirs.flags)
    assert ours.CR_OR_LF_RE.pattern == b"\r|\n"


def test_same_logger_objects() -> None:
    from tornado.log import app_log, gen_log

    assert ours.gen_log is upstream.gen_log is gen_log
    assert ours.app_log is upstream.app_log is app_log
    # The guard around delegate calls logs to app_log, like upstream's
    # _ExceptionLoggingContext(app_log).
    guards = [
        v for v in vars(ours).values() if isinstance(v, ours._ExceptionLoggingContext)
    ]
    assert all(guard.logger is app_log for guard in guards)


def test_exception_logging_context_behaves_like_upstream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    for module in (upstream, ours):
        logger = logging.getLogger("test_exports.guard")
        with pytest.raises(module._QuietException):
            with module._ExceptionLoggingContext(logger):
                raise KeyError("boom")
        with pytest.raises(httputil.HTTPInputError):
            with module._ExceptionLoggingContext(logger):
                raise httputil.HTTPInputError("bad")
        with module._ExceptionLoggingContext(logger):
            pass
    records = [r for r in caplog.records if r.name == "test_exports.guard"]
    assert [r.getMessage() for r in records] == ["Uncaught exception"] * 2
    assert all(r.exc_info and r.exc_info[0] is KeyError for r in records)


# ---------------------------------------------------------------------------
# The comparison reports what it should (altered copies of our module)
# ---------------------------------------------------------------------------


def _copy_module() -> types.ModuleType:
    fake = types.ModuleType(ours.__name__)
    fake.__dict__.update(vars(ours))
    return fake


def _copy_class(cls: type, **changes: Any) -> type:
    namespace = {
        k: v for k, v in vars(cls).items() if k not in ("__dict__", "__weakref__")
    }
    namespace.update(changes)
    return type(cls.__name__, cls.__bases__, namespace)


def _parse_int_renamed(text: str) -> int:
    return int(text)


def _write_headers_renamed(
    self: Any, start_line: Any, headers: Any, data: Any = None
) -> Any:
    return None


def _write_headers_other_default(
    self: Any, start_line: Any, headers: Any, chunk: Any = b""
) -> Any:
    return None


def _write_headers_keyword_only(
    self: Any, start_line: Any, headers: Any, *, chunk: Any = None
) -> Any:
    return None


async def _read_response_async(self: Any, delegate: Any) -> bool:
    return True


def _close_not_async(self: Any) -> None:
    return None


def _params_init_other_default(
    self: Any,
    no_keep_alive: bool = False,
    chunk_size: Any = 65536,
    max_header_size: Any = None,
    header_timeout: Any = None,
    max_body_size: Any = None,
    body_timeout: Any = None,
    decompress: bool = False,
) -> None:
    pass


class HTTP1ServerConnection:
    """A stand-in that forgets to set a public instance attribute."""

    def __init__(self, stream: Any, params: Any = None, context: Any = None) -> None:
        self.stream = stream
        self.params = params

    async def close(self) -> None:
        pass

    def start_serving(self, delegate: Any) -> None:
        pass


def _rebase_gzip_delegate(module: types.ModuleType) -> None:
    cls = ours._GzipMessageDelegate
    namespace = {
        k: v for k, v in vars(cls).items() if k not in ("__dict__", "__weakref__")
    }
    module._GzipMessageDelegate = type(cls.__name__, (object,), namespace)  # type: ignore[attr-defined]


def _mutate(
    name: str, change: Callable[[types.ModuleType], None], expected: str
) -> Any:
    """One altered copy: ``change`` applied to a copy of our module must be
    reported with a difference containing ``expected``."""
    return pytest.param(change, expected, id=name)


def _set(attr: str, value: Any) -> Callable[[types.ModuleType], None]:
    return lambda module: setattr(module, attr, value)


def _patch_class(cls_name: str, **changes: Any) -> Callable[[types.ModuleType], None]:
    def change(module: types.ModuleType) -> None:
        setattr(module, cls_name, _copy_class(getattr(ours, cls_name), **changes))

    return change


_W = "HTTP1Connection.write_headers: signature"

MUTATIONS = [
    _mutate(
        "function_renamed_param",
        _set("parse_int", _parse_int_renamed),
        "parse_int: signature",
    ),
    _mutate(
        "function_became_data",
        _set("parse_hex_int", 5),
        "parse_hex_int: data != function",
    ),
    _mutate(
        "missing_class",
        lambda m: delattr(m, "_QuietException"),
        "_QuietException: missing",
    ),
    _mutate(
        "missing_constant",
        lambda m: delattr(m, "_YIELD_THRESHOLD"),
        "_YIELD_THRESHOLD: missing",
    ),
    _mutate(
        "constant_changed",
        _set("_MAX_1XX_RESPONSES", 11),
        "_MAX_1XX_RESPONSES: 11 != 10",
    ),
    _mutate(
        "constant_type_changed",
        _set("_CHUNK_YIELD_COST", 1024.0),
        "_CHUNK_YIELD_COST: 1024.0 != 1024",
    ),
    _mutate(
        "pattern_changed",
        _set("DIGITS", re.compile(r"\d+")),
        "DIGITS: pattern",
    ),
    _mutate(
        "pattern_flags_changed",
        _set("HEXDIGITS", re.compile(r"[0-9a-fA-F]+", re.IGNORECASE)),
        "HEXDIGITS: pattern",
    ),
    _mutate(
        "method_renamed_param",
        _patch_class("HTTP1Connection", write_headers=_write_headers_renamed),
        _W,
    ),
    _mutate(
        "method_other_default",
        _patch_class("HTTP1Connection", write_headers=_write_headers_other_default),
        _W,
    ),
    _mutate(
        "method_keyword_only",
        _patch_class("HTTP1Connection", write_headers=_write_headers_keyword_only),
        _W,
    ),
    _mutate(
        "method_became_async",
        _patch_class("HTTP1Connection", read_response=_read_response_async),
        "HTTP1Connection.read_response: coroutine function != function",
    ),
    _mutate(
        "method_lost_async",
        _patch_class("HTTP1ServerConnection", close=_close_not_async),
        "HTTP1ServerConnection.close: function != coroutine function",
    ),
    _mutate(
        "init_other_default",
        _patch_class("HTTP1ConnectionParameters", __init__=_params_init_other_default),
        "HTTP1ConnectionParameters.__init__: signature",
    ),
    _mutate(
        "extra_public_method",
        _patch_class("HTTP1Connection", extra=lambda self: None),
        "HTTP1Connection.extra: not in upstream",
    ),
    _mutate(
        "method_became_property",
        _patch_class("HTTP1Connection", detach=property(lambda self: None)),
        "HTTP1Connection.detach: property != function",
    ),
    _mutate(
        "base_class_changed",
        _rebase_gzip_delegate,
        "_GzipMessageDelegate: bases",
    ),
    _mutate(
        "instance_attribute_missing",
        _set("HTTP1ServerConnection", HTTP1ServerConnection),
        "HTTP1ServerConnection.context: instance attribute missing",
    ),
    _mutate(
        "other_logger",
        _set("gen_log", logging.getLogger("tornado.general.other")),
        "gen_log: not the same logger object",
    ),
    _mutate(
        "extra_logger",
        _set("my_log", logging.getLogger("tornado_h1")),
        "my_log: a logger upstream does not use",
    ),
]


@pytest.mark.parametrize("change, expected", MUTATIONS)
def test_comparison_reports_each_kind_of_difference(
    change: Callable[[types.ModuleType], None], expected: str
) -> None:
    fake = _copy_module()
    assert sorted(set(compare_modules(upstream, fake)) - KNOWN_DIFFERENCES) == []
    change(fake)
    diffs = set(compare_modules(upstream, fake)) - KNOWN_DIFFERENCES
    assert any(expected in diff for diff in diffs), sorted(diffs)


def test_comparison_sees_a_renamed_parameter_in_the_live_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The same, but on the imported module object itself, as a careless
    # edit to tornado_h1/http1connection.py would do.
    monkeypatch.setattr(ours, "parse_hex_int", _parse_int_renamed)
    with pytest.raises(AssertionError):
        test_modules_match()


# ---------------------------------------------------------------------------
# Tornado's own API snapshot test, with tornado_h1 installed
# ---------------------------------------------------------------------------


def _run_api_snapshot_test() -> unittest.TestResult:
    # Import every module the snapshot covers *before* installing, so that
    # none of them is first imported (and bound to tornado_h1) meanwhile.
    for name in api_test.MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # an optional dependency; api_test skips it too
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(api_test.APISnapshotTest)
    with tornado_h1.installed():
        assert tornado_h1.is_installed()
        # What the snapshot test sees is really tornado_h1.
        listing = api_test.describe_module("tornado.http1connection")
        assert listing, "nothing described"
        import tornado.http1connection as seen

        assert seen is ours
        result = unittest.TextTestRunner(stream=io.StringIO(), verbosity=0).run(suite)
    return result


def test_tornado_api_snapshot_passes_when_installed() -> None:
    result = _run_api_snapshot_test()
    assert result.testsRun == 1
    assert result.skipped == []
    assert result.failures == [] and result.errors == []
    assert result.wasSuccessful()


def test_tornado_api_snapshot_fails_on_a_changed_signature() -> None:
    # Proof that the snapshot test really inspects tornado_h1: give
    # parse_int a different parameter name (labelled as installed objects
    # are) and it must fail.
    original = ours.parse_int

    def parse_int(text: str) -> int:
        return original(text)

    parse_int.__module__ = "tornado.http1connection"
    ours.parse_int = parse_int  # type: ignore[assignment]
    try:
        result = _run_api_snapshot_test()
    finally:
        ours.parse_int = original  # type: ignore[assignment]
    assert not result.wasSuccessful()
    (failure,) = result.failures
    assert "tornado.http1connection.parse_int: function(text)" in failure[1]
    assert "tornado.http1connection.parse_int: function(s)" in failure[1]


# ---------------------------------------------------------------------------
# Without strict (an older release), and compat/exports.py's command line
# ---------------------------------------------------------------------------


def test_without_strict_private_names_must_only_exist() -> None:
    fake = _copy_module()
    fake._MAX_1XX_RESPONSES = 11  # type: ignore[attr-defined]
    fake.HTTP1Connection = _copy_class(  # type: ignore[attr-defined]
        ours.HTTP1Connection, extra=lambda self: None
    )
    strict = compare(upstream, fake, strict=True)
    assert "_MAX_1XX_RESPONSES: 11 != 10" in strict.differences
    lenient = compare(upstream, fake, strict=False)
    assert not any(d.startswith("_MAX_1XX_RESPONSES") for d in lenient.differences)
    # What only tornado_h1 has is never a difference, only an extra.
    assert "HTTP1Connection.extra: not in upstream" in lenient.extra
    assert not any("extra" in d for d in lenient.differences)
    del fake._QuietException
    assert (
        "_QuietException: missing" in compare(upstream, fake, strict=False).differences
    )


def test_exports_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    found = compare(upstream, ours, strict=False)
    status = exports.main(["--json"])
    data = json.loads(capsys.readouterr().out)
    assert status == (1 if found.differences else 0)
    assert data["differences"] == found.differences
    assert data["checked"] == sorted(defined_names(upstream))
    assert data["tornado_version"] == tornado.version
    assert exports.main([]) == status
    text = capsys.readouterr().out
    assert text.startswith(f"Tornado {tornado.version}: {len(data['checked'])} names")


def test_exports_command_line_lists_differences_and_extras(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    found = exports.Comparison(["A", "B"], ["A: missing"], ["C: not in upstream"])
    monkeypatch.setattr(exports, "compare", lambda *args, **kwargs: found)
    assert exports.main([]) == 1
    assert capsys.readouterr().out.splitlines()[1:] == [
        "  A: missing",
        "  (tornado_h1 only: C: not in upstream)",
    ]


def test_exports_command_line_refuses_an_installed_module(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with tornado_h1.installed():
        assert exports.main([]) == 2
    assert "is tornado_h1 installed" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "tornado_h1.http1connection", None)
    assert exports.main([]) == 2
    assert "cannot import" in capsys.readouterr().err


def test_compat_exports_script() -> None:
    script = Path(__file__).resolve().parent.parent / "compat" / "exports.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    data = json.loads(proc.stdout)
    assert proc.returncode == (1 if data["differences"] else 0), proc.stderr
    assert "HTTP1Connection" in data["checked"]
