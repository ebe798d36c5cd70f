"""``compat/known_differences``, the verdict on a report of the child, and
the summary printed for it."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tornado_h1._tools.compat.child import (
    ABSTRACT,
    FAILED,
    MODE_TORNADO_H1,
    MODE_UPSTREAM,
    PASSING,
    PREFIX,
    SKIPPED,
)

# The directory on sys.path that holds this copy of the tornado_h1 package
# (the repository root in a checkout, site-packages in an installation).
PACKAGE_PARENT = Path(os.path.abspath(__file__)).parents[3]
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
