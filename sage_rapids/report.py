"""Human-facing output: the summary table, the region map and training curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .artifacts import write_atomic


def format_summary(summary: dict) -> str:
    """A fixed-width table of the run's headline numbers."""
    rows = [
        ("task", summary["task"]),
        ("train examples", f"{summary['train_examples']:,}"),
        ("dev examples", f"{summary['dev_examples']:,}"),
        ("teacher", f"{summary['teacher']} ({summary['teacher_parameters'] / 1e6:.1f}M)"),
        ("teacher dev accuracy", f"{summary['teacher_dev_accuracy']:.4f}"),
        ("student", f"{summary['student_layers']} layers "
                    f"({summary['student_parameters'] / 1e6:.1f}M)"),
        ("student dev accuracy", f"{summary['student_dev_accuracy']:.4f} "
                                 f"(best epoch {summary['best_epoch']})"),
        ("teacher-student agreement", f"{summary['agreement']:.4f}"),
        ("augmentation", f"{summary['strategy']}, {summary['n_synthetic_total']:,} "
                         "synthetic samples trained on"),
        ("total time", f"{summary['total_seconds']:.1f} s"),
    ]
    rows += [("note", note) for note in summary.get("notes", [])]
    width = max(len(k) for k, _ in rows)
    line = "-" * (width + 3 + max(len(str(v)) for _, v in rows))
    return "\n".join([line] + [f"{k:<{width}} | {v}" for k, v in rows] + [line])


def format_profile(report: dict) -> str:
    """Per-stage seconds per epoch and in total, with the overhead ratios."""
    epochs = report["epochs"]
    stages = list(dict.fromkeys(s for e in epochs.values() for s in e))
    header = f"{'stage':<16}" + "".join(f"{'epoch ' + e:>10}" for e in epochs) + f"{'total':>10}"
    lines = [header, "-" * len(header)]
    for stage in stages:
        cells = "".join(f"{epochs[e].get(stage, 0.0):>10.2f}" for e in epochs)
        lines.append(f"{stage:<16}{cells}{report['total'].get(stage, 0.0):>10.2f}")
    for key in ("augmentation_overhead", "labelling_overhead"):
        value = report.get(key)
        lines.append(f"{key}: {'n/a' if value is None else f'{value:.1%}'}")
    return "\n".join(lines)


def _save_figure(fig, path: Path) -> None:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    write_atomic(path, buf.getvalue())


def plot_region_map(picture, epoch: int, path: Path, loss_name: str) -> None:
    """The 2-D map coloured by loss, anchors and synthetic points overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 7))
    order = np.argsort(picture.loss)  # draw high-loss points on top
    sc = ax.scatter(picture.coords[order, 0], picture.coords[order, 1], c=picture.loss[order],
                    s=4, cmap="viridis", alpha=0.7, linewidths=0)
    fig.colorbar(sc, ax=ax, label=f"per-sample {loss_name} loss")
    ax.scatter(picture.synthetic[:, 0], picture.synthetic[:, 1], s=3, c="tab:orange",
               alpha=0.35, linewidths=0, label=f"synthetic ({len(picture.synthetic):,})")
    a = picture.coords[picture.anchors]
    ax.scatter(a[:, 0], a[:, 1], s=14, facecolors="none", edgecolors="red", linewidths=0.6,
               label=f"anchors ({len(picture.anchors):,})")
    ax.set_title(f"Region map after epoch {epoch}: {len(picture.coords):,} real, "
                 f"{len(picture.anchors):,} anchors, {len(picture.synthetic):,} synthetic")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="best", markerscale=3, fontsize=8)
    _save_figure(fig, path)
    plt.close(fig)


def plot_training_curves(metrics: list[dict], path: Path) -> None:
    """Dev accuracy, train loss and synthetic count per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [m["epoch"] for m in metrics]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(epochs, [m["dev_accuracy"] for m in metrics], "o-", label="student")
    if metrics and "teacher_dev_accuracy" in metrics[0]:
        axes[0].axhline(metrics[0]["teacher_dev_accuracy"], color="gray", ls="--",
                        label="teacher")
    axes[0].set_title("dev accuracy")
    axes[0].legend()
    axes[1].plot(epochs, [m["train_loss"] for m in metrics], "o-")
    axes[1].set_title("train loss (mean per sample)")
    axes[2].bar(epochs, [m["n_synthetic"] for m in metrics])
    axes[2].set_title("synthetic points trained on")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.set_xticks(epochs)
    _save_figure(fig, path)
    plt.close(fig)
