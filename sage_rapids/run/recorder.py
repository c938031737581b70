"""The one owner of the run directory. It writes on rank 0 and is a no-op elsewhere, so
the method in `pipeline.run` never opens a file and never asks which rank it is on.

Every file goes through `artifacts.write_atomic` (temp name, fsync, rename).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import artifacts
from ..config import Config
from ..distillation.export import export_student
from . import efficiency, report
from .card import write_model_card

TARGETS = "teacher_targets.safetensors"  # the teacher's logits, read back by a resume
# What this project writes under a temporary `.<name>.*` before renaming it.
TEMPORARY = ("checkpoint", "student", "config.yaml", "metrics.jsonl", "summary.json",
             "profile.json", TARGETS)


class Recorder:
    """Writes the run directory's files (rank 0 only).

    Args:
        run_dir: the run directory.
        config: the resolved config.
        enabled: False on every rank but 0.
    """

    def __init__(self, run_dir: Path, config: Config, enabled: bool = True,
                 log: Callable[[str], None] = print):
        self.run_dir = Path(run_dir)
        self.config = config
        self.enabled = enabled
        self.log = log
        self.board = None  # TensorBoard writer, with `tensorboard: true`

    def start(self, resume: bool) -> None:
        """A new run: create the folder and its `config.yaml` (refused if it holds a run).
        A resumed or restarted one first removes what a killed writer left half-written."""
        if self.enabled and self.run_dir.is_dir():
            artifacts.remove_temporaries(self.run_dir, TEMPORARY)
            artifacts.remove_temporaries(self.run_dir / "plots", ("*.png",))
        if self.enabled and not resume:
            artifacts.prepare_run_dir(self.run_dir, self.config)
        if self.enabled and self.config.tensorboard:
            self.board = tensorboard_writer(self.run_dir / "tensorboard", self.log)

    def resumed(self, metrics: list[dict]) -> None:
        """A resumed run keeps the metrics of the epochs its checkpoint holds, no more."""
        if self.enabled:
            artifacts.write_atomic(self.run_dir / "metrics.jsonl", "".join(
                json.dumps(m) + "\n" for m in metrics).encode())

    def check_space(self, needs: dict[str, int]) -> None:
        """Say what the run directory will hold, and refuse to start without the space.
        Runs on every rank (it only reads), so all ranks stop together.

        Raises:
            DiskFull: less free space than `needs` adds up to.
        """
        total, free = sum(needs.values()), artifacts.free_bytes(self.run_dir)
        parts = ", ".join(f"{name} {artifacts.size(n)}" for name, n in needs.items())
        self.log(f"run directory: needs about {artifacts.size(total)} ({parts}); "
                 f"{artifacts.size(free)} free")
        if free < total:
            raise artifacts.DiskFull(self.run_dir, f"the run ({parts})", total,
                                     "Nothing was trained yet.")

    def teacher_targets(self, logits: np.ndarray, index: np.ndarray,
                        fingerprints: np.ndarray) -> None:
        """(N, C) teacher logits, (N,) their rows of the training split and (N,) those
        rows' fingerprints (`targets.row_fingerprints`)."""
        if self.enabled:
            artifacts.save_arrays(self.run_dir / TARGETS, {
                "logits": logits, "index": index, "fingerprints": fingerprints})

    def epoch(self, row: dict) -> None:
        if self.enabled:
            artifacts.append_jsonl(self.run_dir / "metrics.jsonl", row)
        if self.board is not None:
            for key, value in scalars(row).items():
                self.board.add_scalar(key, value, row["epoch"])
            self.board.flush()

    def region_map(self, picture, epoch: int) -> None:
        if self.enabled and self.config.augment.plots:
            path = self.run_dir / "plots" / f"region_map_epoch{epoch}.png"
            report.plot_region_map(picture, epoch, path, self.config.augment.anchor_loss)
            if self.board is not None:
                import matplotlib.image

                self.board.add_image("region_map", matplotlib.image.imread(path)[..., :3],
                                     epoch, dataformats="HWC")

    def export(self, student, embeddings, tokenizer, label_names: list[str],
               regression: bool = False) -> None:
        """The best student so far, as a plain `transformers` model with its tokenizer."""
        if self.enabled:
            export_student(student, embeddings, tokenizer, self.run_dir / "student", label_names,
                           regression)

    def finish(self, summary: dict, profile: dict[str, Any], metrics: list[dict]) -> None:
        if not self.enabled:
            return
        if "efficiency" in summary:
            summary["efficiency"]["student_mb"] = efficiency.weights_mb(self.run_dir / "student")
        artifacts.write_json(self.run_dir / "summary.json", summary)
        artifacts.write_json(self.run_dir / "profile.json", profile)
        if (self.run_dir / "student" / "config.json").is_file():
            write_model_card(self.run_dir / "student", summary, self.config)
        if self.config.augment.plots:
            report.plot_training_curves(metrics, self.run_dir / "plots" / "training_curves.png",
                                        summary["selected_by"])
        if self.board is not None:
            self.board.close()


def scalars(row: dict) -> dict[str, float]:
    """An epoch's numbers as TensorBoard tags: `dev/accuracy`, `teacher/accuracy`,
    `train/loss`, `augment/n_synthetic`, `seconds/train`, ..."""
    out = {}
    for key, value in row.items():
        if key == "stage_seconds":
            out.update({f"seconds/{stage}": float(s) for stage, s in value.items()})
        elif key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
            out[_tag(key)] = float(value)
    return out


def _tag(key: str) -> str:
    for prefix, group in (("teacher_dev_", "teacher/"), ("dev_", "dev/"), ("train_", "train/")):
        if key.startswith(prefix):
            return group + key[len(prefix):]
    if key == "seconds":
        return "seconds/epoch"
    return "dev/agreement" if key == "agreement" else f"augment/{key}"


def tensorboard_writer(folder: Path, log: Callable[[str], None]):
    """A `SummaryWriter` on `folder`, or None with one line saying how to get one."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log("note: tensorboard: true, but the tensorboard package is missing; metrics go to "
            "metrics.jsonl only (pip install 'sage-rapids[tensorboard]')")
        return None
    return SummaryWriter(log_dir=str(folder))
