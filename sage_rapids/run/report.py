"""Human-facing output: the summary table, the region map and training curves."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from ..artifacts import write_atomic
from ..profiling import WARMUP

TABLE_WIDTH = 100  # widest line of the summary table: a terminal, a log, a pasted report
LABEL_WIDTH = 44  # widest label column; `dev_mismatched accuracy: teacher / student` fits


def format_summary(summary: dict) -> str:
    """A table of the run's headline numbers, `label | value`, no line wider than
    `TABLE_WIDTH`: long values (notes, the efficiency headline, paths) wrap under their
    own column."""
    rows = [
        ("task", summary["task"]),
        ("train examples", f"{summary['train_examples']:,}"),
        *_dev_set_sizes(summary),
        ("teacher", _teacher(summary)),
        ("student", (f"{summary['student_layers']} layers " if summary["student_layers"]
                     else "static, no transformer layer ")
                    + f"({summary['student_parameters'] / 1e6:.1f}M), best epoch "
                    f"{summary['best_epoch']}"),
        *_metric_rows(summary),
        *([("training stopped", f"after epoch {summary['stopped_epoch']}: "
                                f"{summary['stop_reason']}")] if "stop_reason" in summary else []),
        ("teacher-student agreement", _number(summary["agreement"])),
        ("augmentation", f"{summary['strategy']}, {summary['n_synthetic_total']:,} "
                         "synthetic samples trained on"),
        ("total time", _total_time(summary)),
    ]
    if "efficiency" in summary:
        from .efficiency import headline

        rows.append(("what the student buys", headline(summary)))
    rows += [("note", note) for note in summary.get("notes", [])]
    width = min(LABEL_WIDTH, max(len(k) for k, _ in rows))
    lines = [line for k, v in rows for line in _table_row(k, str(v), width)]
    rule = "-" * max(len(line) for line in lines)
    return "\n".join([rule, *lines, rule])


def _table_row(label: str, value: str, width: int) -> list[str]:
    """`label | value` as lines: each side wrapped at spaces to its column (a word longer
    than the column, such as a long path, is split), continuation lines aligned under it."""
    labels = textwrap.wrap(label, width) or [""]
    values = textwrap.wrap(value, TABLE_WIDTH - width - 3, break_on_hyphens=False) or [""]
    n = max(len(labels), len(values))
    labels, values = labels + [""] * (n - len(labels)), values + [""] * (n - len(values))
    return [f"{k:<{width}} | {v}".rstrip() for k, v in zip(labels, values)]


def _dev_set_sizes(summary: dict) -> list[tuple[str, str]]:
    """`dev examples`, or with several dev sets (MNLI's) one row for each, by its name."""
    sets = summary.get("dev_sets") or ["dev"]
    if len(sets) < 2:
        return [("dev examples", f"{summary['dev_examples']:,}")]
    return [(f"{name} examples", f"{summary['dev_examples' if i == 0 else name + '_examples']:,}")
            for i, name in enumerate(sets)]


def _total_time(summary: dict) -> str:
    """The run's seconds, and this process's when a resume left part of them to others."""
    total, process = summary["total_seconds"], summary.get("process_seconds")
    if process is None or total - process < 0.05:
        return f"{total:.1f} s"
    return f"{total:.1f} s ({process:.1f} s since it was resumed)"


def _number(value) -> str:
    return "unknown" if value is None else f"{value:.4f}"


def _teacher(summary: dict) -> str:
    """The teacher (or the mix of teachers), with its size when it is a model here."""
    if summary.get("teachers"):
        return f"{len(summary['teachers'])} teachers, weighted mean of {summary['combine']}: " \
               + ", ".join(map(str, summary["teachers"]))
    params = summary.get("teacher_parameters")
    return f"{summary['teacher']}" + (
        f" ({params / 1e6:.1f}M)" if params else " (its outputs through its own tokenizer)"
        if summary.get("teacher_outputs") == "own tokenizer" else " (outputs from a file)")


def _metric_rows(summary: dict) -> list[tuple[str, str]]:
    """`dev <metric>: teacher X, student Y` for each metric of each dev set, the one
    that picks the best epoch first (`dev_matched accuracy` among several sets)."""
    selected = summary.get("selected_by", f"dev_{summary.get('primary_metric', 'accuracy')}")
    keys = [k[len("student_"):] for k in summary
            if k.startswith("student_dev") and f"teacher_{k[len('student_'):]}" in summary]
    rows = []
    for key in sorted(keys, key=lambda k: k != selected):
        mark = " (picks the best epoch)" if key == selected and len(keys) > 1 else ""
        rows.append((f"{_metric_label(key)}: teacher / student",
                     f"{_number(summary[f'teacher_{key}'])} / "
                     f"{summary[f'student_{key}']:.4f}{mark}"))
    return rows


def _metric_label(key: str) -> str:
    """`dev_accuracy` -> `dev accuracy`; `dev_matched_accuracy` -> `dev_matched accuracy`."""
    head, _, metric = key.rpartition("_")
    return f"{head} {metric}"


def format_profile(report: dict) -> str:
    """Per-stage seconds per epoch and in total, with the overhead ratios; UMAP's
    warm-up (its JIT compile) on a line apart, as it is counted in no ratio."""
    epochs = report["epochs"]
    stages = [s for s in dict.fromkeys(s for e in epochs.values() for s in e) if s != WARMUP]
    names = ["setup" if e == "0" else f"epoch {e}" for e in epochs]
    header = f"{'stage':<16}" + "".join(f"{n:>10}" for n in names) + f"{'total':>10}"
    lines = [header, "-" * len(header)]
    for stage in stages:
        cells = "".join(f"{epochs[e].get(stage, 0.0):>10.2f}" for e in epochs)
        lines.append(f"{stage:<16}{cells}{report['total'].get(stage, 0.0):>10.2f}")
    if WARMUP in report["total"]:
        lines.append(f"{WARMUP}: {report['total'][WARMUP]:.2f} s (UMAP's JIT compile, once per "
                     "process, not counted)")
    for key in ("augmentation_overhead", "labelling_overhead"):
        value = report.get(key)
        lines.append(f"{key}: {'n/a' if value is None else f'{value:.1%}'}")
    return "\n".join(lines)


def save_figure(fig, path: Path) -> None:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    write_atomic(path, buf.getvalue())


def plot_region_map(picture, epoch: int, path: Path, loss_name: str) -> None:
    """Two panels of the 2-D map: real points coloured by loss (clipped at the 99th
    percentile so a few outliers do not wash the scale out), and the round's anchors
    and synthetic points over the real points in grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xy, loss = picture.coords, picture.loss
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6.2), sharex=True, sharey=True)
    order = np.argsort(loss)  # high-loss points drawn on top
    sc = left.scatter(xy[order, 0], xy[order, 1], c=loss[order], s=4, cmap="inferno_r",
                      vmin=0.0, vmax=float(np.quantile(loss, 0.99)) or None, linewidths=0)
    fig.colorbar(sc, ax=left, label=f"per-sample {loss_name} loss (clipped at p99)")
    left.set_title("where the student struggles")
    right.scatter(xy[:, 0], xy[:, 1], s=3, c="lightgray", linewidths=0, label="real")
    right.scatter(picture.synthetic[:, 0], picture.synthetic[:, 1], s=5, c="tab:blue",
                  alpha=0.6, linewidths=0, label=f"synthetic ({len(picture.synthetic):,})")
    a = xy[picture.anchors]
    right.scatter(a[:, 0], a[:, 1], s=10, facecolors="none", edgecolors="tab:red",
                  linewidths=0.6, label=f"anchors ({len(picture.anchors):,})")
    right.set_title("anchors and synthetic points")
    right.legend(loc="best", markerscale=2.5, fontsize=8)
    for ax in (left, right):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Region map after epoch {epoch}: {len(xy):,} real, "
                 f"{len(picture.anchors):,} anchors, {len(picture.synthetic):,} synthetic")
    save_figure(fig, path)
    plt.close(fig)


def plot_training_curves(metrics: list[dict], path: Path, key: str = "dev_accuracy"):
    """The dev metric `key` (the one that picks the best epoch) and train loss per epoch,
    and the synthetic points trained on per epoch when there were any (augmentation off
    would leave that panel empty).

    Returns:
        The matplotlib figure written to `path` (closed: pyplot no longer holds it).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [m["epoch"] for m in metrics]
    synthetic = any(m["n_synthetic"] for m in metrics)
    fig, axes = plt.subplots(1, 3 if synthetic else 2, figsize=(13 if synthetic else 8.7, 3.6))
    axes[0].plot(epochs, [m[key] for m in metrics], "o-", label="student")
    if metrics and f"teacher_{key}" in metrics[0]:
        axes[0].axhline(metrics[0][f"teacher_{key}"], color="gray", ls="--", label="teacher")
    axes[0].set_title(_metric_label(key))
    axes[0].legend()
    axes[1].plot(epochs, [m["train_loss"] for m in metrics], "o-")
    axes[1].set_title("train loss (mean per sample)")
    if synthetic:
        axes[2].bar(epochs, [m["n_synthetic"] for m in metrics])
        axes[2].set_title("synthetic points trained on")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.set_xticks(epochs)
    save_figure(fig, path)
    plt.close(fig)
    return fig
