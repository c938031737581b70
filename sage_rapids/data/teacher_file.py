"""Teacher outputs from a file (`teacher.targets`): a teacher that cannot run here (a
large model behind an API, a model run once on another cluster) has labelled the
training split, and the student learns from that.

One row per example, in a Parquet, JSONL or CSV table:

    key     `row` (the example's 0-based position in the split as read) or `text` (its
            exact text, and `text_pair` for a sentence-pair task)
    target  exactly one of
            `logits`    a list of one number per label, in the task's label order
            `probs`     a list of probabilities in that order, summing to 1
            `logprobs`  {label: log-probability} for the top k labels; renormalised over
                        them, the labels left out get a floor of 1e-6
            `label`     a label (its name, or its index from 0), with an optional
                        `confidence` (its probability; the rest is shared by the others)
            `score`     a number (a regression task)
    split   optional: `train` (the default), `dev`, or a dev set's name (`dev_matched`):
            rows for a dev set give the teacher's dev metrics and the check that it
            learnt something

Lists and mappings are JSON in a CSV cell. Every class target becomes log-probabilities,
which are logits of the same distribution. Every problem names the file and line.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .rows import DataError, read_rows, shown
from .text_dataset import TextDataset

KINDS = ("logits", "probs", "logprobs", "label", "score")
SUM_TOLERANCE = 1e-3  # probabilities must sum to 1 within this
FLOOR = 1e-6  # probability of a label that a top-k list or a hard label leaves out
SHOWN = 5  # problems (and missing keys) named in a message


@dataclass(frozen=True)
class FileOutputs:
    """A file's teacher outputs, matched to the task's splits.

    Attributes:
        kind: which target column the file holds (`probs`, ...).
        key: `row` or `text`.
        splits: {split: (n, C) float32 logits (log-probabilities, or (n, 1) scores) in
            that split's example order}: `train` (unless only dev rows were asked for),
            a dev set where the file has its rows.
        source: the file.
    """

    kind: str
    key: str
    splits: dict[str, np.ndarray]
    source: str


def _problems(path: Path, found: list[tuple[int, str]]) -> DataError:
    more = f"\n  ... and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    return DataError(f"{path}: {len(found)} problem(s) in the teacher outputs "
                     "(teacher.targets); fix them and run again:\n" +
                     "\n".join(f"  {path}:{line}: {text}" for line, text in found[:SHOWN]) + more)


def _columns(path: Path, columns: list[str], pairs: bool) -> tuple[str, str]:
    """(key, kind) of the table, from its columns.

    Raises:
        DataError: no key column, or not exactly one target column.
    """
    kinds = [k for k in KINDS if k in columns]
    found = ", ".join(map(shown, columns)) or "none"
    if len(kinds) != 1:
        what = "no target column" if not kinds else f"several target columns ({', '.join(kinds)})"
        raise DataError(f"{path}: {what}; a teacher outputs file holds exactly one of "
                        f"{', '.join(KINDS)} (columns found: {found})")
    if "row" in columns:
        return "row", kinds[0]
    if "text" in columns:
        if pairs and "text_pair" not in columns:
            raise DataError(f"{path}: the task has sentence pairs, so rows keyed by text need "
                            f"a text_pair column too (columns found: {found})")
        return "text", kinds[0]
    raise DataError(f"{path}: no key column: give each row's position in the training split "
                    f"(`row`, from 0) or its text (`text`) (columns found: {found})")


def _parsed(value):
    """A CSV cell holds JSON for a list or mapping; other formats hold them as they are."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if isinstance(value, list) and value and all(isinstance(v, tuple) and len(v) == 2
                                                 for v in value):
        return dict(value)  # a Parquet map column reads as (key, value) pairs
    return value


def _numbers(value, n: int, what: str) -> tuple[np.ndarray | None, str | None]:
    value = _parsed(value)
    ok = isinstance(value, list) and len(value) == n and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        for v in value)
    if not ok:
        return None, f"{what}: expected a list of {n} finite numbers, got {value!r}"
    return np.asarray(value, dtype=np.float64), None


def _label_index(value, labels: list[str]) -> int | None:
    """A label given by name, or by its 0-based index in the task's label order (GLUE's
    files write SST-2's `negative` as 0); None when it is neither."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    name = str(value).strip()
    if name in labels:
        return labels.index(name)
    if name.isdigit() and int(name) < len(labels):
        return int(name)
    return None


def _number(value) -> float | None:
    """A finite number from a cell (a CSV cell is text), or None."""
    if isinstance(value, bool):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _score(row: dict, labels: list[str]):
    value = _number(row.get("score"))
    if value is None:
        return None, f"score: expected a number, got {row.get('score')!r}"
    return np.array([value]), None


def _logits(row: dict, labels: list[str]):
    return _numbers(row.get("logits"), len(labels), "logits")


def _probs(row: dict, labels: list[str]):
    probs, problem = _numbers(row.get("probs"), len(labels), "probs")
    if problem:
        return None, problem
    if probs.min() < 0 or probs.max() > 1:
        return None, f"probs: each must be in [0, 1], got {probs.tolist()}"
    if abs(probs.sum() - 1.0) > SUM_TOLERANCE:
        return None, (f"probs sum to {probs.sum():.6g}, not 1 (tolerance {SUM_TOLERANCE}); "
                      f"give one probability per label ({', '.join(labels)}) of one "
                      "distribution")
    return probs, None


def _logprobs(row: dict, labels: list[str]):
    top = _parsed(row.get("logprobs"))
    if not isinstance(top, dict) or not top:
        return None, f"logprobs: expected a mapping {{label: log-probability}}, got {top!r}"
    probs = np.zeros(len(labels))
    for label, lp in top.items():
        index = _label_index(label, labels)
        if index is None:
            return None, (f"logprobs: unknown label {str(label).strip()!r}; the task's labels: "
                          f"{', '.join(labels)} (or their indices from 0)")
        if isinstance(lp, bool) or not isinstance(lp, (int, float)) or not lp <= 1e-6:
            return None, f"logprobs: {label!r}: expected a log-probability (<= 0), got {lp!r}"
        probs[index] = math.exp(lp)
    if probs.sum() <= 0:
        return None, "logprobs: every probability is 0"
    return probs / probs.sum(), None  # renormalised over the labels given


def _label(row: dict, labels: list[str]):
    index = _label_index(row.get("label"), labels)
    if index is None:
        return None, (f"unknown label {str(row.get('label')).strip()!r}; the task's labels: "
                      f"{', '.join(labels)} (or their indices from 0)")
    given = row.get("confidence")
    confidence = 1.0 if given is None else _number(given)
    if confidence is None or not 0 < confidence <= 1:
        return None, f"confidence: expected a number in (0, 1], got {given!r}"
    probs = np.full(len(labels), (1.0 - confidence) / max(len(labels) - 1, 1))
    probs[index] = confidence  # the rest shared by the other labels
    return probs, None


READERS = {"score": _score, "logits": _logits, "probs": _probs, "logprobs": _logprobs,
           "label": _label}


def row_logits(row: dict, kind: str, labels: list[str]) -> tuple[np.ndarray | None, str | None]:
    """One row's target as logits (log-probabilities over `labels`; a score and logits as
    given), or the problem with it. Probabilities are floored at `FLOOR` before the log."""
    values, problem = READERS[kind](row, labels)
    if problem or kind in ("score", "logits"):
        return values, problem
    probs = np.maximum(values, FLOOR)
    return np.log(probs / probs.sum()), None


def _key(row: dict, key: str, pairs: bool):
    """A row's key, or None when it has none of the right type."""
    if key == "row":
        value = row.get("row")
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return value if isinstance(value, int) and not isinstance(value, bool) and \
            value >= 0 else None
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        return None
    if not pairs:
        return text.strip()
    pair = row.get("text_pair")
    return (text.strip(), pair.strip()) if isinstance(pair, str) else None


def _split_keys(ds: TextDataset, key: str) -> list:
    if key == "row":
        return [int(r) for r in ds.row_ids]
    if ds.pairs is None:
        return list(ds.texts)
    return list(zip(ds.texts, ds.pairs))


def read_teacher_outputs(path: str | Path, train: TextDataset | None,
                         devs: dict[str, TextDataset]) -> FileOutputs:
    """Read `teacher.targets` and match it to the training split (every example needs a
    row) and to the dev sets it has rows for (all of a set's examples, or none).

    Args:
        path: the file (.parquet, .jsonl, .csv).
        train: the examples the student trains on (their `row_ids` and texts); None
            reads the dev rows only (the training split was encoded with them already).
        devs: {name: dev set}; the first is `dev`.

    Returns:
        `FileOutputs`.

    Raises:
        DataError: an unreadable file, a missing or extra column, a bad row (named by
            line: a label the task lacks, probabilities that do not sum to 1, a key twice),
            or training examples without outputs (counted, the first few named).
    """
    path = Path(path)
    table = read_rows(path)
    first = train if train is not None else next(iter(devs.values()))
    pairs = first.pairs is not None
    key, kind = _columns(path, table.columns, pairs)
    labels = list(first.label_names)
    if (kind == "score") != first.regression:
        task = "a regression task (one score per row)" if first.regression else \
            f"a classification task (labels {', '.join(labels)})"
        raise DataError(f"{path}: a {kind} column, but this is {task}; give "
                        + ("`score`" if first.regression else "logits, probs, logprobs or label"))
    names = list(devs)
    split_of = {"train": "train", **({"dev": names[0]} if names else {}),
                **{n: n for n in names}, **{n.removeprefix("dev_"): n for n in names}}
    found: list[tuple[int, str]] = []
    seen: dict[str, dict] = {}
    for line, row in table.rows:
        given = str(row.get("split") or "train").strip()
        split = split_of.get(given)
        if split is None and not devs and given.startswith("dev"):
            continue  # a corpus encoded on its own: the dev rows are for the run
        if split is None:
            found.append((line, f"split {row.get('split')!r}: expected train or one of the "
                                f"dev sets ({', '.join(names) or 'none here'})"))
            continue
        k = _key(row, key, pairs)
        if k is None:
            what = "a row number (0, 1, ...)" if key == "row" else \
                "a text" + (" and text_pair" if pairs else "")
            found.append((line, f"{key}: expected {what}, got {row.get(key)!r}"))
            continue
        logits, problem = row_logits(row, kind, labels)
        if problem:
            found.append((line, problem))
            continue
        earlier = seen.setdefault(split, {}).get(k)
        if earlier is not None:
            found.append((line, f"{key} {k!r} of {split} again (first on line {earlier[0]})"))
            continue
        seen[split][k] = (line, logits)
    if found:
        raise _problems(path, found)
    splits = {} if train is None else {
        "train": _matched(path, seen.get("train", {}), train, key, "training")}
    for name, ds in devs.items():
        if seen.get(name):
            splits[name] = _matched(path, seen[name], ds, key, f"{name} set")
    return FileOutputs(kind, key, splits, str(path))


def _matched(path: Path, rows: dict, ds: TextDataset, key: str, what: str) -> np.ndarray:
    """(n, C) float32 outputs of every example of `ds`, in its order.

    Raises:
        DataError: examples without a row (counted, the first few named).
    """
    keys = _split_keys(ds, key)
    missing = [k for k in keys if k not in rows]
    if missing:
        first = ", ".join(repr(k) if key == "text" else str(k) for k in missing[:SHOWN])
        raise DataError(f"{path}: {len(missing):,} of {len(keys):,} {what} examples have no "
                        f"teacher outputs (first {key}s: {first}); every one needs a row, "
                        f"keyed by its {key}")
    return np.stack([rows[k][1] for k in keys]).astype(np.float32)
