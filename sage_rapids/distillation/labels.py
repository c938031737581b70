"""Where a model meets a label set: a classifier's outputs are read by its own class
names (`config.id2label`), never by position alone.

A file's labels `approve` / `reject` scored against a model that answers `negative` /
`positive` would otherwise be compared index by index and print a confident, wrong
accuracy. `model_label_order` says, for each label of the data, which of the model's
outputs answers it, or refuses in one paragraph that names both sets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from ..data.rows import DataError
from ..data.text_dataset import TextDataset

UNNAMED = re.compile(r"^LABEL_\d+$")  # what transformers calls classes nobody named


@dataclass(frozen=True)
class LabelOrder:
    """How a data set's labels map onto a model's outputs.

    Attributes:
        index: (k,) for each of the data's k labels, the model output that answers it.
        how: `names` (matched by name), `ids` (the data's labels are the model's class
            ids, 0..C-1) or `position` (the model's classes have no names).
        note: one sentence for the user when the match was not by name, else None.
    """

    index: np.ndarray
    how: str
    note: str | None = None


def model_label_names(id2label: dict | None, num_labels: int) -> list[str] | None:
    """The model's class names in output order, or None when it has none of its own
    (transformers' `LABEL_0`, `LABEL_1`, ...)."""
    if not id2label:
        return None
    names = [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(num_labels)]
    # `LABEL_3`, or `3` at output 3: class ids, which name nothing
    return None if all(UNNAMED.match(n) or n == str(i) for i, n in enumerate(names)) else names


def model_label_order(data_names: list[str], id2label: dict | None, num_labels: int,
                      data_source: str, model_source: str) -> LabelOrder:
    """Which model output answers each of the data's labels.

    Args:
        data_names: the data's label names in its own index order.
        id2label: the model config's `id2label`.
        num_labels: the model's number of outputs.
        data_source, model_source: how to name each in a message (file, folder).

    Returns:
        A `LabelOrder`: by name when the model names its classes and every data label is
        among them (case aside); by id when the data's labels are the numbers 0..C-1;
        by position when the model's classes are unnamed.

    Raises:
        DataError: the data has labels the model does not (names both sets).
    """
    names = model_label_names(id2label, num_labels)
    if names is not None:
        lookup = {n.lower(): i for i, n in enumerate(names)}
        found = [lookup.get(str(n).lower()) for n in data_names]
        if all(i is not None for i in found):
            return LabelOrder(np.asarray(found, dtype=np.int64), "names")
    if all(str(n).isdigit() and int(n) < num_labels for n in data_names):
        ids = np.asarray([int(n) for n in data_names], dtype=np.int64)
        note = None if names is None else (
            f"{data_source}: labels {', '.join(map(str, data_names))} read as the model's "
            f"class ids ({', '.join(f'{int(n)} = {names[int(n)]}' for n in data_names)})")
        return LabelOrder(ids, "ids", note)
    if names is None and len(data_names) <= num_labels:
        note = (f"{model_source} does not name its classes (LABEL_0, ...): the labels of "
                f"{data_source} are taken in their order "
                f"({', '.join(f'{n} = {i}' for i, n in enumerate(data_names))})")
        return LabelOrder(np.arange(len(data_names), dtype=np.int64), "position", note)
    theirs = ", ".join(names) if names is not None else f"{num_labels} unnamed classes"
    missing = [str(n) for n in data_names if names is None or
               str(n).lower() not in {m.lower() for m in names}]
    raise DataError(
        f"{data_source}: its labels ({', '.join(map(str, data_names))}) are not the "
        f"classes of {model_source} ({theirs}); {', '.join(missing)} "
        f"{'is' if len(missing) == 1 else 'are'} unknown to the model, so no score "
        "would mean anything. Give data labelled with the model's class names (or its "
        "class ids 0.." f"{num_labels - 1}), or a model trained on these labels")


def in_model_order(dataset: TextDataset, id2label: dict | None, num_labels: int,
                   model_source: str) -> tuple[TextDataset, str | None]:
    """The dataset with its labels renumbered as the model's outputs, and the note of
    `model_label_order` (None when matched by name). A regression set passes as it is.

    Raises:
        DataError: labels the model does not have (see `model_label_order`).
    """
    if dataset.regression:
        return dataset, None
    order = model_label_order(dataset.label_names, id2label, num_labels, dataset.source,
                              model_source)
    labels = dataset.labels.copy()
    known = labels >= 0  # unlabelled rows keep -1
    labels[known] = order.index[labels[known]]
    names = model_label_names(id2label, num_labels) or [f"LABEL_{i}" for i in range(num_labels)]
    return replace(dataset, labels=labels, label_names=names), order.note
