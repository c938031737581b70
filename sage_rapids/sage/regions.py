"""Stages 3.2 and 3.3: anchors where the student's loss is high, and their
nearest neighbours in the 2-D map.

An anchor's score is its own loss (`anchor_score: point`) or the mean loss of its
neighbourhood in the map (`region`: the paper's "regions of high student loss").
Everything here works on the backend's arrays (NumPy or CuPy): a round on CUDA
selects anchors and finds neighbours on the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import Backend
from ..draws import HostDraws


@dataclass(frozen=True)
class Anchors:
    """Anchor examples and how often each should be drawn.

    Attributes:
        index: (a,) int64 indices of real examples.
        probability: (a,) float64 draw probabilities, summing to 1.
    """

    index: Any
    probability: Any


def as_draws(draws):
    """Accept a NumPy generator where draws are expected (tests, benchmarks)."""
    return HostDraws(draws) if isinstance(draws, np.random.Generator) else draws


def _descending(xp, values: Any) -> Any:
    """Indices sorting `values` from the largest, ties in index order."""
    if xp is np:
        return np.argsort(-values, kind="stable")
    return xp.argsort(-values)  # CuPy's sort is a stable radix sort


def select_anchors(loss: Any, q: float, strategy: str, draws, power: float = 1.0) -> Anchors:
    """Pick anchors for a round.

    Args:
        loss: (n,) per-sample score of every real example (loss, or region loss).
        q: `sage` keeps the examples above the q-quantile of the loss (q = 0: all).
        strategy: `sage` (top 1 - q, drawn in proportion to loss ** power) or
            `random` (the same number of anchors, uniform over all examples, uniform
            draws).
        draws: the round's random draws (`Backend.draws`) or a NumPy generator.
        power: sharpness of the loss weighting; 0 draws the kept anchors uniformly,
            1 in proportion to their loss, larger values favour the hardest.

    Returns:
        `Anchors`, arrays of the loss's kind.
    """
    draws = as_draws(draws)
    xp, n = draws.xp, len(loss)
    count = max(1, int(round((1.0 - q) * n)))
    if strategy == "random":
        index = draws.subset(n, count)
        return Anchors(index, xp.full(count, 1.0 / count))
    index = xp.sort(_descending(xp, loss)[:count])
    weight = xp.clip(loss[index].astype(xp.float64), 1e-12, None) ** power
    return Anchors(index, weight / weight.sum())


def region_scores(loss: Any, coords: Any, k: int, backend: Backend) -> Any:
    """Each example's region loss: the mean loss of itself and its k map neighbours.

    Args:
        loss: (n,) per-sample loss.
        coords: (n, 2) map of all real examples (backend array).
        k: neighbours per example.

    Returns:
        (n,) scores, a backend array.
    """
    n = len(loss)
    around = nearest_neighbours(coords, backend.xp.arange(n), k, backend).index  # (n, k)
    return (loss + loss[around].sum(1)) / (around.shape[1] + 1)


@dataclass(frozen=True)
class Neighbours:
    index: Any  # (a, k) int64 real-example indices, self excluded
    distance: Any  # (a, k) float32 distances in the 2-D map


def nearest_neighbours(coords: Any, queries: Any, k: int, backend: Backend) -> Neighbours:
    """k nearest real points of each query point in the 2-D map, excluding itself.

    Args:
        coords: (n, 2) map of all real examples (backend array).
        queries: (a,) indices of the query examples (backend array).
        k: neighbours per query (capped at n - 1).

    Returns:
        `Neighbours`, backend arrays.
    """
    k = min(k, int(coords.shape[0]) - 1)
    queries = backend.xp.asarray(queries)
    idx, dist = backend.knn(coords, queries, k + 1)
    return _drop_self(idx, dist, queries, k)


def _drop_self(idx: Any, dist: Any, queries: Any, k: int) -> Neighbours:
    """Remove each query from its own list (ties may put it anywhere, or nowhere)."""
    keep = idx != queries[:, None]  # (a, k + 1)
    keep[:, -1] &= keep.sum(1) <= k  # self was absent: drop the farthest instead
    out_idx = idx[keep].reshape(len(queries), k)
    out_dist = dist[keep].reshape(len(queries), k)
    return Neighbours(out_idx.astype("int64"), out_dist.astype("float32"))
