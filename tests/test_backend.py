import numpy as np
import pytest
import torch

from sage_rapids.backend import BackendError, resolve_backend


def test_cpu_backend_shares_memory_with_torch():
    backend = resolve_backend("cpu")
    array = np.arange(6, dtype=np.float32)
    tensor = backend.to_torch(array)
    tensor[0] = 42.0
    assert array[0] == 42.0
    assert backend.from_torch(tensor * 2)[1] == 2.0


@pytest.mark.skipif(torch.cuda.is_available(), reason="machine has a GPU")
def test_cuda_request_without_gpu_says_what_to_do():
    with pytest.raises(BackendError, match="--device cpu"):
        resolve_backend("cuda")
    assert resolve_backend("auto").name == "cpu"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_backend_dlpack_is_zero_copy():
    cupy = pytest.importorskip("cupy")
    backend = resolve_backend("cuda")
    array = cupy.arange(6, dtype=cupy.float32)
    tensor = backend.to_torch(array)
    tensor[0] = 42.0
    assert float(array[0]) == 42.0
    assert isinstance(backend.from_torch(tensor), cupy.ndarray)


def test_cpu_backend_names_its_implementations():
    backend = resolve_backend("cpu")
    impl = backend.implementations
    assert impl["umap"].startswith("umap-learn ") and impl["knn"].startswith("scikit-learn ")
    assert impl["arrays"].startswith("numpy ") and impl["torch"] == f"torch {torch.__version__}"
    assert type(backend.umap(n_components=2, random_state=0)).__module__.startswith("umap")
    points = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    idx, dist = backend.knn(points, np.array([3, 9]), 4)
    assert idx.shape == (2, 4) and idx[0, 0] == 3 and dist[0, 0] == 0.0


def test_auto_with_a_gpu_but_no_cupy_says_why_it_uses_the_cpu(monkeypatch):
    import importlib

    real_import = importlib.import_module

    def no_cupy(name, *args, **kwargs):
        if name == "cupy":
            raise ImportError("No module named 'cupy'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(importlib, "import_module", no_cupy)
    backend = resolve_backend("auto")
    assert backend.name == "cpu"
    assert "CuPy is not installed" in backend.note and "sage-rapids[gpu]" in backend.note
    with pytest.raises(BackendError, match="cupy is not importable"):
        resolve_backend("cuda")
    assert resolve_backend("cpu").note is None


@pytest.mark.parametrize("precision, dtype", [("fp32", torch.float32), ("bf16", torch.bfloat16)])
def test_autocast_runs_matmuls_at_the_asked_precision(precision, dtype):
    backend = resolve_backend("cpu")
    a = torch.randn(4, 4)
    with backend.autocast(precision):
        assert (a @ a).dtype == dtype
    assert backend.grad_scaler(precision) is None
    assert backend.grad_scaler("fp16") is not None
