"""Stage 3: one augmentation round between epochs.

reduce (UMAP to 2-D) -> anchors (high point or region loss) -> neighbours (kNN in
the map) -> synthesize (recipes) -> label (teacher logits) -> pool (replace or
accumulate). Each stage is timed under its own name so the round's cost can be read
apart from the teacher's labelling work. On CUDA every array of the round stays on
the device: the host sees the round's scalars, and the map only for a plot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..backend import Backend
from ..config import AugmentConfig
from ..context import Context
from ..distillation.table import Examples, ExampleTable, SyntheticPool, real_batch, sorted_batches
from ..distillation.targets import Labelling, label_synthetic
from ..distillation.train import ErrorProfile
from .reduce import UmapReducer
from .regions import Anchors, Neighbours, nearest_neighbours, region_scores, select_anchors
from .synthesize import Recipes, different, recipe_coords, synthesize_recipes


@dataclass(frozen=True)
class RoundPicture:
    """What the region map shows, on the host."""

    coords: np.ndarray  # (n, 2) real examples
    loss: np.ndarray  # (n,) anchor loss of each real example
    anchors: np.ndarray  # (a,) anchor indices
    synthetic: np.ndarray  # (m, 2) synthetic points on the map

    @classmethod
    def of(cls, coords: Any, loss: Any, anchors: Anchors, recipes: Recipes,
           backend: Backend) -> "RoundPicture":
        """The round's map brought to the host (four copies), for a plot."""
        return cls(backend.to_host(coords), backend.to_host(loss),
                   backend.to_host(anchors.index),
                   backend.to_host(recipe_coords(coords, recipes)))


@dataclass(frozen=True)
class RoundResult:
    pool: SyntheticPool
    n_made: int
    n_anchors: int
    anchor_mean_loss: float
    overall_mean_loss: float
    picture: RoundPicture | None  # None unless asked for (plots)
    looks: dict  # what the anchors are: see `anchor_looks`

    def stats(self) -> dict:
        """The round's numbers for `metrics.jsonl`."""
        return {"n_anchors": self.n_anchors, "anchor_mean_loss": self.anchor_mean_loss,
                "overall_mean_loss": self.overall_mean_loss, "pool_size": len(self.pool),
                "n_made": self.n_made,
                # the recipe, its teacher logits and (layer transfer) the teacher's states
                "pool_bytes_per_example": self.pool.nbytes_per_example(), **self.looks}


def synthetic_budget(cfg: AugmentConfig, n_real: int, scale: float = 1.0) -> int:
    """Synthetic points made per round: `ratio * N`, times `scale` (adaptive budget)."""
    return int(round(cfg.ratio * n_real * scale))


def budget_scale(cfg: AugmentConfig, metrics: list[dict], mean_kd_loss: float) -> float:
    """This round's share of the budget: 1 when `budget: fixed`; with `adaptive`, the
    epoch's mean KD loss over the first round's (how far the student still is from
    the teacher), at most 1.

    Args:
        metrics: the rows of the epochs before this one (`mean_kd_loss` where a round ran).
        mean_kd_loss: this epoch's mean KD loss over the real examples.
    """
    if cfg.budget == "fixed":
        return 1.0
    first = next((r["mean_kd_loss"] for r in metrics if "mean_kd_loss" in r), mean_kd_loss)
    return float(min(1.0, mean_kd_loss / max(first, 1e-12)))


def umap_fit_ahead(cfg: AugmentConfig, epochs: int, done: int, have_map: bool) -> bool:
    """Whether a round after epoch `done` will fit a map: rounds follow epochs
    `start_epoch` to `epochs - 1`, and an input-space map, once made, is reused."""
    rounds_ahead = cfg.strategy != "none" and max(done + 1, cfg.start_epoch) < epochs
    return rounds_ahead and (not have_map or cfg.space == "student")


def expected_synthetic(cfg: AugmentConfig, n_real: int, epochs: int) -> list[int]:
    """Pool size trained on in each epoch 1..epochs (for the LR schedule); with
    `budget: adaptive` the full budget, an upper bound."""
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
        lengths = (None if old.host_lengths is None or new.host_lengths is None
                   else np.concatenate([old.host_lengths, new.host_lengths]))
        layers = (None if old.layers is None or new.layers is None
                  else xp.concatenate([old.layers, new.layers]))
        pool = SyntheticPool(xp.concatenate([old.sources, new.sources]),
                             xp.concatenate([old.weights, new.weights]),
                             xp.concatenate([old.logits, new.logits]), lengths, layers)
    if cfg.pool_max is not None and len(pool) > cfg.pool_max:
        keep = slice(len(pool) - cfg.pool_max, None)
        pool = SyntheticPool(pool.sources[keep], pool.weights[keep], pool.logits[keep],
                             None if pool.host_lengths is None else pool.host_lengths[keep],
                             None if pool.layers is None else pool.layers[keep])
    return pool


def augment_round(teacher: nn.Module, examples: Examples, profile: ErrorProfile,
                  cfg: AugmentConfig, ctx: Context, rng: np.random.Generator,
                  reducer: UmapReducer | None = None, scale: float = 1.0,
                  labelling: Labelling = Labelling()) -> tuple[RoundResult, UmapReducer]:
    """Run one round and return the next synthetic pool.

    Args:
        teacher: labels the synthetic points (eval mode, no grad).
        examples: the real examples, the current pool (kept or extended per
            `cfg.pool`) and the (V, H_T) teacher word-embedding table.
        profile: the epoch's error profile (per-sample losses, pooled states).
        ctx: the backend, the profiler that times each stage, and the rank; rank 0
            brings the map to the host for a plot when `cfg.plots` (`RoundResult.picture`).
        rng: the run's augmentation generator (seeds the map and the round's draws).
        reducer: a fitted reducer to reuse (`space: input`), or None to fit.
        scale: share of the synthetic budget to make (`budget_scale`).
        labelling: the teacher's precision, and the layers it keeps for layer transfer.

    Returns:
        (`RoundResult`, the reducer used) so the caller can reuse an input-space map.
    """
    table, embeddings, backend, profiler = (examples.table, examples.embeddings, ctx.backend,
                                            ctx.profiler)
    with profiler.stage("reduce"):
        if reducer is None or cfg.space == "student":
            source = (profile.embeddings if cfg.space == "student"
                      else pooled_input_vectors(table, embeddings, backend))
            reducer = UmapReducer(cfg, backend, seed=int(rng.integers(2**31))).fit(source)
        coords = reducer.coords_  # (n, 2)
    draws = backend.draws(rng)
    with profiler.stage("anchors"):
        chosen = profile.kd_loss if cfg.anchor_loss == "kd" else profile.total_loss
        loss = chosen.astype(backend.xp.float64)  # (n,)
        score = loss if cfg.anchor_score == "point" else region_scores(loss, coords, cfg.k,
                                                                       backend)
        anchors = select_anchors(score, cfg.q, cfg.strategy, draws, cfg.anchor_power)
    with profiler.stage("neighbours"):
        neighbours = nearest_neighbours(coords, anchors.index, cfg.k, backend)
    with profiler.stage("synthesize"):
        classes, margin = teacher_classes(table, cfg, backend)  # (n,)
        recipes = synthesize_recipes(anchors, neighbours,
                                     synthetic_budget(cfg, len(table), scale), cfg.lam_max,
                                     cfg.synthesis, draws, cfg.partner, classes, margin)
    with profiler.stage("label"):
        new = label_synthetic(teacher, table, recipes.sources, recipes.weights, embeddings,
                              backend, cfg.label_batch_size, ctx.quiet, labelling.precision,
                              labelling.layers, labelling.layer_pool)
    result = RoundResult(
        merge_pools(examples.pool, new, cfg, backend), len(new), len(anchors.index),
        backend.scalar(loss[anchors.index].mean()), backend.scalar(loss.mean()),
        RoundPicture.of(coords, loss, anchors, recipes, backend)
        if cfg.plots and ctx.dist.is_main else None,
        anchor_looks(anchors, neighbours, classes, table.labels, recipes.sources, backend,
                     margin))
    return result, reducer


def teacher_classes(table: ExampleTable, cfg: AugmentConfig, backend: Backend):
    """What `augment.partner` compares: the teacher's class of each real example, with
    margin None; or for a regression teacher its score over the scores' standard
    deviation, with margin `augment.partner_margin` (in standard deviations).

    Returns:
        ((n,) classes or scaled scores, margin or None).
    """
    logits = table.teacher_logits  # (n, C)
    if logits.shape[1] > 1:
        return logits.argmax(1), None
    score = logits[:, 0].astype(backend.xp.float64)  # (n,)
    return score / max(backend.scalar(score.std()), 1e-12), cfg.partner_margin


def anchor_looks(anchors: Anchors, neighbours: Neighbours, classes: Any, labels: Any,
                 sources: Any, backend: Backend, margin: float | None = None) -> dict:
    """What the anchors are, as shares in [0, 1] (NaN where undefined).

    `anchor_teacher_wrong` / `teacher_wrong`: labelled anchors / examples whose teacher
    class is not the gold label (undefined for scores); `anchor_neighbour_anchors`: the
    anchors' map neighbours that are anchors too (uniform anchors give about 1 - q:
    higher means they cluster); `partner_other_class`: recipes mixing two teacher
    classes (scores `margin` apart, see `teacher_classes`).
    """
    xp = backend.xp
    if margin is None:
        labelled = labels >= 0
        wrong = (classes != labels) & labelled  # (n,)
    else:
        labelled = wrong = xp.zeros(len(classes), dtype=bool)
    is_anchor = xp.zeros(len(classes), dtype=bool)
    is_anchor[anchors.index] = True

    def share(hits: Any, of: Any) -> float:
        total = backend.scalar(of.sum())
        return backend.scalar(hits.sum()) / total if total else float("nan")

    mixed = (different(classes[sources[:, 0]], classes[sources[:, 1]], margin)
             if sources.shape[1] == 2 else None)
    return {"anchor_teacher_wrong": share(wrong[anchors.index], labelled[anchors.index]),
            "teacher_wrong": share(wrong, labelled),
            "anchor_neighbour_anchors": backend.scalar(is_anchor[neighbours.index].mean()),
            "partner_other_class": float("nan") if mixed is None
            else backend.scalar(mixed.mean())}
