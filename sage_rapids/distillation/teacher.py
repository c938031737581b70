"""Teacher fine-tuning: ordinary token-level training of a base model on the task,
cached on disk keyed by every setting that changes the result.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..backend import Backend
from ..config import ConfigError, DataConfig, TeacherConfig, TrainConfig
from ..data.tasks import TaskData, TextDataset, stratified_subset
from ..progress import progress_bar
from .export import save_model_folder
from .models import load_classifier, resolve_model_path
from .pretrained import default_cache_root
from .table import bucketed_batches, encode_dataset, token_batch
from .train import make_optimizer


def cache_root(cfg: TeacherConfig) -> Path:
    """`teacher.cache_dir`, else `$SAGE_CACHE_DIR`, else `~/.cache/sage-rapids`."""
    return Path(cfg.cache_dir).expanduser() if cfg.cache_dir else default_cache_root()


def teacher_cache_key(cfg: TeacherConfig, data: DataConfig, train: TextDataset,
                      seed: int) -> str:
    """A short hash of the base model, the data and every fine-tuning setting."""
    payload = {
        "model": cfg.model, "model_path": resolve_model_path(cfg.model),
        "limit": cfg.finetune_limit, "epochs": cfg.finetune_epochs, "lr": cfg.finetune_lr,
        "batch_size": cfg.finetune_batch_size, "schedule": cfg.finetune_schedule,
        "max_grad_norm": cfg.finetune_max_grad_norm, "data": data.name,
        "examples": dataset_digest(train), "labels": train.label_names,
        "max_length": data.max_length, "seed": seed,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def finetune_source(cfg: TeacherConfig, task: TaskData) -> TextDataset:
    """What the teacher fine-tunes on: with `finetune_limit`, a subset of the whole
    training split, so the teacher may see more examples than the student's
    `data.train_limit` (the regime where mixing pays); without, the student's examples."""
    if cfg.finetune_limit is None or task.full_train is None:
        return task.train
    return task.full_train


def dataset_digest(ds: TextDataset) -> str:
    """A hash of the examples themselves, so a copied or moved file hits the cache."""
    h = hashlib.sha256()
    for i, text in enumerate(ds.texts):
        h.update(text.encode("utf-8", "surrogatepass") + b"\x00")
        if ds.pairs is not None:
            h.update(ds.pairs[i].encode("utf-8", "surrogatepass") + b"\x00")
    if ds.regression:  # the scores as read (classification keeps its int64 digest)
        h.update(b"regression" + np.ascontiguousarray(ds.labels, dtype=np.float32).tobytes())
    else:
        h.update(np.ascontiguousarray(ds.labels, dtype=np.int64).tobytes())
    return h.hexdigest()


def finetune_teacher(cfg: TeacherConfig, data: DataConfig, train: TextDataset,
                     backend: Backend, seed: int, quiet: bool = True,
                     log=print) -> Path:
    """Fine-tune `cfg.model` on `train` (or reuse the cached result).

    Args:
        cfg: `teacher` section (model, finetune_* settings, cache_dir).
        data: `data` section (for max_length and the cache key).
        train: the task's training set; a stratified `finetune_limit` subset is used.
        backend: where to train.
        seed: seeds the subset, the head's initialisation and the batch order.

    Returns:
        The folder of the fine-tuned model (save_pretrained layout plus meta.json).

    Raises:
        ConfigError: `train` has no labels to fine-tune on.
    """
    if not train.labelled:
        raise ConfigError([f"teacher.finetune: the training data {train.source} has no labels "
                           "to fine-tune on; give an already fine-tuned teacher.model and set "
                           "teacher.finetune: false"])
    subset = train
    if cfg.finetune_limit is not None and cfg.finetune_limit < len(train):
        subset = train.subset(stratified_subset(train.labels, cfg.finetune_limit, seed))
    key = teacher_cache_key(cfg, data, subset, seed)  # the examples actually used
    out = cache_root(cfg) / "teachers" / key
    if (out / "meta.json").is_file():
        log(f"teacher: using cached fine-tuned model {out}")
        return out
    torch.manual_seed(seed)
    model, tokenizer = load_classifier(cfg.model, len(train.label_names), cfg.trust_remote_code)
    # a one-output head trains on MSE to the gold score (transformers' regression loss)
    model.config.problem_type = "regression" if train.regression else None
    table, _ = encode_dataset(subset, tokenizer, data.max_length, backend)
    model.to(backend.device).train()
    rng = np.random.default_rng(seed)
    steps_per_epoch = math.ceil(len(subset) / cfg.finetune_batch_size)
    total = max(1, int(round(cfg.finetune_epochs * steps_per_epoch)))
    train_cfg = TrainConfig(lr=cfg.finetune_lr, batch_size=cfg.finetune_batch_size)
    optimizer, scheduler = make_optimizer(model, train_cfg, total, cfg.finetune_schedule,
                                          warmup=cfg.finetune_schedule == "linear")
    labels_all = backend.to_torch(table.labels)
    batches = []
    while len(batches) < total:
        batches += bucketed_batches(table.host_lengths, cfg.finetune_batch_size, 50, rng)
    log(f"teacher: fine-tuning {cfg.model} on {len(subset)} examples, {total} steps")
    start = time.perf_counter()
    for index in progress_bar(batches[:total], "fine-tune teacher", quiet):
        labels = labels_all[torch.as_tensor(index, device=backend.device)]
        loss = model(**token_batch(table, index, backend), labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.finetune_max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.finetune_max_grad_norm)
        optimizer.step()
        scheduler.step()
    model.config.id2label = dict(enumerate(train.label_names))
    model.config.label2id = {name: i for i, name in enumerate(train.label_names)}
    model.config.problem_type = ("regression" if train.regression
                                 else "single_label_classification")
    _save_atomic(model.eval().cpu(), tokenizer, out, {
        "base_model": cfg.model, "examples": len(subset), "steps": total,
        "settings": asdict(cfg), "data": data.name, "seed": seed,
        "seconds": time.perf_counter() - start, "threads": torch.get_num_threads()})
    return out


def _save_atomic(model, tokenizer, out: Path, meta: dict) -> None:
    """The fine-tuned teacher into the cache, via a temporary folder.

    Raises:
        DiskFull: no space in the cache; the temporary folder is removed.
    """
    save_model_folder(model, tokenizer, out, "the fine-tuned teacher (teacher.cache_dir)",
                      "The cache is unchanged: free space or set teacher.cache_dir elsewhere, "
                      "and run again.", {"meta.json": json.dumps(meta, indent=2, default=str)},
                      replace=False)  # two runs fine-tuning the same teacher: one is kept
