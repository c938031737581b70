"""The implementations a `Backend` chooses between for the round's UMAP and kNN.

Stage modules never import these: they call `backend.umap(...)` and `backend.knn(...)`.
The cuML calls use the 26.10 API; `make check-cuml` builds every estimator here with
the installed cuML and checks its signatures.
"""

from __future__ import annotations

import functools
import importlib
import os
import warnings
from typing import Any

import numpy as np
import torch

# Distances of a (chunk, n) block at a time: bounded memory whatever n is.
KNN_CHUNK = 4096
# umap-learn takes exact distances below this many points and NNDescent (kernels of
# its own to compile) from it on.
UMAP_EXACT_BELOW = 4096


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


def learn_umap(**kwargs):
    """umap-learn on the host: `fit_transform` takes and returns NumPy."""
    warnings.filterwarnings("ignore", message="n_jobs value", module="umap")
    return import_umap().UMAP(**kwargs, low_memory=True,
                              transform_seed=kwargs.get("random_state", 42))


@functools.cache
def warm_learn_umap(metric: str, approximate: bool) -> None:
    """Compile umap-learn's numba kernels for `metric` once per process, by a fit of 64
    random points (0.01 s once compiled) on the path a real fit takes (`approximate`:
    NNDescent, for `UMAP_EXACT_BELOW` points or more).

    The first fit in a process pays that compile: ~25 s on 2 cores the first time, ~1.6 s
    to load numba's on-disk cache after it. Cached here because the compiled kernels are
    the process's too; seeded, so no generator of the run is drawn from.
    """
    points = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)  # (64, 8)
    threads = torch.get_num_threads()  # numba's first parallel launch resets the OpenMP
    try:  # pool torch shares (1 -> all cores): training would then sum in another order
        learn_umap(n_components=2, n_neighbors=15, metric=metric, random_state=0, n_epochs=10,
                   force_approximation_algorithm=approximate).fit_transform(points)
    finally:
        torch.set_num_threads(threads)


def cuml_umap(**kwargs):
    """cuML's UMAP: exact kNN graph (the fit sizes are capped by `umap_fit_max`) and
    CuPy output, so the map never leaves the device."""
    from cuml.manifold import UMAP

    return UMAP(**kwargs, build_algo="brute_force_knn", output_type="cupy")


def cuml_knn(points: Any, queries: Any, k: int, xp) -> tuple[Any, Any]:
    """cuML brute-force kNN; CuPy in, CuPy out."""
    from cuml.neighbors import NearestNeighbors

    model = NearestNeighbors(n_neighbors=k, algorithm="brute", output_type="cupy").fit(points)
    dist, idx = model.kneighbors(points[queries])
    return xp.asarray(idx, dtype=xp.int64), xp.asarray(dist, dtype=xp.float32)


def torch_knn(points: torch.Tensor, queries: torch.Tensor, k: int) -> tuple[torch.Tensor,
                                                                             torch.Tensor]:
    """Exact kNN by chunked `cdist` + `topk` on the points' device (euclidean).

    Returns:
        (index (a, k) int64, distance (a, k) float32).
    """
    points = points.float()
    parts = [torch.cdist(points[queries[i:i + KNN_CHUNK]], points).topk(k, largest=False)
             for i in range(0, len(queries), KNN_CHUNK)]
    if not parts:
        return (torch.zeros((0, k), dtype=torch.long, device=points.device),
                torch.zeros((0, k), dtype=torch.float32, device=points.device))
    return torch.cat([p.indices for p in parts]), torch.cat([p.values for p in parts])


def sklearn_knn(points: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray,
                                                                         np.ndarray]:
    """scikit-learn's tree kNN on the host (fast in two dimensions)."""
    from sklearn.neighbors import NearestNeighbors

    dist, idx = NearestNeighbors(n_neighbors=k).fit(points).kneighbors(points[queries])
    return idx.astype(np.int64), dist.astype(np.float32)
