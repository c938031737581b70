"""Where the teacher's outputs come from when it is not one model run in vector space:
a file of outputs (`teacher.targets`), or several teachers (`teacher.others`) mixed by a
weighted mean of their probabilities or of their logits (`teacher.combine`).

Each model teacher of a mix scores the task's examples through its own tokenizer, and its
outputs are cached on their own (keyed by the model and the examples), so adding a teacher
to a mix recomputes nothing for the others.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..artifacts import save_arrays
from ..backend import Backend
from ..config import Config, TeacherConfig, other_teachers
from ..data.tasks import TaskData, TextDataset
from ..data.teacher_file import read_teacher_outputs
from .models import load_classifier, resolve_model_path
from .table import encode_dataset, sorted_batches, token_batch
from .teacher import cache_root, dataset_digest


@dataclass(frozen=True)
class Outputs:
    """A teacher's outputs: (n, C) float32 logits (or (n, 1) scores) for the training
    examples, and for each dev set by name, None where the teacher gave none."""

    train: np.ndarray
    devs: dict[str, np.ndarray | None]
    name: str  # for the report: the model, or the file


def every_teacher(teacher: TeacherConfig) -> list[TeacherConfig]:
    """The main teacher, then those of `teacher.others`."""
    return [teacher, *other_teachers(teacher)]


def combine(parts: list[Outputs], weights: list[float], how: str) -> Outputs:
    """The weighted mean of the teachers' probabilities (`probs`, returned as their log:
    logits of the mixed distribution) or of their logits (`logits`); scores (one column)
    are averaged as they are. A dev set is known only where every teacher gave it.

    Args:
        parts: each teacher's outputs, over the same examples.
        weights: one positive weight per teacher (normalised here).
    """
    w = np.asarray(weights, dtype=np.float64) / float(np.sum(weights))

    def mix(arrays: list[np.ndarray]) -> np.ndarray:
        stacked = np.stack([a.astype(np.float64) for a in arrays])  # (T, n, C)
        if how == "logits" or stacked.shape[-1] == 1:
            return np.tensordot(w, stacked, 1).astype(np.float32)
        z = stacked - stacked.max(-1, keepdims=True)
        probs = np.exp(z) / np.exp(z).sum(-1, keepdims=True)  # (T, n, C)
        return np.log(np.tensordot(w, probs, 1)).astype(np.float32)  # (n, C)

    devs = {name: None if any(p.devs.get(name) is None for p in parts)
            else mix([p.devs[name] for p in parts]) for name in parts[0].devs}
    return Outputs(mix([p.train for p in parts]), devs,
                   " + ".join(f"{wi:.2f} x {p.name}" for wi, p in zip(w, parts)))


@torch.no_grad()
def token_logits(model, tokenizer, ds: TextDataset, max_length: int, backend: Backend,
                 batch_size: int) -> np.ndarray:
    """(n, C) float32 logits of a classifier on `ds`, through its own tokenizer."""
    table, _ = encode_dataset(ds, tokenizer, max_length, backend)
    out = np.empty((len(ds), model.config.num_labels), dtype=np.float32)
    for index in sorted_batches(table.host_lengths, batch_size):
        out[index] = backend.to_host(model(**token_batch(table, index, backend)).logits.float())
    return out


def model_identity(name: str) -> dict:
    """What names a model's weights: a local folder by its files' sizes and times, a hub
    name by itself."""
    path = Path(resolve_model_path(name))
    if not path.is_dir():
        return {"name": name}
    files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in path.iterdir()
                   if p.is_file())
    return {"path": str(path.resolve()), "files": files}


def model_outputs(model_name: str, cfg: TeacherConfig, task: TaskData, config: Config,
                  backend: Backend, log) -> Outputs:
    """A model teacher's outputs on the training examples and every dev set, cached by
    the model and the examples.

    Args:
        model_name: the model to run (a fine-tuned teacher's folder, when it was).
        cfg: its teacher section (`trust_remote_code`, `cache_dir`).
    """
    sets = {"train": task.train, **task.devs}
    payload = {"model": model_identity(model_name), "max_length": config.data.max_length,
               "labels": task.train.label_names,
               "sets": {k: dataset_digest(ds) for k, ds in sets.items()}}
    key = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_root(cfg) / "outputs" / f"{key}.safetensors"
    if path.is_file():
        from safetensors.numpy import load_file

        log(f"teacher outputs: cached, {model_name} ({path})")
        arrays = load_file(str(path))
    else:
        log(f"teacher outputs: scoring {len(task.train):,} training and "
            f"{sum(len(d) for d in task.devs.values()):,} dev examples with {model_name}")
        model, tokenizer = load_classifier(model_name, None, cfg.trust_remote_code)
        model.to(backend.device)
        arrays = {k: token_logits(model, tokenizer, ds, config.data.max_length, backend,
                                  config.eval.batch_size) for k, ds in sets.items()}
        path.parent.mkdir(parents=True, exist_ok=True)
        save_arrays(path, arrays)
    return Outputs(arrays["train"], {k: arrays[k] for k in task.devs}, model_name)


def file_outputs(cfg: TeacherConfig, task: TaskData, train: bool = True) -> Outputs:
    """A file teacher's outputs (`teacher.targets`), matched to the task's examples;
    `train=False` reads its dev rows only (`Outputs.train` is then None).

    Raises:
        DataError: the file, a row, or a missing example (named by file and line).
    """
    read = read_teacher_outputs(cfg.targets, task.train if train else None, task.devs)
    return Outputs(read.splits.get("train"), {k: read.splits.get(k) for k in task.devs},
                   Path(cfg.targets).name)
