"""Stages 3.2 and 3.3: anchors where the student's loss is high, and their
nearest neighbours in the 2-D map.

An anchor's score is its own loss (`anchor_score: point`) or the mean loss of its
neighbourhood in the map (`region`: the paper's "regions of high student loss").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .backend import Backend


@dataclass(frozen=True)
class Anchors:
    """Anchor examples and how often each should be drawn.

    Attributes:
        index: (a,) int64 indices of real examples.
        probability: (a,) float64 draw probabilities, summing to 1.
    """

    index: np.ndarray
    probability: np.ndarray


def select_anchors(loss: np.ndarray, q: float, strategy: str,
                   rng: np.random.Generator, power: float = 1.0) -> Anchors:
    """Pick anchors for a round.

    Args:
        loss: (n,) per-sample loss of every real example (kd or total).
        q: `sage` keeps the examples above the q-quantile of the loss (q = 0: all).
        strategy: `sage` (top 1 - q, drawn in proportion to loss ** power) or
            `random` (the same number of anchors, uniform over all examples, uniform
            draws).
        rng: seeded generator (`random` only).
        power: sharpness of the loss weighting; 0 draws the kept anchors uniformly,
            1 in proportion to their loss, larger values favour the hardest.

    Returns:
        `Anchors`.
    """
    n = len(loss)
    count = max(1, int(round((1.0 - q) * n)))
    if strategy == "random":
        index = np.sort(rng.choice(n, count, replace=False))
        return Anchors(index, np.full(count, 1.0 / count))
    index = np.sort(np.argsort(-loss, kind="stable")[:count])
    weight = np.clip(loss[index].astype(np.float64), 1e-12, None) ** power
    return Anchors(index, weight / weight.sum())


def region_scores(loss: np.ndarray, coords: Any, k: int, backend: Backend) -> np.ndarray:
    """Each example's region loss: the mean loss of itself and its k map neighbours.

    Args:
        loss: (n,) per-sample loss.
        coords: (n, 2) map of all real examples (backend array).
        k: neighbours per example.

    Returns:
        (n,) float64 scores on the host.
    """
    n = len(loss)
    around = nearest_neighbours(coords, np.arange(n), k, backend).index  # (n, k)
    return (loss + loss[around].sum(1)) / (around.shape[1] + 1)


@dataclass(frozen=True)
class Neighbours:
    index: np.ndarray  # (a, k) int64 real-example indices, self excluded
    distance: np.ndarray  # (a, k) float32 distances in the 2-D map


def nearest_neighbours(coords: Any, queries: np.ndarray, k: int,
                       backend: Backend) -> Neighbours:
    """k nearest real points of each query point in the 2-D map, excluding itself.

    cuML `NearestNeighbors` on CUDA when it imports, else torch brute force on the
    GPU; scikit-learn on CPU.

    Args:
        coords: (n, 2) map of all real examples (backend array).
        queries: (a,) indices of the query examples.
        k: neighbours per query (capped at n - 1).

    Returns:
        `Neighbours` on the host.
    """
    n = int(coords.shape[0])
    k = min(k, n - 1)
    if backend.is_cuda:
        idx, dist = _knn_cuda(coords, queries, k + 1, backend)
    else:
        from sklearn.neighbors import NearestNeighbors

        host = backend.to_host(coords)
        dist, idx = NearestNeighbors(n_neighbors=k + 1).fit(host).kneighbors(host[queries])
    return _drop_self(idx, dist, queries, k)


def _knn_cuda(coords: Any, queries: np.ndarray, k: int, backend: Backend):
    if backend.has_cuml():
        from cuml.neighbors import NearestNeighbors

        model = NearestNeighbors(n_neighbors=k).fit(coords)
        dist, idx = model.kneighbors(coords[backend.xp.asarray(queries)])
        return backend.to_host(idx), backend.to_host(dist)
    points = backend.to_torch(coords).float()  # (n, 2)
    q = points[torch.as_tensor(queries, device=backend.device)]  # (a, 2)
    dist, idx = torch.cdist(q, points).topk(k, largest=False)  # (a, k)
    return backend.to_host(idx), backend.to_host(dist)


def _drop_self(idx: np.ndarray, dist: np.ndarray, queries: np.ndarray, k: int) -> Neighbours:
    """Remove each query from its own list (ties may put it anywhere, or nowhere)."""
    keep = idx != queries[:, None]  # (a, k + 1)
    keep[keep.sum(1) > k, -1] = False  # self was absent: drop the farthest instead
    out_idx = idx[keep].reshape(len(queries), k)
    out_dist = dist[keep].reshape(len(queries), k)
    return Neighbours(out_idx.astype(np.int64), out_dist.astype(np.float32))
