"""Rendering ``tornado-h1 bench`` results: text, Markdown, reStructuredText,
a chart (matplotlib) and a cProfile summary."""

from __future__ import annotations

import importlib
import io
import math
import re
import statistics
import textwrap
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


#: Every ratio the report shows is "how many times better tornado_h1 did
#: than upstream": higher is better in every row and every column, and
#: below 1 upstream did better. Said once, above the table.
DIRECTION = (
    '"x better": how many times better tornado_h1 did than upstream, the ratio '
    "tornado_h1 / upstream (upstream / tornado_h1 for lower-is-better "
    "metrics); median over the rounds, range min-max. Higher is better in "
    "every column; below 1, upstream did better."
)

TABLE_HEADER = (
    "scenario",
    "metric",
    "upstream",
    "tornado_h1",
    "x better",
    "range",
    "server CPU us/req u / t",
    "CPU x better",
    "p50 ms u / t",
    "p99 ms u / t",
)

#: The text report is two tables, each narrower than :data:`WIDTH`: the
#: headline figures, then server CPU and latency (the columns of
#: :data:`TABLE_HEADER` each one shows).
TEXT_TABLES = ((0, 1, 2, 3, 4, 5), (0, 6, 7, 8, 9))
WIDTH = 100


def advantage(
    summary: Optional[dict[str, Any]], higher_is_better: bool
) -> Optional[dict[str, float]]:
    """A ratio summary (tornado_h1 / upstream, per round) turned into "times
    better": kept where higher is better, inverted per round where lower is.
    The table and the chart both show this, so they always agree."""
    if not summary:
        return None
    rounds = summary.get("rounds") or [summary["value"]]
    values = [r if higher_is_better else 1 / r for r in rounds if r]
    if not values:
        return None
    return {
        "value": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def _times(figure: Optional[dict[str, float]]) -> str:
    return f"{figure['value']:.2f}" if figure else "-"


def _range(figure: Optional[dict[str, float]]) -> str:
    return f"{figure['min']:.2f}-{figure['max']:.2f}" if figure else "-"


def table_rows(doc: dict[str, Any]) -> tuple[list[tuple[str, ...]], list[str]]:
    """The cells of the results table, and the notes that go below it."""
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    for row in doc["results"]:
        better = advantage(row.get("ratio"), row["higher_is_better"])
        cpu_better = advantage(row.get("cpu_ratio"), False)
        metric = row["metric"] + ("" if row["higher_is_better"] else " (lower better)")
        rows.append(
            (
                row["id"],
                metric,
                _fmt(row["sides"]["upstream"]["value"]),
                _fmt(row["sides"]["tornado_h1"]["value"]),
                _times(better),
                _range(better),
                _pair(row, "server_cpu_us_per_req"),
                _times(cpu_better),
                _pair(row, "p50_ms"),
                _pair(row, "p99_ms"),
            )
        )
        notes += _row_notes(row)
    notes.extend(doc.get("notes", []))
    for error in doc.get("errors", []):
        notes.append(f"FAILED {error['scenario']}: {error['error']}")
    return rows, merge_notes(notes)


def _row_notes(row: dict[str, Any]) -> list[str]:
    notes = []
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
    return notes


_NOTE = re.compile(r"^(?P<who>[\w.-]+): (?P<text>.+)$", re.S)
# What varies between the notes said of several rows: numbers, and which
# side (upstream, tornado_h1, the ceiling) they are about.
_NUMBER = re.compile(r"\d+(?:\.\d+)?|\b(?:upstream|tornado_h1|ceiling)\b")


def merge_notes(notes: Sequence[str]) -> list[str]:
    """Each note once. Notes that say the same of several rows (``raw: the
    upstream server used only 61% of a CPU: ...``, then the same for
    ``web``) become one note that names the rows, each with its numbers."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for note in dict.fromkeys(notes):
        match = _NOTE.match(note)
        if match is None:
            groups.setdefault(note, []).append(("", note))
            continue
        template = _NUMBER.sub("X", match.group("text"))
        groups.setdefault(template, []).append((match.group("who"), note))
    merged = []
    for template, members in groups.items():
        if len(members) == 1:
            merged.append(members[0][1])
            continue
        rows = []
        for who, note in members:
            numbers = _NUMBER.findall(_NOTE.match(note).group("text"))  # type: ignore[union-attr]
            rows.append(f"{who} ({', '.join(numbers)})" if numbers else who)
        merged.append(f"{template} [rows, with each X: {'; '.join(rows)}]")
    return merged


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


def _text_table(rows: Sequence[tuple[str, ...]], columns: Sequence[int]) -> list[str]:
    picked = [[cells[i] for i in columns] for cells in [TABLE_HEADER, *rows]]
    widths = [max(len(r[i]) for r in picked) for i in range(len(columns))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(widths[i]) if columns[i] < 2 else c.rjust(widths[i])
            for i, c in enumerate(cells)
        ).rstrip()

    return [line(picked[0]), line(["-" * w for w in widths])] + [
        line(cells) for cells in picked[1:]
    ]


def render_text(doc: dict[str, Any]) -> str:
    """The terminal report: two tables and the notes, within `WIDTH`."""
    rows, notes = table_rows(doc)
    out = textwrap.wrap(_describe_run(doc), WIDTH)
    out += textwrap.wrap(DIRECTION, WIDTH) + [""]
    for columns in TEXT_TABLES:
        out += _text_table(rows, columns) + [""]
    for note in notes:
        out += textwrap.wrap(note, WIDTH, initial_indent="* ", subsequent_indent="  ")
    return "\n".join(out).rstrip("\n") + "\n"


def render_markdown(doc: dict[str, Any]) -> str:
    rows, notes = table_rows(doc)
    out = [
        f"Measured {_describe_run(doc)}.",
        "",
        DIRECTION,
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
        cell(DIRECTION),
        "",
        ".. list-table:: tornado_h1 against upstream (x better: higher is better)",
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


def plot_points(
    doc: dict[str, Any],
) -> list[tuple[str, dict[str, float]]]:
    """The chart's bars: a label and the "x better" figure of each row that
    has one, the very numbers of the table's column (`advantage`)."""
    points = []
    for row in doc["results"]:
        better = advantage(row.get("ratio"), row["higher_is_better"])
        if better:
            points.append((f"{row['id']}\n{row['metric']}", better))
    return points


def chart_unavailable(doc: dict[str, Any]) -> Optional[str]:
    """Why no chart can be drawn for ``doc`` (None: it can), in words for
    the one line that says a chart was skipped."""
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        return "matplotlib is not installed: pip install 'tornado-h1[plot]'"
    if not plot_points(doc):
        return "no ratios to plot"
    return None


def draw_chart(doc: dict[str, Any]) -> Any:
    """The chart as a matplotlib figure: bars of "x better" per row
    (`plot_points`), with their min-max as error bars."""
    plt = _load_pyplot()
    points = plot_points(doc)
    if not points:
        raise BenchError("--plot: no ratios to plot")
    labels = [label for label, _ in points]
    values = [better["value"] for _, better in points]
    low = [better["value"] - better["min"] for _, better in points]
    high = [better["max"] - better["value"] for _, better in points]
    figure, axes = plt.subplots(figsize=(max(6.0, 1.1 * len(values)), 4.5))
    colours = ["tab:green" if v >= 1 else "tab:red" for v in values]
    axes.bar(range(len(values)), values, yerr=[low, high], color=colours, capsize=4)
    for index, value in enumerate(values):
        axes.annotate(  # above the error bar, not across it
            f"{value:.2f}",
            (index, value + high[index]),
            textcoords="offset points",
            xytext=(0, 3),
            ha="center",
            fontsize=7,
        )
    axes.axhline(1.0, color="black", linewidth=0.8)
    axes.set_xticks(range(len(values)))
    axes.set_xticklabels(labels, fontsize=8)
    axes.set_ylabel("x better (higher is better)")
    axes.set_title(
        "tornado-h1 bench: how many times better tornado_h1 did than upstream",
        fontsize=10,
    )
    figure.tight_layout()
    return figure


def render_plot(doc: dict[str, Any], path: Path) -> None:
    """Write `draw_chart`'s chart to ``path`` as a PNG."""
    plt = _load_pyplot()
    figure = draw_chart(doc)
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
