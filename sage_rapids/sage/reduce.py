"""Stage 3.1: reduce the error-profile embeddings to a 2-D map with UMAP.

The backend's UMAP: cuML's on the device when it imports, umap-learn on the host
otherwise. The map is assembled where the backend's arrays live.
Above `umap_fit_max` points the map is fitted on a seeded subsample and every other
point is placed at the inverse-distance mean of its k nearest fitted points' map
positions (the same start UMAP's own `transform` uses, without its slow refinement:
0.2 s instead of 14 s for 2k points on 2 cores), so a round's cost grows linearly
with N.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..backend import Backend
from ..config import AugmentConfig


def place_by_neighbours(fit_points: Any, fit_coords: Any, points: Any, k: int,
                        metric: str, backend: Backend, chunk: int = 4096) -> Any:
    """Place points on a fitted map from their k nearest fitted points.

    Args:
        fit_points: (f, H) points the map was fitted on.
        fit_coords: (f, 2) their map positions.
        points: (n, H) points to place.
        k: neighbours used.
        metric: cosine or euclidean.

    Returns:
        (n, 2) float32 positions, inverse-distance weighted means (backend array).
    """
    ref = backend.to_torch(backend.asarray(fit_points)).float()  # (f, H)
    anchors = backend.to_torch(backend.asarray(fit_coords)).float()  # (f, 2)
    if metric == "cosine":
        ref = F.normalize(ref, dim=1)
    out = torch.empty((int(points.shape[0]), 2), dtype=torch.float32, device=ref.device)
    k = min(k, ref.shape[0])
    for start in range(0, out.shape[0], chunk):
        block = backend.to_torch(backend.asarray(points[start:start + chunk])).float()
        if metric == "cosine":
            dist = 1.0 - F.normalize(block, dim=1) @ ref.T  # (c, f)
        else:
            dist = torch.cdist(block, ref)
        d, idx = dist.topk(k, largest=False)  # (c, k)
        w = 1.0 / d.clamp_min(1e-6)
        w = w / w.sum(1, keepdim=True)
        out[start:start + len(block)] = (w[..., None] * anchors[idx]).sum(1)
    return backend.from_torch(out)


class UmapReducer:
    """2-D UMAP with fit-on-subsample, following the estimator conventions.

    Args:
        cfg: `augment` section (umap_* knobs).
        backend: gives the UMAP implementation and where the map lives.
        seed: seeds the subsample and UMAP.
    """

    def __init__(self, cfg: AugmentConfig, backend: Backend, seed: int = 0):
        self.cfg = cfg
        self.backend = backend
        self.seed = seed

    @classmethod
    def from_coords(cls, coords: np.ndarray, cfg: AugmentConfig,
                    backend: Backend) -> "UmapReducer":
        """A reducer holding a map restored from a checkpoint (reused, not refitted)."""
        reducer = cls(cfg, backend)
        reducer.coords_ = backend.asarray(coords)
        return reducer

    def fit(self, embeddings: Any) -> "UmapReducer":
        """Fit the map on `embeddings` (n, H), or on a seeded subsample of them.

        Returns:
            self, with `coords_` (n, 2) float32 for every input row (backend array)
            and `fit_index_`.
        """
        n, xp = int(embeddings.shape[0]), self.backend.xp
        rng = np.random.default_rng(self.seed)
        fit_index = (np.sort(rng.choice(n, self.cfg.umap_fit_max, replace=False))
                     if n > self.cfg.umap_fit_max else np.arange(n))
        self.estimator_ = self.backend.umap(**umap_arguments(self.cfg, len(fit_index),
                                                             self.seed))
        fit = xp.asarray(fit_index)
        fit_points = embeddings[fit]
        fitted = self.estimator_.fit_transform(self.backend.umap_input(fit_points))
        coords = xp.empty((n, 2), dtype=xp.float32)  # (n, 2)
        coords[fit] = self.backend.asarray(fitted, dtype=xp.float32)
        rest = np.setdiff1d(np.arange(n), fit_index)
        if len(rest):
            rest = xp.asarray(rest)
            coords[rest] = place_by_neighbours(fit_points, coords[fit], embeddings[rest],
                                               self.cfg.k, self.cfg.umap_metric, self.backend)
        self.fit_index_ = fit_index
        self.coords_ = coords
        return self


def umap_arguments(cfg: AugmentConfig, n_points: int, seed: int) -> dict:
    """The UMAP arguments both implementations take, from the `augment` section."""
    kwargs = dict(n_components=2, n_neighbors=min(cfg.umap_n_neighbors, n_points - 1),
                  min_dist=cfg.umap_min_dist, metric=cfg.umap_metric, random_state=seed)
    if cfg.umap_epochs is not None:
        kwargs["n_epochs"] = cfg.umap_epochs
    return kwargs
