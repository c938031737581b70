"""Teacher targets: logits for every real example, computed once (stage 1), and
labels for synthetic points after each augmentation round (stage 3.6).

The teacher runs through its vectorized interface, on the same `E_T[x]` vectors
the student sees, with no gradient.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..backend import Backend
from ..config import LossConfig
from ..progress import progress_bar
from .models import LayerTransfer, VectorOutput, vector_forward
from .table import (
    Batch,
    ExampleTable,
    SyntheticPool,
    real_batch,
    sorted_batches,
    synthetic_batch,
)


@dataclass(frozen=True)
class TeacherTargets:
    logits: Any  # (n, C) float32 backend array
    pooled: Any  # (n, H) float16 backend array, or None
    layers: Any = None  # (n, J, H) float16 backend array of the mapped layers, or None


@dataclass(frozen=True)
class Labelling:
    """How the teacher labels points: its precision, and which of its layers it keeps
    pooled beside the logits (for layer transfer; empty: logits only)."""

    precision: str = "fp32"
    layers: tuple[int, ...] = ()
    layer_pool: str = LossConfig.layer_pool


def layer_state_bytes(n: int, layers: tuple[int, ...], width: int) -> int:
    """What caching `layers` pooled teacher states of `n` examples takes (fp16)."""
    return n * len(layers) * width * 2


@torch.no_grad()
def teacher_targets(teacher: nn.Module, table: ExampleTable, embeddings: torch.Tensor,
                    backend: Backend, batch_size: int, pooled: bool = False,
                    quiet: bool = True, desc: str = "teacher targets",
                    precision: str = "fp32", layers: tuple[int, ...] = (),
                    layer_pool: str = LossConfig.layer_pool) -> TeacherTargets:
    """Stage 1: teacher logits (and optionally pooled states) for every real example.

    Args:
        teacher: classifier in eval mode on the backend's device.
        table: real examples.
        embeddings: (V, H) teacher word-embedding table.
        batch_size: examples per forward pass.
        pooled: also keep mean-pooled last hidden states (for `loss.cosine`).
        precision: `fp32`, `bf16` or `fp16` forward passes; logits are kept in fp32.
        layers: also keep these layer outputs, pooled by `layer_pool`, from the same
            forward (for `loss.layers`), in fp16.

    Returns:
        `TeacherTargets` as backend arrays, in table order.
    """
    n = len(table)
    logits = torch.empty((n, teacher.config.num_labels), dtype=torch.float32,
                         device=backend.device)
    states = kept = None
    for index in progress_bar(sorted_batches(table.host_lengths, batch_size), desc, quiet):
        batch = real_batch(table, embeddings, index, backend)
        with backend.autocast(precision):
            out = vector_forward(teacher, batch.vectors, batch.mask, batch.type_ids,
                                 pooled=pooled, layers=layers, layer_pool=layer_pool)
        logits[batch.real_index] = out.logits.float()
        if pooled:
            if states is None:
                states = torch.empty((n, out.pooled.shape[1]), dtype=torch.float16,
                                     device=backend.device)
            states[batch.real_index] = out.pooled.half()
        if layers:
            if kept is None:
                kept = torch.empty((n, *out.layers.shape[1:]), dtype=torch.float16,
                                   device=backend.device)  # (n, J, H)
            kept[batch.real_index] = out.layers.half()
    return TeacherTargets(backend.from_torch(logits),
                          None if states is None else backend.from_torch(states),
                          None if kept is None else backend.from_torch(kept))


def row_fingerprints(table: ExampleTable, backend: Backend) -> np.ndarray:
    """(n,) uint64: a hash of each example's token ids, segment ids and length, so
    targets saved for a training split are reused only for the same examples."""
    ids = backend.to_host(table.ids).astype(np.uint64)
    if table.type_ids is not None:
        ids += backend.to_host(table.type_ids).astype(np.uint64) << np.uint64(32)
    lengths = table.host_lengths.astype(np.int64)
    starts = backend.to_host(table.offsets)[:-1].astype(np.int64)
    position = np.arange(len(ids)) - np.repeat(starts, lengths)
    weight = np.random.default_rng(20251).integers(1, 2**63, size=max(int(lengths.max(
        initial=0)), 1), dtype=np.uint64) | np.uint64(1)  # odd: no id is wiped out
    # every example has a token ([CLS] at least), so no start repeats in reduceat
    rows = np.add.reduceat(ids * weight[position], starts) if len(ids) else \
        np.zeros(0, np.uint64)
    return rows ^ (lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))


def saved_targets(path: Path, table: ExampleTable, rows: np.ndarray,
                  backend: Backend) -> np.ndarray | None:
    """The teacher logits a run directory keeps (`teacher_targets.safetensors`) for
    these training `rows`, when every one of them is saved there with this table's
    fingerprint; None otherwise (another split, other tokens, an older file)."""
    if not path.is_file():
        return None
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        saved = load_file(str(path))
    except (OSError, SafetensorError):  # unreadable: the teacher runs again, rewrites it
        return None
    index, prints = saved.get("index"), saved.get("fingerprints")
    if index is None or prints is None or len(index) == 0 or len(rows) == 0:
        return None
    at = np.minimum(np.searchsorted(index, rows), len(index) - 1)
    if (index[at] != rows).any() or (prints[at] != row_fingerprints(table, backend)).any():
        return None
    return saved["logits"][at]


@torch.no_grad()
def label_synthetic(teacher: nn.Module, table: ExampleTable, sources: Any, weights: Any,
                    embeddings: torch.Tensor, backend: Backend, batch_size: int,
                    quiet: bool = True, precision: str = "fp32", layers: tuple[int, ...] = (),
                    layer_pool: str = LossConfig.layer_pool) -> SyntheticPool:
    """Stage 3.6: teacher logits for synthetic recipes, batched, no grad.

    Args:
        sources: (m, k) int32 source indices (column 0 the anchor), backend array.
        weights: (m, k) float32 mixing weights, backend array.
        precision: `fp32`, `bf16` or `fp16` forward passes; logits are kept in fp32.
        layers: also keep these teacher layers' pooled states of each mix, from the same
            forward (fp16, `SyntheticPool.layers`).

    Returns:
        The `SyntheticPool` of these recipes with their teacher logits and lengths.
    """
    m = int(sources.shape[0])
    pool = SyntheticPool(sources, weights, backend.xp.zeros((m, teacher.config.num_labels),
                                                            dtype=backend.xp.float32))
    pool = pool.with_lengths(table, backend)
    logits = backend.to_torch(pool.logits)  # shares memory with pool.logits
    kept = None
    for index in progress_bar(sorted_batches(pool.host_lengths, batch_size),
                              "label synthetic", quiet):
        batch = synthetic_batch(table, pool, embeddings, index, backend)
        with backend.autocast(precision):
            out = vector_forward(teacher, batch.vectors, batch.mask, batch.type_ids,
                                 layers=layers, layer_pool=layer_pool)
        at = torch.as_tensor(index, device=backend.device)
        logits[at] = out.logits.float()
        if layers:
            if kept is None:
                kept = torch.empty((m, *out.layers.shape[1:]), dtype=torch.float16,
                                   device=backend.device)  # (m, J, H)
            kept[at] = out.layers.half()
    return pool if kept is None else replace(pool, layers=backend.from_torch(kept))



@torch.no_grad()
def teacher_in_loop(teacher: nn.Module, batch: Batch, transfer: LayerTransfer,
                    backend: Backend, precision: str = "fp32") -> VectorOutput:
    """The teacher's per-token states and attention maps of one training batch, which
    are too large to cache (SST-2 at 128 tokens, 3 layers of width 768: about 40 GB):
    one forward pass, no gradient, on the batch's own vectors (real or synthetic).

    Returns:
        `VectorOutput` with `layers` (B, J, L, H_T) when the transfer is per token, and
        `attentions` (B, J', heads, L, L) for its attention pairs.
    """
    tokens = transfer.teacher_layers if transfer.states and transfer.pool == "tokens" else ()
    attention = tuple(t for _, t in transfer.attention_pairs)
    with backend.autocast(precision):
        return vector_forward(teacher, batch.vectors, batch.mask, batch.type_ids,
                              layers=tokens, layer_pool="tokens", attentions=attention)
