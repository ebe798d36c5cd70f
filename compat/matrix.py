"""Run every supported Tornado release's own test suite with tornado_h1.

Usage::

    python compat/matrix.py [--versions 6.2,6.4.2] [--jobs N] [--rebuild] ...

For each release (by default 6.2, 6.3.3, 6.4.2, 6.5.10 and 6.6.1) it

1. makes an isolated virtualenv under the cache directory (``.matrix/``,
   reused when it already holds that Tornado and this checkout of
   tornado_h1), with that Tornado from the package index and tornado_h1
   installed editable from the checkout;
2. compares the names and signatures of ``tornado_h1.http1connection`` with
   that release's ``tornado.http1connection`` (``compat/exports.py``);
3. runs that release's own suite with tornado_h1 in place
   (``python -m tornado_h1.compat --python <venv python> --json ...``), which
   applies ``compat/known_differences``;
4. checks the issue's pass criteria: 6.4.2 and later with no failure at all,
   older releases with at most two known differences, each with a reason
   that cites an advisory (CVE, GHSA) or an RFC section.

It prints progress as it goes, writes the results as a markdown table
(``compat/matrix.md`` by default) and as JSON (``.matrix/matrix.json``), and
exits with status 1 if anything was unexpected (2 for a usage error).

Needs Python 3.9+ and the package index (only when an environment has to be
made); the parent interpreter needs no Tornado.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Optional

ROOT = Path(__file__).resolve().parent.parent
EXPORTS_SCRIPT = ROOT / "compat" / "exports.py"
DEFAULT_VERSIONS = ("6.2", "6.3.3", "6.4.2", "6.5.10", "6.6.1")
DEFAULT_CACHE = ROOT / ".matrix"
DEFAULT_MARKDOWN = ROOT / "compat" / "matrix.md"
PREFIX = "matrix:"
FORMAT = 1

#: How many known differences (tests expected to fail) each release may
#: have: the pass criteria of issue 3. Releases not listed may have none.
KNOWN_DIFFERENCE_BUDGET = {"6.2": 2, "6.3.3": 2}

#: A known difference's reason must cite an advisory or an RFC section.
CITATION = re.compile(
    r"\bRFC ?\d{3,4}\b|\bGHSA(?:-[0-9a-z]{4}){3}\b|\bCVE-\d{4}-\d{4,}\b",
    re.IGNORECASE,
)

#: Optional test dependencies of the suites, installed in every environment
#: so that their tests run rather than skip (6.6's ``property_test`` needs
#: hypothesis). pycurl is left out: it needs libcurl headers to build, and
#: the development environment does not have it either.
SUITE_EXTRAS = ("hypothesis",)

#: Seconds between progress lines while a suite runs.
PROGRESS_EVERY = 15.0

# Printed by the environment probe, run with the environment's interpreter.
_PROBE = """\
import json, os, sys
info = {"python": sys.version.split()[0], "executable": sys.executable}
try:
    import tornado
    info["tornado"] = tornado.version
except Exception as exc:
    info["error"] = "cannot import tornado: %r" % (exc,)
else:
    try:
        import tornado_h1, tornado_h1._versions as versions
        info["tornado_h1"] = tornado_h1.__version__
        info["tornado_h1_dir"] = os.path.dirname(os.path.abspath(tornado_h1.__file__))
        info["behaviour"] = versions.CURRENT._asdict()
    except Exception as exc:
        info["error"] = "cannot import tornado_h1: %r" % (exc,)
from importlib.util import find_spec
info["extras"] = {name: find_spec(name) is not None for name in EXTRAS}
print(json.dumps(info))
"""

# unittest's verbose result for one test: "test_x (...) ... ok".
_OUTCOME = re.compile(
    rb"\.\.\. (ok|FAIL|ERROR|skipped|expected failure|unexpected success)\b"
)

_print_lock = threading.Lock()


def say(message: str) -> None:
    with _print_lock:
        print(f"{PREFIX} {message}", flush=True)


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def same_version(a: str, b: str) -> bool:
    """``6.5`` and ``6.5.0`` are the same release (Tornado says ``6.5``)."""
    ka, kb = version_key(a), version_key(b)
    width = max(len(ka), len(kb))
    return ka + (0,) * (width - len(ka)) == kb + (0,) * (width - len(kb))


@dataclasses.dataclass
class Result:
    """What happened to one release."""

    version: str
    env_dir: str = ""
    env: dict[str, Any] = dataclasses.field(default_factory=dict)
    reused: bool = False
    exports: dict[str, Any] = dataclasses.field(default_factory=dict)
    report_path: str = ""
    log_path: str = ""
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    log_check: Optional[dict[str, Any]] = None
    known_differences: list[dict[str, str]] = dataclasses.field(default_factory=list)
    suite_ok: bool = False
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["ok"] = self.ok
        return data


# ---------------------------------------------------------------------------
# Environments
# ---------------------------------------------------------------------------


def env_python(env_dir: Path) -> Path:
    if os.name == "nt":
        return env_dir / "Scripts" / "python.exe"
    return env_dir / "bin" / "python"


def probe(python: Path) -> dict[str, Any]:
    """What the environment holds (see ``_PROBE``), or ``{"error": ...}``."""
    try:
        proc = subprocess.run(
            [str(python), "-c", f"EXTRAS = {SUITE_EXTRAS!r}\n" + _PROBE],
            capture_output=True,
            text=True,
            timeout=120,
            # Not the checkout: ``-c`` puts the current directory on sys.path.
            cwd=str(python.parent),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": f"cannot run {python}: {exc}"}
    try:
        info: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"error": f"probe failed: {proc.stderr.strip()[-500:]}"}
    return info


def usable(info: dict[str, Any], version: str) -> Optional[str]:
    """Why an environment cannot be reused for ``version`` (None: it can)."""
    if "error" in info:
        return str(info["error"])
    if not same_version(str(info.get("tornado")), version):
        return f"it has Tornado {info.get('tornado')}"
    where = info.get("tornado_h1_dir")
    if not where or Path(where).resolve() != (ROOT / "tornado_h1").resolve():
        return f"its tornado_h1 is {where}, not this checkout's"
    missing = [name for name, found in (info.get("extras") or {}).items() if not found]
    if missing or set(info.get("extras") or {}) != set(SUITE_EXTRAS):
        return f"it lacks {', '.join(missing or SUITE_EXTRAS)}"
    return None


def _run_logged(cmd: list[str], log: IO[str], timeout: float) -> bool:
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    try:
        proc = subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, cwd=str(ROOT)
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.write(f"{exc}\n")
        return False
    return proc.returncode == 0


def ensure_env(
    result: Result, cache: Path, base_python: str, rebuild: bool
) -> Optional[Path]:
    """Make (or reuse) the release's environment; its interpreter, or None."""
    version = result.version
    env_dir = cache / f"tornado-{version}"
    result.env_dir = str(env_dir)
    python = env_python(env_dir)
    started = time.monotonic()
    if python.exists() and not rebuild:
        info = probe(python)
        why = usable(info, version)
        if why is None:
            result.env, result.reused = info, True
            result.seconds["environment"] = round(time.monotonic() - started, 1)
            say(f"[{version}] environment: reusing {_show(env_dir)}")
            return python
        say(f"[{version}] environment: rebuilding {_show(env_dir)} ({why})")
    else:
        say(f"[{version}] environment: creating {_show(env_dir)}")
    if env_dir.exists():
        shutil.rmtree(env_dir)
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    setup_log = env_dir.parent / f"tornado-{version}.setup.log"
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "install", "-q"]
    steps = [
        [base_python, "-m", "venv", str(env_dir)],
        pip + [f"tornado=={version}", *SUITE_EXTRAS],
        pip + ["--no-deps", "-e", str(ROOT)],
    ]
    with open(setup_log, "w", encoding="utf-8") as log:
        for cmd in steps:
            if not _run_logged(cmd, log, timeout=600):
                result.problems.append(
                    f"could not make the environment: {' '.join(cmd[:4])} ... "
                    f"failed (see {_show(setup_log)})"
                )
                return None
    info = probe(python)
    why = usable(info, version)
    if why is not None:
        result.problems.append(f"the new environment is not usable: {why}")
        return None
    result.env = info
    result.seconds["environment"] = round(time.monotonic() - started, 1)
    say(
        f"[{version}] environment: ready (Python {info.get('python')}, "
        f"{result.seconds['environment']:.0f} s)"
    )
    return python


def _show(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------
# The two checks
# ---------------------------------------------------------------------------


def check_exports(result: Result, python: Path) -> None:
    try:
        proc = subprocess.run(
            [str(python), str(EXPORTS_SCRIPT), "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=str(python.parent),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        result.problems.append(f"export check could not run: {exc}")
        return
    try:
        data: dict[str, Any] = json.loads(proc.stdout)
    except ValueError:
        result.problems.append(
            f"export check failed (status {proc.returncode}): "
            f"{proc.stderr.strip()[-500:]}"
        )
        return
    result.exports = data
    diffs = data.get("differences") or []
    for diff in diffs:
        result.problems.append(f"exports: {diff}")
    say(
        f"[{result.version}] exports: {len(data.get('checked') or [])} names of "
        f"tornado.http1connection checked, {len(diffs)} differences"
    )


class _Progress:
    """Counts unittest's verbose outcome lines as they stream by."""

    def __init__(self) -> None:
        self.done = 0
        self.failing = 0
        self._partial = b""

    def feed(self, data: bytes) -> None:
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            for match in _OUTCOME.finditer(line):
                self.done += 1
                if match.group(1) in (b"FAIL", b"ERROR", b"unexpected success"):
                    self.failing += 1


def _pump(
    stream: IO[bytes], log: IO[bytes], lock: threading.Lock, progress: _Progress
) -> None:
    while True:
        data = stream.read1(65536) if hasattr(stream, "read1") else stream.read(4096)
        if not data:
            return
        with lock:
            log.write(data)
            progress.feed(data)


def run_suite(
    result: Result,
    python: Path,
    timeout: float,
    known_differences: Optional[str],
) -> None:
    version = result.version
    env_dir = Path(result.env_dir)
    report = env_dir / "report.json"
    log_path = env_dir / "suite.log"
    result.report_path, result.log_path = str(report), str(log_path)
    if report.exists():
        report.unlink()
    # The parent of the compat run needs tornado_h1 importable (and so
    # Tornado); this interpreter may have neither, the environment has both.
    parent = sys.executable if _can_import_tornado_h1() else str(python)
    cmd = [parent, "-m", "tornado_h1.compat", "--python", str(python)]
    cmd += ["--json", str(report), "--verbose", "--timeout", f"{timeout:g}"]
    if known_differences:
        cmd += ["--known-differences", known_differences]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    say(f"[{version}] suite: running Tornado {version}'s own tests with tornado_h1")
    started = time.monotonic()
    progress = _Progress()
    lock = threading.Lock()
    with open(log_path, "wb") as log:
        log.write(f"$ {' '.join(cmd)}\n".encode())
        try:
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=str(ROOT),
                env=env,
            )
        except OSError as exc:
            result.problems.append(f"could not start the suite: {exc}")
            return
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [
            threading.Thread(target=_pump, args=(s, log, lock, progress), daemon=True)
            for s in (proc.stdout, proc.stderr)
        ]
        for pump in pumps:
            pump.start()
        while True:
            try:
                proc.wait(timeout=PROGRESS_EVERY)
                break
            except subprocess.TimeoutExpired:
                with lock:
                    done, failing = progress.done, progress.failing
                say(
                    f"[{version}] suite: {done} tests done, {failing} failing so "
                    f"far ({time.monotonic() - started:.0f} s)"
                )
        for pump in pumps:
            pump.join()
    result.seconds["suite"] = round(time.monotonic() - started, 1)
    read_report(result, report, proc.returncode)


def _can_import_tornado_h1() -> bool:
    try:
        import tornado  # noqa: F401
    except ImportError:
        return False
    return True


def read_report(result: Result, report: Path, status: Optional[int]) -> None:
    """Take the counts and the verdict from the compat run's JSON report."""
    try:
        data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        result.problems.append(
            f"the suite left no report ({exc}); see {_show(Path(result.log_path))}"
        )
        return
    result.counts = dict(data.get("counts") or {})
    log = data.get("log_check")
    result.log_check = (
        {k: log.get(k) for k in ("infos", "warnings", "errors", "stderr_bytes")}
        | {"clean": log.get("clean")}
        if log
        else None
    )
    verdict = data.get("verdict") or {}
    result.known_differences = [
        {"id": str(e.get("id")), "reason": str(e.get("reason"))}
        for e in verdict.get("expected_failures") or []
    ]
    result.suite_ok = bool(verdict.get("ok")) and status == 0
    for problem in verdict.get("problems") or []:
        result.problems.append(f"suite: {problem}")
    if not result.suite_ok and not verdict.get("problems"):
        result.problems.append(f"suite: the compat run exited with status {status}")
    check_budget(result)
    counts = result.counts
    say(
        f"[{result.version}] suite: {counts.get('passed', 0)} passed, "
        f"{counts.get('failed', 0)} failed, {counts.get('errors', 0)} errors, "
        f"{counts.get('skipped', 0)} skipped, "
        f"{len(result.known_differences)} known differences "
        f"({result.seconds.get('suite', 0):.0f} s): "
        + ("OK" if result.ok else "FAILED")
    )


def check_budget(result: Result) -> None:
    """The pass criteria beyond the compat verdict (see the module doc)."""
    allowed = KNOWN_DIFFERENCE_BUDGET.get(result.version, 0)
    used = result.known_differences
    if len(used) > allowed:
        result.problems.append(
            f"{len(used)} known differences, but Tornado {result.version} may "
            f"have at most {allowed}: " + ", ".join(entry["id"] for entry in used)
        )
    for entry in used:
        if not CITATION.search(entry["reason"]):
            result.problems.append(
                f"known difference {entry['id']}: the reason must cite an "
                f"advisory (CVE, GHSA) or an RFC section: {entry['reason']!r}"
            )


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(results: list[Result]) -> str:
    """The results as a markdown page. Only what the results say goes in
    (no times, no dates), so the page changes only when they do."""
    pythons = sorted({str(r.env.get("python")) for r in results if r.env})
    ours = sorted({str(r.env.get("tornado_h1")) for r in results if r.env})
    lines = [
        "# Tornado's own test suites with tornado_h1 in place",
        "",
        "Written by `python compat/matrix.py` (`make matrix`, also run by "
        "`make test`); do not edit by hand.",
        f"tornado_h1 {', '.join(ours) or '?'}, Python {', '.join(pythons) or '?'}.",
        "Each release's suite ran in its own virtualenv with tornado_h1 installed in "
        "place of `tornado.http1connection` (`python -m tornado_h1.compat`).",
        "",
        "| Tornado | Tests | Passed | Failed | Errors | Skipped "
        "| Known differences | Log check | Exports | Result |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for r in results:
        c = r.counts
        log = r.log_check
        if log is None:
            log_text = "—"
        elif log.get("clean"):
            log_text = "clean"
        else:
            log_text = (
                f"{log.get('infos')} infos, {log.get('warnings')} warnings, "
                f"{log.get('errors')} errors"
            )
        diffs = r.exports.get("differences")
        if diffs is None:
            exports = "not checked"
        elif diffs:
            exports = f"{len(diffs)} differences"
        else:
            exports = f"same ({len(r.exports.get('checked') or [])} names)"
        lines.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    r.version,
                    c.get("tests_run", "—"),
                    c.get("passed", "—"),
                    c.get("failed", "—"),
                    c.get("errors", "—"),
                    c.get("skipped", "—"),
                    len(r.known_differences),
                    log_text,
                    exports,
                    "pass" if r.ok else "**FAIL**",
                )
            )
            + " |"
        )
    lines += [
        "",
        "Failed and errors count the tests that failed, including those listed "
        "as known differences; skipped tests are those the suite itself skips "
        "in this environment (no pycurl, no IPv6, ...).",
        "",
        "## Known differences",
        "",
        "Tests listed in `compat/known_differences` that failed as expected. "
        "Releases 6.4.2 and later may have none; 6.2 and 6.3.3 at most two, "
        "each citing the advisory or RFC section that makes the old assertion "
        "unsafe.",
        "",
    ]
    listed = [(r.version, e) for r in results for e in r.known_differences]
    if listed:
        lines += ["| Tornado | Test | Reason |", "| --- | --- | --- |"]
        lines += [
            f"| {_cell(v)} | `{_cell(e['id'])}` | {_cell(e['reason'])} |"
            for v, e in listed
        ]
    else:
        lines.append("None: every release's suite passes in full.")
    lines += _behaviour_table(results)
    problems = [(r.version, p) for r in results for p in r.problems]
    if problems:
        lines += ["", "## Problems", ""]
        lines += [f"- {_cell(v)}: {_cell(p)}" for v, p in problems]
    return "\n".join(lines) + "\n"


def _behaviour_table(results: list[Result]) -> list[str]:
    with_behaviour = [r for r in results if r.env.get("behaviour")]
    if not with_behaviour:
        return []
    fields = list(with_behaviour[0].env["behaviour"])
    lines = [
        "",
        "## Version switches",
        "",
        "What tornado_h1 does differently on each release, from the table in "
        "`tornado_h1/_versions.py` (each entry there names the upstream test "
        "that pins it). Message framing is as strict as 6.6.1's everywhere.",
        "",
        "| Switch | " + " | ".join(_cell(r.version) for r in with_behaviour) + " |",
        "| --- |" + " --- |" * len(with_behaviour),
    ]
    for name in fields:
        values = [r.env["behaviour"].get(name) for r in with_behaviour]
        shown = [
            ("yes" if v else "no") if isinstance(v, bool) else f"{v}" for v in values
        ]
        lines.append(f"| `{name}` | " + " | ".join(_cell(s) for s in shown) + " |")
    return lines


def print_table(results: list[Result]) -> None:
    header = ("Tornado", "passed", "failed", "errors", "skipped", "known", "result")
    rows = [
        (
            r.version,
            str(r.counts.get("passed", "-")),
            str(r.counts.get("failed", "-")),
            str(r.counts.get("errors", "-")),
            str(r.counts.get("skipped", "-")),
            str(len(r.known_differences)),
            "OK" if r.ok else "FAILED",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        say("  ".join(cell.rjust(w) for cell, w in zip(row, widths)))


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python compat/matrix.py",
        description="Run each supported Tornado release's own test suite, in its "
        "own virtualenv, with tornado_h1 in place of tornado.http1connection; "
        "check the exported names and signatures too.",
        epilog="Exit status: 0 if every release passed, 1 if not, 2 for a usage error.",
    )
    parser.add_argument(
        "--versions",
        default=",".join(DEFAULT_VERSIONS),
        help="comma-separated Tornado versions (default: %(default)s)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE,
        help="where the virtualenvs live (default: .matrix in the checkout)",
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="make every virtualenv afresh"
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=1,
        help="releases to run at once (default: %(default)s; the suites have "
        "timing-sensitive tests, so more than 2 is not advised)",
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter the virtualenvs are made from (default: this one)",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        default=DEFAULT_MARKDOWN,
        help="write the markdown table here (default: compat/matrix.md)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="write the JSON results here (default: CACHE-DIR/matrix.json)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="stop a suite that runs longer than this many seconds "
        "(default: %(default)g)",
    )
    parser.add_argument(
        "--known-differences",
        metavar="PATH",
        help="passed on to tornado_h1.compat (default: compat/known_differences)",
    )
    return parser


def run_one(version: str, args: argparse.Namespace, cache: Path) -> Result:
    result = Result(version)
    python = ensure_env(result, cache, args.python, args.rebuild)
    if python is None:
        say(f"[{version}] FAILED: " + "; ".join(result.problems))
        return result
    check_exports(result, python)
    run_suite(result, python, args.timeout, args.known_differences)
    return result


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    versions = [v.strip() for v in args.versions.split(",") if v.strip()]
    if not versions or any(not re.fullmatch(r"\d+(\.\d+)*", v) for v in versions):
        print(f"{PREFIX} error: bad --versions {args.versions!r}", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print(f"{PREFIX} error: --jobs must be at least 1", file=sys.stderr)
        return 2
    cache: Path = args.cache_dir.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    json_path: Path = args.json or cache / "matrix.json"
    say(
        f"Tornado {', '.join(versions)}: own suites with tornado_h1, "
        f"{args.jobs} at a time (environments in {_show(cache)})"
    )
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_one, v, args, cache) for v in versions]
        results = [f.result() for f in futures]
    results.sort(key=lambda r: version_key(r.version))
    elapsed = time.monotonic() - started

    ok = all(r.ok for r in results)
    data = {
        "format": FORMAT,
        "ok": ok,
        "seconds": round(elapsed, 1),
        "versions": [r.as_dict() for r in results],
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(markdown(results), encoding="utf-8")

    print_table(results)
    say(f"wrote {_show(args.markdown)} and {_show(json_path)}")
    for r in results:
        for problem in r.problems:
            say(f"[{r.version}] " + problem.replace("\n", "\n    "))
    say(
        ("OK" if ok else "FAILED")
        + f": {sum(r.ok for r in results)} of {len(results)} releases passed "
        f"in {elapsed:.0f} s"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
