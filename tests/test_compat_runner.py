"""Tests for ``python -m tornado_h1.compat``, the runner of Tornado's own suite.

The parser of ``compat/known_differences``, the verdict and the summary are
tested on synthetic reports; the pieces that run inside the child (the result
recorder, the runtests patches, the connection counter, the swap check) are
tested in this process on small stand-ins; and the whole thing is run for
real on ``tornado.test.http1connection_test``.

The runner is ``tornado_h1._tools.compat`` (``tornado_h1/compat.py`` only
forwards to it): ``runner`` (the parent), ``child`` (loaded by path in the
child process) and ``verdict``. None of them imports
``tornado_h1.http1connection``, so everything but the end-to-end tests works
even while it does not import.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import io
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import types
import unittest
from pathlib import Path
from typing import Any, Optional

import pytest
import tornado

from tornado_h1._tools.compat import child, runner
from tornado_h1._tools.compat import verdict as judging

ROOT = Path(__file__).resolve().parent.parent
KNOWN_DIFFERENCES_FILE = ROOT / "compat" / "known_differences"
TORNADO_VERSION = tornado.version

SUMMARY = re.compile(
    r"^tornado_h1 compat: Tornado (?P<version>\S+): (?P<passed>\d+) passed, "
    r"(?P<failed>\d+) failed, (?P<errors>\d+) errors, (?P<skipped>\d+) skipped"
    r"(?:, [^(]*)? \((?P<active>[^)]*): (?P<connections>\d+|\?) connections\)$",
    re.MULTILINE,
)


# ------------------------------------------------------------------ parsing


def parse(text: str) -> list[Any]:
    return judging.parse_known_differences(textwrap.dedent(text), "kd")  # type: ignore[no-any-return]


def test_parse_entries_comments_and_blank_lines() -> None:
    entries = parse(
        """\
        # a comment

        tornado.test.a_test.T.test_x   6.2,6.3.3   reason with   several words
           tornado.test.b_test.*\t*\tanother # not a comment
        """
    )
    assert [(e.test_id, e.versions.text, e.reason, e.source) for e in entries] == [
        (
            "tornado.test.a_test.T.test_x",
            "6.2,6.3.3",
            "reason with   several words",
            "kd:3",
        ),
        ("tornado.test.b_test.*", "*", "another # not a comment", "kd:4"),
    ]


@pytest.mark.parametrize(
    "line, message",
    [
        (
            "tornado.test.a_test.T.test_x  6.2",
            "expected '<test id>  <versions>  <reason>'",
        ),
        ("tornado.test.a_test.T.test_x", "expected '<test id>"),
        ("tornado.test.a_test.T.test_x  six  why", "bad version 'six'"),
        ("tornado.test.a_test.T.test_x  6.2,,6.3  why", "bad version ''"),
        ("tornado.test.a_test.T.test_x  >=6.2  why", "bad version '>=6.2'"),
    ],
)
def test_parse_errors_name_the_line(line: str, message: str) -> None:
    with pytest.raises(judging.KnownDifferencesError) as info:
        parse(f"# header\n{line}\n")
    assert str(info.value).startswith("kd:2: ")
    assert message in str(info.value)


@pytest.mark.parametrize(
    "spec, version, expected",
    [
        ("*", "6.2", True),
        ("6.2", "6.2", True),
        ("6.2", "6.2.1", True),
        ("6.2", "6.3", False),
        ("6.3", "6.3.3", True),
        ("6.3.3", "6.3.3", True),
        ("6.3.3", "6.3.2", False),
        ("6.3.3", "6.3.30", False),
        ("6.3.3", "6.3", False),
        ("6.2,6.3.3", "6.3.3", True),
        ("6.2,6.3.3", "6.4.2", False),
        ("6.4+", "6.4", True),
        ("6.4+", "6.6.1", True),
        ("6.4+", "7.0", True),
        ("6.4+", "6.3.3", False),
        ("6.5", "6.5b1", True),
        ("6", "6.6.1", True),
    ],
)
def test_version_spec(spec: str, version: str, expected: bool) -> None:
    assert judging.VersionSpec.parse(spec).matches(version) is expected


def test_parse_version() -> None:
    assert judging.parse_version(" 6.5b1 ") == (6, 5)
    assert judging.parse_version("6.6.1") == (6, 6, 1)
    with pytest.raises(ValueError, match="not a version"):
        judging.parse_version("dev")


def test_test_id_patterns() -> None:
    exact, glob = parse(
        """\
        tornado.test.a_test.T.test_x  *  r
        tornado.test.a_test.T.test_[x]*  *  r
        """
    )
    assert exact.matches("tornado.test.a_test.T.test_x")
    assert not exact.matches("tornado.test.a_test.T.test_xy")
    assert not exact.matches("tornado.test.a_test.T")
    # Only '*' is special; brackets and dots are literal.
    assert glob.matches("tornado.test.a_test.T.test_[x]")
    assert glob.matches("tornado.test.a_test.T.test_[x]_more (sub=1)")
    assert not glob.matches("tornado.test.a_test.T.test_x")


def test_load_default_file_of_the_repository() -> None:
    entries, path = judging.load_known_differences()
    assert path == KNOWN_DIFFERENCES_FILE
    assert judging.DEFAULT_KNOWN_DIFFERENCES == KNOWN_DIFFERENCES_FILE
    # It parses, and documents its own format.
    assert isinstance(entries, list)
    assert "<test id>  <versions>  <reason>" in path.read_text(encoding="utf-8")


def test_load_missing_default_is_empty_but_missing_explicit_is_an_error(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "known_differences"
    assert judging.load_known_differences(default=missing) == ([], None)
    with pytest.raises(judging.KnownDifferencesError, match="cannot read"):
        judging.load_known_differences(missing)
    missing.write_text("x.y  6.2  because\n", encoding="utf-8")
    entries, path = judging.load_known_differences(missing)
    assert path == missing
    assert [e.test_id for e in entries] == ["x.y"]


# ------------------------------------------------------------------ verdict

A = "tornado.test.a_test.ATest.test_a"
B = "tornado.test.a_test.ATest.test_b"
C = "tornado.test.c_test.CTest.test_c"


def report(
    tests: Optional[dict[str, str]] = None,
    problems: Optional[list[dict[str, Any]]] = None,
    *,
    version: str = "6.6.1",
    mode: str = "tornado_h1",
    connections: Optional[int] = 12,
    swap_problems: Optional[list[str]] = None,
    log: Optional[dict[str, Any]] = None,
    exit_code: Optional[int] = None,
) -> dict[str, Any]:
    """A synthetic child report."""
    tests = dict(
        tests if tests is not None else {A: "passed", B: "passed", C: "passed"}
    )
    problems = list(problems or [])
    for problem in problems:
        problem.setdefault("test", problem["id"])
        problem.setdefault("detail", "Traceback ...")
    counts = {
        "tests_run": len(tests),
        "passed": sum(v == "passed" for v in tests.values()),
        "failed": sum(v == "failed" for v in tests.values()),
        "errors": sum(v == "error" for v in tests.values()),
        "skipped": sum(v == "skipped" for v in tests.values()),
    }
    if log is None:
        log = {"infos": 0, "warnings": 0, "errors": 0, "stderr_bytes": 0, "clean": True}
    return {
        "format": 1,
        "mode": mode,
        "completed": True,
        "tornado_version": version,
        "counts": counts,
        "tests": tests,
        "problems": problems,
        "skips": {t: "because" for t, o in tests.items() if o == "skipped"},
        "log_check": log,
        "swap": {
            "ok": not swap_problems,
            "problems": list(swap_problems or []),
            "connections": connections,
        },
        "exit_code": (1 if problems else 0) if exit_code is None else exit_code,
    }


def fail(
    test_id: str, outcome: str = "failed", parent: Optional[str] = None
) -> dict[str, Any]:
    return {"id": test_id, "outcome": outcome, "test": parent or test_id}


def test_clean_run_passes() -> None:
    verdict = judging.judge(report())
    assert verdict.ok, verdict.problems
    assert verdict.problems == [] and verdict.expected == []


def test_unlisted_failure_fails() -> None:
    verdict = judging.judge(report({A: "failed", B: "passed"}, [fail(A)]))
    assert not verdict.ok
    assert verdict.problems == [f"failed: {A}"]


def test_unlisted_error_and_unexpected_success_fail() -> None:
    r = report(
        {A: "error", B: "unexpected_success"},
        [fail(A, "error"), fail(B, "unexpected_success")],
    )
    assert judging.judge(r).problems == [f"error: {A}", f"unexpected success: {B}"]


def test_listed_failure_is_expected() -> None:
    known = parse(f"{A}  6.6.1  tornado_h1 differs on purpose\n")
    verdict = judging.judge(report({A: "failed", B: "passed"}, [fail(A)]), known)
    assert verdict.ok, verdict.problems
    assert [(t, e.reason) for t, e in verdict.expected] == [
        (A, "tornado_h1 differs on purpose")
    ]


def test_listed_test_that_passes_fails() -> None:
    known = parse(f"{A}  *  expected to fail\n")
    verdict = judging.judge(report({A: "passed", B: "passed"}), known)
    assert not verdict.ok
    assert verdict.problems == [
        f"listed in known differences but passed: {A} (kd:1: expected to fail)"
    ]


def test_listed_for_another_version_does_not_excuse_a_failure() -> None:
    known = parse(f"{A}  6.2,6.5+  only elsewhere\n")
    r = report({A: "failed"}, [fail(A)], version="6.4.2")
    assert judging.judge(r, known).problems == [f"failed: {A}"]
    # ... nor is it checked when the test passes on that other version.
    assert judging.judge(report({A: "passed"}, version="6.4.2"), known).ok
    # On a listed version it applies.
    assert judging.judge(report({A: "failed"}, [fail(A)], version="6.5.2"), known).ok


def test_listed_test_that_did_not_run_or_was_skipped_is_not_checked() -> None:
    known = parse(f"{C}  *  r\ntornado.test.a_test.ATest.test_a  *  r\n")
    verdict = judging.judge(report({A: "skipped", B: "passed"}), known)
    assert verdict.ok, verdict.problems
    assert verdict.notes == [
        "listed in known differences but skipped: tornado.test.a_test.ATest.test_a"
    ]


def test_glob_entry_must_fail_everywhere_it_matches() -> None:
    known = parse("tornado.test.a_test.ATest.*  *  r\n")
    assert judging.judge(
        report({A: "failed", B: "error", C: "passed"}, [fail(A), fail(B, "error")]),
        known,
    ).ok
    verdict = judging.judge(
        report({A: "failed", B: "passed", C: "passed"}, [fail(A)]), known
    )
    assert verdict.problems == [
        f"listed in known differences but passed: {B} (kd:1: r)"
    ]


def test_subtest_failure_is_covered_by_its_test() -> None:
    sub = f"{A} (case=1)"
    r = report({A: "failed", B: "passed"}, [fail(sub, parent=A)])
    assert judging.judge(r).problems == [f"failed: {sub}"]
    assert judging.judge(r, parse(f"{A}  *  r\n")).ok
    # (A subtest's own id has spaces, so it cannot be listed by itself.)


def test_error_outside_any_test_is_a_failure() -> None:
    holder = "setUpClass (tornado.test.a_test.ATest)"
    r = report({holder: "error", B: "passed"}, [fail(holder, "error")])
    assert judging.judge(r).problems == [f"error: {holder}"]
    assert judging.judge(r, parse("setUpClass*  *  r\n")).ok


def test_swap_not_in_place_fails_even_if_all_tests_passed() -> None:
    verdict = judging.judge(
        report(swap_problems=["tornado_h1.is_installed() is False"])
    )
    assert verdict.problems == ["swap check: tornado_h1.is_installed() is False"]


def test_swap_check_that_did_not_happen_fails() -> None:
    r = report()
    r["swap"] = {"ok": False, "problems": [], "connections": 3}
    assert judging.judge(r).problems == ["swap check: not performed"]


def test_zero_connections_fails_unless_allowed() -> None:
    verdict = judging.judge(report(connections=0))
    assert verdict.problems == [
        "swap check: no HTTP1Connection was created during the run, so "
        "tornado_h1 was not exercised"
    ]
    allowed = judging.judge(report(connections=0), require_connections=False)
    assert allowed.ok and allowed.notes
    uncounted = judging.judge(report(connections=None))
    assert uncounted.problems == [
        "swap check: HTTP1Connection objects were not counted"
    ]


def test_unexpected_log_output_fails() -> None:
    log = {"infos": 2, "warnings": 0, "errors": 0, "stderr_bytes": 276, "clean": False}
    verdict = judging.judge(report(log=log, exit_code=1))
    assert verdict.problems == [
        "runtests: logged 2 infos, 0 warnings, 0 errors, and 276 bytes to stderr"
    ]
    # Tornado < 6.6 can be told --fail-if-logs=false: then it is only a note.
    relaxed = judging.judge(report(log=dict(log, enforced=False)))
    assert relaxed.ok and "not enforced" in relaxed.notes[0]
    assert judging.judge(report(log=None) | {"log_check": None}).problems == [
        "runtests' log check did not run"
    ]


def _dirty_log(by_test: dict[str, dict[str, int]]) -> dict[str, Any]:
    log = {"infos": 0, "warnings": 0, "errors": 0, "stderr_bytes": 0}
    for numbers in by_test.values():
        for key, n in numbers.items():
            log[key] += n
    return dict(log, clean=False, by_test=by_test)


def test_log_output_from_listed_failing_tests_is_excused() -> None:
    known = parse(f"{A}  *  logs why it fails\n")
    log = _dirty_log({A: {"infos": 1, "stderr_bytes": 70}})
    r = report({A: "failed", B: "passed"}, [fail(A)], log=log)
    verdict = judging.judge(r, known)
    assert verdict.ok, verdict.problems
    assert verdict.notes == [
        "runtests: logged 1 infos, 0 warnings, 0 errors, and 70 bytes to stderr, "
        "all of it from tests listed in known differences"
    ]
    # Also when the listed failure was one of the test's subtests.
    sub = f"{A} (i=1)"
    r = report({A: "failed", B: "passed"}, [fail(sub, parent=A)], log=log)
    assert judging.judge(r, known).ok


def test_log_output_from_other_tests_or_outside_tests_fails() -> None:
    known = parse(f"{A}  *  r\n")
    outside = "(outside any test)"
    log = _dirty_log({A: {"infos": 1}, B: {"errors": 1}, outside: {"stderr_bytes": 9}})
    r = report({A: "failed", B: "passed"}, [fail(A)], log=log)
    assert judging.judge(r, known).problems == [
        "runtests: logged 1 infos, 0 warnings, 1 errors, and 9 bytes to stderr, from:\n"
        f"{outside} (0 infos, 0 warnings, 0 errors, and 9 bytes to stderr)\n"
        f"{B} (0 infos, 0 warnings, 1 errors, and 0 bytes to stderr)"
    ]
    # Unlisted, the failing test's own output is no excuse either.
    log = _dirty_log({A: {"infos": 1}})
    r = report({A: "failed", B: "passed"}, [fail(A)], log=log)
    assert judging.judge(r).problems == [
        f"failed: {A}",
        "runtests: logged 1 infos, 0 warnings, 0 errors, and 0 bytes to stderr, from:\n"
        f"{A} (1 infos, 0 warnings, 0 errors, and 0 bytes to stderr)",
    ]


def test_incomplete_interrupted_and_empty_runs_fail() -> None:
    crashed = {"mode": "tornado_h1", "completed": False, "crash": "Traceback: boom"}
    assert judging.judge(crashed).problems == [
        "the test run did not complete:\nTraceback: boom"
    ]
    interrupted = dict(crashed, interrupted=True)
    assert judging.judge(interrupted).problems[0] == "the run was interrupted"
    assert judging.judge(report({})).problems == ["no tests ran"]


def test_nonzero_exit_without_a_reason_fails() -> None:
    assert judging.judge(report(exit_code=5)).problems == [
        "runtests exited with status 5"
    ]


def test_upstream_baseline_ignores_known_differences() -> None:
    known = parse(f"{A}  *  r\n")
    r = report({A: "failed", B: "passed"}, [fail(A)], mode="upstream")
    verdict = judging.judge(r, known)
    assert verdict.problems == [f"failed: {A}"]
    assert verdict.notes == [
        "known differences are not applied to the upstream baseline"
    ]
    assert (
        "tornado_h1 compat: note: known differences are not applied to the "
        "upstream baseline"
    ) in judging.format_summary(r, verdict)


# ------------------------------------------------------------------ summary


def test_summary_lines() -> None:
    r = report({A: "passed", B: "skipped", C: "failed"}, [fail(C)])
    r["skips"] = {
        B: "pycurl module not present",
        "x": "pycurl module not present",
        "y": "running as root",
    }
    known = parse(f"{C}  *  differs\n")
    verdict = judging.judge(r, known)
    lines = judging.format_summary(r, verdict)
    assert lines == [
        "tornado_h1 compat: skipped: 2 x pycurl module not present; "
        "1 x running as root",
        f"tornado_h1 compat: known difference (failed as expected): {C}: differs",
        "tornado_h1 compat: runtests log check: clean (logged 0 infos, 0 warnings, "
        "0 errors, and 0 bytes to stderr)",
        "tornado_h1 compat: Tornado 6.6.1: 1 passed, 1 failed, 0 errors, 1 skipped "
        "(tornado_h1 active: 12 connections)",
        "tornado_h1 compat: OK",
    ]
    match = SUMMARY.search("\n".join(lines))
    assert match is not None and match["connections"] == "12"


def test_summary_of_a_failed_upstream_run() -> None:
    r = report({A: "failed"}, [fail(A)], mode="upstream", connections=None)
    r["counts"]["unexpected_successes"] = 1
    r["counts"]["expected_failures"] = 2
    lines = judging.format_summary(r, judging.judge(r))
    assert lines[-4] == (
        "tornado_h1 compat: Tornado 6.6.1: 0 passed, 1 failed, 0 errors, 0 skipped, "
        "2 expected failures, 1 unexpected success "
        "(upstream tornado.http1connection, tornado_h1 not loaded: ? connections)"
    )
    assert lines[-3:] == [
        "tornado_h1 compat: FAILED:",
        "  swap check: HTTP1Connection objects were not counted",
        f"  failed: {A}",
    ]
    unverified = report(swap_problems=["x"])
    assert "(tornado_h1 NOT verified: 12 connections)" in judging.summary_line(
        unverified
    )


# ------------------------------------------------------- inside the child


class _Sample(unittest.TestCase):
    __test__ = False  # run by the tests below, not collected by pytest

    def test_pass(self) -> None:
        pass

    def test_fail(self) -> None:
        self.assertEqual(1, 2)

    def test_error(self) -> None:
        raise RuntimeError("boom")

    def test_skip(self) -> None:
        self.skipTest("not here")

    def test_abstract(self) -> None:
        self.skipTest("abstract base class")

    @unittest.expectedFailure
    def test_expected_failure(self) -> None:
        self.assertEqual(1, 2)

    @unittest.expectedFailure
    def test_unexpected_success(self) -> None:
        pass

    def test_subtests(self) -> None:
        for i in range(3):
            with self.subTest(i=i):
                self.assertNotEqual(i, 1)
        with self.subTest(i=3):
            self.skipTest("subtest skipped")


_STDERR: list[Any] = []  # the stream the _Noisy test writes to


class _Noisy(unittest.TestCase):
    __test__ = False

    def test_noisy(self) -> None:
        logging.getLogger("compat-test").warning("noise")
        logging.getLogger("compat-test").info("noise")
        logging.getLogger("compat-test").error("noise")
        logging.getLogger("compat-test").debug("not counted")
        _STDERR[0].write("12345")
        self.fail("noisy")


class _BrokenClass(unittest.TestCase):
    __test__ = False

    @classmethod
    def setUpClass(cls) -> None:
        raise RuntimeError("class setup")

    def test_never(self) -> None:
        pass


class _DropsAbstractSkips(unittest.TextTestResult):
    # Like Tornado >= 6.5's TornadoTextTestResult.
    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        if reason == "abstract base class":
            return
        super().addSkip(test, reason)


def _suite() -> unittest.TestSuite:
    loader = unittest.TestLoader()
    return unittest.TestSuite(
        [
            loader.loadTestsFromTestCase(_Sample),
            loader.loadTestsFromTestCase(_BrokenClass),
        ]
    )


def _run_recorded(rec: Any, base: type = _DropsAbstractSkips) -> unittest.TestResult:
    runner = unittest.TextTestRunner(
        stream=io.StringIO(), resultclass=rec.result_class(base)
    )
    result: unittest.TestResult = runner.run(_suite())
    rec.result = result
    return result


def test_recorder_sees_every_outcome() -> None:
    rec = child.Recorder()
    result = _run_recorded(rec)
    name = f"{__name__}._Sample."
    assert rec.tests == {
        name + "test_pass": "passed",
        name + "test_fail": "failed",
        name + "test_error": "error",
        name + "test_skip": "skipped",
        name + "test_abstract": "abstract_base",
        name + "test_expected_failure": "expected_failure",
        name + "test_unexpected_success": "unexpected_success",
        name + "test_subtests": "failed",
        f"setUpClass ({__name__}._BrokenClass)": "error",
    }
    assert rec.skips == {
        name + "test_skip": "not here",
        name + "test_subtests (i=3)": "subtest skipped",
    }
    problems = {(p["id"], p["test"], p["outcome"]) for p in rec.problems}
    assert problems == {
        (name + "test_fail", name + "test_fail", "failed"),
        (name + "test_error", name + "test_error", "error"),
        (
            name + "test_unexpected_success",
            name + "test_unexpected_success",
            "unexpected_success",
        ),
        (name + "test_subtests (i=1)", name + "test_subtests", "failed"),
        (f"setUpClass ({__name__}._BrokenClass)",) * 2 + ("error",),
    }
    details = {p["id"]: p["detail"] for p in rec.problems}
    assert "AssertionError: 1 != 2" in details[name + "test_fail"]
    assert "RuntimeError: boom" in details[name + "test_error"]
    assert "AssertionError: 1 == 1" in details[name + "test_subtests (i=1)"]
    assert rec.counts() == {
        "tests_run": result.testsRun,
        "passed": 1,
        "failed": 2,
        "errors": 2,
        "skipped": 1,
        "expected_failures": 1,
        "unexpected_successes": 1,
        "abstract_base": 1,
        "unknown": 0,
    }
    # The result itself is what unittest would have produced without us.
    plain = unittest.TextTestRunner(
        stream=io.StringIO(), resultclass=_DropsAbstractSkips
    ).run(_suite())
    assert result.testsRun == plain.testsRun
    for attr in (
        "failures",
        "errors",
        "skipped",
        "expectedFailures",
        "unexpectedSuccesses",
    ):
        assert len(getattr(result, attr)) == len(getattr(plain, attr)), attr


def _fake_runtests() -> types.SimpleNamespace:
    """The names of tornado.test.runtests that patch_runtests replaces."""

    class LogCounter(logging.Filter):
        info_count = warning_count = error_count = 0

    class CountingStderr(io.StringIO):
        byte_count = 0

    def test_runner_factory(stderr: Any) -> type:
        class Runner(unittest.TextTestRunner):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                kwargs["stream"] = stderr
                kwargs["resultclass"] = _DropsAbstractSkips
                super().__init__(*args, **kwargs)

        return Runner

    return types.SimpleNamespace(
        test_runner_factory=test_runner_factory,
        LogCounter=LogCounter,
        CountingStderr=CountingStderr,
        logging=logging,
    )


def test_patch_runtests_records_tests_and_the_log_verdict(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtests = _fake_runtests()
    rec = child.Recorder()
    child.patch_runtests(runtests, rec)
    assert rec.log_check() is None  # nothing counted yet
    log_counter = runtests.LogCounter()
    stderr = runtests.CountingStderr()
    runner = runtests.test_runner_factory(io.StringIO())()
    assert isinstance(runner, unittest.TextTestRunner)
    result = runner.run(_suite())
    assert rec.result is result
    assert rec.tests[f"{__name__}._Sample.test_pass"] == "passed"
    assert rec.log_counters == [log_counter] and rec.counting_stderrs == [stderr]
    check = rec.log_check()
    assert check is not None and check["clean"] and check["source"] == "counters"
    assert check["by_test"] == {}

    # Output while a test runs is put down to that test, provided it reaches
    # the handler runtests counts on (and that writes go to its stream).
    handler = logging.StreamHandler(io.StringIO())
    handler.addFilter(log_counter)
    logging.getLogger().addHandler(handler)
    logging.getLogger("compat-test").setLevel(logging.DEBUG)
    _STDERR[:] = [stderr]
    try:
        stderr.write("before")  # not during a run: not attributed
        runtests.test_runner_factory(io.StringIO())().run(
            unittest.TestLoader().loadTestsFromTestCase(_Noisy)
        )
        logging.getLogger("compat-test").error("after the run")
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger("compat-test").setLevel(logging.NOTSET)
    assert handler.filters == [log_counter]  # ours was taken off again
    noisy = f"{__name__}._Noisy.test_noisy"
    assert rec.logged == {
        noisy: {"infos": 1, "warnings": 1, "errors": 1, "stderr_bytes": 5}
    }
    assert stderr.getvalue() == "before12345"
    # What runtests counted beyond that is put down to no test.
    log_counter.info_count = log_counter.warning_count = 1
    log_counter.error_count, stderr.byte_count = 1, 11
    check = rec.log_check()
    assert check is not None and not check["clean"]
    assert check["by_test"] == {
        noisy: {"infos": 1, "warnings": 1, "errors": 1, "stderr_bytes": 5},
        "(outside any test)": {
            "infos": 0,
            "warnings": 0,
            "errors": 0,
            "stderr_bytes": 6,
        },
    }

    # runtests reports dirty logs with logging.error; those are its numbers,
    # even though its own message then bumps the counters.
    log_counter.error_count, stderr.byte_count = 1, 500
    with caplog.at_level(logging.ERROR):
        runtests.logging.error("something else")  # not a verdict: ignored
        runtests.logging.error(
            "logged %d infos, %d warnings, %d errors, and %d bytes to stderr",
            2,
            0,
            0,
            276,
        )
    assert caplog.records[-1].getMessage().startswith("logged 2 infos")
    assert caplog.records[-1].funcName == (
        "test_patch_runtests_records_tests_and_the_log_verdict"
    )
    check = rec.log_check()
    assert check is not None
    assert (check["infos"], check["errors"], check["stderr_bytes"]) == (2, 0, 276)
    assert not check["clean"] and check["source"] == "runtests"
    # Everything else goes straight through to the real logging module.
    assert runtests.logging.getLogger is logging.getLogger
    assert runtests.logging.ERROR == logging.ERROR


class _Counted:
    def __init__(self, a: int, b: int = 2, *, c: str = "x") -> None:
        """Docs."""
        self.total = a + b


class _CountedChild(_Counted):
    pass


def test_instance_counter_counts_and_is_invisible_to_inspect() -> None:
    original = _Counted.__dict__["__init__"]
    before = (
        inspect.signature(_Counted),
        inspect.getsource(_Counted.__init__),
        inspect.getdoc(_Counted.__init__),
        _Counted.__init__.__qualname__,
    )
    counter = child.InstanceCounter(_Counted)
    assert counter.start() is None
    try:
        assert _Counted.__dict__["__init__"] is not original
        assert counter.intact()
        objects = [_Counted(1), _Counted(1, b=5, c="y"), _CountedChild(0)]
        assert [o.total for o in objects] == [3, 6, 2]
        assert counter.count == 3
        after = (
            inspect.signature(_Counted),
            inspect.getsource(_Counted.__init__),
            inspect.getdoc(_Counted.__init__),
            _Counted.__init__.__qualname__,
        )
        assert after == before
    finally:
        counter.stop()
    assert _Counted.__dict__["__init__"] is original
    assert not counter.intact()


def test_instance_counter_stop_without_start_does_nothing() -> None:
    original = _Counted.__dict__["__init__"]
    counter = child.InstanceCounter(_Counted)
    counter.stop()
    assert _Counted.__dict__["__init__"] is original and not counter.intact()


def test_instance_counter_on_an_inherited_init() -> None:
    counter = child.InstanceCounter(_CountedChild)
    assert counter.start() is None
    _CountedChild(1)
    counter.stop()
    assert counter.count == 1
    assert "__init__" not in _CountedChild.__dict__


def test_instance_counter_refuses_what_it_cannot_hide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class NoInit:
        pass

    assert "not a Python function" in child.InstanceCounter(NoInit).start()

    seen = iter(
        [{"signature": "(a)", "__doc__": "x"}, {"signature": "(*args)", "__doc__": "x"}]
    )
    monkeypatch.setattr(child, "_introspection", lambda cls, init: next(seen))
    original = _Counted.__dict__["__init__"]
    problem = child.InstanceCounter(_Counted).start()
    assert problem is not None and "(signature)" in problem
    assert _Counted.__dict__["__init__"] is original


def test_counter_leaves_api_test_listing_unchanged() -> None:
    # The reason for the counter's design: Tornado's API snapshot test must
    # see exactly the same class with the counter on as with it off.
    api_test = pytest.importorskip("tornado.test.api_test")
    upstream = importlib.import_module("tornado.http1connection")
    before = api_test.describe_module("tornado.http1connection")
    counter = child.InstanceCounter(upstream.HTTP1Connection)
    assert counter.start() is None
    try:
        assert api_test.describe_module("tornado.http1connection") == before
    finally:
        counter.stop()


def test_check_swap_in_this_process() -> None:
    tornado_h1 = pytest.importorskip("tornado_h1")
    # Not installed: everything is upstream's, but tornado_h1 is loaded.
    problems = child.check_swap("tornado_h1")
    assert "tornado_h1.is_installed() is False" in problems
    assert any("tornado.httpserver.HTTP1ServerConnection is not" in p for p in problems)
    assert child.check_swap("upstream") == [
        "tornado_h1 is loaded in the upstream baseline: "
        + ", ".join(sorted(n for n in sys.modules if n.split(".")[0] == "tornado_h1"))
    ]
    with tornado_h1.installed():
        assert child.check_swap("tornado_h1") == []
        assert any("tornado.http1connection" in p for p in child.check_swap("upstream"))


def test_names_of_tests() -> None:
    class Exotic:
        def id(self) -> str:
            raise RuntimeError("no id")

        def __repr__(self) -> str:
            return "<exotic>"

    assert child._name_of(Exotic()) == "<exotic>"
    assert child._name_of(_Sample("test_pass")) == f"{__name__}._Sample.test_pass"


def test_child_finds_the_parents_tornado_h1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv(child.ENV_PACKAGE_PARENT, raising=False)
    before = list(sys.path)
    child._use_our_package()  # no parent named: nothing to do
    assert sys.path == before
    # The tornado_h1 that would be imported is the parent's: nothing to do.
    monkeypatch.setenv(child.ENV_PACKAGE_PARENT, str(ROOT))
    monkeypatch.syspath_prepend(str(ROOT))
    before = list(sys.path)
    child._use_our_package()
    assert sys.path == before
    # Another copy: it goes first on sys.path.
    (tmp_path / "tornado_h1").mkdir()
    (tmp_path / "tornado_h1" / "__init__.py").write_text("", encoding="utf-8")
    monkeypatch.setenv(child.ENV_PACKAGE_PARENT, str(tmp_path))
    child._use_our_package()
    assert sys.path == [str(tmp_path)] + before


def test_child_argv_and_exit_status() -> None:
    assert runner.child_argv(["httpserver_test", "tornado.test.web_test.X"], []) == [
        "tornado.test.httpserver_test",
        "tornado.test.web_test.X",
    ]
    assert runner.child_argv(["web_test"], ["--failfast"], verbose=True) == [
        "--verbose",
        "--failfast",
        "tornado.test.web_test",
    ]
    assert runner.child_argv([], ["--verbose"], verbose=True) == ["--verbose"]
    assert [child._exit_status(c) for c in (None, False, True, 0, 5, "msg")] == [
        0,
        0,
        1,
        0,
        5,
        1,
    ]


# ------------------------------------------------- the parent, with a fake child


def _fake_python(tmp_path: Path, body: str) -> str:
    """An "interpreter" for --python that ignores its arguments and runs
    ``body`` (with ``report`` = the path the parent expects the report at)."""
    script = tmp_path / "fake-python"
    script.write_text(
        f"#!{sys.executable}\nimport json, os, sys, time\n"
        f"report = os.environ[{child.ENV_REPORT!r}]\n{textwrap.dedent(body)}",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return str(script)


def _run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = runner.main(argv)
    out = capsys.readouterr()
    return status, out.out + out.err


def test_main_reads_the_childs_report_and_applies_known_differences(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    synthetic = report({A: "failed", B: "passed"}, [fail(A)])
    (tmp_path / "report.json").write_text(json.dumps(synthetic), encoding="utf-8")
    python = _fake_python(
        tmp_path,
        f"""\
        assert os.environ[{child.ENV_MODE!r}] == "tornado_h1"
        with open({str(tmp_path / "report.json")!r}) as src, open(report, "w") as dst:
            dst.write(src.read())
        sys.exit(1)
        """,
    )
    status, out = _run_main(
        ["--python", python, "--known-differences", str(tmp_path / "none")], capsys
    )
    assert status == 2 and "cannot read" in out

    empty = tmp_path / "empty"
    empty.write_text("# nothing\n", encoding="utf-8")
    status, out = _run_main(
        ["--python", python, "--known-differences", str(empty)], capsys
    )
    assert status == 1
    assert f"FAILED:\n  failed: {A}" in out

    listed = tmp_path / "listed"
    listed.write_text(f"{A}  6.6  on purpose\n", encoding="utf-8")
    saved = tmp_path / "out.json"
    status, out = _run_main(
        ["--python", python, "--known-differences", str(listed), "--json", str(saved)],
        capsys,
    )
    assert status == 0, out
    assert out.rstrip().endswith("tornado_h1 compat: OK")
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data["verdict"]["ok"] is True
    assert data["verdict"]["expected_failures"] == [
        {"id": A, "reason": "on purpose", "entry": f"{listed}:1"}
    ]
    assert data["known_differences"] == {"file": str(listed), "entries": 1}
    assert data["child_status"] == 1


def test_main_passes_arguments_after_double_dash_to_runtests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    synthetic = json.dumps(report())
    python = _fake_python(
        tmp_path,
        f"""\
        data = json.loads({synthetic!r})
        data["argv"] = sys.argv[3:]  # after -c and the bootstrap
        with open(report, "w") as f:
            json.dump(data, f)
        """,
    )
    saved = tmp_path / "out.json"
    argv = [
        "--python",
        python,
        "--json",
        str(saved),
        "-v",
        "web_test",
        "--",
        "--failfast",
        "tornado.test.gen_test",
    ]
    status, out = _run_main(argv, capsys)
    assert status == 0, out
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data["argv"] == [
        "--verbose",
        "--failfast",
        "tornado.test.gen_test",
        "tornado.test.web_test",
    ]
    status, out = _run_main(
        ["--python", python, "--json", str(tmp_path / "no" / "such" / "dir")], capsys
    )
    assert status == 2 and "cannot write" in out


def test_main_fails_when_the_child_writes_no_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    python = _fake_python(tmp_path, "sys.exit(3)\n")
    status, out = _run_main(["--python", python, "--upstream"], capsys)
    assert status == 1
    assert "the test process exited with status 3 without a report" in out
    status, out = _run_main(["--python", str(tmp_path / "no-such-python")], capsys)
    assert status == 1 and "cannot start" in out


def test_main_stops_a_child_that_runs_too_long(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    python = _fake_python(tmp_path, "time.sleep(60)\n")
    status, out = _run_main(["--python", python, "--timeout", "0.5"], capsys)
    assert status == 1
    assert "did not finish within 0.5 seconds" in out


# ------------------------------------------------------------- end to end


def _core_missing() -> Optional[str]:
    try:
        importlib.import_module("tornado_h1.http1connection")
    except ModuleNotFoundError as exc:
        if exc.name == "tornado_h1.http1connection":
            return "tornado_h1.http1connection does not exist yet"
        raise
    return None


needs_core = pytest.mark.skipif(
    _core_missing() is not None, reason=str(_core_missing())
)


def test_python_dash_m_tornado_h1_compat_is_the_runner() -> None:
    import tornado_h1.compat as shim  # importing it must not run it

    assert shim.main is runner.main


def run_compat(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    return subprocess.run(
        [sys.executable, "-m", "tornado_h1.compat", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@needs_core
def test_end_to_end_http1connection_test(tmp_path: Path) -> None:
    saved = tmp_path / "report.json"
    proc = run_compat(
        "tornado.test.http1connection_test", "--json", str(saved), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    match = SUMMARY.search(proc.stdout)
    assert match is not None, proc.stdout
    assert match["version"] == TORNADO_VERSION
    assert match["active"] == "tornado_h1 active"
    assert int(match["connections"]) > 0
    assert int(match["passed"]) > 0
    assert (match["failed"], match["errors"]) == ("0", "0")
    assert proc.stdout.rstrip().endswith("tornado_h1 compat: OK")
    # unittest's own progress and result went to stderr, as always.
    assert re.search(r"^Ran \d+ tests? in", proc.stderr, re.MULTILINE)

    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data["mode"] == "tornado_h1" and data["completed"] is True
    assert data["write_behind"] == "adaptive"
    assert data["swap"]["ok"] is True
    assert data["swap"]["module_file"] == str(
        ROOT / "tornado_h1" / "http1connection.py"
    )
    assert data["swap"]["connections"] == int(match["connections"])
    assert data["log_check"]["clean"] is True
    assert data["exit_code"] == 0
    assert data["argv"][1:] == ["tornado.test.http1connection_test"]
    assert all(
        t.startswith("tornado.test.http1connection_test.") for t in data["tests"]
    )
    assert data["counts"]["passed"] == int(match["passed"]) == len(data["tests"])


@needs_core
def test_end_to_end_always_hold(tmp_path: Path) -> None:
    """--always-hold makes write-behind hold even for the suite's lone
    clients, so that its hold path meets the whole suite too."""
    saved = tmp_path / "report.json"
    proc = run_compat(
        "tornado.test.http1connection_test",
        "--always-hold",
        "--json",
        str(saved),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data["write_behind"] == "always"
    assert data["counts"]["passed"] > 0


@needs_core
def test_end_to_end_a_listed_test_that_passes_fails_the_run(tmp_path: Path) -> None:
    test_id = (
        "tornado.test.http1connection_test.HTTP1ConnectionTest."
        "test_http10_no_content_length"
    )
    known = tmp_path / "known_differences"
    known.write_text(f"{test_id}  *  pretend it differs\n", encoding="utf-8")
    proc = run_compat(f"{test_id}", "--known-differences", str(known), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"listed in known differences but passed: {test_id}" in proc.stdout
    match = SUMMARY.search(proc.stdout)
    assert match is not None and match["passed"] == "1"


@needs_core
def test_end_to_end_upstream_baseline(tmp_path: Path) -> None:
    proc = run_compat("http1connection_test", "--upstream", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    match = SUMMARY.search(proc.stdout)
    assert match is not None, proc.stdout
    assert match["active"] == "upstream tornado.http1connection, tornado_h1 not loaded"
    assert int(match["connections"]) > 0
    assert "baseline, without tornado_h1" in proc.stdout
