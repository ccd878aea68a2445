"""What a run measured, the issue's targets, and the table and JSON they are reported as.

Every metric keeps one value per round and server kind. The table shows, per
metric, the median and min–max over the rounds for each server, the ratio of the
medians wharf/distribution, and the issue's target for it with ✓ or ✗.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Metric", "Results", "Target"]

#: check(wharf median, distribution median, context) -> met, or None when it cannot be told
Check = Callable[[float, "float | None", dict[str, float]], "bool | None"]


@dataclass(frozen=True, slots=True)
class Target:
    text: str
    check: Check


def _ratio(w: float, d: float | None) -> float | None:
    return None if d is None or d == 0 or math.isnan(d) else w / d


def at_least(factor: float) -> Target:
    def check(w: float, d: float | None, _: dict[str, float]) -> bool | None:
        r = _ratio(w, d)
        return None if r is None else r >= factor

    return Target(f"≥{factor:g}×", check)


def at_most(factor: float) -> Target:
    def check(w: float, d: float | None, _: dict[str, float]) -> bool | None:
        r = _ratio(w, d)
        return None if r is None else r <= factor

    return Target(f"≤{factor:g}×", check)


def same() -> Target:
    return Target("= dist", lambda w, d, _: None if d is None else w == d)


def equals(key: str, text: str) -> Target:
    """wharf's median equals ``context[key]`` (an expected count)."""
    return Target(text, lambda w, d, ctx: w == ctx[key] if key in ctx else None)


def pull_target() -> Target:
    def check(w: float, d: float | None, ctx: dict[str, float]) -> bool | None:
        loop = ctx.get("loopback_MBps")
        if loop is None:
            return None
        return w >= 0.7 * loop and (d is None or w >= d)

    return Target("≥1× and ≥70% loopback", check)


@dataclass(slots=True)
class Metric:
    key: str
    label: str
    unit: str
    target: Target | None = None
    values: dict[str, list[float]] = field(default_factory=dict)

    def median(self, kind: str) -> float | None:
        values = self.values.get(kind)
        return statistics.median(values) if values else None

    def ratio(self) -> float | None:
        w = self.median("wharf")
        return None if w is None else _ratio(w, self.median("distribution"))

    def met(self, context: dict[str, float]) -> bool | None:
        w = self.median("wharf")
        if self.target is None or w is None:
            return None
        return self.target.check(w, self.median("distribution"), context)


class Results:
    def __init__(self) -> None:
        self.metrics: dict[str, Metric] = {}
        self.notes: list[str] = []
        self.limits: dict[str, float] = {}
        #: expected counts and limits that targets compare against
        self.context: dict[str, float] = {}
        self.info: dict[str, Any] = {}

    def define(self, key: str, label: str, unit: str, target: Target | None = None) -> None:
        self.metrics.setdefault(key, Metric(key, label, unit, target))

    def record(self, key: str, kind: str, value: float) -> None:
        self.metrics[key].values.setdefault(kind, []).append(float(value))

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    # ----------------------------------------------------------------------- output

    def table(self, kinds: list[str]) -> str:
        header = ["metric", "unit", *(f"{k} median [min–max]" for k in kinds)]
        if "distribution" in kinds:
            header += ["wharf/dist", "target"]
        rows = [header]
        for metric in self.metrics.values():
            if not metric.values:
                continue
            row = [metric.label, metric.unit, *(_cell(metric.values.get(k), metric.unit) for k in kinds)]
            if "distribution" in kinds:
                ratio = metric.ratio()
                met = metric.met(self.context)
                mark = "" if met is None else (" ✓" if met else " ✗")
                row += [
                    "—" if ratio is None else f"{ratio:.2f}×",
                    (metric.target.text + mark) if metric.target else "",
                ]
            rows.append(row)
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = [
            "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"
            for row in rows
        ]
        lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
        return "\n".join(lines)

    def limits_line(self) -> str:
        names = {
            "sha256": "sha256",
            "loopback": "loopback TCP",
            "disk_write": "disk write (fdatasync)",
            "disk_read_cold": "disk read (cold)",
            "page_cache_read": "page-cache read",
        }
        parts = [
            f"{label} {self.limits[key] / 1e9:.2f} GB/s" for key, label in names.items() if key in self.limits
        ]
        return "Machine limits: " + ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.info,
            "limits_bytes_per_second": self.limits,
            "notes": self.notes,
            "metrics": [
                {
                    "key": m.key,
                    "label": m.label,
                    "unit": m.unit,
                    "values": m.values,
                    "median": {k: m.median(k) for k in m.values},
                    "ratio_wharf_over_distribution": m.ratio(),
                    "target": m.target.text if m.target else None,
                    "met": m.met(self.context),
                }
                for m in self.metrics.values()
                if m.values
            ],
        }

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if value == int(value) and abs(value) >= 100:
        return f"{value:,.0f}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1 or magnitude == 0:
        return f"{value:.2f}".rstrip("0").rstrip(".") if value == int(value) else f"{value:.2f}"
    return f"{value:.3f}"


def _cell(values: list[float] | None, unit: str) -> str:
    if not values:
        return "—"
    fmt = (lambda v: f"{v:,.0f}") if unit == "count" else _fmt
    median = statistics.median(values)
    if len(values) == 1 or min(values) == max(values):
        return fmt(median)
    return f"{fmt(median)} [{fmt(min(values))}–{fmt(max(values))}]"
