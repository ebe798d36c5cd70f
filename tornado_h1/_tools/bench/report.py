"""Rendering ``tornado-h1 bench`` results: text, Markdown, reStructuredText,
a chart (matplotlib) and a cProfile summary."""

from __future__ import annotations

import importlib
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from tornado_h1._tools.bench.scenarios import CEILING, PLOT_HINT, SIDES, BenchError

# ------------------------------------------------------------ rendering


def _fmt(value: Optional[float]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _pair(row: dict[str, Any], key: str) -> str:
    a = row["sides"]["upstream"].get(key)
    b = row["sides"]["tornado_h1"].get(key)
    if a is None and b is None:
        return "-"
    return f"{_fmt(a)} / {_fmt(b)}"


TABLE_HEADER = (
    "scenario",
    "metric",
    "upstream",
    "tornado_h1",
    "ratio",
    "min-max",
    "server CPU us/req u / t",
    "CPU ratio",
    "p50 ms u / t",
    "p99 ms u / t",
)


def table_rows(doc: dict[str, Any]) -> tuple[list[tuple[str, ...]], list[str]]:
    """The cells of the results table, and the notes that go below it."""
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    for row in doc["results"]:
        ratio = row.get("ratio")
        cpu_ratio = row.get("cpu_ratio")
        metric = row["metric"] + ("" if row["higher_is_better"] else " (lower better)")
        rows.append(
            (
                row["id"],
                metric,
                _fmt(row["sides"]["upstream"]["value"]),
                _fmt(row["sides"]["tornado_h1"]["value"]),
                f"{ratio['value']:.2f}" if ratio else "-",
                f"{ratio['min']:.2f}-{ratio['max']:.2f}" if ratio else "-",
                _pair(row, "server_cpu_us_per_req"),
                f"{cpu_ratio['value']:.2f}" if cpu_ratio else "-",
                _pair(row, "p50_ms"),
                _pair(row, "p99_ms"),
            )
        )
        if "ratios_to_ceiling" in row:
            parts = []
            for side in SIDES:
                r = row["ratios_to_ceiling"].get(side)
                if r:
                    parts.append(
                        f"{side} {100 * r['value']:.0f}% "
                        f"({100 * r['min']:.0f}-{100 * r['max']:.0f}%)"
                    )
            ceiling = row["sides"][CEILING]
            notes.append(
                f"ceiling (IOStream read_until + canned reply): "
                f"{_fmt(ceiling['value'])} req/s, p50 {_fmt(ceiling['p50_ms'])} ms, "
                f"server CPU {_fmt(ceiling['server_cpu_us_per_req'])} us/req; "
                "reached: " + ", ".join(parts)
            )
        if row["id"] == "headers-per-field":
            for side in SIDES:
                lin = row["sides"][side]["linearity"]
                keys = list(lin)
                notes.append(
                    f"headers, {side}: us per field over {keys[0]} fields "
                    f"{_fmt(lin[keys[0]])}, over {keys[1]} {_fmt(lin[keys[1]])} "
                    f"(server CPU: {_fmt(lin[keys[2]])} and {_fmt(lin[keys[3]])}); "
                    "similar slopes mean linear cost"
                )
        if row["id"] == "upload-chunked":
            notes.append("upload-chunked: the server CPU column is us per MB")
        if row["id"] == "idle" and "connections" in row:
            notes.append(f"idle: {row['connections']} connections per server")
    notes.extend(doc.get("notes", []))
    for error in doc.get("errors", []):
        notes.append(f"FAILED {error['scenario']}: {error['error']}")
    return rows, list(dict.fromkeys(notes))


def _describe_run(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    s = doc["settings"]
    return (
        f"{doc['started']}: {m['cpus']} CPUs ({m['cpu_model']}), {m['system']}, "
        f"Python {m['python']}, Tornado {m['tornado']}, tornado_h1 "
        f"{m['tornado_h1']}" + (f" ({m['git']})" if m.get("git") else "") + "; "
        f"{s['rounds']} round(s) of {s['duration_s']:g} s per side after "
        f"{s['warmup_s']:g} s of warm-up; load: {s['loader_detail']}, on the "
        "same machine"
        + ("; quick (smoke) run" if s["quick"] else "")
        + ("; PROFILED: not comparable" if s.get("profiled") else "")
    )


def render_text(doc: dict[str, Any]) -> str:
    rows, notes = table_rows(doc)
    widths = [
        max(len(r[i]) for r in [TABLE_HEADER, *rows]) for i in range(len(TABLE_HEADER))
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(widths[i]) if i < 2 else c.rjust(widths[i])
            for i, c in enumerate(cells)
        ).rstrip()

    out = [_describe_run(doc), "ratio = tornado_h1 / upstream, median over rounds", ""]
    out.append(line(TABLE_HEADER))
    out.append(line(["-" * w for w in widths]))
    out += [line(r) for r in rows]
    if notes:
        out.append("")
        out += [f"* {note}" for note in notes]
    return "\n".join(out) + "\n"


def render_markdown(doc: dict[str, Any]) -> str:
    rows, notes = table_rows(doc)
    out = [
        f"Measured {_describe_run(doc)}.",
        "",
        "| " + " | ".join(TABLE_HEADER) + " |",
        "|"
        + "|".join("---" if i < 2 else "---:" for i in range(len(TABLE_HEADER)))
        + "|",
    ]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    if notes:
        out.append("")
        out += [f"- {note}" for note in notes]
    return "\n".join(out) + "\n"


def render_rst(doc: dict[str, Any]) -> str:
    """A ``list-table``, for ``.. include::`` from the documentation."""
    rows, notes = table_rows(doc)

    def cell(text: str) -> str:
        return text.replace("\\", "\\\\").replace("*", "\\*").replace("|", "\\|")

    out = [
        f"Measured {cell(_describe_run(doc))}, by ``{doc['command']}``.",
        "",
        ".. list-table:: tornado_h1 / upstream (ratio > 1: tornado_h1 higher)",
        "   :header-rows: 1",
        "",
    ]
    for cells in [TABLE_HEADER, *rows]:
        out.append(f"   * - {cell(cells[0])}")
        out += [f"     - {cell(c)}" for c in cells[1:]]
    if notes:
        out.append("")
        out += [f"* {cell(note)}" for note in notes]
    return "\n".join(out) + "\n"


def _load_pyplot() -> Any:
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        raise BenchError(PLOT_HINT) from None
    matplotlib.use("Agg")
    return importlib.import_module("matplotlib.pyplot")


def render_plot(doc: dict[str, Any], path: Path) -> None:
    """Bars of tornado_h1's advantage per row (ratio, inverted where lower
    is better, so that > 1 always favours tornado_h1), min-max as error bars."""
    plt = _load_pyplot()
    labels: list[str] = []
    values: list[float] = []
    low: list[float] = []
    high: list[float] = []
    for row in doc["results"]:
        ratio = row.get("ratio")
        if not ratio:
            continue
        flip = not row["higher_is_better"]
        value = 1 / ratio["value"] if flip else ratio["value"]
        worst = 1 / ratio["max"] if flip else ratio["min"]
        best = 1 / ratio["min"] if flip else ratio["max"]
        labels.append(f"{row['id']}\n{row['metric']}")
        values.append(value)
        low.append(value - worst)
        high.append(best - value)
    if not values:
        raise BenchError("--plot: no ratios to plot")
    figure, axes = plt.subplots(figsize=(max(6.0, 1.1 * len(values)), 4.5))
    colours = ["tab:green" if v >= 1 else "tab:red" for v in values]
    axes.bar(range(len(values)), values, yerr=[low, high], color=colours, capsize=4)
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_xticks(range(len(values)))
    axes.set_xticklabels(labels, fontsize=8)
    axes.set_ylabel("tornado_h1 vs upstream (> 1: tornado_h1 better)")
    axes.set_title("tornado-h1 bench: median ratio, min-max over rounds", fontsize=10)
    figure.tight_layout()
    figure.savefig(str(path), dpi=120)
    plt.close(figure)


def summarize_profiles(paths: Sequence[Path], top: int = 10) -> str:
    """The top functions by own time of each profile; also written next to
    each profile as ``.txt``."""
    import pstats

    out: list[str] = []
    for prof in paths:
        if not prof.exists():
            out.append(f"== {prof.stem}: no profile written\n")
            continue
        buffer = io.StringIO()
        stats = pstats.Stats(str(prof), stream=buffer)
        stats.sort_stats("tottime").print_stats(top)
        text = buffer.getvalue()
        prof.with_suffix(".txt").write_text(text)
        body = text[text.find("ncalls") :] if "ncalls" in text else text
        total = getattr(stats, "total_tt", 0.0)
        out.append(f"== {prof.stem} (total {total:.2f} s)\n{body.rstrip()}\n")
    return "\n".join(out)
