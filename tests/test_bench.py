"""``tornado-h1 bench``: it runs, its results have the documented shape, and
it leaves no process behind, whether it ends normally or is interrupted.

Speed is what the benchmark measures; nothing here asserts it. The runs use
``--quick`` with tiny durations: they keep the benchmark working, they are
not a performance gate.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import pytest

from tornado_h1._tools import cli
from tornado_h1._tools.bench import main as bench_main
from tornado_h1._tools.bench import procs, roles, runner, scenarios, stats

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="the benchmark uses process groups and reads /proc",
)

HAVE_WRK = shutil.which("wrk") is not None
TIMEOUT = 300.0  # generous: other processes may be loading the machine


# ----------------------------------------------------------------- helpers


def tagged_processes(tag: str) -> list[str]:
    """Processes whose environment carries ``tag`` (every child of a run
    inherits it)."""
    needle = f"{scenarios.TAG_ENV}={tag}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read().split(b"\0")
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in environ:
            found.append(f"{entry}: {cmdline}")
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def assert_nothing_left(tag: str, pids: list[int]) -> None:
    """No child of the run is alive. Give the kernel a moment to reap
    processes that were orphaned (no speed is asserted: the wait only ends
    early)."""
    deadline = time.monotonic() + 30
    while True:
        survivors = tagged_processes(tag) + [f"{p}" for p in pids if alive(p)]
        if not survivors or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert survivors == []


@pytest.fixture
def tag(monkeypatch: pytest.MonkeyPatch) -> str:
    value = uuid.uuid4().hex
    monkeypatch.setenv(scenarios.TAG_ENV, value)
    return value


def run_cli(
    args: list[str], tag: str, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **{scenarios.TAG_ENV: tag})
    return subprocess.run(
        [sys.executable, "-m", "tornado_h1._tools.bench", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def check_document(doc: dict[str, Any], ids: list[str], rounds: int = 1) -> None:
    """The structure documented in docs/performance.rst."""
    assert doc["schema"] == scenarios.SCHEMA
    assert doc["complete"] is True
    assert doc["errors"] == []
    for key in ("cpus", "cpu_model", "python", "tornado", "tornado_h1"):
        assert key in doc["machine"]
    assert doc["settings"]["rounds"] == rounds
    assert doc["children"], "the run started no process?"
    assert [row["id"] for row in doc["results"]] == ids
    for row in doc["results"]:
        assert isinstance(row["metric"], str) and row["metric"]
        assert isinstance(row["higher_is_better"], bool)
        assert set(scenarios.SIDES) <= set(row["sides"])
        if row["derived"]:
            continue  # differences of noisy numbers: may be of any sign
        for side in row["sides"].values():
            assert side["value"] > 0
            assert len(side["rounds"]) == len(side["samples"]) == rounds
            assert side["errors"] == 0
            for sample in side["samples"]:
                assert sample["value"] > 0
        ratio = row["ratio"]
        assert isinstance(ratio["value"], float) and ratio["value"] > 0
        assert 0 < ratio["min"] <= ratio["value"] <= ratio["max"]
        assert len(ratio["rounds"]) == rounds


# ------------------------------------------------- runs with the loaders


@pytest.fixture(scope="module")
def quick_builtin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One in-process quick run with the built-in load generator, shared by
    the tests that look at its output."""
    out = tmp_path_factory.mktemp("bench") / "results.json"
    value = uuid.uuid4().hex
    old = os.environ.get(scenarios.TAG_ENV)
    os.environ[scenarios.TAG_ENV] = value
    try:
        code = bench_main.main(
            [
                "--quick",
                "--loader",
                "builtin",
                "--scenarios",
                "raw,headers",
                "--duration",
                "0.3",
                "--json",
                str(out),
            ]
        )
    finally:
        if old is None:
            del os.environ[scenarios.TAG_ENV]
        else:
            os.environ[scenarios.TAG_ENV] = old
    yield code, json.loads(out.read_text()), value, out


def test_quick_builtin_in_process(quick_builtin: Any) -> None:
    code, doc, tag, _ = quick_builtin
    assert code == 0
    check_document(
        doc,
        ["raw", "headers-10", "headers-100", "headers-1000", "headers-per-field"],
    )
    assert doc["settings"]["loader"] == "builtin"
    assert doc["settings"]["quick"] is True
    raw = doc["results"][0]
    for side in raw["sides"].values():
        assert side["p50_ms"] > 0 and side["p99_ms"] >= side["p50_ms"]
        assert side["samples"][0]["requests"] > 0
    per_field = doc["results"][-1]
    assert per_field["derived"] is True
    assert per_field["metric"] == "us/field"
    for side in scenarios.SIDES:
        assert set(per_field["sides"][side]["linearity"]) == {
            "10-100",
            "100-1000",
            "cpu 10-100",
            "cpu 100-1000",
        }
    assert_nothing_left(tag, doc["children"])


def test_other_scenarios_quick_builtin_subprocess(tmp_path: Path, tag: str) -> None:
    out = tmp_path / "results.json"
    proc = run_cli(
        [
            "--quick",
            "--loader",
            "builtin",
            "--scenarios",
            "web,pipelined,upload,client,idle,ceiling",
            "--duration",
            "0.3",
            "--idle-connections",
            "50",
            "--upload-size",
            "1M",
            "--json",
            str(out),
        ],
        tag,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    check_document(
        doc,
        [
            "web",
            "pipelined",
            "upload-64k",
            "upload-chunked",
            "client",
            "idle",
            "ceiling",
        ],
    )
    rows = {row["id"]: row for row in doc["results"]}
    assert rows["upload-chunked"]["metric"] == "MB/s"
    assert rows["client"]["higher_is_better"] is False
    assert rows["idle"]["connections"] == 50
    # The built-in loader times pipelined requests one by one.
    assert rows["pipelined"]["sides"]["upstream"]["p50_ms"] > 0
    ceiling = rows["ceiling"]
    assert ceiling["sides"][scenarios.CEILING]["value"] > 0
    for side in scenarios.SIDES:
        assert ceiling["ratios_to_ceiling"][side]["value"] > 0
    # The terminal table and the progress lines.
    assert "ratio" in proc.stdout and "upload-chunked" in proc.stdout
    assert "round 1/1" in proc.stderr
    assert_nothing_left(tag, doc["children"])


def test_client_keepalive_quick(tmp_path: Path, tag: str) -> None:
    """The client-keepalive scenario: fetches per second of both clients,
    their CPU per fetch, and the connections the canned responder counted
    for 1,000 sequential fetches of each."""
    out = tmp_path / "results.json"
    proc = run_cli(
        [
            "--quick",
            "--scenarios",
            "client-keepalive",
            "--duration",
            "0.3",
            "--json",
            str(out),
        ],
        tag,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    check_document(doc, ["client-keepalive"])
    (row,) = doc["results"]
    assert row["metric"] == "fetches/s" and row["higher_is_better"] is True
    assert row["cpu_ratio"] is None  # (the server's CPU is not the subject)
    assert row["connections_opened"] == {
        "fetches": scenarios.COUNTED_FETCHES,
        "upstream": scenarios.COUNTED_FETCHES,
        "tornado_h1": 1,
    }
    for side in scenarios.SIDES:
        assert row["client_cpu_us_per_fetch"][side] > 0
        assert row["sides"][side]["samples"][0]["client_cpu_us_per_fetch"] > 0
    assert "connections opened for 1,000 sequential fetches" in proc.stdout
    assert "client CPU per fetch" in proc.stdout
    assert "us/fetch" in proc.stderr
    assert_nothing_left(tag, doc["children"])


def test_canned_responder_reply() -> None:
    responder = roles._CannedResponder
    before = responder.accepted
    assert roles._canned_reply(b"get / http/1.1") == scenarios._CEILING_REPLY
    responder.accepted = before + 3
    try:
        reply = roles._canned_reply(b"get /connections http/1.1")
        assert reply.endswith(b"\r\n\r\n%d" % (before + 3))
    finally:
        responder.accepted = before


@pytest.mark.skipif(not HAVE_WRK, reason="wrk is not installed")
def test_quick_wrk(
    tmp_path: Path, tag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.json"
    code = bench_main.main(
        [
            "--quick",
            "--loader",
            "wrk",
            "--scenarios",
            "raw,pipelined",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    doc = json.loads(out.read_text())
    check_document(doc, ["raw", "pipelined"])
    assert doc["settings"]["loader"] == "wrk"
    assert doc["settings"]["loader_detail"].startswith("wrk")
    rows = {row["id"]: row for row in doc["results"]}
    assert rows["raw"]["sides"]["tornado_h1"]["p50_ms"] > 0
    # wrk cannot time pipelined requests: no latency rather than a wrong one.
    assert rows["pipelined"]["sides"]["tornado_h1"]["p50_ms"] is None
    assert "round 1/1" in capsys.readouterr().err
    assert_nothing_left(tag, doc["children"])


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)]
)
def test_interrupted_run_leaves_no_process(
    tmp_path: Path, tag: str, signum: int, code: int
) -> None:
    env = dict(os.environ, **{scenarios.TAG_ENV: tag})
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tornado_h1._tools.bench",
            "--loader",
            "builtin",
            "--scenarios",
            "raw",
            "--warmup",
            "0",
            "--duration",
            "120",
            "--json",
            str(tmp_path / "results.json"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        # A command started in the background by a non-interactive shell
        # (CI run as `cmd &`) inherits SIGINT ignored, and Python then
        # never turns it into KeyboardInterrupt: give the benchmark the
        # default disposition, as a terminal would.
        preexec_fn=_default_sigint,
    )
    try:
        # Wait until the load generator runs, so both servers are up.
        deadline = time.monotonic() + TIMEOUT
        while not any(" _load " in p for p in tagged_processes(tag)):
            assert proc.poll() is None, "the benchmark ended early"
            assert time.monotonic() < deadline, "the load generator never started"
            time.sleep(0.1)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == code
    assert b"interrupted; all child processes stopped" in err
    assert_nothing_left(tag, [])
    # Nothing was measured to the end: no results file.
    assert not (tmp_path / "results.json").exists()


def test_idle_scales_down_to_the_open_files_limit(
    tmp_path: Path, tag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "_raise_nofile", lambda wanted: 256 + 40)
    out = tmp_path / "results.json"
    code = bench_main.main(
        [
            "--quick",
            "--scenarios",
            "idle",
            "--idle-connections",
            "1000",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    doc = json.loads(out.read_text())
    check_document(doc, ["idle"])
    row = doc["results"][0]
    assert row["connections"] == 40
    assert any("scaled down from 1000 to 40" in note for note in row["notes"])
    assert_nothing_left(tag, doc["children"])


# ------------------------------------------------------------ rendering


def test_from_json_renders_every_format(
    quick_builtin: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, doc, _, path = quick_builtin
    capsys.readouterr()
    md, rst = tmp_path / "t.md", tmp_path / "t.inc"
    assert (
        bench_main.main(
            ["--from-json", str(path), "--markdown", str(md), "--rst", str(rst)]
        )
        == 0
    )
    text = capsys.readouterr().out
    for row in doc["results"]:
        assert row["id"] in text
        assert f"| {row['id']} |" in md.read_text()
        assert f"* - {row['id']}" in rst.read_text()

    from docutils.core import publish_doctree  # type: ignore[import-untyped]

    tree = publish_doctree(
        rst.read_text(), settings_overrides={"warning_stream": False}
    )
    messages = [n for n in tree.findall() if n.tagname == "system_message"]
    assert messages == []
    tables = [n for n in tree.findall() if n.tagname == "table"]
    assert len(tables) == 1


def test_plot_without_matplotlib_fails_before_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    out = tmp_path / "results.json"
    code = bench_main.main(
        ["--scenarios", "raw", "--plot", str(tmp_path / "r.png"), "--json", str(out)]
    )
    assert code == 2
    assert "pip install 'tornado-h1[plot]'" in capsys.readouterr().err
    assert not out.exists()


def test_plot(quick_builtin: Any, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    _, _, _, path = quick_builtin
    png = tmp_path / "ratios.png"
    assert bench_main.main(["--from-json", str(path), "--plot", str(png)]) == 0
    assert png.read_bytes().startswith(b"\x89PNG")


# ------------------------------------------------------- command line


def test_list_and_cli_dispatch(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    for group in scenarios.GROUPS:
        assert group in out


def test_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main.main(["--scenarios", "raw,nonsense"]) == 2
    assert "unknown scenario nonsense" in capsys.readouterr().err


def test_wrk_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert bench_main.main(["--loader", "wrk", "--scenarios", "raw"]) == 2
    assert "apt-get install wrk" in capsys.readouterr().err
    args = scenarios.build_parser().parse_args(["--quick"])
    settings = scenarios.resolve_settings(args)
    assert settings.loader == "builtin"
    assert any("apt-get install wrk" in note for note in settings.notes)


def test_quick_settings_and_overrides() -> None:
    parse = scenarios.build_parser().parse_args
    quick = scenarios.resolve_settings(parse(["--quick", "--loader", "builtin"]))
    assert (quick.rounds, quick.warmup, quick.connections) == (1, 0.0, 8)
    full = scenarios.resolve_settings(parse(["--loader", "builtin"]))
    assert full.rounds >= 3 and full.warmup > 0
    assert (full.connections, full.idle_connections) == (50, 10_000)
    assert full.upload_size == 100 * 1024 * 1024
    mixed = scenarios.resolve_settings(
        parse(
            ["--quick", "--rounds", "4", "--upload-size", "2M", "--loader", "builtin"]
        )
    )
    assert (mixed.rounds, mixed.upload_size) == (4, 2 * 1024 * 1024)


# ---------------------------------------------------------- pure parts


def test_percentile_and_ratios() -> None:
    values = [float(v) for v in range(1, 101)]
    assert stats.percentile(values, 50) == 50.0
    assert stats.percentile(values, 99) == 99.0
    assert stats.percentile([], 50) is None
    summary = stats.ratio_summary([2.0, 3.0, 4.0], [1.0, 1.0, 2.0])
    assert summary == {"value": 2.0, "min": 2.0, "max": 3.0, "rounds": [2.0, 3.0, 2.0]}
    assert stats.ratio_summary([1.0], [0.0]) is None
    assert stats.ratio_summary([1.0, 2.0], [1.0]) is None


def test_workload_requests() -> None:
    plain = scenarios.Workload().request_bytes()
    assert plain == b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    many = scenarios.Workload(header_fields=1000).request_bytes()
    head = many.split(b"\r\n\r\n")[0].split(b"\r\n")
    assert len(head) == 1 + 1000  # the request line, then 1,000 fields
    post = scenarios.Workload("POST", body_size=10).request_bytes()
    assert post.endswith(b"Content-Length: 10\r\n\r\n" + b"x" * 10)
    assert scenarios.Workload(depth=16).request_bytes() == plain * 16


def test_wrk_script_and_output() -> None:
    script = runner.wrk_script(scenarios.Workload("POST", body_size=65536, depth=16))
    assert 'wrk.method = "POST"' in script
    assert 'string.rep("x", 65536)' in script
    assert "string.rep(wrk.format(), 16)" in script
    assert "done = function" in script
    assert "request = function" not in runner.wrk_script(scenarios.Workload())
    out = (
        "Running 1s test\n"
        'BENCH_JSON {"requests": 1000, "duration_us": 2000000, "bytes": 5, '
        '"socket_errors": 1, "status_errors": 2, "p50_us": 1500, "p99_us": 9000}\n'
    )
    assert runner.parse_wrk_output(out) == {
        "requests": 1000,
        "seconds": 2.0,
        "bytes": 5,
        "errors": 3,
        "p50_ms": 1.5,
        "p99_ms": 9.0,
    }
    with pytest.raises(scenarios.BenchError):
        runner.parse_wrk_output("wrk: connection refused")


def test_parse_head() -> None:
    assert procs._parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5") == (200, 5)
    assert procs._parse_head(
        b"HTTP/1.1 404 Not Found\r\ncontent-length:12\r\nX: y"
    ) == (
        404,
        12,
    )
    assert procs._parse_head(b"HTTP/1.1 204 No Content\r\nServer: x") == (204, 0)
    with pytest.raises(ValueError):
        procs._parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked")


class _FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Optional[object]:
        return None


@pytest.mark.parametrize("piece", [1, 7, 64, 10_000])
def test_builtin_loader_frames_responses_split_anywhere(piece: int) -> None:
    """Pipelined responses arriving in arbitrary pieces are counted one by
    one, and the next batch goes out once the last of a batch is in."""
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    error = b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"
    stream = (response * 3 + error) * 2

    async def scenario() -> tuple[roles._LoadStats, _FakeTransport]:
        stats = roles._LoadStats()
        protocol = roles._LoadProtocol(b"REQ", 4, stats)
        transport = _FakeTransport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        protocol.send()
        for at in range(0, len(stream), piece):
            protocol.data_received(stream[at : at + piece])
        return stats, transport

    stats, transport = asyncio.run(scenario())
    assert stats.responses == 8
    assert stats.errors == 2
    assert stats.bytes == len(stream)
    assert len(stats.latencies) == 8
    assert transport.written == [b"REQ"] * 3  # the first batch, then one per batch
    assert not transport.closed


# --------------------------------------- the chart, beside the results
# Drawn after every run whenever matplotlib is installed (issue 11 item 6).


def _output_args(*argv: str) -> Any:
    return scenarios.build_parser().parse_args(list(argv))


def test_a_run_draws_its_chart_beside_its_results(quick_builtin: Any) -> None:
    pytest.importorskip("matplotlib")
    _, _, _, path = quick_builtin
    assert path.with_suffix(".png").read_bytes().startswith(b"\x89PNG")


def test_without_matplotlib_the_chart_is_skipped_in_one_line(
    quick_builtin: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, doc, _, _ = quick_builtin
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    results = tmp_path / "bench-results.json"
    bench_main._write_outputs(doc, _output_args("--json", str(results)), True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench-results.json"]
    assert capsys.readouterr().out.splitlines() == [
        f"results: {results}",
        "chart: not drawn (matplotlib is not installed: "
        "pip install 'tornado-h1[plot]')",
    ]


def test_no_chart_beside_no_results(
    quick_builtin: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, doc, _, path = quick_builtin
    monkeypatch.chdir(tmp_path)
    bench_main._write_outputs(doc, _output_args("--json", "-"), True)
    # Rendering saved results (--from-json) writes nothing beside them.
    bench_main._write_outputs(doc, _output_args("--from-json", str(path)), False)
    assert list(tmp_path.iterdir()) == []
    assert capsys.readouterr().out == ""


def test_plot_puts_the_chart_elsewhere(quick_builtin: Any, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    _, doc, _, _ = quick_builtin
    results, chart = tmp_path / "r.json", tmp_path / "chart.png"
    args = _output_args("--json", str(results), "--plot", str(chart))
    bench_main._write_outputs(doc, args, True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chart.png", "r.json"]


def test_the_chart_s_path_beside_the_results() -> None:
    assert bench_main.chart_beside(Path("a/bench-results.json")) == Path(
        "a/bench-results.png"
    )
    assert bench_main.chart_beside(Path("results")) == Path("results.png")
    assert bench_main.chart_beside(Path("odd.png")) == Path("odd.png.png")


def test_the_drawn_chart_never_inverts_a_row() -> None:
    """The bars' heights, read back from the figure, are the table's
    "x better" figures: above 1 wherever tornado_h1 did better, for
    lower-is-better rows (idle memory) as for the others."""
    pyplot = pytest.importorskip("matplotlib.pyplot")
    from tornado_h1._tools.bench import report

    saved = Path(__file__).resolve().parent.parent / "docs" / "_bench_results.json"
    doc = json.loads(saved.read_text())
    figure = report.draw_chart(doc)
    try:
        heights = [bar.get_height() for bar in figure.axes[0].patches]
    finally:
        pyplot.close(figure)
    rows, _ = report.table_rows(doc)
    column = report.TABLE_HEADER.index("x better")
    assert [f"{height:.2f}" for height in heights] == [cells[column] for cells in rows]
    idle = next(i for i, row in enumerate(doc["results"]) if row["id"] == "idle")
    assert not doc["results"][idle]["higher_is_better"]
    sides = doc["results"][idle]["sides"]
    assert sides["tornado_h1"]["value"] < sides["upstream"]["value"]
    assert heights[idle] > 1
