"""Datasets: GLUE tasks by name and local TSV / CSV / JSONL / Parquet files.

A GLUE task resolves in this order: an explicit `data.path` folder, then
`$SAGE_DATA_DIR/glue/<task>/<split>.tsv`, then the Hugging Face hub (needs the
`hub` extra and network). Every reading error names the file and line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..config import ConfigError, DataConfig, LossConfig
from .glue import GLUE, HUB_SPLITS, TaskSpec, glue_file, layout_of, spec_of
from .rows import DataError, read_rows
from .text_dataset import UNLABELLED, TextDataset, dataset_from_rows

__all__ = [  # the examples' names stay importable from here
    "UNLABELLED", "TaskData", "TextDataset", "data_found", "dataset_from_rows", "dev_sets_of",
    "limited",
    "load_split", "load_task", "score_strata", "stratified_subset", "task_metrics",
    "task_type_of",
]


@dataclass(frozen=True)
class TaskData:
    """Train and dev sets of one task, with its metrics and report notes."""

    train: TextDataset
    dev: TextDataset
    metrics: list[str]  # the primary metric first
    notes: list[str]
    full_train: TextDataset | None = None  # the training split before `train_limit`
    dev_name: str = "dev"  # prefix of the dev set's metric keys: `dev_accuracy`
    other_devs: dict = field(default_factory=dict)  # {prefix: TextDataset}, also scored

    @property
    def devs(self) -> dict[str, TextDataset]:
        """Every dev set by its key prefix, the one that selects the epoch first."""
        return {self.dev_name: self.dev, **self.other_devs}

    @property
    def regression(self) -> bool:
        return self.dev.regression


def data_found(cfg: DataConfig) -> DataConfig:
    """The data section with `data.path` set to the folder a GLUE task was found in
    (`$SAGE_DATA_DIR/glue/<task>`), so that a run's `config.yaml` says where its data
    came from and `export`, `evaluate` and `--resume` find it without the environment."""
    spec = spec_of(cfg)
    if spec is None or cfg.path:
        return cfg
    task = cfg.name.split("/", 1)[1]
    stems = [stem for _, stem in spec.dev_sets] or ["dev"]
    found = next((p for p in (glue_file(task, s, cfg) for s in [*stems, "train"]) if p), None)
    return cfg if found is None else replace(cfg, path=str(found.parent.resolve()))


def limited(ds: TextDataset, size: int | None, seed: int) -> TextDataset:
    """A seeded stratified subset of `size` examples (`ds` itself when it has no more)."""
    if size is None or size >= len(ds):
        return ds
    return ds.subset(stratified_subset(ds.labels, size, seed), f" [stratified {size}]")


def task_type_of(cfg: DataConfig) -> str | None:
    """`data.task_type`, else the GLUE task's, else None (inferred from the labels)."""
    if cfg.task_type:
        return cfg.task_type
    spec = spec_of(cfg)
    return spec.task_type if spec else None


def dev_sets_of(cfg: DataConfig) -> dict[str, str] | None:
    """Named dev sets {name: where}: `data.dev_sets`, else the GLUE task's; None for
    the one dev set of `data.dev_file` / `dev.tsv` / `data.dev_split`."""
    if cfg.dev_sets:
        return dict(cfg.dev_sets)
    spec = spec_of(cfg)
    return dict(spec.dev_sets) if spec and spec.dev_sets else None


def load_split(cfg: DataConfig, split: str, label_values: list[str] | None = None,
               label_names: list[str] | None = None, task_type: str | None = None,
               where: str | None = None) -> TextDataset | None:
    """Load one split ("train" or "dev"); None when that split does not exist.

    `label_values` / `label_names` (e.g. train's) fix the label order when the config
    leaves it open; `task_type` (e.g. train's) fixes classification or regression.
    `where` reads a named dev set instead of the configured dev split: a file for
    `local`, a split for `hf`, a file stem (`dev_matched`) for a GLUE task.
    """
    task_type = task_type or task_type_of(cfg)
    if cfg.name == "local":
        file = where or (cfg.train_file if split == "train" else cfg.dev_file)
        if not file:
            return None
        path, layout = Path(file).expanduser(), layout_of(cfg)
        table = read_rows(path, layout.header, layout.columns, cfg.bad_rows)
        values = cfg.label_names or label_values
        return dataset_from_rows(path, table, layout.text, layout.pair, layout.label, values,
                                 None if cfg.label_names else label_names, cfg.bad_rows,
                                 task_type)
    if cfg.name == "hf":
        from .hf import load_hf_split

        if where:
            cfg = replace(cfg, dev_split=where)
        return load_hf_split(cfg, split, label_values, label_names, task_type)
    task = cfg.name.split("/", 1)[1]
    if task not in GLUE:
        raise DataError(f"data.name: unknown GLUE task {task!r}; known: {', '.join(GLUE)}")
    spec, layout = GLUE[task], layout_of(cfg)
    values = cfg.label_names or spec.label_values
    names = cfg.label_names or spec.label_names
    stem = where or split
    path = glue_file(task, stem, cfg)
    if path is not None:
        table = read_rows(path, layout.header, layout.columns, cfg.bad_rows)
        return dataset_from_rows(path, table, layout.text, layout.pair, layout.label, values,
                                 names, cfg.bad_rows, task_type)
    if cfg.path or os.environ.get("SAGE_DATA_DIR"):
        if split == "train":
            return None  # a local copy without train: the caller may split dev
        raise DataError(f"glue/{task}: no {stem}.tsv under data.path or "
                        f"$SAGE_DATA_DIR/glue/{task}/")
    return _load_from_hub(task, stem, spec)


def _load_from_hub(task: str, split: str, spec: TaskSpec) -> TextDataset:
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"glue/{task}: no local copy (set data.path or $SAGE_DATA_DIR) and the "
            "'datasets' package is missing: pip install 'sage-rapids[hub]'") from None
    from ..hub import why_unreachable

    why = why_unreachable()
    if why:  # at once, not after the hub client's retries
        raise DataError(f"glue/{task}: no local copy ({split}.tsv under data.path or "
                        f"$SAGE_DATA_DIR/glue/{task}/), and the Hugging Face hub cannot be "
                        f"asked: {why}. Set $SAGE_DATA_DIR to a folder holding "
                        f"glue/{task}/{split}.tsv, or data.path to the task's folder")
    hub_split = HUB_SPLITS.get(split, split.replace("dev", "validation"))
    try:
        ds = datasets.load_dataset("nyu-mll/glue", task, split=hub_split)
    except Exception as err:
        raise DataError(f"glue/{task}: no local copy and the hub failed ({err}); set "
                        f"$SAGE_DATA_DIR to a folder holding glue/{task}/{split}.tsv") from None
    text, pair = ("sentence1", "sentence2") if task == "mrpc" else (spec.text, spec.pair)
    if task == "mnli":
        text, pair = "premise", "hypothesis"
    texts = [t.strip() for t in ds[text]]
    pairs = [t.strip() for t in ds[pair]] if pair else None
    if spec.task_type == "regression":
        labels = np.asarray(ds["label"], dtype=np.float32)
        return TextDataset(texts, pairs, labels, list(spec.label_names),
                           f"hub:nyu-mll/glue/{task}")
    labels = np.asarray(ds["label"], dtype=np.int64)
    return TextDataset(texts, pairs, labels, list(ds.features["label"].names),
                       f"hub:nyu-mll/glue/{task}")


def score_strata(labels: np.ndarray, bins: int = 10) -> np.ndarray:
    """Integer strata of a label array: the labels themselves, or for float scores
    their quantile bin (so a subset keeps the score distribution)."""
    if labels.dtype.kind != "f":
        return labels
    finite = labels[np.isfinite(labels)]
    if len(finite) == 0:
        return np.zeros(len(labels), dtype=np.int64)
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
    return np.where(np.isfinite(labels), np.searchsorted(edges, labels, side="right"), -1)


def stratified_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Seeded indices of a subset of `size` keeping each label's share.

    Args:
        labels: (n,) int labels, or float scores (stratified by quantile bin).
        size: wanted subset size (capped at n).
        seed: RNG seed.

    Returns:
        (size,) sorted int64 indices.
    """
    n = len(labels)
    if size >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    labels = score_strata(labels)
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.floor(counts / n * size).astype(int)
    for i in np.argsort(-(counts / n * size - quota))[: size - quota.sum()]:
        quota[i] += 1  # hand out the rounding remainder to the largest fractions
    picks = [rng.choice(np.flatnonzero(labels == c), q, replace=False)
             for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(picks)).astype(np.int64)


def load_task(cfg: DataConfig, seed: int, loss: LossConfig | None = None) -> TaskData:
    """Load train and dev for the configured task, applying limits and splits.

    With several dev sets (`data.dev_sets`, MNLI's matched and mismatched) every one
    is loaded; the first is `TaskData.dev`, the one that selects the epoch.

    Args:
        loss: the `loss` section; an unlabelled training split is accepted only
            with `loss.alpha: 1.0` (pure distillation). None accepts it.

    Raises:
        DataError: missing files, bad rows, or an empty dataset after filtering.
        ConfigError: unlabelled training data with `loss.alpha` below 1, or
            fractional scores read as classes.
    """
    notes: list[str] = []
    train = None if cfg.train_from_dev_split is not None else load_split(cfg, "train")
    known = train if train is not None and train.labelled else None
    kind = task_type_of(cfg) or (("regression" if known.regression else "classification")
                                 if known else None)
    sets = dev_sets_of(cfg) or {"": None}
    devs = {}
    for name, where in sets.items():
        dev = load_split(cfg, "dev", _values(cfg, known), known.label_names if known else None,
                         kind, where)
        if dev is None:
            raise DataError("data.dev_file: a dev set is required to evaluate the student")
        if not dev.labelled:
            raise DataError(f"{dev.source}: the dev set needs labels (column "
                            f"{cfg.label_column or 'label'!r}) to evaluate the student")
        devs[f"dev_{name}" if name else "dev"] = dev
        kind = "regression" if dev.regression else "classification"
    dev_name, dev = next(iter(devs.items()))
    if cfg.train_from_dev_split is not None:
        train_idx = stratified_subset(dev.labels, int(round(len(dev) * cfg.train_from_dev_split)),
                                      seed)
        rest = np.setdiff1d(np.arange(len(dev)), train_idx)
        train = dev.subset(train_idx, " [train split of dev]")
        dev = dev.subset(rest, " [held-out split of dev]")
        notes.append(f"trained on a seeded stratified {cfg.train_from_dev_split:.0%} split of "
                     f"dev ({len(train)} examples), evaluated on the other {len(dev)}")
    elif train is None:
        raise DataError(f"{cfg.name}: no train split here; set "
                        "data.train_from_dev_split=0.5 to train on a split of dev")
    if not train.labelled:
        if loss is not None and loss.alpha != 1.0:
            raise ConfigError([
                f"loss.alpha: the training data {train.source} has no label column "
                f"{cfg.label_column or 'label'!r} (data.label_column); unlabelled "
                f"training data needs loss.alpha: 1.0 (pure distillation), got {loss.alpha}"])
        unlabelled = (np.full(len(train), np.nan, dtype=np.float32) if dev.regression
                      else np.full(len(train), UNLABELLED, dtype=np.int64))
        train = replace(train, label_names=dev.label_names, labels=unlabelled)
        notes.append(f"unlabelled training data ({len(train)} examples): distilled from the "
                     "teacher's " + ("scores" if dev.regression else "logits") + " alone")
    elif train.regression != dev.regression:
        raise ConfigError([f"data.task_type: {train.source} reads as "
                           f"{'regression' if train.regression else 'classification'} but "
                           f"{dev.source} does not; set data.task_type"])
    devs[dev_name] = dev
    for ds in (train, *devs.values()):
        if ds.skipped:
            notes.append(f"{ds.source}: {ds.skipped} bad rows skipped (data.bad_rows: skip)")
    full_train = train
    train = limited(train, cfg.train_limit, seed)
    devs = {name: limited(ds, cfg.dev_limit, seed) for name, ds in devs.items()}
    for name, ds in (("train", train), *devs.items()):
        if len(ds) == 0:
            raise DataError(f"{cfg.name}: the {name} set is empty after filtering")
    dev = devs.pop(dev_name)
    return TaskData(train, dev, task_metrics(cfg, dev.regression), notes, full_train,
                    dev_name, devs)


def _values(cfg: DataConfig, train: TextDataset | None) -> list[str] | None:
    """The label strings dev is read with: the config's, the task's, or train's."""
    if cfg.label_names:
        return cfg.label_names
    if cfg.name.startswith("glue/"):
        return GLUE[cfg.name.split("/", 1)[1]].label_values or None
    if train is not None and train.regression:
        return None
    return train.label_names if train is not None else None


def task_metrics(cfg: DataConfig, regression: bool = False) -> list[str]:
    """The task's metrics, its primary one first: CoLA by MCC, MRPC and QQP by F1,
    regression by Pearson (then Spearman)."""
    if cfg.name.startswith("glue/"):
        return list(GLUE[cfg.name.split("/", 1)[1]].metrics)
    return ["pearson", "spearman"] if regression else ["accuracy"]
