"""Teacher targets: logits for every real example, computed once (stage 1), and
labels for synthetic points after each augmentation round (stage 3.6).

The teacher runs through its vectorized interface, on the same `E_T[x]` vectors
the student sees, with no gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..backend import Backend
from ..progress import progress_bar
from .models import vector_forward
from .table import ExampleTable, SyntheticPool, real_batch, sorted_batches, synthetic_batch


@dataclass(frozen=True)
class TeacherTargets:
    logits: Any  # (n, C) float32 backend array
    pooled: Any  # (n, H) float16 backend array, or None


@torch.no_grad()
def teacher_targets(teacher: nn.Module, table: ExampleTable, embeddings: torch.Tensor,
                    backend: Backend, batch_size: int, pooled: bool = False,
                    quiet: bool = True, desc: str = "teacher targets",
                    precision: str = "fp32") -> TeacherTargets:
    """Stage 1: teacher logits (and optionally pooled states) for every real example.

    Args:
        teacher: classifier in eval mode on the backend's device.
        table: real examples.
        embeddings: (V, H) teacher word-embedding table.
        batch_size: examples per forward pass.
        pooled: also keep mean-pooled last hidden states (for `loss.cosine`).
        precision: `fp32`, `bf16` or `fp16` forward passes; logits are kept in fp32.

    Returns:
        `TeacherTargets` as backend arrays, in table order.
    """
    n = len(table)
    logits = torch.empty((n, teacher.config.num_labels), dtype=torch.float32,
                         device=backend.device)
    states = None
    for index in progress_bar(sorted_batches(table.host_lengths, batch_size), desc, quiet):
        batch = real_batch(table, embeddings, index, backend)
        with backend.autocast(precision):
            out = vector_forward(teacher, batch.vectors, batch.mask, batch.type_ids,
                                 pooled=pooled)
        logits[batch.real_index] = out.logits.float()
        if pooled:
            if states is None:
                states = torch.empty((n, out.pooled.shape[1]), dtype=torch.float16,
                                     device=backend.device)
            states[batch.real_index] = out.pooled.half()
    return TeacherTargets(backend.from_torch(logits),
                          None if states is None else backend.from_torch(states))


@torch.no_grad()
def label_synthetic(teacher: nn.Module, table: ExampleTable, sources: Any, weights: Any,
                    embeddings: torch.Tensor, backend: Backend, batch_size: int,
                    quiet: bool = True, precision: str = "fp32") -> SyntheticPool:
    """Stage 3.6: teacher logits for synthetic recipes, batched, no grad.

    Args:
        sources: (m, k) int32 source indices (column 0 the anchor), backend array.
        weights: (m, k) float32 mixing weights, backend array.
        precision: `fp32`, `bf16` or `fp16` forward passes; logits are kept in fp32.

    Returns:
        The `SyntheticPool` of these recipes with their teacher logits and lengths.
    """
    m = int(sources.shape[0])
    pool = SyntheticPool(sources, weights, backend.xp.zeros((m, teacher.config.num_labels),
                                                            dtype=backend.xp.float32))
    pool = pool.with_lengths(table, backend)
    logits = backend.to_torch(pool.logits)  # shares memory with pool.logits
    for index in progress_bar(sorted_batches(pool.host_lengths, batch_size),
                              "label synthetic", quiet):
        batch = synthetic_batch(table, pool, embeddings, index, backend)
        with backend.autocast(precision):
            out = vector_forward(teacher, batch.vectors, batch.mask, batch.type_ids)
        logits[torch.as_tensor(index, device=backend.device)] = out.logits.float()
    return pool

