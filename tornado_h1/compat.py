"""Run the installed Tornado's own test suite with tornado_h1 in place.

Usage::

    python -m tornado_h1.compat [OPTIONS] [TEST ...] [-- RUNTESTS-ARG ...]

Tornado ships its test suite in the wheel (``tornado.test``). This command
runs it, through Tornado's own runner ``tornado.test.runtests.main()``, in a
fresh interpreter in which :func:`tornado_h1.install` was called before any
test module was imported. Everything that runner does is kept: warnings are
errors, and a run that logs anything or writes anything to stderr outside the
test runner fails. ``--upstream`` runs the same suite without tornado_h1, as
a baseline.

A green run is only trusted if the swap really took effect: the child checks,
before and after the run, that ``tornado.http1connection`` and the names that
``tornado.httpserver`` and ``tornado.simple_httpclient`` imported from it are
tornado_h1's, and counts the ``HTTP1Connection`` objects created during the
run. No connections, or a swap that is not in place, fails the run.

Known differences
-----------------
``compat/known_differences`` (in a source checkout; ``--known-differences``
names another file) lists the tests that are expected to fail with tornado_h1,
one per line::

    # comment
    <test id>  <versions>  <reason>

``<test id>`` is a unittest id (``tornado.test.web_test.SomeTest.test_x``);
``*`` in it matches any run of characters. ``<versions>`` is a
comma-separated list of Tornado versions the entry applies to: ``*`` (all),
a version (``6.3`` covers 6.3, 6.3.1, ...; ``6.3.3`` only 6.3.3), or a
version followed by ``+`` (``6.4+``: 6.4 and later). The reason is the rest
of the line. For the installed Tornado, a listed test must fail (or error):
the run fails if an unlisted test fails, and also if a listed test passes.

Report
------
The child writes a JSON report (counts, the outcome of every test, the
failures with their tracebacks, skip reasons, the swap check and runtests'
log check); ``--json PATH`` saves it, with the verdict added, for other tools.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import importlib.util
import inspect
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Callable

PREFIX = "tornado_h1 compat:"
REPORT_FORMAT = 1

# How the parent talks to the child: where to write the report, which mode
# to run in, and which directory holds the ``tornado_h1`` package to test.
ENV_REPORT = "TORNADO_H1_COMPAT_REPORT"
ENV_MODE = "TORNADO_H1_COMPAT_MODE"
ENV_PACKAGE_PARENT = "TORNADO_H1_COMPAT_PACKAGE_PARENT"
# Set (to "1") to make write-behind hold every response it may, even when
# only one client is served (see tornado_h1._writebehind.ADAPTIVE): most of
# the suite's tests have one client, which otherwise never holds.
ENV_ALWAYS_HOLD = "TORNADO_H1_COMPAT_ALWAYS_HOLD"

MODE_TORNADO_H1 = "tornado_h1"
MODE_UPSTREAM = "upstream"

UPSTREAM_MODULE = "tornado.http1connection"
OUR_MODULE = "tornado_h1.http1connection"

# Outcomes of one test, as recorded in the report's "tests" mapping.
PASSED = "passed"
FAILED = "failed"
ERROR = "error"
SKIPPED = "skipped"
EXPECTED_FAILURE = "expected_failure"
UNEXPECTED_SUCCESS = "unexpected_success"
# Tornado >= 6.5 skips "abstract base" test classes with a special reason and
# does not report them as skips; neither do we.
ABSTRACT = "abstract_base"
UNKNOWN = "unknown"

FAILING = frozenset({FAILED, ERROR, UNEXPECTED_SUCCESS})
PASSING = frozenset({PASSED, EXPECTED_FAILURE})

_SEVERITY = {
    UNKNOWN: 0,
    PASSED: 1,
    EXPECTED_FAILURE: 1,
    ABSTRACT: 2,
    SKIPPED: 2,
    UNEXPECTED_SUCCESS: 3,
    FAILED: 4,
    ERROR: 5,
}

_HERE = Path(os.path.abspath(__file__))
# The directory on sys.path that holds this copy of the tornado_h1 package
# (the repository root in a checkout, site-packages in an installation).
PACKAGE_PARENT = _HERE.parent.parent
DEFAULT_KNOWN_DIFFERENCES = PACKAGE_PARENT / "compat" / "known_differences"


# ---------------------------------------------------------------------------
# Known differences
# ---------------------------------------------------------------------------


class KnownDifferencesError(ValueError):
    """A known-differences file that cannot be read or parsed."""


_VERSION_RE = re.compile(r"\d+(?:\.\d+)*")


def parse_version(text: str) -> tuple[int, ...]:
    """The numeric release part of a version string: ``"6.5b1"`` -> (6, 5)."""
    match = _VERSION_RE.match(text.strip())
    if match is None:
        raise ValueError(f"not a version: {text!r}")
    return tuple(int(part) for part in match.group(0).split("."))


def _padded(
    a: tuple[int, ...], b: tuple[int, ...]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    width = max(len(a), len(b))
    return a + (0,) * (width - len(a)), b + (0,) * (width - len(b))


@dataclasses.dataclass(frozen=True)
class VersionSpec:
    """Which Tornado versions a known difference applies to.

    ``items`` holds ``("*", ())``, ``("=", version)`` (the version and its
    point releases) or ``("+", version)`` (that version and later).
    """

    text: str
    items: tuple[tuple[str, tuple[int, ...]], ...]

    @classmethod
    def parse(cls, text: str) -> VersionSpec:
        items: list[tuple[str, tuple[int, ...]]] = []
        for raw in text.split(","):
            item = raw.strip()
            if item == "*":
                items.append(("*", ()))
                continue
            op = "="
            if item.endswith("+"):
                op, item = "+", item[:-1]
            if not re.fullmatch(r"\d+(?:\.\d+)*", item):
                raise ValueError(
                    f"bad version {raw.strip()!r} (expected '*', a version like "
                    "'6.3' or '6.3.3', or a version followed by '+')"
                )
            items.append((op, tuple(int(p) for p in item.split("."))))
        return cls(text, tuple(items))

    def matches(self, version: str) -> bool:
        installed = parse_version(version)
        for op, wanted in self.items:
            if op == "*":
                return True
            if op == "=" and installed[: len(wanted)] == wanted:
                return True
            if op == "+":
                have, want = _padded(installed, wanted)
                if have >= want:
                    return True
        return False


@dataclasses.dataclass(frozen=True)
class KnownDifference:
    """One entry of the known-differences file."""

    test_id: str
    versions: VersionSpec
    reason: str
    source: str = ""

    def applies_to(self, tornado_version: str) -> bool:
        return self.versions.matches(tornado_version)

    def matches(self, test_id: str) -> bool:
        if "*" not in self.test_id:
            return test_id == self.test_id
        pattern = ".*".join(re.escape(part) for part in self.test_id.split("*"))
        return re.fullmatch(pattern, test_id) is not None


def parse_known_differences(
    text: str, source: str = "<known_differences>"
) -> list[KnownDifference]:
    """Parse the known-differences format (see the module docstring)."""
    entries: list[KnownDifference] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = stripped.split(None, 2)
        where = f"{source}:{lineno}"
        if len(fields) < 3:
            raise KnownDifferencesError(
                f"{where}: expected '<test id>  <versions>  <reason>', got {stripped!r}"
            )
        test_id, versions, reason = fields
        try:
            spec = VersionSpec.parse(versions)
        except ValueError as exc:
            raise KnownDifferencesError(f"{where}: {exc}") from None
        entries.append(KnownDifference(test_id, spec, reason.strip(), where))
    return entries


def load_known_differences(
    path: str | os.PathLike[str] | None = None,
    default: Path = DEFAULT_KNOWN_DIFFERENCES,
) -> tuple[list[KnownDifference], Path | None]:
    """Read the known differences from ``path``, or from the default file.

    A missing default file (as in an installation from a wheel, which does
    not ship it) means no known differences; a missing explicit ``path`` is
    an error. Returns the entries and the file they came from.
    """
    if path is None:
        if not default.is_file():
            return [], None
        chosen = default
    else:
        chosen = Path(path)
    try:
        text = chosen.read_text(encoding="utf-8")
    except OSError as exc:
        raise KnownDifferencesError(
            f"cannot read {chosen}: {exc.strerror or exc}"
        ) from None
    return parse_known_differences(text, str(chosen)), chosen


# ---------------------------------------------------------------------------
# The verdict
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Verdict:
    ok: bool
    problems: list[str]
    notes: list[str]
    # Failures that known differences account for: (test id, entry).
    expected: list[tuple[str, KnownDifference]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": list(self.problems),
            "notes": list(self.notes),
            "expected_failures": [
                {"id": test_id, "reason": entry.reason, "entry": entry.source}
                for test_id, entry in self.expected
            ],
        }


def judge(
    report: dict[str, Any],
    known: Sequence[KnownDifference] = (),
    *,
    require_connections: bool = True,
) -> Verdict:
    """Decide whether a run (the child's report) passed.

    Known differences apply only when tornado_h1 was active, and only the
    entries for the Tornado version that ran.
    """
    problems: list[str] = []
    notes: list[str] = []
    expected: list[tuple[str, KnownDifference]] = []

    if report.get("interrupted"):
        problems.append("the run was interrupted")
    if not report.get("completed"):
        crash = report.get("crash") or "no report"
        problems.append(f"the test run did not complete:\n{str(crash).rstrip()}")

    mode = report.get("mode", MODE_TORNADO_H1)
    swap = report.get("swap") or {}
    for problem in swap.get("problems") or []:
        problems.append(f"swap check: {problem}")
    if report.get("completed") and not swap.get("ok"):
        if not swap.get("problems"):
            problems.append("swap check: not performed")
    connections = swap.get("connections")
    if report.get("completed"):
        if connections is None:
            problems.append("swap check: HTTP1Connection objects were not counted")
        elif connections == 0:
            message = "no HTTP1Connection was created during the run, so " + (
                "tornado_h1 was not exercised"
                if mode == MODE_TORNADO_H1
                else "the counter saw nothing"
            )
            if require_connections:
                problems.append(f"swap check: {message}")
            else:
                notes.append(message)

    counts = report.get("counts") or {}
    if report.get("completed") and not counts.get("tests_run"):
        problems.append("no tests ran")

    tests: dict[str, str] = report.get("tests") or {}
    failures: list[dict[str, Any]] = report.get("problems") or []
    version = str(report.get("tornado_version") or "")
    applicable: list[KnownDifference] = []
    if mode == MODE_TORNADO_H1 and version:
        applicable = [entry for entry in known if entry.applies_to(version)]
    elif known and mode != MODE_TORNADO_H1:
        notes.append("known differences are not applied to the upstream baseline")

    for failure in failures:
        test_id = str(failure.get("id"))
        parent = str(failure.get("test") or test_id)
        entry = next(
            (e for e in applicable if e.matches(test_id) or e.matches(parent)),
            None,
        )
        outcome = str(failure.get("outcome", FAILED)).replace("_", " ")
        if entry is None:
            problems.append(f"{outcome}: {test_id}")
        else:
            expected.append((test_id, entry))

    for entry in applicable:
        matched = [test_id for test_id in tests if entry.matches(test_id)]
        matched += [
            str(f.get("id"))
            for f in failures
            if entry.matches(str(f.get("id"))) and str(f.get("id")) not in tests
        ]
        if not matched:
            continue  # not among the tests that ran
        passing = [t for t in matched if tests.get(t) in PASSING]
        for test_id in passing:
            problems.append(
                f"listed in known differences but passed: {test_id} "
                f"({entry.source}: {entry.reason})"
            )
        if not passing and all(tests.get(t) in (SKIPPED, ABSTRACT) for t in matched):
            notes.append(f"listed in known differences but skipped: {entry.test_id}")

    log = report.get("log_check")
    if report.get("completed"):
        if log is None:
            problems.append("runtests' log check did not run")
        elif not log.get("clean"):
            _judge_log(log, expected, failures, problems, notes)

    if report.get("completed") and not problems:
        exit_code = report.get("exit_code")
        if exit_code not in (0, None) and not failures:
            problems.append(f"runtests exited with status {exit_code}")

    return Verdict(not problems, problems, notes, expected)


def _judge_log(
    log: dict[str, Any],
    expected: list[tuple[str, KnownDifference]],
    failures: list[dict[str, Any]],
    problems: list[str],
    notes: list[str],
) -> None:
    """runtests found log output: fail, unless it all came from tests that
    known differences expect to fail (they tend to log why they fail)."""
    text = f"runtests: logged {_log_numbers(log)}"
    by_test: dict[str, dict[str, int]] = log.get("by_test") or {}
    excused = {test_id for test_id, _ in expected}
    excused |= {str(f.get("test")) for f in failures if str(f.get("id")) in excused}
    sources = [
        f"{test_id} ({_log_numbers(numbers)})"
        for test_id, numbers in sorted(by_test.items())
        if test_id not in excused
    ]
    if not log.get("enforced", True):
        notes.append(text + " (not enforced: --fail-if-logs=false)")
    elif by_test and not sources:
        notes.append(text + ", all of it from tests listed in known differences")
    else:
        if sources:
            text += ", from:\n" + "\n".join(sources)
        problems.append(text)


# ---------------------------------------------------------------------------
# The summary
# ---------------------------------------------------------------------------


def _log_numbers(log: dict[str, Any]) -> str:
    return (
        f"{log.get('infos', 0)} infos, {log.get('warnings', 0)} warnings, "
        f"{log.get('errors', 0)} errors, and {log.get('stderr_bytes', 0)} bytes "
        "to stderr"
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def summary_line(report: dict[str, Any]) -> str:
    """``tornado_h1 compat: Tornado 6.6.1: N passed, N failed, ...``."""
    counts = report.get("counts") or {}
    parts = [
        f"{counts.get('passed', 0)} passed",
        f"{counts.get('failed', 0)} failed",
        f"{counts.get('errors', 0)} errors",
        f"{counts.get('skipped', 0)} skipped",
    ]
    if counts.get("expected_failures"):
        parts.append(_plural(counts["expected_failures"], "expected failure"))
    if counts.get("unexpected_successes"):
        parts.append(_plural(counts["unexpected_successes"], "unexpected success"))
    swap = report.get("swap") or {}
    connections = swap.get("connections")
    shown = "?" if connections is None else str(connections)
    if report.get("mode") == MODE_UPSTREAM:
        active = (
            "upstream tornado.http1connection, tornado_h1 not loaded: "
            f"{shown} connections"
        )
    elif swap.get("ok"):
        active = f"tornado_h1 active: {shown} connections"
    else:
        active = f"tornado_h1 NOT verified: {shown} connections"
    version = report.get("tornado_version") or "?"
    return f"{PREFIX} Tornado {version}: {', '.join(parts)} ({active})"


def skip_summary(report: dict[str, Any]) -> str | None:
    """The skip reasons with how many tests each skipped, most first."""
    skips: dict[str, str] = report.get("skips") or {}
    if not skips:
        return None
    by_reason: dict[str, int] = {}
    for reason in skips.values():
        by_reason[reason] = by_reason.get(reason, 0) + 1
    ordered = sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
    return f"{PREFIX} skipped: " + "; ".join(f"{n} x {reason}" for reason, n in ordered)


def log_summary(report: dict[str, Any]) -> str:
    log = report.get("log_check")
    if log is None:
        return f"{PREFIX} runtests log check: did not run"
    verdict = "clean" if log.get("clean") else "UNEXPECTED LOG OUTPUT"
    return f"{PREFIX} runtests log check: {verdict} (logged {_log_numbers(log)})"


def format_summary(report: dict[str, Any], verdict: Verdict) -> list[str]:
    lines: list[str] = []
    skips = skip_summary(report)
    if skips:
        lines.append(skips)
    for test_id, entry in verdict.expected:
        lines.append(
            f"{PREFIX} known difference (failed as expected): {test_id}: {entry.reason}"
        )
    for note in verdict.notes:
        lines.append(f"{PREFIX} note: {note}")
    lines.append(log_summary(report))
    lines.append(summary_line(report))
    if verdict.ok:
        lines.append(f"{PREFIX} OK")
    else:
        lines.append(f"{PREFIX} FAILED:")
        for problem in verdict.problems:
            lines.append("  " + problem.replace("\n", "\n    "))
    return lines


# ---------------------------------------------------------------------------
# The child: runs inside the fresh interpreter
# ---------------------------------------------------------------------------


# Attribute names used through getattr/setattr (mypy rejects assigning to
# ``cls.__init__`` and to attributes of a module it knows nothing about).
_INIT = "__init__"
_DEFAULT_TEST = "all"


class InstanceCounter:
    """Counts the objects a class creates, by wrapping its ``__init__``.

    Why this way: the count must not disturb what the suite inspects, above
    all ``tornado.test.api_test``, which lists every public class member with
    its signature (via ``inspect.signature``) and reads class sources (via
    ``inspect.getsource``). The alternatives were worse: subclassing changes
    the class the swap check compares; wrapping ``HTTPServer.handle_stream``
    touches another public API and misses client connections; a
    ``sys.setprofile`` hook slows every call in the suite (and its timing
    tests); ``gc`` scans miss short-lived objects. The wrapper here is made
    with :func:`functools.wraps`, so it keeps ``__module__``, ``__qualname__``,
    ``__doc__`` and ``__wrapped__``, through which ``inspect.signature`` and
    ``inspect.getsource`` see the original function; the class's own source
    is not involved. :meth:`start` checks exactly that, and refuses (leaving
    the class untouched) if anything an introspecting test could see differs.
    """

    method = "functools.wraps wrapper around __init__"

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.count = 0
        self._original: Any = None
        self._had_own_init = False
        self._wrapper: Any = None

    def start(self) -> str | None:
        """Install the counter. Returns a problem, or None if it is in place."""
        cls = self.cls
        original = cls.__dict__.get(_INIT)
        self._had_own_init = original is not None
        if original is None:
            original = getattr(cls, _INIT)
        if not inspect.isfunction(original):
            return f"{cls.__qualname__}.__init__ is not a Python function; cannot count"
        counter = self

        @functools.wraps(original)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            counter.count += 1
            original(self, *args, **kwargs)

        before = _introspection(cls, original)
        setattr(cls, _INIT, __init__)
        after = _introspection(cls, __init__)
        if before != after:
            self._original, self._wrapper = original, __init__
            self.stop()
            changed = ", ".join(key for key in before if before[key] != after.get(key))
            return (
                f"wrapping {cls.__qualname__}.__init__ to count connections would "
                f"change what inspect sees ({changed}); not counting"
            )
        self._original, self._wrapper = original, __init__
        return None

    def intact(self) -> bool:
        return (
            self._wrapper is not None and self.cls.__dict__.get(_INIT) is self._wrapper
        )

    def stop(self) -> None:
        if self._wrapper is None or self.cls.__dict__.get(_INIT) is not self._wrapper:
            return
        if self._had_own_init:
            setattr(self.cls, _INIT, self._original)
        else:
            delattr(self.cls, _INIT)
        self._wrapper = None


def _introspection(cls: type, init: Any) -> dict[str, Any]:
    """What introspection of ``cls.__init__`` shows: each lookup that
    ``tornado.test.api_test`` (or a doc tool) makes (see InstanceCounter).

    ``inspect.getsourcefile(init)`` is deliberately not compared: it does not
    follow ``__wrapped__``, so it names this file for any wrapper, and
    neither api_test nor anything else in the suite asks for it.
    """

    def attempt(func: Callable[[], Any]) -> Any:
        try:
            return func()
        except (OSError, TypeError, ValueError) as exc:
            return type(exc).__name__

    return {
        "isfunction": inspect.isfunction(init),
        "__module__": getattr(init, "__module__", None),
        "__qualname__": getattr(init, "__qualname__", None),
        "__name__": getattr(init, "__name__", None),
        "__doc__": getattr(init, "__doc__", None),
        "getdoc": attempt(lambda: inspect.getdoc(init)),
        "signature": attempt(lambda: str(inspect.signature(init))),
        "class signature": attempt(lambda: str(inspect.signature(cls))),
        "getsourcelines": attempt(lambda: inspect.getsourcelines(init)),
        "class getsource": attempt(lambda: inspect.getsource(cls)),
    }


def check_swap(mode: str) -> list[str]:
    """Problems with the state of ``tornado.http1connection`` in this process.

    In tornado_h1 mode everything must point at tornado_h1's objects; in
    upstream mode, at Tornado's own, and tornado_h1 must not be loaded at all.
    """
    import tornado

    problems: list[str] = []
    httpserver = importlib.import_module("tornado.httpserver")
    simple = importlib.import_module("tornado.simple_httpclient")
    current = sys.modules.get(UPSTREAM_MODULE)
    expected: Any
    if mode == MODE_TORNADO_H1:
        import tornado_h1

        ours = sys.modules.get(OUR_MODULE)
        if ours is None:
            return [f"{OUR_MODULE} is not loaded"]
        if not tornado_h1.is_installed():
            problems.append("tornado_h1.is_installed() is False")
        if current is not ours:
            problems.append(
                f'sys.modules["{UPSTREAM_MODULE}"] is {current!r}, not {OUR_MODULE}'
            )
        if getattr(tornado, "http1connection", None) is not ours:
            problems.append(f"tornado.http1connection is not {OUR_MODULE}")
        expected = ours
    else:
        loaded = sorted(
            n for n in sys.modules if n == "tornado_h1" or n.startswith("tornado_h1.")
        )
        if loaded:
            problems.append(
                f"tornado_h1 is loaded in the upstream baseline: {', '.join(loaded)}"
            )
        if current is None:
            return problems + [f"{UPSTREAM_MODULE} is not loaded"]
        tornado_dir = os.path.dirname(os.path.abspath(tornado.__file__ or ""))
        current_file = os.path.abspath(getattr(current, "__file__", None) or "")
        if (
            os.path.dirname(current_file) != tornado_dir
            or current.__name__ != UPSTREAM_MODULE
        ):
            problems.append(
                f'sys.modules["{UPSTREAM_MODULE}"] is {current!r}, not Tornado\'s own'
            )
        expected = current
    for module, name in (
        (httpserver, "HTTP1ServerConnection"),
        (httpserver, "HTTP1ConnectionParameters"),
        (simple, "HTTP1Connection"),
        (simple, "HTTP1ConnectionParameters"),
    ):
        if getattr(module, name, None) is not getattr(expected, name, None):
            problems.append(
                f"{module.__name__}.{name} is not {expected.__name__}.{name} "
                f"(it is {getattr(module, name, None)!r})"
            )
    return problems


OUTSIDE_TESTS = "(outside any test)"


def _no_output() -> dict[str, int]:
    return {"infos": 0, "warnings": 0, "errors": 0, "stderr_bytes": 0}


def _name_of(test: Any) -> str:
    try:
        return str(test.id())
    except Exception:  # an exotic test object; fall back to its repr
        return repr(test)


class Recorder:
    """Collects what happened to every test, from inside unittest's result."""

    def __init__(self) -> None:
        self.tests: dict[str, str] = {}
        self.skips: dict[str, str] = {}
        self.problems: list[dict[str, Any]] = []
        self.result: Any = None
        self.log_counters: list[Any] = []
        self.counting_stderrs: list[Any] = []
        self.runtests_errors: list[tuple[Any, tuple[Any, ...]]] = []
        # Log output seen while the tests ran, by the test running then.
        self.current: str | None = None
        self.attributing = False
        self.logged: dict[str, dict[str, int]] = {}

    def _set(self, test_id: str, outcome: str) -> None:
        old = self.tests.get(test_id, UNKNOWN)
        if _SEVERITY[outcome] >= _SEVERITY[old]:
            self.tests[test_id] = outcome

    def started(self, test: Any) -> None:
        self.current = _name_of(test)
        self.tests.setdefault(self.current, UNKNOWN)

    def stopped(self, test: Any) -> None:
        self.current = None

    def _bump(self, key: str, amount: int) -> None:
        if not self.attributing:
            return
        bucket = self.logged.setdefault(self.current or OUTSIDE_TESTS, _no_output())
        bucket[key] += amount

    def log_record(self, record: logging.LogRecord) -> None:
        # The same levels as runtests' LogCounter.
        if record.levelno >= logging.ERROR:
            self._bump("errors", 1)
        elif record.levelno >= logging.WARNING:
            self._bump("warnings", 1)
        elif record.levelno >= logging.INFO:
            self._bump("infos", 1)

    def stderr_write(self, data: Any) -> None:
        self._bump("stderr_bytes", len(data))

    def outcome(self, test: Any, outcome: str) -> None:
        self._set(_name_of(test), outcome)

    def skip(self, test: Any, reason: str, counted: bool) -> None:
        parent = getattr(test, "test_case", None)  # set on subtests only
        if not counted:
            self._set(_name_of(test), ABSTRACT)
            return
        self.skips[_name_of(test)] = str(reason)
        if parent is None:
            self._set(_name_of(test), SKIPPED)

    def problem(self, test: Any, outcome: str, detail: str, parent: Any = None) -> None:
        test_id = _name_of(test)
        parent_id = _name_of(parent) if parent is not None else test_id
        self._set(parent_id, outcome)
        self.problems.append(
            {"id": test_id, "test": parent_id, "outcome": outcome, "detail": detail}
        )

    def result_class(self, base: type) -> type:
        """A subclass of unittest result class ``base`` that reports to us.

        Every hook calls ``base``'s own method first, so the result (and the
        runner's output, and Tornado's special handling of abstract base
        tests) is exactly what it would have been.
        """
        rec = self

        def new_entries(result: Any, before: tuple[int, int]) -> str:
            added = result.failures[before[0] :] + result.errors[before[1] :]
            return "".join(str(text) for _, text in added)

        def sizes(result: Any) -> tuple[int, int]:
            return len(result.failures), len(result.errors)

        def startTest(result: Any, test: Any) -> None:
            base.startTest(result, test)  # type: ignore[attr-defined]
            rec.started(test)

        def stopTest(result: Any, test: Any) -> None:
            base.stopTest(result, test)  # type: ignore[attr-defined]
            rec.stopped(test)

        def addSuccess(result: Any, test: Any) -> None:
            base.addSuccess(result, test)  # type: ignore[attr-defined]
            rec.outcome(test, PASSED)

        def addFailure(result: Any, test: Any, err: Any) -> None:
            before = sizes(result)
            base.addFailure(result, test, err)  # type: ignore[attr-defined]
            rec.problem(test, FAILED, new_entries(result, before))

        def addError(result: Any, test: Any, err: Any) -> None:
            before = sizes(result)
            base.addError(result, test, err)  # type: ignore[attr-defined]
            rec.problem(test, ERROR, new_entries(result, before))

        def addSkip(result: Any, test: Any, reason: str) -> None:
            before = len(result.skipped)
            base.addSkip(result, test, reason)  # type: ignore[attr-defined]
            rec.skip(test, reason, counted=len(result.skipped) > before)

        def addExpectedFailure(result: Any, test: Any, err: Any) -> None:
            base.addExpectedFailure(result, test, err)  # type: ignore[attr-defined]
            rec.outcome(test, EXPECTED_FAILURE)

        def addUnexpectedSuccess(result: Any, test: Any) -> None:
            base.addUnexpectedSuccess(result, test)  # type: ignore[attr-defined]
            rec.problem(test, UNEXPECTED_SUCCESS, "unexpected success")

        def addSubTest(result: Any, test: Any, subtest: Any, err: Any) -> None:
            before = sizes(result)
            base.addSubTest(result, test, subtest, err)  # type: ignore[attr-defined]
            if err is not None:
                kind = FAILED if issubclass(err[0], test.failureException) else ERROR
                rec.problem(subtest, kind, new_entries(result, before), parent=test)

        namespace = {
            "__module__": base.__module__,
            "startTest": startTest,
            "stopTest": stopTest,
            "addSuccess": addSuccess,
            "addFailure": addFailure,
            "addError": addError,
            "addSkip": addSkip,
            "addExpectedFailure": addExpectedFailure,
            "addUnexpectedSuccess": addUnexpectedSuccess,
            "addSubTest": addSubTest,
        }
        return type(base.__name__, (base,), namespace)

    def counts(self) -> dict[str, int]:
        tally = {outcome: 0 for outcome in _SEVERITY}
        for outcome in self.tests.values():
            tally[outcome] += 1
        return {
            "tests_run": int(getattr(self.result, "testsRun", len(self.tests))),
            "passed": tally[PASSED],
            "failed": tally[FAILED],
            "errors": tally[ERROR],
            "skipped": tally[SKIPPED],
            "expected_failures": tally[EXPECTED_FAILURE],
            "unexpected_successes": tally[UNEXPECTED_SUCCESS],
            "abstract_base": tally[ABSTRACT],
            "unknown": tally[UNKNOWN],
        }

    def log_check(self) -> dict[str, Any] | None:
        """runtests' verdict on log output, with its own numbers.

        runtests checks its counters when the tests are over and, if they
        are not all zero, reports them with ``logging.error`` -- which itself
        goes through the counted handler and stream. So the counters read
        afterwards are off by that one message; the numbers in the message
        are the ones runtests judged by, and are used when it was sent.
        """
        if not self.log_counters or not self.counting_stderrs:
            return None
        log, err = self.log_counters[-1], self.counting_stderrs[-1]
        numbers = [log.info_count, log.warning_count, log.error_count, err.byte_count]
        source = "counters"
        for _msg, args in self.runtests_errors:
            if len(args) == 4 and all(isinstance(a, int) for a in args):
                numbers, source = list(args), "runtests"
        check: dict[str, Any] = {
            "infos": int(numbers[0]),
            "warnings": int(numbers[1]),
            "errors": int(numbers[2]),
            "stderr_bytes": int(numbers[3]),
        }
        check["clean"] = not any(check.values()) and not self.runtests_errors
        check["source"] = source
        # Which tests the output came from; whatever runtests counted that
        # was not seen while a test ran (at import, between tests) is put
        # down to no test.
        by_test = {k: dict(v) for k, v in self.logged.items() if any(v.values())}
        for key in ("infos", "warnings", "errors", "stderr_bytes"):
            seen = sum(v[key] for v in by_test.values())
            if check[key] > seen:
                rest = by_test.setdefault(OUTSIDE_TESTS, _no_output())
                rest[key] += check[key] - seen
        check["by_test"] = by_test
        # Tornado 6.2-6.5 have --fail-if-logs (default true); 6.6 dropped it.
        check["enforced"] = True
        options = sys.modules.get("tornado.options")
        if options is not None:
            try:
                check["enforced"] = bool(options.options.fail_if_logs)
            except AttributeError:
                pass
        return check


class _Attribution(logging.Filter):
    """Tells the recorder about each record the counted handler emits."""

    def __init__(self, rec: Recorder) -> None:
        super().__init__()
        self.rec = rec

    def filter(self, record: logging.LogRecord) -> bool:
        self.rec.log_record(record)
        return True


class _LoggingSpy:
    """Stands in for the ``logging`` module in runtests' namespace only.

    Everything is passed through to the real module; calls to
    ``logging.error`` (which runtests makes only to give its verdict on log
    output) are also noted, arguments and all.
    """

    def __init__(self, real: Any, calls: list[tuple[Any, tuple[Any, ...]]]) -> None:
        self._real = real
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        self._calls.append((msg, args))
        # stacklevel=2: the record names runtests as its origin, as before.
        kwargs.setdefault("stacklevel", 2)
        self._real.error(msg, *args, **kwargs)


def patch_runtests(runtests: Any, rec: Recorder) -> None:
    """Make ``tornado.test.runtests.main()`` report to ``rec``.

    ``main`` looks these names up in its module when it runs, so replacing
    them (with factories that return the very objects the originals would)
    changes nothing about the run: the runner class gets a result class that
    records each test, the log counter and stderr counter are kept so their
    totals can be read after ``main`` has exited, and runtests' own verdict
    on log output is overheard (see :class:`_LoggingSpy`).
    """
    original_factory = runtests.test_runner_factory
    original_log_counter = runtests.LogCounter
    original_counting_stderr = runtests.CountingStderr

    def test_runner_factory(stderr: Any) -> Any:
        runner_class = original_factory(stderr)

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            runner_class.__init__(self, *args, **kwargs)
            self.resultclass = rec.result_class(self.resultclass)

        def run(self: Any, test: Any) -> Any:
            # Note which test any counted log record or stderr write came
            # from, through a filter on the handler that runtests counts on.
            handlers = [
                h
                for h in logging.getLogger().handlers
                if any(f in rec.log_counters for f in h.filters)
            ]
            attribution = _Attribution(rec)
            for handler in handlers:
                handler.addFilter(attribution)
            rec.attributing = True
            try:
                result = runner_class.run(self, test)
            finally:
                rec.attributing = False
                for handler in handlers:
                    handler.removeFilter(attribution)
            rec.result = result
            return result

        namespace = {
            "__module__": runner_class.__module__,
            "__init__": __init__,
            "run": run,
        }
        return type(runner_class.__name__, (runner_class,), namespace)

    def log_counter(*args: Any, **kwargs: Any) -> Any:
        counter = original_log_counter(*args, **kwargs)
        rec.log_counters.append(counter)
        return counter

    def counting_stderr(*args: Any, **kwargs: Any) -> Any:
        stream = original_counting_stderr(*args, **kwargs)
        rec.counting_stderrs.append(stream)
        write = stream.write

        def counted_write(data: Any) -> Any:
            rec.stderr_write(data)
            return write(data)

        stream.write = counted_write
        return stream

    runtests.test_runner_factory = test_runner_factory
    runtests.LogCounter = log_counter
    runtests.CountingStderr = counting_stderr
    runtests.logging = _LoggingSpy(runtests.logging, rec.runtests_errors)


def _exit_status(code: object) -> int:
    # unittest.main exits with ``not result.wasSuccessful()``: a bool.
    if code is None:
        return 0
    if isinstance(code, int):
        return int(code)
    return 1


def _use_our_package() -> None:
    """Make ``import tornado_h1`` find the copy the parent ran from."""
    parent = os.environ.get(ENV_PACKAGE_PARENT)
    if not parent:
        return
    wanted = os.path.join(parent, "tornado_h1", "__init__.py")
    spec = importlib.util.find_spec("tornado_h1")
    found = spec.origin if spec is not None else None
    if found is None or os.path.realpath(found) != os.path.realpath(wanted):
        sys.path.insert(0, parent)
        importlib.invalidate_caches()


def _child_run(argv: list[str], mode: str, report: dict[str, Any]) -> int:
    if mode == MODE_TORNADO_H1:
        _use_our_package()
        # Installed before anything imports a test module, so that every
        # ``from tornado.http1connection import ...`` in the suite gets ours.
        import tornado_h1

        tornado_h1.install()
        from tornado_h1 import _writebehind

        if os.environ.get(ENV_ALWAYS_HOLD) == "1":
            _writebehind.ADAPTIVE = False
        report["write_behind"] = "adaptive" if _writebehind.ADAPTIVE else "always"
        counted: Any = importlib.import_module(OUR_MODULE).HTTP1Connection
    else:
        counted = importlib.import_module(UPSTREAM_MODULE).HTTP1Connection

    import tornado

    report["tornado_version"] = tornado.version
    report["tornado_path"] = os.path.dirname(os.path.abspath(tornado.__file__ or ""))
    report["python_version"] = sys.version.split()[0]
    report["python_executable"] = sys.executable
    # What ``import tornado.http1connection`` gives the tests now.
    module_file = getattr(sys.modules.get(UPSTREAM_MODULE), "__file__", None)
    swap: dict[str, Any] = {
        "mode": mode,
        "module_file": module_file,
        "counting_method": InstanceCounter.method,
        "connections": None,
        "problems": [],
        "ok": False,
    }
    report["swap"] = swap
    swap["problems"] += [f"before the run: {p}" for p in check_swap(mode)]

    counter = InstanceCounter(counted)
    problem = counter.start()
    if problem is not None:
        swap["problems"].append(problem)

    runtests: Any = importlib.import_module("tornado.test.runtests")
    rec = Recorder()
    patch_runtests(runtests, rec)
    sys.argv = [runtests.__file__] + argv
    # Without test names, tornado.testing.main() runs unittest.main's
    # defaultTest "all", which it looks up in __main__: normally that is
    # runtests itself (``python -m tornado.test.runtests``); here it is the
    # bootstrap, so lend it runtests' own ``all``.
    main_module = sys.modules["__main__"]
    if not hasattr(main_module, _DEFAULT_TEST):
        setattr(main_module, _DEFAULT_TEST, runtests.all)
    report["argv"] = list(sys.argv)

    what = (
        "with tornado_h1"
        if mode == MODE_TORNADO_H1
        else "upstream baseline, without tornado_h1"
    )
    print(
        f"{PREFIX} Tornado {tornado.version} test suite, {what} "
        f"(Python {report['python_version']}; {UPSTREAM_MODULE} -> {module_file})",
        flush=True,
    )
    try:
        runtests.main()
        exit_code = 0
    except SystemExit as exc:
        exit_code = _exit_status(exc.code)
    finally:
        report["counts"] = rec.counts()
        report["tests"] = rec.tests
        report["skips"] = rec.skips
        report["problems"] = rec.problems
        report["log_check"] = rec.log_check()
        swap["connections"] = counter.count if problem is None else None
    report["exit_code"] = exit_code
    swap["problems"] += [f"after the run: {p}" for p in check_swap(mode)]
    if problem is None and not counter.intact():
        swap["problems"].append(
            f"the counter on {counted.__qualname__}.__init__ was removed during the run"
        )
    swap["ok"] = not swap["problems"]
    report["completed"] = True
    return exit_code


def _write_json(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True, default=repr)
        f.write("\n")
    os.replace(tmp, path)


def _child_main(argv: list[str]) -> int:
    """Entry point of the child process (see ``_BOOTSTRAP``)."""
    report_path = os.environ[ENV_REPORT]
    mode = os.environ.get(ENV_MODE, MODE_TORNADO_H1)
    report: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "mode": mode,
        "completed": False,
        "interrupted": False,
        "crash": None,
    }
    status = 1
    try:
        status = _child_run(argv, mode, report)
    except KeyboardInterrupt:
        report["interrupted"] = True
        report["crash"] = "KeyboardInterrupt"
        status = 130
    except BaseException:  # whatever happens, the parent gets a report
        report["crash"] = traceback.format_exc()
        status = 1
    finally:
        _write_json(report_path, report)
    return status


# Run in the child with ``python -c``. It loads this file by path, without
# importing the tornado_h1 package (whose __init__ imports Tornado), so that
# nothing but the child itself decides what is imported first, and so that
# the upstream baseline never loads tornado_h1. The current directory, which
# ``-c`` puts on sys.path, is dropped: the suite under test is the installed
# Tornado, never a ``tornado/`` that happens to be in the working directory.
_BOOTSTRAP = """\
import importlib.util, sys
if sys.path and sys.path[0] == "":
    del sys.path[0]
spec = importlib.util.spec_from_file_location({name!r}, {path!r})
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
sys.exit(module._child_main(sys.argv[1:]))
"""


# ---------------------------------------------------------------------------
# The parent: the command line
# ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tornado_h1.compat",
        description=(
            "Run the installed Tornado's own test suite (tornado.test.runtests) "
            "in a fresh interpreter with tornado_h1 in place of "
            "tornado.http1connection, and check that it passes."
        ),
        epilog=(
            "Arguments after '--' go to tornado.test.runtests before the test "
            "names, e.g. '-- --httpclient=tornado.curl_httpclient.CurlAsyncHTTPClient' "
            "or '-- --failfast'. Exit status: 0 if the run passed, 1 if not, "
            "2 for a usage error or an unreadable known-differences file."
        ),
    )
    parser.add_argument(
        "tests",
        nargs="*",
        metavar="TEST",
        help=(
            "tests to run, as unittest names (tornado.test.httpserver_test, "
            "tornado.test.web_test.SomeTest.test_x); a name without a dot means "
            "tornado.test.NAME. Default: the whole suite."
        ),
    )
    parser.add_argument(
        "--upstream",
        action="store_true",
        help="run the same suite without tornado_h1 (a baseline for comparison)",
    )
    parser.add_argument(
        "--always-hold",
        action="store_true",
        help="make write-behind hold every small response, even with one "
        "client (by default it holds only while the event loop is busy)",
    )
    parser.add_argument(
        "--known-differences",
        metavar="PATH",
        help=(
            "the known-differences file "
            f"(default: {DEFAULT_KNOWN_DIFFERENCES}, if it exists)"
        ),
    )
    parser.add_argument(
        "--json", metavar="PATH", help="write the report, with the verdict, to PATH"
    )
    parser.add_argument(
        "--python",
        metavar="EXE",
        default=sys.executable,
        help="the interpreter to run the suite with (default: this one); its "
        "installed Tornado is the one tested",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="one line per test instead of a dot (passes --verbose to runtests)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop the suite and fail if it runs longer than this",
    )
    parser.add_argument(
        "--allow-no-connections",
        action="store_true",
        help="do not fail when the selected tests create no HTTP/1 connection",
    )
    return parser


def child_argv(
    tests: Iterable[str], runtests_args: Sequence[str], verbose: bool = False
) -> list[str]:
    """The arguments for runtests: its options first, then the test names."""
    args = list(runtests_args)
    if verbose and "--verbose" not in args:
        args.insert(0, "--verbose")
    return args + [name if "." in name else f"tornado.test.{name}" for name in tests]


def _run_child(
    cmd: list[str], env: dict[str, str], timeout: float | None
) -> tuple[int | None, str | None]:
    """Run the child; returns (exit status or None, what went wrong)."""
    try:
        proc = subprocess.Popen(cmd, env=env)
    except OSError as exc:
        return None, f"cannot start {cmd[0]}: {exc}"
    try:
        return proc.wait(timeout=timeout), None
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return (
            None,
            f"the suite did not finish within {timeout:g} seconds and was stopped",
        )
    except KeyboardInterrupt:
        # The child got the same SIGINT; give it a moment to write its report.
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise


def main(argv: list[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    runtests_args: list[str] = []
    if "--" in args_in:
        split = args_in.index("--")
        args_in, runtests_args = args_in[:split], args_in[split + 1 :]
    parser = _parser()
    args = parser.parse_args(args_in)

    try:
        known, known_file = load_known_differences(args.known_differences)
    except KnownDifferencesError as exc:
        print(f"{PREFIX} error: {exc}", file=sys.stderr)
        return 2

    mode = MODE_UPSTREAM if args.upstream else MODE_TORNADO_H1
    with tempfile.TemporaryDirectory(prefix="tornado_h1_compat_") as tmp:
        report_path = os.path.join(tmp, "report.json")
        env = dict(os.environ)
        env[ENV_REPORT] = report_path
        env[ENV_MODE] = mode
        env[ENV_PACKAGE_PARENT] = str(PACKAGE_PARENT)
        if args.always_hold:
            env[ENV_ALWAYS_HOLD] = "1"
        bootstrap = _BOOTSTRAP.format(name="_tornado_h1_compat_child", path=str(_HERE))
        cmd = [args.python, "-c", bootstrap] + child_argv(
            args.tests, runtests_args, args.verbose
        )
        try:
            status, failure = _run_child(cmd, env, args.timeout)
        except KeyboardInterrupt:
            print(f"\n{PREFIX} interrupted", flush=True)
            return 130
        report: dict[str, Any] | None = None
        if os.path.exists(report_path):
            with open(report_path, encoding="utf-8") as f:
                report = json.load(f)
    if report is None:
        report = {
            "format": REPORT_FORMAT,
            "mode": mode,
            "completed": False,
            "crash": failure
            or f"the test process exited with status {status} without a report",
        }
    elif failure:
        report["completed"] = False
        report["crash"] = failure
    report["child_status"] = status

    verdict = judge(report, known, require_connections=not args.allow_no_connections)
    report["known_differences"] = {
        "file": str(known_file) if known_file else None,
        "entries": len(known),
    }
    report["verdict"] = verdict.as_dict()
    sys.stdout.flush()
    for line in format_summary(report, verdict):
        print(line)
    sys.stdout.flush()
    if args.json:
        try:
            _write_json(args.json, report)
        except OSError as exc:
            print(f"{PREFIX} error: cannot write {args.json}: {exc}", file=sys.stderr)
            return 2
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
