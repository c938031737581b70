"""cuML's API as sage-rapids calls it, checked against the installed RAPIDS release.

Run by `make check-cuml` in an environment with the `gpu` extra. No GPU is needed:
every estimator is built with the exact arguments the backend passes, signatures
are compared with what the code relies on, and a fit must get as far as the CUDA
runtime (on a machine without a GPU it fails there, never on an argument).
"""

import inspect

import numpy as np
import pytest
import torch

cuml = pytest.importorskip("cuml")
cupy = pytest.importorskip("cupy")

from cuml.manifold import UMAP  # noqa: E402
from cuml.neighbors import NearestNeighbors  # noqa: E402

from sage_rapids import implementations  # noqa: E402
from sage_rapids.backend import Backend  # noqa: E402
from sage_rapids.config import AugmentConfig  # noqa: E402
from sage_rapids.sage.reduce import umap_arguments  # noqa: E402

GPU = torch.cuda.is_available() and cupy.cuda.runtime.getDeviceCount() > 0


def cuda_backend() -> Backend:
    """The backend a GPU machine with cuML resolves to (built, not resolved: no GPU here)."""
    return Backend("cuda", torch.device("cuda", 0), cupy, "cuml", "cuml")


def test_installed_release_is_the_pinned_one():
    assert cuml.__version__.startswith("26.10"), cuml.__version__
    assert int(cupy.__version__.split(".")[0]) >= 14


@pytest.mark.parametrize("metric, epochs", [("cosine", 100), ("euclidean", None)])
def test_backend_umap_is_cumls_with_our_arguments(metric, epochs):
    cfg = AugmentConfig(umap_metric=metric, umap_epochs=epochs)
    kwargs = umap_arguments(cfg, 2000, seed=7)
    model = cuda_backend().umap(**kwargs)
    assert isinstance(model, UMAP)
    params = model.get_params()
    for key, value in kwargs.items():
        assert params[key] == value, key
    assert params["build_algo"] == "brute_force_knn" and params["output_type"] == "cupy"
    accepted = inspect.signature(UMAP.__init__).parameters
    assert set(kwargs) | {"build_algo", "output_type"} <= set(accepted)
    assert "brute_force_knn" in inspect.getdoc(UMAP)  # still a documented build_algo


def test_nearest_neighbors_with_our_arguments():
    model = NearestNeighbors(n_neighbors=11, algorithm="brute", output_type="cupy")
    assert model.get_params()["n_neighbors"] == 11
    kneighbors = inspect.signature(NearestNeighbors.kneighbors).parameters
    assert list(kneighbors)[1:4] == ["X", "n_neighbors", "return_distance"]
    assert "fit" in dir(NearestNeighbors)


def test_cupy_calls_of_the_device_round_exist():
    assert "side" in inspect.signature(cupy.searchsorted).parameters
    assert "size" in inspect.signature(cupy.random.Generator.random).parameters
    for name in ("default_rng",):
        assert callable(getattr(cupy.random, name))
    for name in ("from_dlpack", "asnumpy", "argsort", "cumsum", "stack", "concatenate"):
        assert callable(getattr(cupy, name)), name


@pytest.mark.skipif(GPU, reason="a GPU is present: the fit runs for real in the gpu tests")
def test_fits_reach_the_cuda_runtime_not_an_argument_error():
    points = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    umap = cuda_backend().umap(**umap_arguments(AugmentConfig(umap_epochs=50), 64, seed=0))
    with pytest.raises(Exception) as err:
        umap.fit_transform(points)
    assert "cuda" in f"{type(err.value).__name__} {err.value}".lower()
    with pytest.raises(Exception) as err:
        implementations.cuml_knn(points[:, :2], np.arange(5), 3, cupy)
    assert "cuda" in f"{type(err.value).__name__} {err.value}".lower()
