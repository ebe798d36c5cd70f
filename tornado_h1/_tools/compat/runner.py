"""Run the installed Tornado's own test suite with tornado_h1 in place.

Usage::

    python -m tornado_h1.compat [OPTIONS] [TEST ...] [-- RUNTESTS-ARG ...]
    tornado-h1 compat [OPTIONS] [TEST ...] [-- RUNTESTS-ARG ...]

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
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tornado_h1._tools.compat import child
from tornado_h1._tools.compat.child import (
    ENV_ALWAYS_HOLD,
    ENV_MODE,
    ENV_PACKAGE_PARENT,
    ENV_REPORT,
    MODE_TORNADO_H1,
    MODE_UPSTREAM,
    PREFIX,
    REPORT_FORMAT,
    _write_json,
)
from tornado_h1._tools.compat.verdict import (
    DEFAULT_KNOWN_DIFFERENCES,
    PACKAGE_PARENT,
    KnownDifferencesError,
    format_summary,
    judge,
    load_known_differences,
)

#: The file the child process loads by path, and the name it gets there.
CHILD_FILE = Path(os.path.abspath(child.__file__))
_CHILD_NAME = "_tornado_h1_compat_child"


# Run in the child with ``python -c``. It loads child.py by path, without
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
        bootstrap = _BOOTSTRAP.format(
            name="_tornado_h1_compat_child", path=str(CHILD_FILE)
        )
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
