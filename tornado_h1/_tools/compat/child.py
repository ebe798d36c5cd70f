"""The child of ``python -m tornado_h1.compat``: runs inside the fresh
interpreter that runs Tornado's suite, and writes the report.

The parent (:mod:`tornado_h1._tools.compat.runner`) loads this file by its
path, without importing the tornado_h1 package (see
``runner._BOOTSTRAP``): so it imports nothing but the standard library at
the top, and nothing from its own package. The
names the parent and the verdict share with it (the environment variables,
the outcomes, the report format) are defined here.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import json
import logging
import os
import sys
import traceback
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


def _write_behind_mode(report: dict[str, Any]) -> str:
    """``--always-hold`` (``ENV_ALWAYS_HOLD`` set to "1"): the write-behind
    policy to install with (hold every response it may), also said in the
    report."""
    mode = "always" if os.environ.get(ENV_ALWAYS_HOLD) == "1" else "adaptive"
    report["write_behind"] = mode
    return mode


def _child_run(argv: list[str], mode: str, report: dict[str, Any]) -> int:
    if mode == MODE_TORNADO_H1:
        _use_our_package()
        # Installed before anything imports a test module, so that every
        # ``from tornado.http1connection import ...`` in the suite gets ours.
        import tornado_h1

        tornado_h1.install(write_behind=_write_behind_mode(report))
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
