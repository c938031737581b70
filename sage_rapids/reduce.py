"""Stage 3.1: reduce the error-profile embeddings to a 2-D map with UMAP.

cuML's UMAP on the CUDA backend when it imports, umap-learn on the host otherwise.
Above `umap_fit_max` points the map is fitted on a seeded subsample and the rest is
placed with `transform`, so a round's cost grows linearly with N.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .backend import Backend
from .config import AugmentConfig


def _numba_cache() -> None:
    """Keep numba's compiled code in a persistent folder: umap-learn's first call in
    a process otherwise spends tens of seconds compiling, once per run."""
    root = os.environ.get("SAGE_CACHE_DIR") or os.path.expanduser("~/.cache/sage-rapids")
    os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(root, "numba"))


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
        _numba_cache()
        import umap

        return umap.UMAP(**kwargs, low_memory=True, transform_seed=self.seed), False

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
            coords[rest] = self._host(self.estimator_.transform(data[rest]))
        self.on_device_ = on_device
        self.fit_index_ = fit_index
        self.coords_ = self.backend.asarray(coords)
        return self

    def transform(self, embeddings: Any) -> Any:
        """Place new rows (n, H) on the fitted map; returns (n, 2) backend array."""
        data = self._input(embeddings, self.on_device_)
        return self.backend.asarray(self._host(self.estimator_.transform(data)))

    def _input(self, embeddings: Any, on_device: bool):
        if on_device:
            return self.backend.xp.asarray(embeddings, dtype=self.backend.xp.float32)
        return self.backend.to_host(embeddings).astype(np.float32)

    def _host(self, array: Any) -> np.ndarray:
        return self.backend.to_host(array).astype(np.float32)
