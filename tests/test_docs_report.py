"""The bench report as people read it: the terminal table fits 100
columns, every ratio reads "x times better" in one direction, each note is
printed once, and the chart shows the table's own numbers."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tornado_h1._tools.bench import report

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "_bench_results.json"


@pytest.fixture
def doc() -> Any:
    """The results of a real run, as the docs show them."""
    return json.loads(RESULTS.read_text())


def _cells(doc: Any) -> dict[str, dict[str, str]]:
    rows, _ = report.table_rows(doc)
    return {cells[0]: dict(zip(report.TABLE_HEADER, cells)) for cells in rows}


def test_the_text_report_fits_100_columns(doc: Any) -> None:
    doc["notes"].append(
        "raw: the upstream server used only 61% of a CPU: the load generator "
        "(or other load on the machine) limited the rate, which understates "
        "the difference"
    )
    text = report.render_text(doc)
    assert max(len(line) for line in text.splitlines()) <= 100
    for row in doc["results"]:
        assert text.count(f"\n{row['id']} ") == 2  # one line in each table


def test_every_ratio_reads_times_better(doc: Any) -> None:
    cells = _cells(doc)
    for row in doc["results"]:
        ratio = row["ratio"]["value"]
        expected = ratio if row["higher_is_better"] else 1 / ratio
        assert cells[row["id"]]["x better"] == f"{expected:.2f}", row["id"]
        cpu = row.get("cpu_ratio")
        if cpu:
            assert cells[row["id"]]["CPU x better"] == f"{1 / cpu['value']:.2f}"
    # Less memory per idle connection is better: it reads above 1.
    idle = next(row for row in doc["results"] if row["id"] == "idle")
    sides = idle["sides"]
    assert sides["tornado_h1"]["value"] < sides["upstream"]["value"]
    assert float(cells["idle"]["x better"]) > 1
    low, high = cells["idle"]["range"].split("-")
    assert float(low) <= float(cells["idle"]["x better"]) <= float(high)


def test_the_direction_is_said_once(doc: Any) -> None:
    text = report.render_text(doc).replace("\n", " ")
    assert text.count('"x better"') == 1
    assert "Higher is better in every column" in text
    rst = report.render_rst(doc)
    assert rst.count("Higher is better in every column") == 1


def test_a_note_said_of_several_rows_is_printed_once(doc: Any) -> None:
    limited = (
        "{id}: the upstream server used only {pct}% of a CPU: the load "
        "generator (or other load on the machine) limited the rate, which "
        "understates the difference"
    )
    for row_id, pct in (("raw", 61), ("web", 70), ("headers-10", 75)):
        doc["notes"].append(limited.format(id=row_id, pct=pct))
    # The same said of another side (the ceiling's server) is the same note.
    doc["notes"].append(
        limited.format(id="ceiling", pct=59).replace("the upstream", "the ceiling")
    )
    doc["notes"].append(limited.format(id="web", pct=70))  # twice
    text = " ".join(report.render_text(doc).split())
    assert text.count("limited the rate") == 1
    _, notes = report.table_rows(doc)
    merged = [note for note in notes if "limited the rate" in note]
    assert merged == [
        "the X server used only X% of a CPU: the load generator (or "
        "other load on the machine) limited the rate, which understates the "
        "difference [rows, with each X: raw (upstream, 61); web (upstream, 70); "
        "headers-10 (upstream, 75); ceiling (ceiling, 59)]"
    ]


def test_the_chart_shows_the_table_s_numbers(doc: Any) -> None:
    cells = _cells(doc)
    points = report.plot_points(doc)
    assert len(points) == len(doc["results"])
    for (label, better), row in zip(points, doc["results"]):
        assert label.startswith(row["id"] + "\n")
        assert f"{better['value']:.2f}" == cells[row["id"]]["x better"]
        assert cells[row["id"]]["range"] == (f"{better['min']:.2f}-{better['max']:.2f}")


def test_the_chart_is_drawn(doc: Any, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = tmp_path / "chart.png"
    report.render_plot(doc, path)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_advantage_of_an_even_number_of_rounds() -> None:
    # The median of the inverted rounds, not the inverse of the median.
    summary = {"value": 0.5, "min": 0.25, "max": 1.0, "rounds": [0.25, 1.0]}
    better = report.advantage(summary, higher_is_better=False)
    assert better == {"value": 2.5, "min": 1.0, "max": 4.0}
    assert report.advantage(None, True) is None
    assert report.advantage(copy.deepcopy(summary), True) == {
        "value": 0.625,
        "min": 0.25,
        "max": 1.0,
    }
