"""The drop-in surface: ``tornado_h1.http1connection`` against the installed
``tornado.http1connection``.

:func:`compare_modules` lists every difference that code written against
upstream could notice through introspection or a call: a missing name, a
different kind of object, a different signature (parameter names, kinds and
defaults; not annotations), a coroutine function where upstream has a plain
one, different base classes, public instance attributes or loggers, and
different constants. It is checked on the real modules, and on deliberately
altered copies to show that it does report each kind of difference.

Finally Tornado's own API snapshot test (``tornado.test.api_test``) is run
with tornado_h1 installed in place of ``tornado.http1connection``.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import io
import logging
import re
import types
import unittest
from collections.abc import Iterator
from typing import Any, Callable, Optional

import pytest
import tornado.http1connection as upstream
from tornado import httputil
from tornado.test import api_test

import tornado_h1
from tornado_h1 import http1connection as ours

assert upstream.__name__ == "tornado.http1connection"
assert upstream is not ours

# ---------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------


@functools.cache
def _source_tree(path: str) -> ast.Module:
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read())


def defined_names(module: types.ModuleType) -> set[str]:
    """Names a module's own source binds at top level: assignments (also
    inside top-level ``if``/``try``), ``def``, ``async def`` and ``class``.
    Imports are not definitions. (The same rule as Tornado's api_test, which
    takes assigned names plus objects whose ``__module__`` is the module;
    reading ``def``/``class`` from the source instead keeps working while
    tornado_h1 relabels its objects' ``__module__``.)"""
    tree = _source_tree(inspect.getfile(module))
    names: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    names.update(
                        n.id for n in ast.walk(target) if isinstance(n, ast.Name)
                    )
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                if isinstance(node.target, ast.Name):
                    names.add(node.target.id)
            elif isinstance(
                node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            ):
                names.add(node.name)
            elif isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)

    visit(tree.body)
    return names


def _class_def(cls: type) -> ast.ClassDef:
    """The ``class`` statement of ``cls`` in its module's source file."""
    body: list[ast.stmt] = _source_tree(inspect.getfile(cls)).body
    found: Optional[ast.ClassDef] = None
    for part in cls.__qualname__.split("."):
        found = next(n for n in body if isinstance(n, ast.ClassDef) and n.name == part)
        body = found.body
    assert found is not None
    return found


@functools.cache
def instance_attributes(cls: type) -> frozenset[str]:
    """Attributes declared in the class body with an annotation, or assigned
    through the first parameter (``self``) of any of its methods."""
    class_def = _class_def(cls)
    found: set[str] = set()
    for node in class_def.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found.add(node.target.id)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        params = node.args.posonlyargs + node.args.args
        if not params:
            continue
        self_name = params[0].arg
        for sub in ast.walk(node):
            targets: list[ast.expr] = []
            if isinstance(sub, ast.Assign):
                targets = list(sub.targets)
            elif isinstance(sub, (ast.AnnAssign, ast.AugAssign)):
                targets = [sub.target]
            for target in targets:
                for leaf in ast.walk(target):
                    if (
                        isinstance(leaf, ast.Attribute)
                        and isinstance(leaf.value, ast.Name)
                        and leaf.value.id == self_name
                    ):
                        found.add(leaf.attr)
    return frozenset(found)


def kind_of(value: Any) -> str:
    if inspect.isclass(value):
        return "class"
    if inspect.iscoroutinefunction(value):
        return "coroutine function"
    if inspect.isfunction(value):
        return "function"
    return "data"


def signature_of(func: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    """Parameter names, kinds and defaults; annotations are ignored."""
    return [
        (p.name, p.kind, p.default) for p in inspect.signature(func).parameters.values()
    ]


def _is_public(name: str) -> bool:
    return not name.startswith("_")


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _base_names(cls: type, module: types.ModuleType) -> list[str]:
    here = {module.__name__, upstream.__name__, ours.__name__}
    return [
        (
            "<this module>." + base.__qualname__
            if base.__module__ in here
            else f"{base.__module__}.{base.__qualname__}"
        )
        for base in cls.__bases__
    ]


def _own_functions(cls: type) -> dict[str, Any]:
    """Functions a class defines itself, public or dunder (``__init__``,
    ``__exit__``...), unwrapped from staticmethod/classmethod."""
    functions = {}
    for name, value in vars(cls).items():
        if not (_is_public(name) or _is_dunder(name)):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value):
            functions[name] = value
    return functions


def compare_classes(
    name: str,
    reference: type,
    ref_module: types.ModuleType,
    candidate: type,
    cand_module: types.ModuleType,
) -> list[str]:
    diffs = []
    if _base_names(reference, ref_module) != _base_names(candidate, cand_module):
        diffs.append(
            f"{name}: bases {_base_names(candidate, cand_module)} != "
            f"{_base_names(reference, ref_module)}"
        )
    ref_public = {n for n in dir(reference) if _is_public(n)}
    cand_public = {n for n in dir(candidate) if _is_public(n)}
    for member in sorted(ref_public - cand_public):
        diffs.append(f"{name}.{member}: missing")
    for member in sorted(cand_public - ref_public):
        diffs.append(f"{name}.{member}: not in upstream")
    for member in sorted(ref_public & cand_public):
        ref_value = inspect.getattr_static(reference, member)
        cand_value = inspect.getattr_static(candidate, member)
        if type(ref_value) is not type(cand_value):
            diffs.append(
                f"{name}.{member}: {type(cand_value).__name__} "
                f"!= {type(ref_value).__name__}"
            )
    ref_functions = _own_functions(reference)
    for member, ref_func in sorted(ref_functions.items()):
        cand_func = getattr(candidate, member, None)
        if isinstance(inspect.getattr_static(candidate, member, None), classmethod):
            cand_func = cand_func.__func__  # type: ignore[union-attr]
        if cand_func is None or not inspect.isfunction(cand_func):
            diffs.append(f"{name}.{member}: not a function in tornado_h1")
            continue
        if signature_of(ref_func) != signature_of(cand_func):
            diffs.append(
                f"{name}.{member}: signature {inspect.signature(cand_func)} "
                f"!= {inspect.signature(ref_func)}"
            )
        if inspect.iscoroutinefunction(ref_func) != inspect.iscoroutinefunction(
            cand_func
        ):
            diffs.append(
                f"{name}.{member}: {kind_of(cand_func)} != {kind_of(ref_func)}"
            )
    ref_attrs = {a for a in instance_attributes(reference) if _is_public(a)}
    cand_attrs = {a for a in instance_attributes(candidate) if _is_public(a)}
    for attr in sorted(ref_attrs - cand_attrs):
        diffs.append(f"{name}.{attr}: instance attribute missing")
    for attr in sorted(cand_attrs - ref_attrs):
        diffs.append(f"{name}.{attr}: instance attribute not in upstream")
    return diffs


def compare_data(name: str, reference: Any, candidate: Any) -> list[str]:
    if isinstance(reference, re.Pattern):
        if not isinstance(candidate, re.Pattern) or (
            candidate.pattern,
            candidate.flags,
        ) != (reference.pattern, reference.flags):
            return [f"{name}: pattern {candidate!r} != {reference!r}"]
        return []
    if isinstance(reference, logging.Logger):
        if candidate is not reference:
            return [f"{name}: not the same logger object"]
        return []
    if type(candidate) is not type(reference) or candidate != reference:
        return [f"{name}: {candidate!r} != {reference!r}"]
    return []


def compare_modules(
    reference: types.ModuleType, candidate: types.ModuleType
) -> list[str]:
    """Every difference between the two modules' surfaces, as text; an
    empty list means ``candidate`` is a drop-in for ``reference``."""
    diffs = []
    ref_names = defined_names(reference)
    cand_names = defined_names(candidate) | set(vars(candidate))
    for name in sorted(ref_names):
        if not hasattr(candidate, name):
            diffs.append(f"{name}: missing")
            continue
        ref_value = getattr(reference, name)
        cand_value = getattr(candidate, name)
        if kind_of(ref_value) != kind_of(cand_value):
            diffs.append(f"{name}: {kind_of(cand_value)} != {kind_of(ref_value)}")
            continue
        kind = kind_of(ref_value)
        if kind == "class":
            diffs += compare_classes(name, ref_value, reference, cand_value, candidate)
        elif kind != "data":
            if signature_of(ref_value) != signature_of(cand_value):
                diffs.append(
                    f"{name}: signature {inspect.signature(cand_value)} "
                    f"!= {inspect.signature(ref_value)}"
                )
        else:
            diffs += compare_data(name, ref_value, cand_value)
    # Public names tornado_h1 defines that upstream does not: they would be
    # new API.
    for name in sorted(defined_names(candidate) - ref_names):
        if _is_public(name):
            diffs.append(f"{name}: not in upstream")
    # The loggers: the same objects under the same names, and no others.
    for name, value in vars(reference).items():
        if isinstance(value, logging.Logger) and name not in ref_names:
            diffs += compare_data(name, value, getattr(candidate, name, None))
    ref_loggers = {
        id(v) for v in vars(reference).values() if isinstance(v, logging.Logger)
    }
    for name in sorted(cand_names):
        value = getattr(candidate, name, None)
        if isinstance(value, logging.Logger) and id(value) not in ref_loggers:
            diffs.append(f"{name}: a logger upstream does not use")
    return diffs


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
