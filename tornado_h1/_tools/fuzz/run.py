"""The fuzz run: both implementations against the same inputs, the tally,
and the report."""

from __future__ import annotations

import dataclasses
import re
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, Callable, Optional

import tornado
import tornado.ioloop

from tornado_h1._tools.fuzz import strategies
from tornado_h1._tools.fuzz.messages import Case
from tornado_h1.testing.servers import IMPLS
from tornado_h1.testing.targets import (
    PATIENCE,
    ClientOutcome,
    ClientTarget,
    ResponseServer,
    ServerOutcome,
    ServerTarget,
    classify_client,
    classify_server,
    served_more,
    show,
)

#: The options both servers get in a fuzz run: small limits, so that the
#: generated inputs reach them.
FUZZ_SERVER_OPTIONS: dict[str, Any] = {
    "max_header_size": 4096,
    "max_body_size": 4096,
    "decompress_request": True,
}

#: The options both clients get in a fuzz run.
FUZZ_CLIENT_OPTIONS: dict[str, Any] = {
    "max_header_size": 4096,
    "max_body_size": 4096,
}


@dataclasses.dataclass
class Divergence:
    case: Case
    kind: str
    failure: str  # "" unless this divergence fails the run
    upstream: dict[str, Any]
    tornado_h1: dict[str, Any]

    def signature(self) -> str:
        """A short description for grouping similar divergences."""
        ours = self.tornado_h1
        theirs = self.upstream
        if self.case.side == "server":
            what = "ours %s, upstream %s" % (_server_label(ours), _server_label(theirs))
        else:
            what = "ours %s, upstream %s" % (_client_label(ours), _client_label(theirs))
        return "%s %s: %s" % (self.case.side, self.kind, what)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.case.to_json(),
            "class": self.kind,
            "failure": self.failure,
            "upstream": self.upstream,
            "tornado_h1": self.tornado_h1,
        }


def _server_label(outcome: dict[str, Any]) -> str:
    label = "%s%s" % (outcome["statuses"], " closed" if outcome["closed"] else "")
    reason = _first(outcome["reasons"])
    return "%s (%s)" % (label, reason) if reason else label


def _client_label(outcome: dict[str, Any]) -> str:
    if outcome["code"] != 599:
        return str(outcome["code"])
    return _first(outcome["reasons"]) or outcome["error"]


def _first(items: Sequence[str]) -> str:
    text = items[0] if items else ""
    # Values quoted into messages make every signature unique; drop them.
    text = re.sub(r"(: |\s)(['\"]).*\2$", r"\1...", text)
    return re.sub(r"(?<=[a-z]) [^ ]*[^a-z ][^ ]*$", " ...", text)


class DifferentialFailure(AssertionError):
    """tornado_h1 did something it must never do with this input."""

    def __init__(self, divergence: Divergence) -> None:
        super().__init__(
            "%s: %s\n%s"
            % (divergence.failure, divergence.signature(), show(divergence.case.data))
        )
        self.divergence = divergence


class Fuzzer:
    """Runs cases against both implementations on one IOLoop, and keeps
    the tally."""

    def __init__(
        self,
        *,
        server_options: Optional[dict[str, Any]] = None,
        client_options: Optional[dict[str, Any]] = None,
        keep: int = 20000,
        client_timeout: float = PATIENCE,
    ) -> None:
        self.server_options = dict(
            FUZZ_SERVER_OPTIONS if server_options is None else server_options
        )
        self.client_options = dict(
            FUZZ_CLIENT_OPTIONS if client_options is None else client_options
        )
        self.keep = keep
        self.client_timeout = client_timeout
        # Each distinct failure is raised (and shrunk) once; repeats of it
        # are only counted.
        self.failure_counts: Counter[str] = Counter()
        self.io_loop = tornado.ioloop.IOLoop(make_current=False)
        self.servers: dict[str, ServerTarget] = {}
        self.clients: dict[str, ClientTarget] = {}
        self.responder: Optional[ResponseServer] = None
        self.counts: Counter[str] = Counter()
        self.divergences: list[Divergence] = []
        self.failures: list[Divergence] = []
        self.examples = 0
        self.dropped = 0
        self.io_loop.run_sync(self._start)

    async def _start(self) -> None:
        for impl in IMPLS:
            self.servers[impl] = ServerTarget(impl, **self.server_options).start()
            self.clients[impl] = ClientTarget(
                impl, timeout=self.client_timeout, **self.client_options
            )
        self.responder = ResponseServer()

    async def _stop(self) -> None:
        for target in self.servers.values():
            await target.stop()
        for client in self.clients.values():
            client.close()
        if self.responder is not None:
            self.responder.close()

    def close(self) -> None:
        self.io_loop.run_sync(self._stop)
        self.io_loop.close(all_fds=True)

    # -- one case -----------------------------------------------------------

    def run_case(self, case: Case, *, record: bool = True) -> Divergence:
        """Run ``case`` against both; record it; raise `DifferentialFailure`
        if tornado_h1 misbehaved."""
        divergence: Divergence = self.io_loop.run_sync(
            lambda: self._run_case(case, record)
        )
        return divergence

    async def _run_case(self, case: Case, record: bool) -> Divergence:
        if case.side == "server":
            theirs_s = await self.servers["upstream"].exchange(case.pieces)
            ours_s = await self.servers["tornado_h1"].exchange(case.pieces)
            kind = classify_server(theirs_s, ours_s)
            failure = _server_failure(theirs_s, ours_s)
            divergence = Divergence(
                case, kind, failure, theirs_s.to_json(), ours_s.to_json()
            )
        else:
            responder = self.responder
            assert responder is not None
            theirs_c = await self.clients["upstream"].fetch(
                responder, case.pieces, method=case.method
            )
            ours_c = await self.clients["tornado_h1"].fetch(
                responder, case.pieces, method=case.method
            )
            kind = classify_client(theirs_c, ours_c)
            failure = _client_failure(theirs_c, ours_c, kind)
            divergence = Divergence(
                case, kind, failure, theirs_c.to_json(), ours_c.to_json()
            )
        if record:
            self.examples += 1
            self.counts[kind] += 1
            if kind != "identical" or failure:
                if len(self.divergences) < self.keep:
                    self.divergences.append(divergence)
                else:
                    self.dropped += 1
        if failure:
            signature = divergence.signature()
            first = signature not in self.failure_counts
            if record:
                self.failure_counts[signature] += 1
            if first or not record:
                raise DifferentialFailure(divergence)
        return divergence

    # -- batches ------------------------------------------------------------

    def run_batch(
        self,
        side: str,
        *,
        examples: int,
        seed: Optional[int] = None,
        derandomize: bool = False,
        shrink: bool = True,
    ) -> Optional[Divergence]:
        """Run one Hypothesis search of ``examples`` inputs. Returns the
        (shrunk) failure, if any; divergences are recorded as they occur."""
        failed: list[bool] = []

        def run(case: Case) -> None:
            # Once something failed, Hypothesis replays variants of it to
            # shrink it: those are not new examples, and are not counted.
            try:
                self.run_case(case, record=not failed)
            except DifferentialFailure:
                failed.append(True)
                raise

        test = strategies.search(
            side,
            run,
            examples=examples,
            seed=seed,
            derandomize=derandomize,
            shrink=shrink,
        )
        try:
            test()
        except DifferentialFailure as exc:
            self.failures.append(exc.divergence)
            return exc.divergence
        return None

    # -- the report ---------------------------------------------------------

    def report(self, **meta: Any) -> dict[str, Any]:
        return {
            **meta,
            "examples": self.examples,
            "counts": {k: self.counts.get(k, 0) for k in CLASSES},
            "failures": [d.to_json() for d in self.failures],
            "failure_counts": dict(self.failure_counts),
            "divergences_dropped": self.dropped,
            "divergences": [d.to_json() for d in self.divergences],
        }

    def summary(self, **meta: Any) -> str:
        lines = ["tornado_h1 differential fuzz against Tornado %s" % tornado.version]
        for key, value in meta.items():
            lines.append("  %s: %s" % (key, value))
        lines.append("  examples: %d" % self.examples)
        for key in CLASSES:
            lines.append("  %-10s %d" % (key, self.counts.get(key, 0)))
        lines.append("  failures: %d distinct" % len(self.failures))
        for failure in self.failures:
            lines.append("    FAIL %s" % failure.failure)
            lines.append("         %s" % failure.signature())
            lines.append("         shrunk input: %s" % show(failure.case.data)[:300])
        for signature, count in self.failure_counts.most_common():
            lines.append("    %6d inputs: %s" % (count, signature))
        groups: dict[str, list[Divergence]] = {}
        for d in self.divergences:
            groups.setdefault(d.signature(), []).append(d)
        lines.append("divergences by kind (count, example input):")
        for signature, items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            lines.append("  %6d  %s" % (len(items), signature))
            shortest = min(items, key=lambda d: len(d.case.data))
            lines.append("          e.g. %s" % show(shortest.case.data)[:200])
        if self.dropped:
            lines.append("  (%d more divergences not kept)" % self.dropped)
        return "\n".join(lines) + "\n"

    def progress(self, elapsed: float) -> str:
        return "[fuzz %5.0fs] %d examples: %s; failures %d" % (
            elapsed,
            self.examples,
            ", ".join("%s %d" % (k, self.counts.get(k, 0)) for k in CLASSES),
            len(self.failures),
        )


CLASSES = ("identical", "stricter", "lenient", "different")


def _server_failure(theirs: ServerOutcome, ours: ServerOutcome) -> str:
    if ours.errors:
        return "tornado_h1 logged at ERROR"
    if ours.stuck and not theirs.stuck:
        return "tornado_h1 got stuck"
    if served_more(theirs, ours):
        return "tornado_h1 served a request upstream refused"
    return ""


def _client_failure(theirs: ClientOutcome, ours: ClientOutcome, kind: str) -> str:
    if ours.errors:
        return "tornado_h1 logged at ERROR"
    if not ours.peer_closed and theirs.peer_closed:
        return "tornado_h1 leaked the connection"
    if kind == "lenient":
        return "tornado_h1 accepted a response upstream refused"
    if kind == "different" and ours.accepted:
        return "tornado_h1 read a different response"
    return ""


def fuzz(
    *,
    minutes: Optional[float] = None,
    examples: Optional[int] = None,
    seed: int = 0,
    derandomize: bool = False,
    sides: Sequence[str] = ("server", "client"),
    batch: int = 100,
    progress: Optional[Callable[[str], None]] = None,
    progress_every: float = 10.0,
    fuzzer: Optional[Fuzzer] = None,
) -> Fuzzer:
    """Fuzz until ``minutes`` have passed or ``examples`` inputs have run
    (whichever comes first; at least one batch per side), with ``fuzzer``
    or a new `Fuzzer`. Returns it, closed, with its tally."""
    if minutes is None and examples is None:
        raise ValueError("give minutes or examples")
    if fuzzer is None:
        fuzzer = Fuzzer()
    start = time.monotonic()
    last_report = start
    try:
        batch_no = 0
        while True:
            for side in sides:
                size = batch
                if derandomize:
                    # One search per side: every batch would be the same.
                    size = max(1, (examples or batch) // len(sides))
                elif examples is not None:
                    size = min(batch, max(1, examples - fuzzer.examples))
                fuzzer.run_batch(
                    side, examples=size, seed=seed + batch_no, derandomize=derandomize
                )
            batch_no += 1
            now = time.monotonic()
            if progress is not None and now - last_report >= progress_every:
                last_report = now
                progress(fuzzer.progress(now - start))
            if derandomize:
                break
            if examples is not None and fuzzer.examples >= examples:
                break
            if minutes is not None and now - start >= minutes * 60:
                break
    finally:
        fuzzer.close()
    if progress is not None:
        progress(fuzzer.progress(time.monotonic() - start))
    return fuzzer
