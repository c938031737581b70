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


def pareto(rows: list[dict], better_speed: bool) -> list[str]:
    """The rungs no other rung beats on both the metric and speed (or size): higher
    throughput when `better_speed`, else fewer parameters."""
    def axis(r):
        return r["throughput"] if better_speed else -r["parameters"]["total"]

    rows = [r for r in rows if not r.get("learnt_nothing")]  # a constant is no trade-off
    front = []
    for r in rows:
        beaten = any(o is not r and o["metric_mean"] >= r["metric_mean"] and axis(o) >= axis(r)
                     and (o["metric_mean"] > r["metric_mean"] or axis(o) > axis(r))
                     for o in rows)
        if not beaten:
            front.append(r["rung"])
    return front


def ladder_table(runs: list[dict], within: float, stage_seconds: dict | None = None) -> dict:
    """The ladder's table from its runs (`rung`, `layers`, `width`, `seed`, `summary`).

    Returns:
        {"metric", "teacher", "rungs", "front_throughput", "front_size", "within",
         "smallest_within", "device", "threads", ...}.
    """
    by_rung: dict[str, list[dict]] = {}
    for r in runs:
        by_rung.setdefault(r["rung"], []).append(r)
    rows = [rung_row(name, rs[0]["layers"], rs[0]["width"], [r["summary"] for r in rs])
            for name, rs in by_rung.items()]
    summaries = [r["summary"] for r in runs]
    teacher = teacher_row(summaries)
    for row in rows:
        row["speedup"] = row["throughput"] / teacher["throughput"]
        row["share_of_teacher"] = (row["metric_mean"] / teacher["metric_mean"]
                                   if teacher["metric_mean"] else None)
    floor = teacher["metric_mean"] - within / 100.0
    close = [r for r in rows if r["metric_mean"] >= floor and not r["learnt_nothing"]]
    smallest = min(close, key=lambda r: (r["parameters"]["total"], r["layers"]), default=None)
    e = summaries[0]["efficiency"]
    return {"metric": f"dev {summaries[0]['primary_metric']}", "task": summaries[0]["task"],
            "device": e["device"], "threads": e["threads"],
            "batch_size": e["student"]["examples"]["batch_size"],
            "seeds": sorted({r["seed"] for r in runs}), "teacher": teacher, "rungs": rows,
            "front_throughput": pareto(rows, True), "front_size": pareto(rows, False),
            "within": within, "smallest_within": smallest and smallest["rung"],
            "stage_seconds": stage_seconds or {},
            "note": "throughput and latency are measurements on this machine, beside "
                    "whatever else ran: medians over the seeds' runs, with their range"}


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 100_000 else f"{n / 1e3:.1f}k"


def format_ladder(table: dict) -> str:
    """The ladder as a fixed-width table, the Pareto front marked with `*`."""
    head = (f"{'student':<10}{table['metric']:>18}{'examples/s':>12}{'speed-up':>10}"
            f"{'batch-1 ms':>12}{'params (emb + rest)':>24}{'MB':>8}")
    lines = [head, "-" * len(head)]
    t = table["teacher"]
    rows = [t, *table["rungs"]]
    for r in rows:
        front = "!" if r.get("learnt_nothing") else \
            "*" if r["rung"] in table["front_throughput"] else " "
        metric = f"{r['metric_mean']:.4f}" + (f" ± {r['metric_sd']:.4f}"
                                               if r.get("seeds", 1) > 1 else "")
        p = r["parameters"]
        params = f"{_count(p['embeddings'])} + {_count(p['rest'])}"
        speedup = "1.0x" if r is t else f"{r['speedup']:.1f}x"
        mb = f"{r['mb']:.1f}" if r.get("mb") else "-"
        lines.append(f"{r['rung'] + front:<10}{metric:>18}{r['throughput']:>12.0f}"
                     f"{speedup:>10}{r['latency_ms']:>12.2f}{params:>24}{mb:>8}")
    pick = table["smallest_within"]
    lines.append(f"* Pareto front (metric against throughput); {table['device']}, "
                 f"{table['threads']} threads, batch {table['batch_size']}, seeds "
                 f"{table['seeds']}" + ("" if len(table["seeds"]) > 1 else
                                        " (one seed: no spread)"))
    flat = [r for r in table["rungs"] if r.get("learnt_nothing")]
    if flat:
        lines.append("! learnt nothing (the majority class or the mean score) on "
                     + ", ".join(f"{r['learnt_nothing']} of {r['seeds']} seeds of {r['rung']}"
                                 for r in flat) + ": left off the fronts")
    lines.append(f"smallest student within {table['within']} points of the teacher: "
                 + (pick or "none (every rung loses more)"))
    return "\n".join(lines)


def plot_ladder(table: dict, path: Path) -> None:
    """Two panels: the metric against measured throughput and against parameters, each
    rung with its seeds' spread, the teacher as a star, the Pareto front joined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, t = table["rungs"], table["teacher"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    panels = ((axes[0], "throughput", "examples / s (batch "
               f"{table['batch_size']}, {table['device']}, {table['threads']} threads)",
               table["front_throughput"]),
              (axes[1], "params", "parameters (millions)", table["front_size"]))
    for ax, what, label, front in panels:
        def x(r):
            return r["throughput"] if what == "throughput" else r["parameters"]["total"] / 1e6

        for r in rows:
            ax.errorbar(x(r), r["metric_mean"], yerr=r["metric_sd"],
                        fmt="x" if r.get("learnt_nothing") else "o",
                        color="tab:blue" if r["rung"] in front else "tab:gray", capsize=3)
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
