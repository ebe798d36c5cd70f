"""``tornado-h1 fuzz``: the command line of the differential fuzzer."""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import re
import sys
import time
from collections.abc import Sequence
from typing import Optional

import tornado

from tornado_h1 import _install
from tornado_h1._tools.fuzz import NEEDS_HYPOTHESIS
from tornado_h1._tools.fuzz.messages import Case


def _parse_literal(text: str) -> bytes:
    value = ast.literal_eval(text)
    if isinstance(value, str):
        value = value.encode("latin1")
    if not isinstance(value, bytes):
        raise argparse.ArgumentTypeError("not a bytes literal: %r" % text)
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tornado-h1 fuzz",
        description="Differential fuzzing of tornado_h1 against Tornado's own "
        "http1connection, over real sockets.",
    )
    parser.add_argument("--minutes", type=float, help="run this long")
    parser.add_argument("--examples", type=int, help="run this many inputs")
    parser.add_argument("--seed", type=int, default=0, help="first batch's seed")
    parser.add_argument(
        "--derandomize",
        action="store_true",
        help="one deterministic batch per side (the CI run)",
    )
    parser.add_argument(
        "--side",
        choices=("server", "client", "both"),
        default="both",
        help="fuzz requests to servers, responses to clients, or both",
    )
    parser.add_argument("--batch", type=int, default=100, help="inputs per search")
    parser.add_argument(
        "--client-timeout",
        type=float,
        default=2.0,
        help="request_timeout of the clients (only a hung client reaches it)",
    )
    parser.add_argument(
        "--report",
        default="fuzz-report.json",
        help="JSON report path; the text summary goes next to it (.txt)",
    )
    parser.add_argument(
        "--progress", type=float, default=10.0, help="seconds between progress lines"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument(
        "--replay",
        type=_parse_literal,
        metavar="BYTES",
        help="run one input (a Python bytes literal) and print both outcomes",
    )
    return parser


def _have_hypothesis() -> bool:
    """Whether the fuzzer's strategies, which need Hypothesis, can be loaded."""
    try:
        importlib.import_module("tornado_h1._tools.fuzz.strategies")
    except ModuleNotFoundError as exc:
        if exc.name != "hypothesis":
            raise
        return False
    return True


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``tornado-h1 fuzz``: returns 0 if tornado_h1 never did anything it
    must not, 1 if it did, 2 for a usage error."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    sides = ("server", "client") if args.side == "both" else (args.side,)
    if _install.is_installed():
        print("tornado-h1 fuzz: run it without tornado_h1 installed", file=sys.stderr)
        return 2
    if not _have_hypothesis():
        print(NEEDS_HYPOTHESIS, file=sys.stderr)
        return 2
    from tornado_h1._tools.fuzz import run

    if args.replay is not None:
        return _replay(args.replay, sides[0])
    if args.minutes is None and args.examples is None:
        args.minutes = 1.0

    def say(line: str) -> None:
        print(line, flush=True)

    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    fuzzer = run.fuzz(
        fuzzer=run.Fuzzer(client_timeout=args.client_timeout),
        minutes=args.minutes,
        examples=args.examples,
        seed=args.seed,
        derandomize=args.derandomize,
        sides=sides,
        batch=args.batch,
        progress=None if args.quiet else say,
        progress_every=args.progress,
    )
    meta = {
        "tornado": tornado.version,
        "python": sys.version.split()[0],
        "started": started,
        "minutes": args.minutes,
        "seed": args.seed,
        "derandomize": args.derandomize,
        "sides": list(sides),
        "server_options": run.FUZZ_SERVER_OPTIONS,
        "client_options": run.FUZZ_CLIENT_OPTIONS,
    }
    report = fuzzer.report(**meta)
    with open(args.report, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    summary = fuzzer.summary(**meta)
    text_path = re.sub(r"\.json$", "", args.report) + ".txt"
    with open(text_path, "w", encoding="utf-8") as f:
        f.write(summary)
    if not args.quiet:
        print(summary, end="")
        print("report: %s and %s" % (args.report, text_path))
    return 1 if fuzzer.failures else 0


def _replay(data: bytes, side: str) -> int:
    from tornado_h1._tools.fuzz import run

    fuzzer = run.Fuzzer()
    try:
        try:
            divergence = fuzzer.run_case(Case(side, (data,)))
            failure = ""
        except run.DifferentialFailure as exc:
            divergence = exc.divergence
            failure = divergence.failure
    finally:
        fuzzer.close()
    print(json.dumps(divergence.to_json(), indent=1))
    if failure:
        print("FAIL: %s" % failure)
    return 1 if failure else 0
