"""The compute backend, resolved once at start-up and passed down.

Nothing below the CLI asks whether CUDA exists: it asks the `Backend`. The CPU
backend uses NumPy arrays shared with torch through `torch.from_numpy` (zero copy);
the CUDA backend uses CuPy arrays shared with torch through DLPack (zero copy).
GPU libraries are imported lazily so `import sage_rapids` works without them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import torch


class BackendError(RuntimeError):
    """The requested device cannot be used; the message says what to install."""


@dataclass(frozen=True)
class Backend:
    """Arrays, device and the reduce/kNN implementations for one device kind.

    Attributes:
        name: "cpu" or "cuda".
        device: the torch device models and batches live on.
        xp: the array module, numpy or cupy.
    """

    name: str
    device: torch.device
    xp: ModuleType

    @property
    def is_cuda(self) -> bool:
        return self.name == "cuda"

    def to_torch(self, array: Any) -> torch.Tensor:
        """Array of this backend -> torch tensor on `device`, sharing memory."""
        if isinstance(array, torch.Tensor):
            return array.to(self.device)
        if self.is_cuda:
            return torch.from_dlpack(self.xp.asarray(array))
        return torch.from_numpy(np.ascontiguousarray(array))

    def from_torch(self, tensor: torch.Tensor) -> Any:
        """Torch tensor -> array of this backend (CuPy via DLPack, NumPy on CPU)."""
        tensor = tensor.detach()
        if self.is_cuda:
            return self.xp.from_dlpack(tensor.to(self.device).contiguous())
        return tensor.cpu().numpy()

    def asarray(self, array: Any, dtype: Any = None) -> Any:
        """Host or device data -> an array of this backend."""
        if isinstance(array, torch.Tensor):
            array = self.from_torch(array)
        return self.xp.asarray(array, dtype=dtype)

    def to_host(self, array: Any) -> np.ndarray:
        """Any array of this backend -> NumPy (a copy only on CUDA)."""
        if isinstance(array, torch.Tensor):
            return array.detach().cpu().numpy()
        if self.is_cuda and not isinstance(array, np.ndarray):
            return self.xp.asnumpy(array)
        return np.asarray(array)

    def synchronize(self) -> None:
        """Wait for queued device work, so a clock read after it is honest."""
        if self.is_cuda:
            torch.cuda.synchronize(self.device)

    def has_cuml(self) -> bool:
        """True when cuML imports (only ever on the CUDA backend)."""
        if not self.is_cuda:
            return False
        try:
            importlib.import_module("cuml")
            return True
        except Exception:  # cuML raises more than ImportError when CUDA is off
            return False


def resolve_backend(device: str = "auto", local_rank: int | None = None) -> Backend:
    """Pick the backend once, at start-up.

    Args:
        device: "auto" (CUDA if torch sees a GPU and CuPy imports, else CPU),
            "cpu" or "cuda".
        local_rank: this process's rank on its machine; picks the GPU (torch and CuPy)
            so a multi-GPU run never exchanges arrays across devices.

    Returns:
        The resolved `Backend`.

    Raises:
        BackendError: `cuda` was asked for and cannot be met; says what to install.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise BackendError(f"device must be auto, cpu or cuda, got {device!r}")
    if device == "cpu":
        return Backend("cpu", torch.device("cpu"), np)
    has_gpu = torch.cuda.is_available()
    if not has_gpu:
        if device == "cuda":
            raise BackendError(
                "device=cuda but torch sees no CUDA device: install a CUDA build of torch "
                "on a machine with an NVIDIA GPU, or use --device cpu")
        return Backend("cpu", torch.device("cpu"), np)
    try:
        cupy = importlib.import_module("cupy")
    except ImportError:
        if device == "cuda":
            raise BackendError(
                "device=cuda but cupy is not importable: pip install 'sage-rapids[gpu]' "
                "or use --device cpu") from None
        return Backend("cpu", torch.device("cpu"), np)
    index = torch.cuda.current_device() if local_rank is None else local_rank
    if index >= torch.cuda.device_count():
        raise BackendError(f"local rank {index} has no GPU: this machine has "
                           f"{torch.cuda.device_count()}; ask for fewer --gpus")
    torch.cuda.set_device(index)
    cupy.cuda.Device(index).use()
    return Backend("cuda", torch.device("cuda", index), cupy)
