"""Running ``tornado-h1 bench``: the rounds of each scenario, ``wrk`` or
the built-in load generator, and the result document."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from tornado_h1._tools.bench.procs import (
    Children,
    LineReader,
    _child_cmd,
    _machine_busy_seconds,
    _proc_cpu_seconds,
    _proc_rss_kib,
    _raise_nofile,
    _reaped_children_cpu,
    check_server,
    server_connections,
)
from tornado_h1._tools.bench.report import _fmt
from tornado_h1._tools.bench.scenarios import (
    _MB,
    CEILING,
    COUNTED_FETCHES,
    HOST,
    PROG,
    SCHEMA,
    BenchError,
    Scenario,
    Settings,
    Variant,
    Workload,
)
from tornado_h1._tools.bench.stats import _median, make_row, per_field_row

# ---------------------------------------------------------------- running


ProgressFn = Callable[[str], None]


@dataclass
class Server:
    label: str
    proc: subprocess.Popen[bytes]
    port: int
    pid: int
    log: Path
    profile: Optional[Path]


class Runner:
    """Runs scenarios; owns no process that :class:`Children` does not."""

    def __init__(
        self, settings: Settings, children: Children, tmp: Path, progress: ProgressFn
    ) -> None:
        self.settings = settings
        self.children = children
        self.tmp = tmp
        self.progress = progress
        self._scripts: dict[Workload, Path] = {}
        self.profiles: list[Path] = []
        self._logs = 0

    # -- servers -------------------------------------------------------------

    def _log_path(self, label: str) -> Path:
        self._logs += 1
        return self.tmp / f"{self._logs:03d}-{label.replace('/', '-')}.log"

    def start_server(
        self, kind: str, side: str, label: str, profile_it: bool = False
    ) -> Server:
        profile = None
        if profile_it and self.settings.profile_dir is not None:
            profile = self.settings.profile_dir / f"{label.replace('/', '-')}.prof"
        impl = "tornado_h1" if side == "tornado_h1" else "upstream"
        config = {
            "kind": CEILING if side == CEILING else kind,
            "impl": impl,
            "profile": str(profile) if profile else None,
            "clock": self.settings.profile_clock,
        }
        log = self._log_path(label)
        with open(log, "wb") as err:
            proc = self.children.spawn(_child_cmd("_server", config), stderr=err)
        if profile is not None:
            self.profiles.append(profile)
        try:
            line = LineReader(proc, f"{label} server").line(timeout=60)
        except BenchError as exc:
            raise BenchError(f"{exc}: {_tail(log)}") from None
        if not line.startswith("READY "):
            raise BenchError(f"{label} server: unexpected {line!r}: {_tail(log)}")
        info = json.loads(line[6:])
        if side != CEILING and info["tornado_h1_serving"] != (impl == "tornado_h1"):
            raise BenchError(
                f"{label} server: expected {impl}, but HTTPServer uses "
                f"{info['connection_class']}"
            )
        return Server(label, proc, int(info["port"]), proc.pid, log, profile)

    def stop_server(self, server: Server) -> None:
        # With --profile the server writes its profile on SIGTERM first.
        self.children.stop(server.proc, grace=30.0)

    # -- one measurement ---------------------------------------------------

    def measure(
        self,
        scenario: Scenario,
        variant: Variant,
        server: Server,
        seconds: float,
        warmup: bool = False,
    ) -> dict[str, Any]:
        profiling = server.profile is not None and not warmup
        if profiling:
            os.kill(server.pid, signal.SIGUSR1)
        cpu_before = _proc_cpu_seconds(server.pid)
        busy_before = _machine_busy_seconds()
        loader_before = _reaped_children_cpu()
        began = time.perf_counter()
        try:
            if scenario.kind == "chunked":
                result = self._run_upload(server, seconds)
            elif self.settings.loader == "wrk":
                result = self._run_wrk(server, variant.workload, seconds)
            else:
                result = self._run_builtin(server, variant.workload, seconds)
        finally:
            if profiling:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(server.pid, signal.SIGUSR2)
        if server.proc.poll() is not None:
            raise BenchError(
                f"the {server.label} server exited (code {server.proc.returncode}): "
                + _tail(server.log)
            )
        cpu_after = _proc_cpu_seconds(server.pid)
        busy_after = _machine_busy_seconds()
        window = time.perf_counter() - began
        # The loader has been reaped by now: its CPU time is in RUSAGE_CHILDREN.
        loader_cpu = _reaped_children_cpu() - loader_before
        requests = int(result["requests"])
        elapsed = float(result["seconds"])
        if scenario.kind == "chunked":
            value = result["bytes"] / elapsed / _MB if elapsed > 0 else 0.0
        else:
            value = requests / elapsed if elapsed > 0 else 0.0
        sample: dict[str, Any] = {
            "value": value,
            "requests": requests,
            "seconds": elapsed,
            "p50_ms": result.get("p50_ms"),
            "p99_ms": result.get("p99_ms"),
            "errors": int(result.get("errors", 0)),
        }
        if cpu_before is not None and cpu_after is not None and requests:
            cpu = cpu_after - cpu_before
            sample["server_cpu_s"] = cpu
            # For uploads: per MB rather than per (100 MiB) request.
            units = result["bytes"] / _MB if scenario.kind == "chunked" else requests
            sample["server_cpu_us_per_req"] = cpu / units * 1e6
            sample["server_cpu_pct"] = 100.0 * cpu / elapsed if elapsed else None
            sample["loader_cpu_pct"] = 100.0 * loader_cpu / window
            if busy_before is not None and busy_after is not None:
                # What the rest of the machine used meanwhile, in CPUs: the
                # noise (plus kernel work that no process is charged for).
                other = busy_after - busy_before - cpu - loader_cpu
                sample["other_load_cpus"] = max(0.0, other) / window
        return sample

    def _run_builtin(
        self, server: Server, workload: Workload, seconds: float
    ) -> dict[str, Any]:
        config = {
            "port": server.port,
            "connections": self.settings.connections,
            "duration": seconds,
            "workload": asdict(workload),
        }
        out, _ = self.children.run(
            _child_cmd("_load", config), seconds + 60, "the built-in load generator"
        )
        return _last_json(out, "the built-in load generator")

    def _run_upload(self, server: Server, seconds: float) -> dict[str, Any]:
        config = {
            "port": server.port,
            "size": self.settings.upload_size,
            "chunk": self.settings.upload_chunk,
            "duration": seconds,
        }
        out, _ = self.children.run(
            _child_cmd("_upload", config), seconds + 600, "the chunked uploader"
        )
        return _last_json(out, "the chunked uploader")

    def _run_wrk(
        self, server: Server, workload: Workload, seconds: float
    ) -> dict[str, Any]:
        assert self.settings.wrk is not None
        script = self._scripts.get(workload)
        if script is None:
            script = self.tmp / f"wrk-{len(self._scripts)}.lua"
            script.write_text(wrk_script(workload))
            self._scripts[workload] = script
        whole = max(1, math.ceil(seconds))
        cmd = [
            self.settings.wrk,
            "-t1",
            f"-c{self.settings.connections}",
            f"-d{whole}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://{HOST}:{server.port}{workload.path}",
        ]
        out, _ = self.children.run(cmd, whole + 60, "wrk")
        result = parse_wrk_output(out)
        if workload.depth > 1:
            # wrk times a pipelined batch as one request, then "corrects" for
            # coordinated omission with the per-response rate: meaningless.
            result["p50_ms"] = result["p99_ms"] = None
        return result

    # -- scenarios -----------------------------------------------------------

    def run(self, scenario: Scenario) -> list[dict[str, Any]]:
        if scenario.kind in ("http", "chunked"):
            return self._run_load(scenario)
        if scenario.kind == "client":
            return self._run_client(scenario)
        if scenario.kind == "keepalive":
            return self._run_keepalive(scenario)
        return self._run_idle(scenario)

    def _order(self, sides: Sequence[str], round_no: int) -> list[str]:
        return list(sides) if round_no % 2 == 0 else list(reversed(sides))

    def _report(
        self,
        scenario: Scenario,
        variant: Variant,
        what: str,
        side: str,
        s: dict[str, Any],
    ) -> None:
        bits = [f"{variant.id}: {what} {side:<10} {_fmt(s['value'])} {scenario.metric}"]
        if s.get("p50_ms") is not None:
            bits.append(f"p50 {_fmt(s['p50_ms'])} ms p99 {_fmt(s.get('p99_ms'))} ms")
        if s.get("client_cpu_us_per_fetch") is not None:
            bits.append(f"client CPU {_fmt(s['client_cpu_us_per_fetch'])} us/fetch")
        if s.get("server_cpu_pct") is not None and scenario.kind != "client":
            bits.append(f"server CPU {s['server_cpu_pct']:.0f}%")
        if s.get("other_load_cpus") is not None:
            bits.append(f"other load {s['other_load_cpus']:.2f} CPUs")
        if s.get("errors"):
            bits.append(f"{s['errors']} errors")
        self.progress("  ".join(bits))

    def _run_load(self, scenario: Scenario) -> list[dict[str, Any]]:
        settings = self.settings
        loader = "chunked uploader" if scenario.kind == "chunked" else settings.loader
        servers: dict[str, Server] = {}
        samples: dict[str, dict[str, list[dict[str, Any]]]] = {
            v.id: {side: [] for side in scenario.sides} for v in scenario.variants
        }
        try:
            for side in scenario.sides:
                servers[side] = self.start_server(
                    scenario.server, side, f"{scenario.id}/{side}", profile_it=True
                )
                for variant in scenario.variants:
                    check_server(servers[side].port, scenario, variant.workload)
            if settings.warmup > 0:
                for variant in scenario.variants:
                    for side in scenario.sides:
                        s = self.measure(
                            scenario, variant, servers[side], settings.warmup, True
                        )
                        self._report(scenario, variant, "warm-up", side, s)
            for round_no in range(settings.rounds):
                what = f"round {round_no + 1}/{settings.rounds}"
                for variant in scenario.variants:
                    for side in self._order(scenario.sides, round_no):
                        s = self.measure(
                            scenario, variant, servers[side], settings.duration
                        )
                        samples[variant.id][side].append(s)
                        self._report(scenario, variant, what, side, s)
        finally:
            for server in servers.values():
                self.stop_server(server)
        rows = [make_row(scenario, v, samples[v.id], loader) for v in scenario.variants]
        for row in rows:
            if scenario.kind != "http":
                continue
            for side in scenario.sides:
                pct = row["sides"][side]["server_cpu_pct"]
                if pct is not None and pct < 80:
                    row["notes"].append(
                        f"{row['id']}: the {side} server used only {pct:.0f}% "
                        "of a CPU: the load generator (or other load on the "
                        "machine) limited the rate, which understates the "
                        "difference"
                    )
            if loader == "wrk" and scenario.variants[0].workload.depth > 1:
                row["notes"].append(
                    f"{row['id']}: no latency: wrk cannot time pipelined "
                    "requests (the built-in loader, --loader builtin, can)"
                )
        if scenario.id == "headers":
            rows.append(per_field_row({row["id"]: row for row in rows}))
        return rows

    def _client_rounds(self, sides: Sequence[str]) -> Iterator[tuple[str, float, str]]:
        """The warm-up (if any), then each round: ``(what, seconds, side)``
        for each side, in the round's order of sides."""
        settings = self.settings
        plan = [("warm-up", settings.warmup)] if settings.warmup > 0 else []
        plan += [
            (f"round {n + 1}/{settings.rounds}", settings.duration)
            for n in range(settings.rounds)
        ]
        for number, (what, seconds) in enumerate(plan):
            round_no = number - (1 if settings.warmup > 0 else 0)
            for side in self._order(sides, max(round_no, 0)):
                yield what, seconds, side

    def _run_client(self, scenario: Scenario) -> list[dict[str, Any]]:
        settings = self.settings
        variant = scenario.variants[0]
        samples: dict[str, list[dict[str, Any]]] = {side: [] for side in scenario.sides}
        # One fixed server (Tornado's own) for both clients.
        server = self.start_server(scenario.server, "upstream", "client/server")
        try:
            check_server(server.port, scenario, variant.workload)
            for what, seconds, side in self._client_rounds(scenario.sides):
                config = {
                    "port": server.port,
                    "impl": side,
                    "duration": seconds,
                    "warmup": settings.client_warmup,
                }
                cpu_before = _proc_cpu_seconds(server.pid)
                out, _ = self.children.run(
                    _child_cmd("_client", config), seconds + 120, "the client"
                )
                cpu_after = _proc_cpu_seconds(server.pid)
                result = _last_json(out, "the client")
                s = _client_sample(result, cpu_before, cpu_after)
                self._report(scenario, variant, what, side, s)
                if what != "warm-up":
                    samples[side].append(s)
        finally:
            self.stop_server(server)
        return [make_row(scenario, variant, samples, "SimpleAsyncHTTPClient")]

    def _start_canned(self) -> Server:
        """The canned asyncio responder of client-keepalive."""
        log = self._log_path("client-keepalive-server")
        with open(log, "wb") as err:
            proc = self.children.spawn(_child_cmd("_canned", {}), stderr=err)
        try:
            line = LineReader(proc, "the canned responder").line(timeout=60)
        except BenchError as exc:
            raise BenchError(f"{exc}: {_tail(log)}") from None
        if not line.startswith("READY "):
            raise BenchError(f"canned responder: unexpected {line!r}: {_tail(log)}")
        info = json.loads(line[6:])
        return Server("canned", proc, int(info["port"]), proc.pid, log, None)

    def _keepalive_fetches(
        self, server: Server, side: str, config: dict[str, Any]
    ) -> dict[str, Any]:
        """One run of the client process of ``side`` (its sample)."""
        client = "keepalive" if side == "tornado_h1" else "simple"
        config = {"port": server.port, "client": client, **config}
        seconds = float(config.get("duration", 0)) + float(config.get("warmup", 0))
        what = f"the {side} client"
        out, _ = self.children.run(
            _child_cmd("_keepalive_client", config), seconds + 120, what
        )
        sample = _keepalive_sample(_last_json(out, what), side)
        for error in sample["first_errors"]:
            self.progress(f"client-keepalive: {what}: {error}")
        return sample

    def _run_keepalive(self, scenario: Scenario) -> list[dict[str, Any]]:
        settings = self.settings
        variant = scenario.variants[0]
        samples: dict[str, list[dict[str, Any]]] = {side: [] for side in scenario.sides}
        server = self._start_canned()
        try:
            check_server(server.port, scenario, variant.workload)
            for what, seconds, side in self._client_rounds(scenario.sides):
                config = {"duration": seconds, "warmup": settings.client_warmup}
                s = self._keepalive_fetches(server, side, config)
                self._report(scenario, variant, what, side, s)
                if what != "warm-up":
                    samples[side].append(s)
            opened = {
                side: self._connections_for(server, side) for side in scenario.sides
            }
        finally:
            self.stop_server(server)
        row = make_row(scenario, variant, samples, "sequential fetches")
        _keepalive_notes(row, opened)
        return [row]

    def _connections_for(self, server: Server, side: str) -> int:
        """Connections the canned responder accepted while ``side``'s
        client made COUNTED_FETCHES sequential fetches."""
        before = server_connections(server.port)
        s = self._keepalive_fetches(server, side, {"count": COUNTED_FETCHES})
        # (Each question is a connection of its own: the first is counted.)
        opened = server_connections(server.port) - before - 1
        self.progress(
            f"client-keepalive: {side} opened {opened} connections for "
            f"{s['requests']:,} sequential fetches"
        )
        return opened

    def _run_idle(self, scenario: Scenario) -> list[dict[str, Any]]:
        settings = self.settings
        variant = scenario.variants[0]
        wanted = settings.idle_connections
        limit = _raise_nofile(wanted + 256)
        count = min(wanted, limit - 256)
        notes: list[str] = []
        if count < wanted:
            if count < 10:
                raise BenchError(
                    f"idle: the open files limit ({limit}) is too low; "
                    "raise it with ulimit -n"
                )
            notes.append(
                f"idle: scaled down from {wanted} to {count} connections: the "
                f"open files limit (RLIMIT_NOFILE) could only be raised to {limit}"
            )
            self.progress(notes[-1])
        samples: dict[str, list[dict[str, Any]]] = {side: [] for side in scenario.sides}
        for round_no in range(settings.rounds):
            what = f"round {round_no + 1}/{settings.rounds}"
            for side in self._order(scenario.sides, round_no):
                s = self._idle_once(scenario, side, count)
                samples[side].append(s)
                self._report(scenario, variant, what, side, s)
        row = make_row(scenario, variant, samples, "asyncio connections")
        row["connections"] = count
        row["notes"].extend(notes)
        return [row]

    def _idle_once(self, scenario: Scenario, side: str, count: int) -> dict[str, Any]:
        # A fresh server each time: memory freed by earlier connections would
        # otherwise be reused and hide the growth.
        server = self.start_server(scenario.server, side, f"idle/{side}")
        loader: Optional[subprocess.Popen[bytes]] = None
        try:
            config = {"port": server.port, "count": count, "concurrency": 100}
            log = self._log_path(f"idle-loader-{side}")
            with open(log, "wb") as err:
                loader = self.children.spawn(_child_cmd("_idle", config), stderr=err)
            lines = LineReader(loader, "the idle-connection loader")
            try:
                if lines.line(timeout=120) != "WARM":
                    raise BenchError("the idle-connection loader did not warm up")
                before = _proc_rss_kib(server.pid)
                assert loader.stdin is not None
                loader.stdin.write(b"GO\n")
                loader.stdin.flush()
                ready = lines.line(timeout=600)
            except BenchError as exc:
                raise BenchError(f"{exc}: {_tail(log)}") from None
            if not ready.startswith("READY "):
                raise BenchError(f"idle loader: unexpected {ready!r}")
            opened = int(json.loads(ready[6:])["opened"])
            time.sleep(self.settings.settle)
            after = _proc_rss_kib(server.pid)
        finally:
            self.stop_server(server)
            if loader is not None:
                self.children.stop(loader)
        if before is None or after is None or not opened:
            raise BenchError("idle: cannot read the server's RSS from /proc")
        return {
            "value": (after - before) / opened,
            "connections": opened,
            "errors": count - opened,
            "rss_before_kib": before,
            "rss_after_kib": after,
            "p50_ms": None,
            "p99_ms": None,
        }


def _client_sample(
    result: dict[str, Any], cpu_before: Optional[float], cpu_after: Optional[float]
) -> dict[str, Any]:
    requests = int(result["requests"])
    if not result.get("expected_impl", False):
        raise BenchError("the client did not run the HTTP/1 layer it was asked for")
    sample = {
        "value": result["cpu_s"] / requests * 1e6 if requests else 0.0,
        "requests": requests,
        "seconds": result["seconds"],
        "req_per_s": requests / result["seconds"] if result["seconds"] else 0.0,
        "client_cpu_s": result["cpu_s"],
        "p50_ms": result.get("p50_ms"),
        "p99_ms": result.get("p99_ms"),
        "errors": int(result.get("errors", 0)),
    }
    if cpu_before is not None and cpu_after is not None and requests:
        sample["server_cpu_us_per_req"] = (cpu_after - cpu_before) / requests * 1e6
    return sample


def _keepalive_sample(result: dict[str, Any], side: str) -> dict[str, Any]:
    expected = (
        "KeepAliveAsyncHTTPClient" if side == "tornado_h1" else "SimpleAsyncHTTPClient"
    )
    if result.get("client_class") != expected:
        raise BenchError(f"the client ran {result.get('client_class')}, not {expected}")
    requests, seconds = int(result["requests"]), float(result["seconds"])
    return {
        "value": requests / seconds if seconds else 0.0,
        "requests": requests,
        "seconds": seconds,
        "client_cpu_s": result["cpu_s"],
        "client_cpu_us_per_fetch": result["cpu_s"] / requests * 1e6
        if requests
        else None,
        "p50_ms": result.get("p50_ms"),
        "p99_ms": result.get("p99_ms"),
        "errors": int(result.get("errors", 0)),
        "first_errors": list(result.get("first_errors", [])),
    }


def _keepalive_notes(row: dict[str, Any], opened: dict[str, int]) -> None:
    """Client CPU per fetch and connections opened, in the row and its notes
    (the table's CPU columns are the server's)."""
    cpu = {
        side: _median([s.get("client_cpu_us_per_fetch") for s in summary["samples"]])
        for side, summary in row["sides"].items()
    }
    row["client_cpu_us_per_fetch"] = cpu
    row["connections_opened"] = {"fetches": COUNTED_FETCHES, **opened}
    upstream, ours = cpu.get("upstream"), cpu.get("tornado_h1")
    if upstream and ours:
        row["notes"].append(
            f"client-keepalive: client CPU per fetch: SimpleAsyncHTTPClient "
            f"{_fmt(upstream)} us, KeepAliveAsyncHTTPClient {_fmt(ours)} us "
            f"(ratio {ours / upstream:.2f})"
        )
    row["notes"].append(
        f"client-keepalive: connections opened for {COUNTED_FETCHES:,} sequential "
        f"fetches: SimpleAsyncHTTPClient {opened.get('upstream')}, "
        f"KeepAliveAsyncHTTPClient {opened.get('tornado_h1')}"
    )


def _tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


def _last_json(out: str, what: str) -> dict[str, Any]:
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            result: dict[str, Any] = json.loads(line)
            return result
    raise BenchError(f"{what} printed no result: {out[-300:]!r}")


# ------------------------------------------------------------------- wrk


_WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {\"requests\": %d, \"duration_us\": %d, \"bytes\": %d, " ..
    "\"socket_errors\": %d, \"status_errors\": %d, " ..
    "\"p50_us\": %d, \"p99_us\": %d}\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50.0), latency:percentile(99.0)))
end
"""


def wrk_script(workload: Workload) -> str:
    """A wrk Lua script sending ``workload`` and printing a JSON summary."""
    lines = [
        "-- generated by tornado-h1 bench",
        f'wrk.method = "{workload.method}"',
        f'wrk.path = "{workload.path}"',
    ]
    if workload.body_size:
        lines.append(f'wrk.body = string.rep("x", {workload.body_size})')
    if workload.header_fields > 1:
        lines += [
            f"for i = 1, {workload.header_fields - 1} do",
            '  wrk.headers[string.format("X-Bench-%04d", i)] = '
            'string.format("value-%04d", i)',
            "end",
        ]
    if workload.depth > 1:
        # As wrk's own pipeline.lua: the same request, depth times per write.
        lines += [
            "local pipelined = nil",
            "init = function(args)",
            f"  pipelined = string.rep(wrk.format(), {workload.depth})",
            "end",
            "request = function()",
            "  return pipelined",
            "end",
        ]
    return "\n".join(lines) + "\n" + _WRK_DONE


def parse_wrk_output(out: str) -> dict[str, Any]:
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            raw = json.loads(line[len("BENCH_JSON ") :])
            return {
                "requests": raw["requests"],
                "seconds": raw["duration_us"] / 1e6,
                "bytes": raw["bytes"],
                "errors": raw["socket_errors"] + raw["status_errors"],
                "p50_ms": raw["p50_us"] / 1000.0,
                "p99_ms": raw["p99_us"] / 1000.0,
            }
    raise BenchError(f"wrk printed no summary: {out[-300:]!r}")


# ----------------------------------------------------------- the whole run


def _machine() -> dict[str, Any]:
    import tornado

    from tornado_h1 import __version__

    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "tornado": tornado.version,
        "tornado_h1": __version__,
        "git": _git_revision(),
    }
    with contextlib.suppress(OSError):
        info["loadavg_start"] = list(os.getloadavg())
    return info


def _git_revision() -> Optional[str]:
    root = Path(__file__).resolve().parents[3]
    if not (root / ".git").exists():
        return None
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev or None


def _wrk_version(path: str) -> str:
    try:
        proc = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    words = (proc.stdout or proc.stderr).split()
    return " ".join(words[:2]) if words else "unknown"


def new_document(settings: Settings, argv: Sequence[str]) -> dict[str, Any]:
    loader = settings.loader
    if settings.wrk is not None:
        loader = f"wrk ({_wrk_version(settings.wrk)}), -t1 -c{settings.connections}"
    else:
        loader = f"built-in (asyncio, -c{settings.connections})"
    return {
        "schema": SCHEMA,
        "tool": PROG,
        "command": " ".join([PROG, *map(shlex.quote, argv)]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "complete": False,
        "machine": _machine(),
        "settings": {
            "quick": settings.quick,
            "rounds": settings.rounds,
            "duration_s": settings.duration,
            "warmup_s": settings.warmup,
            "connections": settings.connections,
            "loader": settings.loader,
            "loader_detail": loader,
            "idle_connections": settings.idle_connections,
            "upload_size": settings.upload_size,
            "upload_chunk": settings.upload_chunk,
            "profiled": settings.profile_dir is not None,
            "profile_clock": settings.profile_clock if settings.profile_dir else None,
            "order": "alternating; the order of the sides flips every round",
        },
        "notes": list(settings.notes),
        "results": [],
        "errors": [],
        "children": [],
        "profiles": [],
    }


def run(
    settings: Settings,
    scenarios: Sequence[Scenario],
    doc: dict[str, Any],
    progress: ProgressFn,
) -> None:
    """Measure ``scenarios``, appending rows to ``doc["results"]`` as each
    scenario completes. Every child process has stopped when this returns
    or raises."""
    begun = time.monotonic()
    if settings.profile_dir is not None:
        settings.profile_dir.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="tornado-h1-bench-") as tmp,
        Children() as children,
    ):
        runner = Runner(settings, children, Path(tmp), progress)
        try:
            for scenario in scenarios:
                progress(f"{scenario.id}: {scenario.title}")
                try:
                    rows = runner.run(scenario)
                except BenchError as exc:
                    progress(f"{scenario.id}: FAILED: {exc}")
                    doc["errors"].append({"scenario": scenario.id, "error": str(exc)})
                    continue
                doc["results"].extend(rows)
                for row in rows:
                    doc["notes"].extend(row["notes"])
        finally:
            doc["children"] = list(children.pids)
            doc["profiles"] = [str(path) for path in runner.profiles]
            doc["elapsed_s"] = round(time.monotonic() - begun, 1)
            with contextlib.suppress(OSError):
                doc["machine"]["loadavg_end"] = list(os.getloadavg())
    doc["complete"] = True
