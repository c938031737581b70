"""Hugging Face datasets: a `save_to_disk` folder, or a hub name where the network allows.

`data.name: hf` reads the `DatasetDict` at `data.path` (splits `data.train_split`
and `data.dev_split`), or `datasets.load_dataset(data.hub_name, data.hub_config)`.
Columns are chosen as for local files; a `ClassLabel` label column brings its own
label names. Rows go through the same checks as files, so a bad row names its split
and row number.
"""

from __future__ import annotations

from pathlib import Path

from ..config import DataConfig
from .rows import DataError, Rows
from .text_dataset import TextDataset, dataset_from_rows


def _datasets():
    try:
        import datasets
    except ImportError:
        raise DataError("data.name: hf needs the 'datasets' package: "
                        "pip install 'sage-rapids[hub]'") from None
    return datasets


def load_dataset_dict(cfg: DataConfig):
    """The `DatasetDict` of `data.path` (a `save_to_disk` folder) or of `data.hub_name`.

    Raises:
        DataError: the folder is not a saved dataset, or the hub cannot be reached.
    """
    datasets = _datasets()
    if cfg.path:
        path = Path(cfg.path).expanduser()
        try:
            return datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError, OSError) as err:
            raise DataError(f"data.path: {path} is not a dataset saved with save_to_disk "
                            f"({err})") from None
    try:
        return datasets.load_dataset(cfg.hub_name, cfg.hub_config)
    except Exception as err:  # offline, unknown name, or a gated dataset
        raise DataError(
            f"data.hub_name: cannot load {cfg.hub_name!r} from the hub ({err}). Without "
            "network, save it on a machine that has one (DatasetDict.save_to_disk) and set "
            "data.path to that folder, or export it to files and use data.name: local"
        ) from None


def load_hf_split(cfg: DataConfig, split: str, label_values: list[str] | None = None,
                  label_names: list[str] | None = None,
                  task_type: str | None = None) -> TextDataset | None:
    """One split ("train" or "dev") of a Hugging Face dataset; None if it has none.

    A float label column (`Value("float32")`, STS-B's) reads as regression unless
    `task_type` says otherwise.

    Raises:
        DataError: a missing column or a bad row (names split and row).
    """
    data = load_dataset_dict(cfg)
    name = cfg.train_split if split == "train" else cfg.dev_split
    if not hasattr(data, "keys"):  # a single Dataset, not a DatasetDict
        raise DataError(f"data.path: {cfg.path} holds one split, not a DatasetDict with "
                        f"{cfg.train_split!r} and {cfg.dev_split!r}")
    if name not in data:
        if split == "train":
            return None
        raise DataError(f"data.dev_split: no split {name!r}; splits found: "
                        f"{', '.join(data.keys())}")
    ds = data[name]
    label = cfg.label_column or "label"
    values, names = cfg.label_names or label_values, None if cfg.label_names else label_names
    feature = ds.features.get(label)
    class_names = getattr(feature, "names", None)
    if task_type is None and str(getattr(feature, "dtype", "")).startswith("float"):
        task_type = "regression"
    records = ds.to_list()
    if class_names:  # ClassLabel: integers in the data, names in the features
        values = names = list(class_names)
        for row in records:
            value = row.get(label)
            row[label] = class_names[value] if isinstance(value, int) and value >= 0 else ""
    rows = Rows(list(ds.column_names), [(i + 1, r) for i, r in enumerate(records)], [])
    source = f"{cfg.path or cfg.hub_name}[{name}]"
    return dataset_from_rows(source, rows, cfg.text_column, cfg.text_pair_column, label,
                             values, names, cfg.bad_rows, task_type)
