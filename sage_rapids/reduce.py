"""Stage 3.1: reduce the error-profile embeddings to a 2-D map with UMAP.

cuML's UMAP on the CUDA backend when it imports, umap-learn on the host otherwise.
Above `umap_fit_max` points the map is fitted on a seeded subsample and every other
point is placed at the inverse-distance mean of its k nearest fitted points' map
positions (the same start UMAP's own `transform` uses, without its slow refinement:
0.2 s instead of 14 s for 2k points on 2 cores), so a round's cost grows linearly
with N.
"""

from __future__ import annotations

import importlib
import os
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .backend import Backend
from .config import AugmentConfig


def import_umap():
    """Import umap-learn with numba's on-disk cache switched on for its kernels.

    umap-learn compiles about 130 numba functions, only one with `cache=True`, so
    every process paid ~10 s of compilation before its first fit. Defaulting
    `cache=True` while umap and pynndescent are imported stores the machine code in
    `$NUMBA_CACHE_DIR` (default under the sage-rapids cache): paid once per install.
    """
    root = os.environ.get("SAGE_CACHE_DIR") or os.path.expanduser("~/.cache/sage-rapids")
    os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(root, "numba"))
    import numba

    original = numba.njit, numba.jit

    def cached(decorator):
        def wrapper(*args, **kwargs):
            kwargs.setdefault("cache", True)
            return decorator(*args, **kwargs)
        return wrapper

    numba.njit, numba.jit = cached(numba.njit), cached(numba.jit)
    try:
        return importlib.import_module("umap")
    finally:
        numba.njit, numba.jit = original


def place_by_neighbours(fit_points: Any, fit_coords: np.ndarray, points: Any, k: int,
                        metric: str, backend: Backend, chunk: int = 4096) -> np.ndarray:
    """Place points on a fitted map from their k nearest fitted points.

    Args:
        fit_points: (f, H) points the map was fitted on.
        fit_coords: (f, 2) their map positions.
        points: (n, H) points to place.
        k: neighbours used.
        metric: cosine or euclidean.

    Returns:
        (n, 2) float32 positions: inverse-distance weighted means.
    """
    ref = backend.to_torch(backend.asarray(fit_points)).float()  # (f, H)
    anchors = torch.as_tensor(fit_coords, device=ref.device)  # (f, 2)
    if metric == "cosine":
        ref = F.normalize(ref, dim=1)
    out = np.empty((int(points.shape[0]), 2), dtype=np.float32)
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
        out[start:start + len(block)] = backend.to_host((w[..., None] * anchors[idx]).sum(1))
    return out


class UmapReducer:
    """2-D UMAP with fit-on-subsample, following the estimator conventions.

    Args:
        cfg: `augment` section (umap_* knobs).
        backend: picks cuML or umap-learn.
        seed: seeds the subsample and UMAP.
    """

    def __init__(self, cfg: AugmentConfig, backend: Backend, seed: int = 0):
        self.cfg = cfg
        self.backend = backend
        self.seed = seed

    def _estimator(self, n_points: int):
        cfg = self.cfg
        kwargs = dict(n_components=2, n_neighbors=min(cfg.umap_n_neighbors, n_points - 1),
                      min_dist=cfg.umap_min_dist, metric=cfg.umap_metric,
                      random_state=self.seed)
        if cfg.umap_epochs is not None:
            kwargs["n_epochs"] = cfg.umap_epochs
        if self.backend.has_cuml():
            from cuml.manifold import UMAP

            return UMAP(**kwargs), True
        warnings.filterwarnings("ignore", message="n_jobs value", module="umap")
        return import_umap().UMAP(**kwargs, low_memory=True, transform_seed=self.seed), False

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
            self, with `coords_` (n, 2) float32 for every input row and `fit_index_`.
        """
        n = int(embeddings.shape[0])
        rng = np.random.default_rng(self.seed)
        fit_index = (np.sort(rng.choice(n, self.cfg.umap_fit_max, replace=False))
                     if n > self.cfg.umap_fit_max else np.arange(n))
        self.estimator_, on_device = self._estimator(len(fit_index))
        data = self._input(embeddings, on_device)
        coords = np.empty((n, 2), dtype=np.float32)  # (n, 2)
        coords[fit_index] = self._host(self.estimator_.fit_transform(data[fit_index]))
        rest = np.setdiff1d(np.arange(n), fit_index)
        if len(rest):
            coords[rest] = place_by_neighbours(data[fit_index], coords[fit_index], data[rest],
                                               self.cfg.k, self.cfg.umap_metric, self.backend)
        self.fit_index_ = fit_index
        self.coords_ = self.backend.asarray(coords)
        return self

    def _input(self, embeddings: Any, on_device: bool):
        if on_device:
            return self.backend.xp.asarray(embeddings, dtype=self.backend.xp.float32)
        return self.backend.to_host(embeddings).astype(np.float32)

    def _host(self, array: Any) -> np.ndarray:
        return self.backend.to_host(array).astype(np.float32)
