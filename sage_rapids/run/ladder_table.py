"""The ladder's table and plot: each rung's dev metric beside its measured speed and
size, the Pareto fronts, and the smallest student within a tolerance of the teacher.

Speeds are measurements on a shared machine (medians, with their spread); the table
says so and they never enter a test's assertion.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from .report import save_figure


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def rung_row(name: str, layers: int, width, summaries: list[dict]) -> dict:
    """One rung over its seeds: the primary dev metric (mean, sd, per seed), the
    student's throughput and batch-1 latency (medians of the seeds' medians, and their
    range), parameters and size on disk."""
    first = summaries[0]
    metric = first["primary_metric"]
    scores = [s[f"student_dev_{metric}"] for s in summaries]
    speed = [s["efficiency"]["student"]["throughput"]["median"] for s in summaries]
    latency = [s["efficiency"]["student"]["latency_ms"]["median"] for s in summaries]
    mean, sd = _mean_sd(scores)
    e = first["efficiency"]
    return {"rung": name, "layers": layers, "width": width, "seeds": len(summaries),
            "metric_mean": mean, "metric_sd": sd, "metric_per_seed": scores,
            "throughput": statistics.median(speed), "throughput_range": [min(speed), max(speed)],
            "latency_ms": statistics.median(latency), "parameters": e["student"]["parameters"],
            "mb": e.get("student_mb"),
            # seeds whose student stayed at the majority class (or the mean score)
            "learnt_nothing": sum(bool(s.get("student_learnt_nothing")) for s in summaries)}


def teacher_row(summaries: list[dict]) -> dict:
    """The teacher as every rung's run timed it, beside its student (medians)."""
    first = summaries[0]
    metric = first["primary_metric"]
    teacher = [s["efficiency"]["teacher"] for s in summaries]
    speed = [t["throughput"]["median"] for t in teacher]
    return {"rung": "teacher", "metric_mean": first[f"teacher_dev_{metric}"], "metric_sd": 0.0,
            "throughput": statistics.median(speed), "throughput_range": [min(speed), max(speed)],
            "latency_ms": statistics.median(t["latency_ms"]["median"] for t in teacher),
            "parameters": teacher[0]["parameters"],
            "mb": first["efficiency"].get("teacher_mb")}


def baseline_rows(first: dict, teacher: dict) -> list[dict]:
    """The teacher's ONNX and int8 copies (the efficiency report's `baselines`, cached
    with the teacher), as rows beside it."""
    metric = first["primary_metric"]
    base = (first.get("efficiency") or {}).get("baselines") or {}
    rows = []
    for key, name in (("teacher_onnx", "teacher onnx"), ("teacher_int8", "teacher int8")):
        if key in base:
            b = base[key]
            rows.append({"rung": name, "format": key.rpartition("_")[2], "model": "teacher",
                         "metric_mean": b[metric], "metric_sd": 0.0,
                         "throughput": b["throughput"]["median"],
                         "throughput_range": [b["throughput"]["min"], b["throughput"]["max"]],
                         "latency_ms": b["latency_ms"]["median"],
                         "parameters": teacher["parameters"], "mb": b["mb"]})
    return rows


def int8_row(row: dict, runs: list[dict]) -> dict | None:
    """A rung's int8 copies over its seeds, beside its fp32 row; None when none was
    measured."""
    copies = [r["int8"] for r in runs if r.get("int8")]
    if not copies:
        return None
    metric = runs[0]["summary"]["primary_metric"]
    mean, sd = _mean_sd([c[metric] for c in copies])
    speed = [c["throughput"]["median"] for c in copies]
    return {"rung": f"{row['rung']} int8", "format": "int8", "model": row["rung"],
            "layers": row["layers"], "width": row["width"], "seeds": len(copies),
            "metric_mean": mean, "metric_sd": sd,
            "metric_per_seed": [c[metric] for c in copies],
            "throughput": statistics.median(speed), "throughput_range": [min(speed), max(speed)],
            "latency_ms": statistics.median(c["latency_ms"]["median"] for c in copies),
            "parameters": row["parameters"], "mb": statistics.median(c["mb"] for c in copies),
            "learnt_nothing": row["learnt_nothing"]}


def pareto(rows: list[dict], better_speed: bool) -> list[str]:
    """The rows no other row beats on both the metric and speed (or size): higher
    throughput when `better_speed`, else less on disk (fewer parameters where a size is
    missing)."""
    by_mb = all(r.get("mb") for r in rows)

    def axis(r):
        if better_speed:
            return r["throughput"]
        return -r["mb"] if by_mb else -r["parameters"]["total"]

    rows = [r for r in rows if not r.get("learnt_nothing")]  # a constant is no trade-off
    front = []
    for r in rows:
        beaten = any(o is not r and o["metric_mean"] >= r["metric_mean"] and axis(o) >= axis(r)
                     and (o["metric_mean"] > r["metric_mean"] or axis(o) > axis(r))
                     for o in rows)
        if not beaten:
            front.append(r["rung"])
    return front


def all_rows(table: dict) -> list[dict]:
    """Every (format, model) of the table: the teacher and its copies, then each rung in
    fp32 followed by its int8 copy."""
    int8 = {r["model"]: r for r in table.get("int8", [])}
    rungs = [x for r in table["rungs"] for x in (r, int8.get(r["rung"])) if x is not None]
    return [table["teacher"], *table.get("baselines", []), *rungs]


def meets(row: dict, table: dict, budget: dict | None) -> bool:
    """Whether a row is within `table["within"]` points of the teacher and inside the
    budget (`max_latency_ms`, `min_throughput`; None: no bound)."""
    budget = budget or {}
    floor = table["teacher"]["metric_mean"] - table["within"] / 100.0
    max_ms, min_rate = budget.get("max_latency_ms"), budget.get("min_throughput")
    return (not row.get("learnt_nothing") and row["metric_mean"] >= floor - 1e-12
            and (max_ms is None or row["latency_ms"] <= max_ms)
            and (min_rate is None or row["throughput"] >= min_rate))


def _by_latency(budget: dict | None) -> bool:
    """Only a latency bound given: "fastest" means the lowest batch-1 latency."""
    budget = budget or {}
    return budget.get("max_latency_ms") is not None and budget.get("min_throughput") is None


def _teacher_int8(baselines: list[dict]) -> dict | None:
    return next((b for b in baselines if b["format"] == "int8"), None)


def pick(table: dict, budget: dict | None) -> tuple[dict | None, str]:
    """The fastest row that `meets` the budget, and the budget in words. Fastest: the
    highest throughput, or the lowest batch-1 latency where only `max_latency_ms` is
    given."""
    budget = budget or {}
    max_ms, min_rate = budget.get("max_latency_ms"), budget.get("min_throughput")
    fits = [r for r in all_rows(table) if meets(r, table, budget)]
    words = [f"within {table['within']} points of the teacher"]
    words += [f"at most {max_ms} ms at batch 1"] if max_ms is not None else []
    words += [f"at least {min_rate} examples/s"] if min_rate is not None else []
    best = min(fits, key=lambda r: r["latency_ms"]) if _by_latency(budget) and fits else \
        max(fits, key=lambda r: r["throughput"], default=None)
    return best, ", ".join(words)


def _describe(row: dict) -> str:
    model = row.get("model") or ("teacher" if row["rung"] == "teacher" else row["rung"])
    fmt = row.get("format", "fp32")
    fmt = "fp32" if fmt == "pytorch" else fmt
    if model == "teacher":
        return "the teacher" if fmt == "fp32" else f"the teacher's {fmt} copy"
    layers = row.get("layers")
    kind = "static student" if layers == 0 else f"{layers}-layer student"
    width = f" (width {row['width']})" if row.get("width") else ""
    return f"{fmt} {kind}{width}"


def verdict(table: dict, row: dict | None, words: str, budget: dict | None = None) -> str:
    """One sentence on the row `pick` chose under the budget (`words`): what to deploy,
    against the teacher and its int8 copy; or that quantizing the teacher alone meets
    the budget, or that nothing does."""
    if row is None:
        return (f"no model meets the budget ({words}); relax --within, --max-latency or "
                "--min-throughput")
    t, int8 = table["teacher"], _teacher_int8(table.get("baselines", []))
    by_latency = _by_latency(budget)

    def times(other: dict) -> float:
        return other["latency_ms"] / row["latency_ms"] if by_latency else \
            row["throughput"] / other["throughput"]

    where = "at batch 1" if by_latency else f"at batch {table['batch_size']}"
    score = (f"{row['metric_mean']:.3f} {table['metric'].split()[-1]} "
             f"(teacher {t['metric_mean']:.3f})")
    size = f", {row['mb']:.1f} MB" if row.get("mb") else ""
    if row is t:
        return (f"the teacher as it is: {score}, {size.lstrip(', ')}; no copy and no "
                f"student meets the budget ({words}) faster")
    if row.get("model") == "teacher":
        return (f"quantizing the teacher alone meets the budget ({words}): "
                f"{_describe(row)}, {score}, {times(t):.1f}x the fp32 teacher {where}{size}; "
                "distillation is not needed")
    against = f", {times(t):.1f}x the fp32 teacher"
    if int8 is not None:
        against += f" and {times(int8):.1f}x its int8 copy"
    text = f"{_describe(row)}: {score}{against} {where}{size} ({words})"
    if int8 is not None and meets(int8, table, budget):
        text += f"; the int8 teacher alone would also do, at {times(t) / times(int8):.1f}x"
    return text


def ladder_table(runs: list[dict], within: float, stage_seconds: dict | None = None,
                 budget: dict | None = None) -> dict:
    """The ladder's table from its runs (`rung`, `layers`, `width`, `seed`, `summary`,
    and `int8`: the run's int8 copy measured, or None).

    Returns:
        {"metric", "teacher", "baselines", "rungs", "int8", "front_throughput",
         "front_size", "within", "smallest_within", "budget", "pick", "verdict",
         "device", "threads", ...}.
    """
    by_rung: dict[str, list[dict]] = {}
    for r in runs:
        by_rung.setdefault(r["rung"], []).append(r)
    rows = [rung_row(name, rs[0]["layers"], rs[0]["width"], [r["summary"] for r in rs])
            for name, rs in by_rung.items()]
    summaries = [r["summary"] for r in runs]
    teacher = teacher_row(summaries)
    baselines = baseline_rows(summaries[0], teacher)
    int8 = [x for row in rows if (x := int8_row(row, by_rung[row["rung"]])) is not None]
    quantized = _teacher_int8(baselines)
    for row in [*rows, *int8, *baselines]:
        row["speedup"] = row["throughput"] / teacher["throughput"]
        row["share_of_teacher"] = (row["metric_mean"] / teacher["metric_mean"]
                                   if teacher["metric_mean"] else None)
        if quantized is not None:
            row["speedup_int8"] = row["throughput"] / quantized["throughput"]
    floor = teacher["metric_mean"] - within / 100.0
    close = [r for r in rows if r["metric_mean"] >= floor and not r["learnt_nothing"]]
    smallest = min(close, key=lambda r: (r["parameters"]["total"], r["layers"]), default=None)
    e = summaries[0]["efficiency"]
    table = {"metric": f"dev {summaries[0]['primary_metric']}", "task": summaries[0]["task"],
             "device": e["device"], "threads": e["threads"],
             "batch_size": e["student"]["examples"]["batch_size"],
             "seeds": sorted({r["seed"] for r in runs}), "teacher": teacher,
             "baselines": baselines, "rungs": rows, "int8": int8,
             "within": within, "smallest_within": smallest and smallest["rung"],
             "budget": {k: v for k, v in (budget or {}).items() if v is not None},
             "stage_seconds": stage_seconds or {},
             "note": "throughput and latency are measurements on this machine, beside "
                     "whatever else ran: medians over the seeds' runs, with their range; "
                     "the teacher's ONNX and int8 copies were measured once and cached "
                     "with it"}
    everything = all_rows(table)
    table["front_throughput"] = pareto(everything, True)
    table["front_size"] = pareto(everything, False)
    chosen, words = pick(table, budget)
    table["pick"] = chosen and chosen["rung"]
    table["verdict"] = verdict(table, chosen, words, budget)
    return table


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 100_000 else f"{n / 1e3:.1f}k"


def format_ladder(table: dict) -> str:
    """The ladder as a fixed-width table, the Pareto front marked with `*`."""
    head = (f"{'model':<14}{table['metric']:>18}{'examples/s':>12}{'speed-up':>10}"
            f"{'batch-1 ms':>12}{'params (emb + rest)':>24}{'MB':>8}")
    lines = [head, "-" * len(head)]
    t = table["teacher"]
    rows = all_rows(table)
    for r in rows:
        front = "!" if r.get("learnt_nothing") else \
            "*" if r["rung"] in table["front_throughput"] else " "
        metric = f"{r['metric_mean']:.4f}" + (f" ± {r['metric_sd']:.4f}"
                                               if r.get("seeds", 1) > 1 else "")
        p = r["parameters"]
        params = f"{_count(p['embeddings'])} + {_count(p['rest'])}"
        speedup = "1.0x" if r is t else f"{r['speedup']:.1f}x"
        mb = f"{r['mb']:.1f}" if r.get("mb") else "-"
        lines.append(f"{r['rung'] + front:<14}{metric:>18}{r['throughput']:>12.0f}"
                     f"{speedup:>10}{r['latency_ms']:>12.2f}{params:>24}{mb:>8}")
    pick = table["smallest_within"]
    lines.append(f"* Pareto front (metric against throughput); {table['device']}, "
                 f"{table['threads']} thread{'s' if table['threads'] != 1 else ''}, "
                 f"batch {table['batch_size']}, seeds "
                 f"{table['seeds']}" + ("" if len(table["seeds"]) > 1 else
                                        " (one seed: no spread)"))
    flat = [r for r in table["rungs"] if r.get("learnt_nothing")]
    if flat:
        lines.append("! learnt nothing (the majority class or the mean score) on "
                     + ", ".join(f"{r['learnt_nothing']} of {r['seeds']} seeds of {r['rung']}"
                                 for r in flat) + ": left off the fronts")
    lines.append(f"smallest student within {table['within']} points of the teacher: "
                 + (pick or "none (every rung loses more)"))
    if table.get("verdict"):
        lines.append(f"verdict: {table['verdict']}")
    return "\n".join(lines)


def plot_ladder(table: dict, path: Path) -> None:
    """Two panels: the metric against measured throughput and against parameters, each
    rung with its seeds' spread, the teacher as a star, the Pareto front joined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = table["teacher"]
    rows = [r for r in all_rows(table) if r is not t]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    panels = ((axes[0], "throughput", "examples / s (batch "
               f"{table['batch_size']}, {table['device']}, {table['threads']} threads)",
               table["front_throughput"]),
              (axes[1], "size", "MB on disk (fp32 and int8: o, s; the teacher's copies: ^)",
               table["front_size"]))
    for ax, what, label, front in panels:
        def x(r):
            if what == "throughput":
                return r["throughput"]
            return r["mb"] if r.get("mb") else r["parameters"]["total"] / 1e6

        for r in rows:
            shape = "x" if r.get("learnt_nothing") else "^" if r.get("model") == "teacher" \
                else "s" if r.get("format") == "int8" else "o"
            colour = "tab:red" if r.get("model") == "teacher" else \
                "tab:blue" if r["rung"] in front else "tab:gray"
            ax.errorbar(x(r), r["metric_mean"], yerr=r["metric_sd"], fmt=shape,
                        color=colour, capsize=3)
            ax.annotate(r["rung"], (x(r), r["metric_mean"]), textcoords="offset points",
                        xytext=(5, 5), fontsize=8)
        line = sorted((r for r in rows if r["rung"] in front), key=x)
        ax.plot([x(r) for r in line], [r["metric_mean"] for r in line], "-",
                color="tab:blue", alpha=0.5, label="Pareto front")
        ax.plot(x(t), t["metric_mean"], "*", color="tab:red", markersize=12, label="teacher")
        ax.axhline(t["metric_mean"] - table["within"] / 100, color="tab:red", ls=":", lw=1,
                   label=f"teacher - {table['within']} points")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(table["metric"])
    axes[0].legend(fontsize=8, loc="center right")
    fig.suptitle(f"{table['task']}: students of one teacher (mean ± sd over seeds "
                 f"{table['seeds']})")
    save_figure(fig, path)
    plt.close(fig)
