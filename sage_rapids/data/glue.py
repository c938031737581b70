"""GLUE tasks: how each task's official files are laid out, and where they are found.

A task's local files are `data.path/<split>.tsv` or `$SAGE_DATA_DIR/glue/<task>/<split>.tsv`;
`Layout` says which columns a configured task is read by.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..config import GLUE_TASKS, DataConfig


@dataclass(frozen=True)
class TaskSpec:
    """How a GLUE task's official files are laid out.

    Attributes:
        text, pair, label: column names of the first text, second text, label.
        label_values: the label strings as written in the files, in index order.
        label_names: the names the task's own dataset gives those labels (for reports
            and the exported model's `id2label`).
        metrics: metric names, the primary one (used to pick the best epoch) first.
        columns: column names of a headerless file (None: the file has a header).
        task_type: `classification`, or `regression` (one float score per example).
        dev_sets: (name, file stem) of each dev file when there are several (MNLI's
            matched and mismatched); the first selects the epoch. Empty: `dev.tsv`.
    """

    text: str
    pair: str | None
    label: str
    label_values: list[str]
    label_names: list[str]
    metrics: list[str]
    columns: list[str] | None = None
    task_type: str = "classification"
    dev_sets: tuple[tuple[str, str], ...] = ()  # (name, file stem): several dev files


ENTAILMENT = ["entailment", "not_entailment"]
MNLI_LABELS = ["entailment", "neutral", "contradiction"]
GLUE = {
    "sst2": TaskSpec("sentence", None, "label", ["0", "1"], ["negative", "positive"],
                     ["accuracy"]),
    "qnli": TaskSpec("question", "sentence", "label", ENTAILMENT, ENTAILMENT, ["accuracy"]),
    "rte": TaskSpec("sentence1", "sentence2", "label", ENTAILMENT, ENTAILMENT, ["accuracy"]),
    "mrpc": TaskSpec("#1 String", "#2 String", "Quality", ["0", "1"],
                     ["not_equivalent", "equivalent"], ["f1", "accuracy"]),
    "qqp": TaskSpec("question1", "question2", "is_duplicate", ["0", "1"],
                    ["not_duplicate", "duplicate"], ["f1", "accuracy"]),
    # CoLA ships without a header: source, label, original judgement (often empty), sentence
    "cola": TaskSpec("sentence", None, "label", ["0", "1"], ["unacceptable", "acceptable"],
                     ["mcc", "accuracy"],
                     columns=["source", "label", "original_label", "sentence"]),
    # STS-B: a similarity score 0-5 written with mixed precision (3, 3.800, 1.5333)
    "stsb": TaskSpec("sentence1", "sentence2", "score", [], ["score"],
                     ["pearson", "spearman"], task_type="regression"),
    "mnli": TaskSpec("sentence1", "sentence2", "gold_label", MNLI_LABELS, MNLI_LABELS,
                     ["accuracy"], dev_sets=(("matched", "dev_matched"),
                                             ("mismatched", "dev_mismatched"))),
    "wnli": TaskSpec("sentence1", "sentence2", "label", ["0", "1"],
                     ["not_entailment", "entailment"], ["accuracy"]),
}
assert set(GLUE) == set(GLUE_TASKS)
HUB_SPLITS = {"train": "train", "dev": "validation"}


def spec_of(cfg: DataConfig) -> TaskSpec | None:
    """The GLUE task a data section names (`glue/<task>`), or None."""
    return GLUE.get(cfg.name[5:]) if cfg.name.startswith("glue/") else None


def glue_file(task: str, split: str, cfg: DataConfig) -> Path | None:
    """The local TSV of a GLUE split, or None when neither place has it."""
    candidates = []
    if cfg.path:
        candidates.append(Path(cfg.path).expanduser() / f"{split}.tsv")
    env = os.environ.get("SAGE_DATA_DIR")
    if env:
        candidates.append(Path(env).expanduser() / "glue" / task / f"{split}.tsv")
    return next((p for p in candidates if p.is_file()), None)


@dataclass(frozen=True)
class Layout:
    """How the configured task's files are read: columns to pick and header rules.

    Attributes:
        text, pair, label: the first text, second text and label columns.
        header: TSV / CSV: the first line names the columns.
        columns: names of a headerless file's columns (None: from the header).
    """

    text: str
    pair: str | None
    label: str
    header: bool
    columns: list[str] | None


def layout_of(cfg: DataConfig) -> Layout:
    """The data section's columns and header rules: the config's keys, else the GLUE
    task's (CoLA ships without a header), else a local file's defaults."""
    spec = spec_of(cfg)
    if spec is None:
        return Layout(cfg.text_column, cfg.text_pair_column, cfg.label_column or "label",
                      True if cfg.header is None else cfg.header, cfg.columns)
    return Layout(cfg.text_column or spec.text, cfg.text_pair_column or spec.pair,
                  cfg.label_column or spec.label,
                  spec.columns is None if cfg.header is None else cfg.header,
                  cfg.columns or spec.columns)
