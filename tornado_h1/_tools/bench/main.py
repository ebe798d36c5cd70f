"""``tornado-h1 bench``: the command line."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import types
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Optional

from tornado_h1._tools.bench.report import (
    _load_pyplot,
    chart_unavailable,
    render_markdown,
    render_plot,
    render_rst,
    render_text,
    summarize_profiles,
)
from tornado_h1._tools.bench.roles import _ROLES
from tornado_h1._tools.bench.runner import ProgressFn, new_document, run
from tornado_h1._tools.bench.scenarios import (
    PROG,
    SCENARIOS,
    BenchError,
    _select,
    build_parser,
    resolve_settings,
)

# ------------------------------------------------------------------ main


def _progress_printer(stream: IO[str]) -> ProgressFn:
    begun = time.monotonic()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - begun:6.1f}s] {message}", file=stream, flush=True)

    return progress


class _Interrupted(KeyboardInterrupt):
    pass


def _on_sigterm(signum: int, frame: Optional[types.FrameType]) -> None:
    raise _Interrupted


def _write_outputs(
    doc: dict[str, Any], args: argparse.Namespace, measured: bool
) -> None:
    if measured and args.json and args.json != "-":
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
        print(f"results: {args.json}")
    if args.markdown:
        Path(args.markdown).write_text(render_markdown(doc))
        print(f"markdown table: {args.markdown}")
    if args.rst:
        Path(args.rst).write_text(render_rst(doc))
        print(f"reStructuredText table: {args.rst}")
    _write_chart(doc, args, measured)


def chart_beside(results: Path) -> Path:
    """The default chart's path: the results' own, ending in ``.png``."""
    chart = results.with_suffix(".png")
    return chart if chart != results else results.with_name(results.name + ".png")


def _write_chart(doc: dict[str, Any], args: argparse.Namespace, measured: bool) -> None:
    """The chart: at ``--plot``, or else beside the results a run wrote,
    when it can be drawn (saying in one line why not, when it cannot)."""
    if args.plot:
        path = Path(args.plot)
    elif measured and args.json and args.json != "-":
        path = chart_beside(Path(args.json))
        why_not = chart_unavailable(doc)
        if why_not is not None:
            print(f"chart: not drawn ({why_not})")
            return
    else:
        return
    render_plot(doc, path)
    print(f"chart: {path}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``tornado-h1 bench``; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in _ROLES:
        return _ROLES[args_list[0]](json.loads(args_list[1]))
    args = build_parser().parse_args(args_list)
    if args.list:
        for s in SCENARIOS:
            print(f"{s.group:<10} {s.id:<15} {s.metric:<20} {s.title}")
        return 0
    try:
        if sys.platform == "win32":
            raise BenchError("needs a POSIX system (process groups, /proc)")
        if args.plot:
            _load_pyplot()  # fail now, not after the whole run
        if args.from_json:
            doc = json.loads(Path(args.from_json).read_text())
            print(render_text(doc), end="")
            _write_outputs(doc, args, measured=False)
            return 0
        scenarios = _select(args.scenarios)
        settings = resolve_settings(args)
    except BenchError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2

    progress = _progress_printer(sys.stderr)
    for note in settings.notes:
        progress(note)
    doc = new_document(settings, args_list)
    try:
        old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        old_term = None
    try:
        run(settings, scenarios, doc, progress)
    except KeyboardInterrupt as exc:
        print(f"{PROG}: interrupted; all child processes stopped", file=sys.stderr)
        if doc["results"] and args.json and args.json != "-":
            Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
            print(f"{PROG}: partial results in {args.json}", file=sys.stderr)
        return 128 + (
            signal.SIGTERM if isinstance(exc, _Interrupted) else signal.SIGINT
        )
    finally:
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)

    print()
    print(render_text(doc), end="")
    try:
        _write_outputs(doc, args, measured=True)
    except BenchError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    if doc["profiles"]:
        print()
        print(summarize_profiles([Path(p) for p in doc["profiles"]]), end="")
    return 1 if doc["errors"] else 0
