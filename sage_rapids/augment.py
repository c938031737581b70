"""Stage 3: one augmentation round between epochs.

reduce (UMAP to 2-D) -> anchors (high loss) -> neighbours (kNN in the map) ->
synthesize (recipes) -> label (teacher logits) -> pool (replace or accumulate).
Each stage is timed under its own name so the round's cost can be read apart
from the teacher's labelling work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .backend import Backend
from .config import AugmentConfig
from .profiling import Profiler
from .reduce import UmapReducer
from .regions import nearest_neighbours, select_anchors
from .synthesize import recipe_coords, synthesize_recipes
from .table import ExampleTable, SyntheticPool, real_batch, sorted_batches
from .targets import label_synthetic
from .train import ErrorProfile


@dataclass(frozen=True)
class RoundPicture:
    """What the region map shows, on the host."""

    coords: np.ndarray  # (n, 2) real examples
    loss: np.ndarray  # (n,) anchor loss of each real example
    anchors: np.ndarray  # (a,) anchor indices
    synthetic: np.ndarray  # (m, 2) synthetic points on the map


@dataclass(frozen=True)
class RoundResult:
    pool: SyntheticPool
    n_anchors: int
    anchor_mean_loss: float
    overall_mean_loss: float
    picture: RoundPicture

    def stats(self) -> dict:
        """The round's numbers for `metrics.jsonl`."""
        return {"n_anchors": self.n_anchors, "anchor_mean_loss": self.anchor_mean_loss,
                "overall_mean_loss": self.overall_mean_loss, "pool_size": len(self.pool)}


def synthetic_budget(cfg: AugmentConfig, n_real: int) -> int:
    """Synthetic points made per round: `ratio * N`."""
    return int(round(cfg.ratio * n_real))


def expected_synthetic(cfg: AugmentConfig, n_real: int, epochs: int) -> list[int]:
    """Pool size trained on in each epoch 1..epochs (for the LR schedule)."""
    sizes, pool = [], 0
    for epoch in range(1, epochs + 1):
        sizes.append(pool)
        if cfg.strategy != "none" and epoch >= cfg.start_epoch:
            made = synthetic_budget(cfg, n_real)
            pool = min(pool + made, cfg.pool_max) if cfg.pool == "accumulate" else made
    return sizes


@torch.no_grad()
def pooled_input_vectors(table: ExampleTable, embeddings: torch.Tensor, backend: Backend,
                         batch_size: int = 512) -> Any:
    """(n, H) float16 mean of `E_T[x]` over each example's tokens (`space: input`)."""
    out = torch.empty((len(table), embeddings.shape[1]), dtype=torch.float16,
                      device=backend.device)
    for index in sorted_batches(table.host_lengths, batch_size):
        batch = real_batch(table, embeddings, index, backend)
        w = batch.mask.unsqueeze(-1).to(batch.vectors.dtype)  # (B, L, 1)
        out[batch.real_index] = ((batch.vectors * w).sum(1) / w.sum(1)).half()
    return backend.from_torch(out)


def merge_pools(old: SyntheticPool, new: SyntheticPool, cfg: AugmentConfig,
                backend: Backend) -> SyntheticPool:
    """`replace` keeps the new pool; `accumulate` appends, keeping the newest `pool_max`."""
    if cfg.pool == "replace" or len(old) == 0:
        pool = new
    elif old.sources.shape[1] != new.sources.shape[1]:
        raise ValueError("augment.pool: cannot accumulate recipes of different widths")
    else:
        xp = backend.xp
        pool = SyntheticPool(xp.concatenate([old.sources, new.sources]),
                             xp.concatenate([old.weights, new.weights]),
                             xp.concatenate([old.logits, new.logits]))
    if cfg.pool_max is not None and len(pool) > cfg.pool_max:
        keep = slice(len(pool) - cfg.pool_max, None)
        pool = SyntheticPool(pool.sources[keep], pool.weights[keep], pool.logits[keep])
    return pool


def augment_round(teacher: nn.Module, table: ExampleTable, profile: ErrorProfile,
                  pool: SyntheticPool, embeddings: torch.Tensor, cfg: AugmentConfig,
                  backend: Backend, profiler: Profiler, rng: np.random.Generator,
                  reducer: UmapReducer | None = None,
                  quiet: bool = True) -> tuple[RoundResult, UmapReducer]:
    """Run one round and return the next synthetic pool.

    Args:
        teacher: labels the synthetic points (eval mode, no grad).
        table: real examples.
        profile: the epoch's error profile (per-sample losses, pooled states).
        pool: the current pool (kept or extended per `cfg.pool`).
        embeddings: (V, H_T) teacher word-embedding table.
        reducer: a fitted reducer to reuse (`space: input`), or None to fit.

    Returns:
        (`RoundResult`, the reducer used) so the caller can reuse an input-space map.
    """
    with profiler.stage("reduce"):
        if reducer is None or cfg.space == "student":
            source = (profile.embeddings if cfg.space == "student"
                      else pooled_input_vectors(table, embeddings, backend))
            reducer = UmapReducer(cfg, backend, seed=int(rng.integers(2**31))).fit(source)
        coords = reducer.coords_  # (n, 2)
    with profiler.stage("anchors"):
        chosen = profile.kd_loss if cfg.anchor_loss == "kd" else profile.total_loss
        loss = backend.to_host(chosen).astype(np.float64)  # (n,)
        anchors = select_anchors(loss, cfg.q, cfg.strategy, rng, cfg.anchor_power)
    with profiler.stage("neighbours"):
        neighbours = nearest_neighbours(coords, anchors.index, cfg.k, backend)
    with profiler.stage("synthesize"):
        recipes = synthesize_recipes(anchors, neighbours, synthetic_budget(cfg, len(table)),
                                     cfg.lam_max, cfg.synthesis, rng)
        sources = backend.asarray(recipes.sources)
        weights = backend.asarray(recipes.weights)
    with profiler.stage("label"):
        new = label_synthetic(teacher, table, sources, weights, embeddings, backend,
                              cfg.label_batch_size, quiet)
    pool = merge_pools(pool, new, cfg, backend)
    host_coords = backend.to_host(coords)
    picture = RoundPicture(host_coords, loss, anchors.index,
                           recipe_coords(host_coords, recipes))
    result = RoundResult(pool, len(anchors.index), float(loss[anchors.index].mean()),
                         float(loss.mean()), picture)
    return result, reducer

