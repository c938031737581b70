"""Datasets: GLUE tasks by name and local TSV / CSV / JSONL / Parquet files.

A GLUE task resolves in this order: an explicit `data.path` folder, then
`$SAGE_DATA_DIR/glue/<task>/<split>.tsv`, then the Hugging Face hub (needs the
`hub` extra and network). Every reading error names the file and line.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .config import DataConfig


class DataError(ValueError):
    """Bad or missing input data; the message names the file, line or column."""


@dataclass(frozen=True)
class TaskSpec:
    text: str
    pair: str | None
    label: str
    label_names: list[str]
    metrics: list[str]


GLUE = {
    "sst2": TaskSpec("sentence", None, "label", ["0", "1"], ["accuracy"]),
    "qnli": TaskSpec("question", "sentence", "label", ["entailment", "not_entailment"],
                     ["accuracy"]),
    "rte": TaskSpec("sentence1", "sentence2", "label", ["entailment", "not_entailment"],
                    ["accuracy"]),
    "mrpc": TaskSpec("#1 String", "#2 String", "Quality", ["0", "1"], ["accuracy", "f1"]),
    "qqp": TaskSpec("question1", "question2", "is_duplicate", ["0", "1"], ["accuracy", "f1"]),
    "cola": TaskSpec("sentence", None, "label", ["0", "1"], ["accuracy", "mcc"]),
}
HUB_SPLITS = {"train": "train", "dev": "validation"}


@dataclass(frozen=True)
class TextDataset:
    """Texts (and optional second texts) with integer labels.

    Attributes:
        texts: first text of each example.
        pairs: second text of each example, or None for single-text tasks.
        labels: (n,) int64 indices into `label_names`.
        label_names: the label strings, in index order.
        source: where the examples came from, for messages and reports.
    """

    texts: list[str]
    pairs: list[str] | None
    labels: np.ndarray
    label_names: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: np.ndarray, note: str = "") -> "TextDataset":
        """The examples at `index` (a 1-D int array), in that order."""
        index = np.asarray(index, dtype=np.int64)
        return replace(
            self,
            texts=[self.texts[i] for i in index],
            pairs=None if self.pairs is None else [self.pairs[i] for i in index],
            labels=self.labels[index],
            source=f"{self.source}{note}",
        )


@dataclass(frozen=True)
class TaskData:
    """Train and dev sets of one task, with its metrics and report notes."""

    train: TextDataset
    dev: TextDataset
    metrics: list[str]
    notes: list[str]
    full_train: TextDataset | None = None  # the training split before `train_limit`


def read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """Read a table file by its extension.

    Args:
        path: a .tsv, .csv, .jsonl / .json or .parquet file.

    Returns:
        (columns, rows) where each row is (line number, {column: value}).

    Raises:
        DataError: missing or unreadable file, bad encoding, or a malformed row.
    """
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(path)
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            if suffix in (".jsonl", ".json"):
                return _read_jsonl(path, handle)
            if suffix in (".tsv", ".csv"):
                return _read_delimited(path, handle, suffix)
    except UnicodeDecodeError as err:
        line = _line_of_offset(path, err.start)
        raise DataError(f"{path}:{line}: not valid UTF-8 ({err.reason}); "
                        "re-save the file as UTF-8") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read file: {err.strerror}") from None
    raise DataError(f"{path}: unsupported file type {suffix!r}; use .tsv, .csv, .jsonl "
                    "or .parquet")


def _line_of_offset(path: Path, offset: int) -> int:
    return path.read_bytes()[:offset].count(b"\n") + 1


def _read_delimited(path: Path, handle, suffix: str):
    if suffix == ".tsv":  # GLUE TSV: quotes are literal text (QNLI contains them)
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(handle)
    header = next(reader, None)
    if not header:
        raise DataError(f"{path}: empty file, expected a header line")
    header = [h.strip() for h in header]
    rows = []
    for row in reader:
        line = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != len(header):
            raise DataError(f"{path}:{line}: expected {len(header)} fields "
                            f"({', '.join(header)}), found {len(row)}")
        rows.append((line, dict(zip(header, row))))
    return header, rows


def _read_jsonl(path: Path, handle):
    rows, columns = [], {}
    for line, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{line}: not valid JSON ({err.msg})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{line}: expected a JSON object per line")
        columns.update(dict.fromkeys(obj))
        rows.append((line, obj))
    return list(columns), rows


def _read_parquet(path: Path):
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for corrupt files
        raise DataError(f"{path}: cannot read Parquet: {err}") from None
    records = table.to_pylist()
    return table.column_names, [(i + 1, r) for i, r in enumerate(records)]


def dataset_from_rows(path: Path, columns: list[str], rows: list[tuple[int, dict]],
                      text: str, pair: str | None, label: str,
                      label_names: list[str] | None) -> TextDataset:
    """Pick text, pair and label columns out of rows read by `read_rows`.

    Raises:
        DataError: a missing column (lists the columns found), an empty text, or a
            label outside `label_names` (lists the known labels).
    """
    for role, col in (("text", text), ("text pair", pair), ("label", label)):
        if col is not None and col not in columns:
            raise DataError(f"{path}: no {role} column {col!r}; columns found: "
                            f"{', '.join(map(str, columns))}")
    if not rows:
        raise DataError(f"{path}: no examples")
    raw_labels = [_label_string(r.get(label)) for _, r in rows]
    names = list(label_names) if label_names else sorted(set(raw_labels))
    lookup = {name: i for i, name in enumerate(names)}
    texts, pairs, labels = [], [] if pair else None, []
    for (line, row), raw in zip(rows, raw_labels):
        if raw not in lookup:
            raise DataError(f"{path}:{line}: unknown label {raw!r}; known labels: "
                            f"{', '.join(names)} (set data.label_names to change them)")
        first = row.get(text)
        if not isinstance(first, str) or not first.strip():
            raise DataError(f"{path}:{line}: empty or missing text in column {text!r}")
        texts.append(first.strip())
        if pair is not None:
            second = row.get(pair)
            if not isinstance(second, str):
                raise DataError(f"{path}:{line}: missing text in column {pair!r}")
            pairs.append(second.strip())
        labels.append(lookup[raw])
    return TextDataset(texts, pairs, np.asarray(labels, dtype=np.int64), names, str(path))


def _label_string(value) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value).strip()


def glue_file(task: str, split: str, cfg: DataConfig) -> Path | None:
    """The local TSV of a GLUE split, or None when neither place has it."""
    candidates = []
    if cfg.path:
        candidates.append(Path(cfg.path).expanduser() / f"{split}.tsv")
    env = os.environ.get("SAGE_DATA_DIR")
    if env:
        candidates.append(Path(env).expanduser() / "glue" / task / f"{split}.tsv")
    return next((p for p in candidates if p.is_file()), None)


def load_split(cfg: DataConfig, split: str,
               label_names: list[str] | None = None) -> TextDataset | None:
    """Load one split ("train" or "dev"); None when that split does not exist.

    `label_names` (e.g. train's) fixes the label order when the config leaves it open.
    """
    if cfg.name == "local":
        file = cfg.train_file if split == "train" else cfg.dev_file
        if not file:
            return None
        path = Path(file).expanduser()
        columns, rows = read_rows(path)
        return dataset_from_rows(path, columns, rows, cfg.text_column, cfg.text_pair_column,
                                 cfg.label_column or "label", cfg.label_names or label_names)
    task = cfg.name.split("/", 1)[1]
    if task not in GLUE:
        raise DataError(f"data.name: unknown GLUE task {task!r}; known: {', '.join(GLUE)}")
    spec = GLUE[task]
    text = cfg.text_column or spec.text
    pair = cfg.text_pair_column or spec.pair
    label = cfg.label_column or spec.label
    names = cfg.label_names or spec.label_names
    path = glue_file(task, split, cfg)
    if path is not None:
        columns, rows = read_rows(path)
        return dataset_from_rows(path, columns, rows, text, pair, label, names)
    if cfg.path or os.environ.get("SAGE_DATA_DIR"):
        if split == "train":
            return None  # a local copy without train: the caller may split dev
        raise DataError(f"glue/{task}: no {split}.tsv under data.path or "
                        f"$SAGE_DATA_DIR/glue/{task}/")
    return _load_from_hub(task, split, spec)


def _load_from_hub(task: str, split: str, spec: TaskSpec) -> TextDataset:
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"glue/{task}: no local copy (set data.path or $SAGE_DATA_DIR) and the "
            "'datasets' package is missing: pip install 'sage-rapids[hub]'") from None
    try:
        ds = datasets.load_dataset("nyu-mll/glue", task, split=HUB_SPLITS[split])
    except Exception as err:
        raise DataError(f"glue/{task}: no local copy and the hub failed ({err}); set "
                        f"$SAGE_DATA_DIR to a folder holding glue/{task}/{split}.tsv") from None
    label_names = ds.features["label"].names
    texts = [t.strip() for t in ds[spec.text]]
    pairs = [t.strip() for t in ds[spec.pair]] if spec.pair else None
    labels = np.asarray(ds["label"], dtype=np.int64)
    return TextDataset(texts, pairs, labels, list(label_names), f"hub:nyu-mll/glue/{task}")


def stratified_subset(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Seeded indices of a subset of `size` keeping each label's share.

    Args:
        labels: (n,) int labels.
        size: wanted subset size (capped at n).
        seed: RNG seed.

    Returns:
        (size,) sorted int64 indices.
    """
    n = len(labels)
    if size >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.floor(counts / n * size).astype(int)
    for i in np.argsort(-(counts / n * size - quota))[: size - quota.sum()]:
        quota[i] += 1  # hand out the rounding remainder to the largest fractions
    picks = [rng.choice(np.flatnonzero(labels == c), q, replace=False)
             for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(picks)).astype(np.int64)


def load_task(cfg: DataConfig, seed: int) -> TaskData:
    """Load train and dev for the configured task, applying limits and splits.

    Raises:
        DataError: missing files, bad rows, or an empty dataset after filtering.
    """
    notes: list[str] = []
    train = None if cfg.train_from_dev_split is not None else load_split(cfg, "train")
    dev = load_split(cfg, "dev", train.label_names if train is not None else None)
    if dev is None:
        raise DataError("data.dev_file: a dev set is required to evaluate the student")
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
    full_train = train
    if cfg.train_limit is not None and cfg.train_limit < len(train):
        train = train.subset(stratified_subset(train.labels, cfg.train_limit, seed),
                             f" [stratified {cfg.train_limit}]")
    if cfg.dev_limit is not None and cfg.dev_limit < len(dev):
        dev = dev.subset(stratified_subset(dev.labels, cfg.dev_limit, seed),
                         f" [stratified {cfg.dev_limit}]")
    for name, ds in (("train", train), ("dev", dev)):
        if len(ds) == 0:
            raise DataError(f"{cfg.name}: the {name} set is empty after filtering")
    metrics = GLUE[cfg.name.split("/", 1)[1]].metrics if cfg.name.startswith("glue/") else [
        "accuracy"]
    return TaskData(train, dev, metrics, notes, full_train)
