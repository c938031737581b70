"""Reading an encoded corpus back: the manifest, its checks against the run's config,
and this rank's shards as flat ragged arrays with teacher logits (the run turns them
into its training table)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Config, ConfigError, LossConfig
from .rows import DataError
from .shard_format import FORMAT
from .tasks import (
    UNLABELLED,
    TaskData,
    TextDataset,
    dev_sets_of,
    limited,
    load_split,
    stratified_subset,
    task_metrics,
)


class EncodedMismatch(DataError):
    """An encoded corpus made with another teacher, tokenizer or max length."""


def read_manifest(folder: Path) -> dict:
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise DataError(f"data.encoded: {folder} has no manifest.json (not a finished "
                        "encode; run sage-rapids encode again to complete it)")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise DataError(f"{path}: not a {FORMAT!r} manifest")
    return manifest


def check_manifest(folder: Path, manifest: dict, prints: dict, max_length: int,
                   label_names: list[str], layers: tuple[int, ...] = (),
                   layer_pool: str = LossConfig.layer_pool) -> None:
    """Refuse shards made with another teacher (model or file of outputs), tokenizer, max
    length or label set, or without the teacher layer states (`layers`, pooled by
    `layer_pool`) a run needs. `prints`: this config's `fingerprints` (the teacher's a
    `targets_fingerprint` when its outputs come from a file)."""
    for key in ("teacher", "tokenizer"):
        if manifest[key] != prints[key]:
            raise EncodedMismatch(
                f"data.encoded: {folder} was encoded with another {key} ({manifest[key][:12]}) "
                f"than this config's ({prints[key][:12]}); encode the corpus again with this "
                "config")
    if manifest["max_length"] != max_length:
        raise EncodedMismatch(f"data.encoded: {folder} was encoded with max_length "
                              f"{manifest['max_length']}, the config has data.max_length "
                              f"{max_length}; set one to the other")
    if manifest["label_names"] != list(label_names):
        raise EncodedMismatch(f"data.encoded: {folder} has labels {manifest['label_names']}, "
                              f"the dev set {list(label_names)}")
    kept = (manifest.get("layers") or [], manifest.get("layer_pool"))
    if layers and kept != (list(layers), layer_pool):
        has = (f"teacher layers {kept[0]} pooled {kept[1]}" if kept[0]
               else "no teacher layer states")
        raise EncodedMismatch(f"data.encoded: {folder} keeps {has}; this run's layer transfer "
                              f"needs layers {list(layers)} pooled {layer_pool}: encode the "
                              "corpus again with this config (sage-rapids encode --config "
                              "... with the same loss.layers, loss.layer_map and "
                              "loss.layer_pool)")


def load_shards(folder: Path, manifest: dict, rank: int = 0, world_size: int = 1):
    """This rank's shards (every `world_size`-th, from `rank`) as flat arrays.

    Returns:
        (ids (T,), lengths (n,), type_ids (T,) or None, labels (n,), logits (n, C),
        rows (n,) int64 position of each row in the whole corpus, layers (n, J, H) fp16
        teacher layer states or None).

    Raises:
        DataError: a shard missing or not matching its checksum, or fewer shards than
            ranks.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    every = manifest["shards"]
    if len(every) < world_size:  # every rank decides alike: none may train on nothing
        raise DataError(f"data.encoded: {folder} has {len(every)} shards for "
                        f"{world_size} ranks; encode with a smaller --rows-per-part")
    shards = every[rank::world_size]
    starts = np.cumsum([0] + [s["rows"] for s in every])  # (S + 1,) first row of each
    rows = np.concatenate([np.arange(starts[i], starts[i + 1])
                           for i in range(rank, len(every), world_size)])  # (n,)
    tables = []
    for shard in shards:
        path = Path(folder) / shard["shard"]
        try:
            data = path.read_bytes()
        except OSError:
            raise DataError(f"data.encoded: {path} is missing; encode again") from None
        if hashlib.sha256(data).hexdigest() != shard["sha256"]:
            raise DataError(f"data.encoded: {path} does not match its checksum in the "
                            "manifest (changed or damaged); encode again")
        # one thread: arrow's parquet threads can abort the process at exit (arrow #34314)
        tables.append(pq.read_table(pa.BufferReader(data), use_threads=False))
    table = pa.concat_tables(tables).combine_chunks()
    ids_col = table.column("ids").chunk(0)
    lengths = np.diff(ids_col.offsets.to_numpy()).astype(np.int32)
    ids = ids_col.flatten().to_numpy().astype(np.int32)
    type_ids = None
    if "type_ids" in table.column_names:
        type_ids = table.column("type_ids").chunk(0).flatten().to_numpy().astype(np.int8)
    label = table.column("label")
    labels = label.to_numpy(zero_copy_only=False).astype(  # float32 scores for regression
        np.float32 if pa.types.is_floating(label.type) else np.int64)
    logits_col = table.column("logits").chunk(0)
    logits = logits_col.flatten().to_numpy().astype(np.float32).reshape(len(table), -1)
    layers = None
    if "layers" in table.column_names:  # (n, J, H) fp16 pooled teacher layer states
        layers = table.column("layers").chunk(0).flatten().to_numpy(zero_copy_only=False) \
            .reshape(len(table), len(manifest["layers"]), -1)
    return ids, lengths, type_ids, labels, logits, rows, layers


def encoded_task(config: Config, manifest: dict):
    """The task of a run on an encoded corpus: dev from the `data` section, read with
    the corpus's labels; the data section's training split only when the teacher is
    fine-tuned on it. The training examples themselves come from the shards.

    Returns:
        `TaskData` whose `train` is the fine-tuning split (or an empty placeholder).
    """
    cfg = config.data
    values, names = manifest["label_values"] or None, manifest["label_names"]
    kind = manifest.get("task_type", "classification")
    devs = {}
    for name, where in (dev_sets_of(cfg) or {"": None}).items():
        dev = load_split(cfg, "dev", values, names, kind, where)
        if dev is None or not dev.labelled:
            raise DataError("data.dev_file: a labelled dev set is required to evaluate the "
                            "student (data.encoded replaces only the training split)")
        devs[f"dev_{name}" if name else "dev"] = limited(dev, cfg.dev_limit, config.seed)
    dev_name, dev = next(iter(devs.items()))
    others = {k: v for k, v in devs.items() if k != dev_name}
    train = None
    if config.teacher.finetune:
        train = load_split(cfg, "train", values, names, kind)
        if train is None or not train.labelled:
            raise ConfigError(["teacher.finetune: fine-tuning needs the data section's "
                               "labelled training split beside data.encoded; or give a "
                               "fine-tuned teacher.model and set teacher.finetune: false"])
    if train is None:
        dtype = np.float32 if kind == "regression" else np.int64
        train = TextDataset([], None, np.zeros(0, dtype=dtype), list(names),
                            str(config.data.encoded))
    return TaskData(train, dev, task_metrics(cfg, kind == "regression"), [], train, dev_name,
                    others)


@dataclass(frozen=True)
class EncodedRows:
    """This rank's rows of an encoded corpus, ragged: token ids of all rows end to end."""

    ids: np.ndarray  # (T,) int32 token ids
    lengths: np.ndarray  # (n,) tokens per row
    type_ids: np.ndarray | None  # (T,) segment ids of pairs, or None
    labels: np.ndarray  # (n,) gold labels (-1 unlabelled) or float scores
    logits: np.ndarray  # (n, C) teacher logits
    rows: np.ndarray  # (n,) int64 position of each row in the whole corpus
    note: str  # what the summary says of the corpus
    layers: np.ndarray | None = None  # (n, J, H) float16 teacher layer states, if encoded


def encoded_rows(config: Config, manifest: dict, rank: int = 0,
                 world_size: int = 1) -> EncodedRows:
    """This rank's rows of the shards, teacher logits included.

    `data.train_limit` keeps a seeded stratified subset of this rank's rows
    (`train_limit // world_size` of them).

    Raises:
        ConfigError: unlabelled rows without `loss.alpha: 1.0`.
        DataError: see `load_shards`.
    """
    folder = Path(config.data.encoded)
    ids, lengths, type_ids, labels, logits, rows, layers = load_shards(folder, manifest, rank,
                                                                       world_size)
    note = (f"trained on the encoded corpus {folder} ({manifest['rows']:,} examples in "
            f"{len(manifest['shards'])} shards)")
    limit = config.data.train_limit
    if limit is not None and limit // world_size < len(lengths):
        keep = stratified_subset(labels, limit // world_size, config.seed)
        offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
        tokens = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in keep])
        ids, lengths, labels, logits = ids[tokens], lengths[keep], labels[keep], logits[keep]
        rows, layers = rows[keep], None if layers is None else layers[keep]
        type_ids = None if type_ids is None else type_ids[tokens]
        note += f", a stratified {limit:,} of them"
    missing = np.isnan(labels) if labels.dtype.kind == "f" else labels == UNLABELLED
    if config.loss.alpha != 1.0 and missing.any():
        raise ConfigError([f"loss.alpha: the encoded corpus {folder} has unlabelled rows; "
                           f"they need loss.alpha: 1.0 (pure distillation), got "
                           f"{config.loss.alpha}"])
    return EncodedRows(ids, lengths, type_ids, labels, logits, rows, note, layers)
