"""A short, deterministic run of the differential fuzzer (``tornado-h1 fuzz``)
for CI, and tests of the fuzzer itself: that it classifies outcomes as it
says, that it fails (and shrinks) when tornado_h1 is more lenient than
upstream, and its command line.

The long runs are ``tornado-h1 fuzz --minutes N``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tornado_h1
from tornado_h1._tools import cli
from tornado_h1._tools.fuzz import main as fuzz_main
from tornado_h1._tools.fuzz import messages, run, strategies
from tornado_h1._tools.fuzz.messages import Case
from tornado_h1._tools.fuzz.run import Fuzzer
from tornado_h1.testing import servers, targets
from tornado_h1.testing.servers import Served
from tornado_h1.testing.targets import (
    ClientOutcome,
    ServerOutcome,
    ServerTarget,
    classify_client,
    classify_server,
)

pytestmark = pytest.mark.usefixtures("logs")

#: Examples in the CI run: a few hundred, half requests and half responses.
CI_EXAMPLES = 400


def test_deterministic_run() -> None:
    """The CI run: no failure (nothing served that upstream refuses, no
    ERROR log, no hang, no leak, no unexpected exception)."""
    fuzzer = run.fuzz(examples=CI_EXAMPLES, derandomize=True)
    assert fuzzer.examples >= CI_EXAMPLES * 0.9
    assert [d.to_json() for d in fuzzer.failures] == []
    assert fuzzer.counts["lenient"] == 0


def test_the_run_is_deterministic() -> None:
    """Two derandomized runs see the same inputs and the same outcomes."""
    tallies = []
    for _ in range(2):
        fuzzer = run.fuzz(examples=60, derandomize=True)
        tallies.append(
            (
                fuzzer.examples,
                dict(fuzzer.counts),
                [d.to_json() for d in fuzzer.divergences],
            )
        )
    assert tallies[0] == tallies[1]


# ---------------------------------------------------------------- inputs


def test_generated_inputs_are_varied() -> None:
    """The strategies reach the places that matter: both framings, the
    interesting bytes, pipelining and split writes."""
    from hypothesis import HealthCheck, given, settings

    seen: list[Case] = []

    @settings(
        max_examples=300,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategies.request_strategy())
    def requests(case: Case) -> None:
        seen.append(case)

    @settings(
        max_examples=300,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategies.response_strategy())
    def responses(case: Case) -> None:
        seen.append(case)

    requests()
    responses()
    data = [c.data for c in seen]
    joined = b"\n".join(data)
    for needle in (
        b"Content-Length",
        b"Transfer-Encoding: chunked",
        b"\r\r",
        b"\x85",
        b"\xa0",
        b"\x0b",
        b"\x00",
        b"/smuggled",
        b"HTTP/1.1 100 Continue",
        b"Content-Encoding: gzip",
    ):
        assert needle in joined, needle
    assert any(len(c.pieces) > 1 for c in seen if c.side == "server")
    assert any(d.count(b"HTTP/1.") > 1 for d in data)
    assert {c.method for c in seen if c.side == "client"} == {"GET", "HEAD"}


def test_mutations() -> None:
    message = messages.framed_message(
        b"POST / HTTP/1.1", [messages.Field(b"Host", b"x")], b"hello", "chunked", 2
    )
    assert message.encode() == (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n"
    )
    assert messages.mutate(
        message,
        [
            ("field_sep", 1, b" :"),
            ("chunk_size", 0, b"0x3"),
            ("chunk_len", 1, 1),
            ("chunk_tail", 1, b"\n"),
            ("chunk_size_eol", 0, b"\r"),
            ("last_chunk", b"0\n\n"),
            ("start_eol", b"\n"),
            ("end", b"\r\r\n"),
            ("field_eol", 0, b"\r"),
        ],
    ) == (
        b"POST / HTTP/1.1\nHost: x\rTransfer-Encoding :chunked\r\n\r\r\n"
        b"0x3\rhel\r\n2\r\nloz\n0\n\n"
    )
    fields = [messages.Field(b"Content-Length", b"5"), messages.Field(b"Host", b"x")]
    message = messages.Message(b"GET / HTTP/1.1", fields)
    for mutation in [
        ("field_dup", 0, True),
        ("field_insert", 0, (b"X-A", b"b")),
        ("field_delete", 3),
        ("field_value", 1, 2),
        ("field_named", b"transfer-encoding", 3),
        ("field_named", b"host", 1),
        ("chunk_size", 0, b"1"),  # no chunks: nothing happens
    ]:
        messages.apply_structural(message, mutation)
    assert message.encode() == (
        b"GET / HTTP/1.1\r\nX-A: b\r\nContent-Length: 05\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked, chunked\r\nHost: y\r\n\r\n"
    )
    assert messages.apply_bytewise(b"a:b", ("insert", 1, True, b"\r")) == b"a\r:b"
    assert messages.apply_bytewise(b"a:b", ("delete", 1, False)) == b"ab"
    assert messages.apply_bytewise(b"a:b", ("replace", 10, False, b"\x85")) == b"a:\x85"
    assert messages.apply_bytewise(b"", ("delete", 0, True)) == b""
    assert messages.split(b"abcdef", [2, 4, 8]) == (b"ab", b"cd", b"ef")
    assert messages.split(b"", [3]) == (b"",)


# ------------------------------------------------------------ classification


def server_outcome(
    served: list[Served], response: bytes = b"", closed: bool = False, **kw: Any
) -> ServerOutcome:
    return ServerOutcome(served, response, closed, [], [], **kw)


A = Served("GET", "/a", b"")
B = Served("GET", "/b", b"")


@pytest.mark.parametrize(
    "theirs, ours, kind, failure",
    [
        (server_outcome([A]), server_outcome([A]), "identical", ""),
        (server_outcome([A, B]), server_outcome([A], closed=True), "stricter", ""),
        (
            server_outcome([A]),
            server_outcome([A, B]),
            "lenient",
            "tornado_h1 served a request upstream refused",
        ),
        (
            server_outcome([A]),
            server_outcome([B]),
            "lenient",
            "tornado_h1 served a request upstream refused",
        ),
        (server_outcome([]), server_outcome([], closed=True), "stricter", ""),
        (server_outcome([], closed=True), server_outcome([]), "lenient", ""),
        (
            server_outcome([], b"x", closed=True),
            server_outcome([], closed=True),
            "different",
            "",
        ),
        (
            server_outcome([]),
            server_outcome([], stuck=True),
            "different",
            "tornado_h1 got stuck",
        ),
        (
            server_outcome([]),
            ServerOutcome([], b"", False, [], ["ERROR x"]),
            "identical",
            "tornado_h1 logged at ERROR",
        ),
    ],
)
def test_classify_server(
    theirs: ServerOutcome, ours: ServerOutcome, kind: str, failure: str
) -> None:
    assert classify_server(theirs, ours) == kind
    assert run._server_failure(theirs, ours) == failure


def client_outcome(
    code: int, body: bytes = b"", *, closed: bool = True, errors: tuple[str, ...] = ()
) -> ClientOutcome:
    return ClientOutcome(
        code,
        [],
        body,
        "" if code != 599 else "HTTPStreamClosedError",
        "",
        closed,
        [],
        list(errors),
    )


@pytest.mark.parametrize(
    "theirs, ours, kind, failure",
    [
        (client_outcome(200), client_outcome(200), "identical", ""),
        (client_outcome(200), client_outcome(599), "stricter", ""),
        (
            client_outcome(599),
            client_outcome(200),
            "lenient",
            "tornado_h1 accepted a response upstream refused",
        ),
        (
            client_outcome(200, b"a"),
            client_outcome(200, b"b"),
            "different",
            "tornado_h1 read a different response",
        ),
        (
            client_outcome(599),
            client_outcome(599, closed=False),
            "identical",
            "tornado_h1 leaked the connection",
        ),
        (
            client_outcome(599),
            client_outcome(599, errors=("ERROR",)),
            "identical",
            "tornado_h1 logged at ERROR",
        ),
    ],
)
def test_classify_client(
    theirs: ClientOutcome, ours: ClientOutcome, kind: str, failure: str
) -> None:
    assert classify_client(theirs, ours) == kind
    assert run._client_failure(theirs, ours, kind) == failure


# --------------------------------------------------- the fuzzer can fail


class _StricterUpstream(Fuzzer):
    """A fuzzer whose "upstream" refuses every body: then the real
    tornado_h1 is more lenient than it, which the fuzzer must catch."""

    async def _start(self) -> None:
        await super()._start()
        await self.servers["upstream"].stop()
        self.servers["upstream"] = ServerTarget(
            "upstream", **{**self.server_options, "max_body_size": 0}
        ).start()


def test_fuzzer_catches_and_shrinks_leniency() -> None:
    fuzzer = _StricterUpstream()
    failure = fuzzer.run_batch  # the search, with shrinking
    try:
        found = failure("server", examples=300, derandomize=True)
    finally:
        fuzzer.close()
    assert found is not None
    assert found.failure == "tornado_h1 served a request upstream refused"
    assert found.kind == "lenient"
    # Shrunk to one small request whose body the stricter server refused.
    data = found.case.data
    assert len(data) < 120, data
    assert fuzzer.failures == [found]
    assert sum(fuzzer.failure_counts.values()) >= 1
    summary = fuzzer.summary()
    assert "FAIL tornado_h1 served a request upstream refused" in summary
    assert fuzzer.report()["failures"][0]["class"] == "lenient"


# ------------------------------------------------------------ command line


def test_main_writes_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "r.json"
    code = cli.main(
        [
            "fuzz",
            "--examples",
            "40",
            "--batch",
            "10",
            "--progress",
            "0",
            "--report",
            str(report),
            "--seed",
            "7",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "[fuzz" in out  # progress lines
    assert "examples: " in out
    data = json.loads(report.read_text())
    assert data["examples"] >= 40
    assert set(data["counts"]) == {"identical", "stricter", "lenient", "different"}
    assert data["failures"] == []
    assert (tmp_path / "r.txt").read_text().startswith("tornado_h1 differential")


def test_main_server_side_only(tmp_path: Path) -> None:
    report = tmp_path / "s.json"
    assert (
        fuzz_main.main(
            [
                "--side",
                "server",
                "--minutes",
                "0.001",
                "--quiet",
                "--batch",
                "20",
                "--report",
                str(report),
            ]
        )
        == 0
    )
    assert json.loads(report.read_text())["sides"] == ["server"]


def test_main_replay(capsys: pytest.CaptureFixture[str]) -> None:
    data = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello"
    assert fuzz_main.main(["--replay", repr(data)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert ast.literal_eval(shown["input"]) == data
    assert shown["class"] == "identical"
    assert shown["tornado_h1"]["statuses"] == [400]
    assert (
        fuzz_main.main(
            ["--side", "client", "--replay", repr("HTTP/1.1 200 OK\r\n\r\nhi")]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["tornado_h1"]["body"] == "b'hi'"


def test_main_replay_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(run, "Fuzzer", _StricterUpstream)
    data = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"
    assert fuzz_main.main(["--replay", repr(data)]) == 1
    assert "FAIL: tornado_h1 served a request upstream refused" in (
        capsys.readouterr().out
    )


def test_main_refuses_to_run_installed(capsys: pytest.CaptureFixture[str]) -> None:
    with tornado_h1.installed():
        assert fuzz_main.main(["--examples", "1"]) == 2
    assert "without tornado_h1 installed" in capsys.readouterr().err


def test_main_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        fuzz_main.main(["--replay", "123"])
    with pytest.raises(ValueError):
        run.fuzz()
    with pytest.raises(ValueError):
        servers.server_class("nope")
    with pytest.raises(ValueError):
        servers.client_class("nope")


def test_python_dash_m() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tornado_h1._tools.fuzz", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: tornado-h1 fuzz")


def test_main_without_hypothesis(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    # As if the fuzzer had never been imported either.
    monkeypatch.delitem(sys.modules, "tornado_h1._tools.fuzz.strategies")
    assert fuzz_main.main(["--examples", "1"]) == 2
    assert capsys.readouterr().err == (
        "tornado-h1 fuzz needs Hypothesis: pip install 'tornado-h1[test]'\n"
    )


async def test_upstream_classes_even_when_installed() -> None:
    """The "upstream" side stays Tornado's own module while tornado_h1 is
    installed, so a fuzz (or corpus) run can never compare tornado_h1 with
    itself. Checked with inputs only upstream accepts (a bare CR before the
    request line, and at the end of a status line)."""
    request = b"\rGET / HTTP/1.1\r\nHost: x\r\n\r\n"
    response = b"HTTP/1.1 200 OK\r\r\nContent-Length: 2\r\n\r\nhi"
    outcomes: dict[str, Any] = {}
    with tornado_h1.installed():
        for impl in servers.IMPLS:
            target = ServerTarget(impl).start()
            try:
                outcomes[impl] = await target.exchange(request)
            finally:
                await target.stop()
            client = targets.ClientTarget(impl)
            server = targets.ResponseServer()
            try:
                outcomes[impl + " client"] = await client.fetch(server, response)
            finally:
                client.close()
                server.close()
    assert outcomes["upstream"].statuses == [200]
    assert outcomes["tornado_h1"].statuses == [400]
    assert outcomes["upstream client"].code == 200
    assert outcomes["tornado_h1 client"].code == 599
