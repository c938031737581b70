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
