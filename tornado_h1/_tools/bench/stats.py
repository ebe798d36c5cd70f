"""Statistics of ``tornado-h1 bench``: percentiles, medians, the ratio
tornado_h1/upstream per round, and the rows of the report."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any, Optional

from tornado_h1._tools.bench.scenarios import (
    _HEADER_COUNTS,
    _NOISY,
    CEILING,
    SIDES,
    Scenario,
    Variant,
)

# ------------------------------------------------------------- statistics


def percentile(ordered: Sequence[float], q: float) -> Optional[float]:
    """Nearest-rank percentile of already sorted values."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _median(values: Sequence[Optional[float]]) -> Optional[float]:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio_summary(
    numerators: Sequence[float], denominators: Sequence[float]
) -> Optional[dict[str, Any]]:
    """Per-round ratios and their median, min and max; ``None`` unless every
    round has two positive values."""
    if not numerators or len(numerators) != len(denominators):
        return None
    if any(not (n > 0 and d > 0) for n, d in zip(numerators, denominators)):
        return None
    rounds = [n / d for n, d in zip(numerators, denominators)]
    return {
        "value": statistics.median(rounds),
        "min": min(rounds),
        "max": max(rounds),
        "rounds": rounds,
    }


def side_summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "value": statistics.median(s["value"] for s in samples),
        "rounds": [s["value"] for s in samples],
        "p50_ms": _median([s.get("p50_ms") for s in samples]),
        "p99_ms": _median([s.get("p99_ms") for s in samples]),
        "server_cpu_us_per_req": _median(
            [s.get("server_cpu_us_per_req") for s in samples]
        ),
        "server_cpu_pct": _median([s.get("server_cpu_pct") for s in samples]),
        "other_load_cpus": _median([s.get("other_load_cpus") for s in samples]),
        "errors": sum(int(s.get("errors", 0)) for s in samples),
        "samples": samples,
    }


def make_row(
    scenario: Scenario,
    variant: Variant,
    samples: dict[str, list[dict[str, Any]]],
    loader: str,
) -> dict[str, Any]:
    sides = {side: side_summary(samples[side]) for side in scenario.sides}
    row: dict[str, Any] = {
        "id": variant.id,
        "scenario": scenario.group,
        "title": scenario.title,
        "metric": scenario.metric,
        "higher_is_better": scenario.higher_is_better,
        "loader": loader,
        "derived": False,
        "sides": sides,
        "ratio": ratio_summary(
            sides["tornado_h1"]["rounds"], sides["upstream"]["rounds"]
        ),
        # Server CPU per request: hardly moved by other load on the machine.
        # (Not for the client scenario, whose server is the same for both.)
        "cpu_ratio": None
        if scenario.kind == "client"
        else ratio_summary(
            [s.get("server_cpu_us_per_req") or 0.0 for s in samples["tornado_h1"]],
            [s.get("server_cpu_us_per_req") or 0.0 for s in samples["upstream"]],
        ),
        "notes": [],
    }
    if CEILING in sides:
        row["ratios_to_ceiling"] = {
            side: ratio_summary(sides[side]["rounds"], sides[CEILING]["rounds"])
            for side in SIDES
        }
    noise = [
        s["other_load_cpus"]
        for side in scenario.sides
        for s in samples[side]
        if s.get("other_load_cpus") is not None
    ]
    if noise and max(noise) > _NOISY:
        row["notes"].append(
            f"{variant.id}: other processes used up to {max(noise):.1f} CPUs "
            "during the measurements: expect noise (server CPU per request, "
            "and its ratio, are the steadier figures)"
        )
    for side in scenario.sides:
        if sides[side]["errors"]:
            row["notes"].append(
                f"{variant.id}: {sides[side]['errors']} errors with {side}"
            )
    return row


def per_field_row(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The cost of one more header field, from the headers-N rows: the
    difference in time per request (1/throughput, and server CPU) between
    the largest and the smallest request, divided by the difference in
    fields. The same slope over the lower and the upper half of the range
    shows that the cost is linear."""
    lo, mid, hi = _HEADER_COUNTS

    def slope(side: str, a: int, b: int, cpu: bool) -> list[Optional[float]]:
        left = rows[f"headers-{a}"]["sides"][side]["samples"]
        right = rows[f"headers-{b}"]["sides"][side]["samples"]
        out: list[Optional[float]] = []
        for x, y in zip(left, right):
            if cpu:
                cx, cy = x.get("server_cpu_us_per_req"), y.get("server_cpu_us_per_req")
                out.append(None if cx is None or cy is None else (cy - cx) / (b - a))
            elif x["value"] > 0 and y["value"] > 0:
                out.append((1 / y["value"] - 1 / x["value"]) * 1e6 / (b - a))
            else:
                out.append(None)
        return out

    def both(values: dict[str, list[Optional[float]]]) -> Optional[dict[str, Any]]:
        ours, theirs = values["tornado_h1"], values["upstream"]
        if None in ours or None in theirs:
            return None
        return ratio_summary(
            [v for v in ours if v is not None], [v for v in theirs if v is not None]
        )

    sides: dict[str, Any] = {}
    walls: dict[str, list[Optional[float]]] = {}
    cpus: dict[str, list[Optional[float]]] = {}
    for side in SIDES:
        wall = walls[side] = slope(side, lo, hi, cpu=False)
        cpu = cpus[side] = slope(side, lo, hi, cpu=True)
        sides[side] = {
            "value": _median(wall),
            "rounds": wall,
            "p50_ms": None,
            "p99_ms": None,
            "server_cpu_us_per_req": _median(cpu),
            "server_cpu_rounds": cpu,
            "server_cpu_pct": None,
            "errors": 0,
            "linearity": {
                f"{lo}-{mid}": _median(slope(side, lo, mid, cpu=False)),
                f"{mid}-{hi}": _median(slope(side, mid, hi, cpu=False)),
                f"cpu {lo}-{mid}": _median(slope(side, lo, mid, cpu=True)),
                f"cpu {mid}-{hi}": _median(slope(side, mid, hi, cpu=True)),
            },
        }
    return {
        "id": "headers-per-field",
        "scenario": "headers",
        "title": "cost of one more header field (derived from headers-N)",
        "metric": "us/field",
        "higher_is_better": False,
        "loader": rows[f"headers-{lo}"]["loader"],
        "derived": True,
        "sides": sides,
        "ratio": both(walls),
        "cpu_ratio": both(cpus),
        "notes": [],
    }
