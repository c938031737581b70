"""Examples as the pipeline holds them: `TextDataset`, and reading one from the rows of
a file (text, pair and label columns; class labels or regression scores; bad rows).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..config import ConfigError
from .rows import DataError, Rows, shown

UNLABELLED = -1  # label of an example that has none (pure distillation on a corpus)
# a regression dataset's labels are float32 scores, NaN where a row has none


@dataclass(frozen=True)
class TextDataset:
    """Texts (and optional second texts) with integer labels or float scores.

    Attributes:
        texts: first text of each example.
        pairs: second text of each example, or None for single-text tasks.
        labels: (n,) int64 indices into `label_names`, -1 for every row of an
            unlabelled corpus; or, for regression, (n,) float32 scores, NaN where
            unlabelled.
        label_names: the label names, in index order; a regression task has one
            (the score's name), so `len(label_names)` is always the head's width.
        source: where the examples came from, for messages and reports.
        skipped: rows left out under `data.bad_rows: skip`.
        rows: (n,) each example's 0-based position among the rows of the split as read
            (a subset keeps its examples' positions); None: 0..n-1.
    """

    texts: list[str]
    pairs: list[str] | None
    labels: np.ndarray
    label_names: list[str]
    source: str
    skipped: int = 0
    rows: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def row_ids(self) -> np.ndarray:
        """(n,) int64 positions of the examples in the split as read."""
        return np.arange(len(self.texts)) if self.rows is None else self.rows

    @property
    def regression(self) -> bool:
        return self.labels.dtype.kind == "f"

    @property
    def labelled(self) -> bool:
        if self.regression:
            return not bool(np.isnan(self.labels).any())
        return bool(len(self.labels) == 0 or self.labels.min() >= 0)

    def subset(self, index: np.ndarray, note: str = "") -> "TextDataset":
        """The examples at `index` (a 1-D int array), in that order."""
        index = np.asarray(index, dtype=np.int64)
        return replace(
            self,
            texts=[self.texts[i] for i in index],
            pairs=None if self.pairs is None else [self.pairs[i] for i in index],
            labels=self.labels[index],
            source=f"{self.source}{note}",
            rows=self.row_ids[index],
        )


def dataset_from_rows(path: Path | str, table: Rows, text: str, pair: str | None,
                      label: str | None, label_values: list[str] | None,
                      label_names: list[str] | None = None,
                      bad_rows: str = "error", task_type: str | None = None) -> TextDataset:
    """Pick text, pair and label columns out of rows read by `read_rows`.

    Args:
        label: the label column; None, or a column the file lacks, reads the rows
            as an unlabelled corpus (labels -1, or NaN scores), which the caller may
            refuse.
        label_values: label strings in index order; inferred (sorted) if None.
        label_names: display names of those labels; default the values themselves.
        bad_rows: `skip` leaves out rows with an empty text or an unknown label.
        task_type: `classification`, `regression` (float scores), or None to infer:
            regression when every label is a number and some are not integers.

    Raises:
        DataError: a missing text column (lists the columns found), an empty text, a
            label outside `label_values` (lists the known labels), or a score that is
            not a number.
        ConfigError: `task_type: classification` on labels that are fractional scores.
    """
    for role, col in (("text", text), ("text pair", pair)):
        if col is not None and col not in table.columns:
            raise DataError(f"{path}: no {role} column {col!r}; columns found: "
                            f"{', '.join(map(shown, table.columns))}")
    if not table.rows:
        raise DataError(f"{path}: no examples")
    labelled = label is not None and label in table.columns
    raw_labels = [_label_string(r.get(label)) for _, r in table.rows] if labelled else []
    kind = task_type or ("regression" if labelled and not label_values and
                         _look_like_scores(raw_labels) else "classification")
    if kind == "classification" and labelled and not label_values and \
            _look_like_scores(raw_labels):
        line = table.rows[next(i for i, v in enumerate(raw_labels) if _fractional(v))][0]
        raise ConfigError([f"data.task_type: {path}:{line}: the labels are scores "
                           f"({', '.join(sorted(set(raw_labels))[:3])}, ...), not classes; "
                           "set data.task_type: regression, or give class labels"])
    regression = kind == "regression"
    values = [] if regression else (list(label_values) if label_values else
                                    sorted(set(raw_labels) - {""}))
    lookup = {value: i for i, value in enumerate(values)}
    texts, pairs, labels, skipped = [], [] if pair else None, [], list(table.skipped)
    kept = []  # positions of the rows that became examples
    for i, (line, row) in enumerate(table.rows):
        problem, first, second = None, row.get(text), row.get(pair) if pair else None
        target = UNLABELLED if not labelled else None
        if labelled and regression:
            target = _score(raw_labels[i])
            if target is None:
                problem = (f"score {raw_labels[i]!r} in column {shown(label)} is not a "
                           "number (a regression task needs one per row)")
        elif labelled:
            target = lookup.get(raw_labels[i])
            if target is None:
                problem = (f"unknown label {raw_labels[i]!r}; known labels: "
                           f"{', '.join(values)} (set data.label_names to change them)")
        if problem is None and (not isinstance(first, str) or not first.strip()):
            problem = f"empty or missing text in column {shown(text)}"
        elif problem is None and pair is not None and not isinstance(second, str):
            problem = f"missing text in column {shown(pair)}"
        if problem is not None:
            if bad_rows == "skip":
                skipped.append(line)
                continue
            raise DataError(f"{path}:{line}: {problem}")
        texts.append(first.strip())
        kept.append(i)
        if pairs is not None:
            pairs.append(second.strip())
        labels.append(target)
    if not texts:
        raise DataError(f"{path}: no usable examples ({len(skipped)} bad rows skipped)")
    rows = np.asarray(kept, dtype=np.int64) if len(kept) < len(table.rows) else None
    if skipped:
        lines = ", ".join(map(str, sorted(skipped)[:5])) + (", ..." if len(skipped) > 5 else "")
        warnings.warn(f"{path}: skipped {len(skipped)} bad rows (data.bad_rows: skip), "
                      f"lines {lines}", stacklevel=1)
    if regression:
        array = np.asarray([np.nan if v == UNLABELLED and not labelled else v
                            for v in labels], dtype=np.float32)
        names = list(label_names) if label_names else [label or "score"]
        return TextDataset(texts, pairs, array, names, str(path), len(skipped), rows)
    names = list(label_names) if label_names else values
    return TextDataset(texts, pairs, np.asarray(labels, dtype=np.int64), names, str(path),
                       len(skipped), rows)


def _score(text: str) -> float | None:
    """A label string as a finite float, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def _fractional(text: str) -> bool:
    value = _score(text)
    return value is not None and not float(value).is_integer()


def _look_like_scores(raw: list[str]) -> bool:
    """Every label a number and some not whole: scores, not class ids."""
    given = [v for v in raw if v != ""]
    return bool(given) and all(_score(v) is not None for v in given) and \
        any(_fractional(v) for v in given)


def _label_string(value) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    return "" if value is None else str(value).strip()
