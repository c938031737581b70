"""Helpers every section of `docs/results.md` shares; renders no section itself.

Where the document and the benchmarks' JSON live (`ROOT`, `RESULTS`, `DOC`), `load` to
read one `bench/results/*.json` (None when the benchmark has not run), and the formatting
the sections use: `pct`, `machine` (where a result was measured), `table` (a Markdown
table), `arm_name` (an arm's overrides) and `_diff` (a paired difference, mean ± standard
error).
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "results.md"


def load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def machine(d: dict) -> str:
    """Where a result was measured, from what its file says."""
    parts = [d.get("device") or d.get("machine")
             or ("2-core CPU machine" if d.get("backend") == "cpu" else d.get("backend"))]
    if d.get("threads"):
        parts.append(f"{d['threads']} thread{'s' if d['threads'] != 1 else ''}")
    if d.get("date"):
        parts.append(d["date"])
    return ", ".join(p for p in parts if p)


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def arm_name(arm: list[str]) -> str:
    if len(arm) == 1 and arm[0].startswith("augment.strategy="):
        return f"`{arm[0].split('=', 1)[1]}`"
    return " ".join(f"`-o {a}`" for a in arm)


def _diff(row: dict | None, key: str) -> str:
    return "" if row is None else f"{row[key]['mean']:+.2f} ± {row[key]['se']:.2f}"
