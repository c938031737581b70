"""The compute backend, resolved once at start-up and passed down.

Nothing below the CLI asks whether CUDA exists: it asks the `Backend`, which owns
the device differences: arrays (NumPy on the CPU, shared with torch zero-copy;
CuPy on CUDA, shared through DLPack), the implementations of the round's UMAP and
kNN (cuML when it imports on a GPU; else umap-learn on the host and torch brute
force on the GPU; scikit-learn on the CPU), the round's random draws, mixed
precision and the device's random state. GPU libraries are imported lazily so
`import sage_rapids` works without them.
"""

from __future__ import annotations

import contextlib
import importlib
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import numpy as np
import torch

from . import implementations as impl
from .draws import ArrayDraws, HostDraws

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class BackendError(RuntimeError):
    """The requested device cannot be used; the message says what to install."""


@dataclass(frozen=True)
class Backend:
    """Arrays, device and the reduce / kNN implementations for this machine.

    Attributes:
        name: "cpu" or "cuda".
        device: the torch device models and batches live on.
        xp: the array module, numpy or cupy.
        umap_impl: "cuml" or "umap-learn".
        knn_impl: "cuml", "torch-bruteforce" or "scikit-learn".
        note: why `device: auto` did not take the GPU it saw, or None.
    """

    name: str
    device: torch.device
    xp: ModuleType
    umap_impl: str = "umap-learn"
    knn_impl: str = "scikit-learn"
    note: str | None = None
    versions: dict = field(default_factory=dict, compare=False)

    @property
    def is_cuda(self) -> bool:
        return self.name == "cuda"

    @property
    def ddp_device_ids(self) -> list[int] | None:
        """What DistributedDataParallel is told: this rank's GPU, or None on the CPU."""
        return [self.device.index] if self.is_cuda else None

    @property
    def implementations(self) -> dict[str, str]:
        """What runs each part, with versions: recorded in profile.json and summary.json."""
        arrays = "cupy" if self.is_cuda else "numpy"
        return {name: f"{lib} {self.versions.get(lib, '')}".strip()
                for name, lib in (("arrays", arrays), ("umap", self.umap_impl),
                                  ("knn", self.knn_impl), ("torch", "torch"))}

    # ------------------------------------------------------------------ arrays
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

    def scalar(self, value: Any) -> float:
        """One number to the host (a 0-d array or tensor)."""
        return float(self.to_host(value))

    def synchronize(self) -> None:
        """Wait for queued device work, so a clock read after it is honest."""
        if self.is_cuda:
            torch.cuda.synchronize(self.device)

    # ---------------------------------------------------------- the round's parts
    def umap(self, **kwargs):
        """A 2-D UMAP estimator; `umap_input` gives it its data where it wants it."""
        if self.umap_impl == "cuml":
            return impl.cuml_umap(**kwargs)
        return impl.learn_umap(**kwargs)

    @property
    def umap_compiles(self) -> bool:
        """Whether the UMAP compiles kernels at its first fit in a process (umap-learn's
        numba JIT); a run pays that apart (`warm_umap`), so no round is charged for it."""
        return self.umap_impl == "umap-learn"

    def warm_umap(self, metric: str, fit_points: int) -> None:
        """Compile the UMAP's kernels, once per process, for fits of `fit_points` points
        with `metric`, on a tiny input (nothing for a UMAP that does not compile)."""
        if self.umap_compiles:
            impl.warm_learn_umap(metric, fit_points >= impl.UMAP_EXACT_BELOW)

    def umap_input(self, points: Any) -> Any:
        """(f, H) points as float32 where the UMAP implementation reads them."""
        if self.umap_impl == "cuml":
            return self.xp.asarray(points, dtype=self.xp.float32)
        return self.to_host(points).astype(np.float32)

    def knn(self, points: Any, queries: Any, k: int) -> tuple[Any, Any]:
        """k nearest rows of `points` (n, d) to `points[queries]`, self included.

        Returns:
            (index (a, k) int64, distance (a, k) float32), arrays of this backend.
        """
        if self.knn_impl == "cuml":
            return impl.cuml_knn(points, queries, k, self.xp)
        if self.knn_impl == "torch-bruteforce":
            idx, dist = impl.torch_knn(self.to_torch(points), self.to_torch(queries), k)
            return self.from_torch(idx), self.from_torch(dist)
        return impl.sklearn_knn(np.asarray(points), np.asarray(queries), k)

    def draws(self, rng: np.random.Generator):
        """The round's random draws: the run's own NumPy generator on the CPU; on CUDA
        a device generator seeded from it (so a resumed run draws the same)."""
        if self.is_cuda:
            return ArrayDraws(self.xp.random.default_rng(int(rng.integers(2**63))), self.xp)
        return HostDraws(rng)

    # ------------------------------------------------------------ precision, state
    def autocast(self, precision: str):
        """Context in which forward passes run at `precision` (fp32: unchanged)."""
        if PRECISIONS[precision] is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=PRECISIONS[precision])

    def grad_scaler(self, precision: str):
        """A gradient scaler for fp16 training, else None (bf16 keeps fp32's range)."""
        return torch.amp.GradScaler(self.device.type) if precision == "fp16" else None

    def device_rng_state(self) -> torch.Tensor | None:
        """The device generator's state (dropout on the GPU draws from it), or None."""
        return torch.cuda.get_rng_state(self.device) if self.is_cuda else None

    def set_device_rng_state(self, state: torch.Tensor | None) -> None:
        if self.is_cuda and state is not None:
            torch.cuda.set_rng_state(state, self.device)


def _versions(*packages: str) -> dict[str, str]:
    """Installed versions; CuPy's and cuML's wheels are named per CUDA release, so those
    two are read from the modules themselves."""
    out = {}
    for name in packages:
        if name in ("cupy", "cuml"):
            out[name] = getattr(importlib.import_module(name), "__version__", "")
            continue
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def cpu_backend(note: str | None = None) -> Backend:
    return Backend("cpu", torch.device("cpu"), np, "umap-learn", "scikit-learn", note,
                   _versions("numpy", "umap-learn", "scikit-learn", "torch"))


def _has_cuml() -> bool:
    try:
        importlib.import_module("cuml")
        return True
    except Exception:  # cuML raises more than ImportError when CUDA is unusable
        return False


def resolve_backend(device: str = "auto", local_rank: int | None = None) -> Backend:
    """Pick the backend and its implementations once, at start-up.

    Args:
        device: "auto" (CUDA if torch sees a GPU and CuPy imports, else CPU),
            "cpu" or "cuda".
        local_rank: this process's rank on its machine; picks the GPU (torch and CuPy)
            so a multi-GPU run never exchanges arrays across devices.

    Returns:
        The resolved `Backend`; with `auto` on a GPU machine without CuPy, a CPU backend
        whose `note` says why and what to install.

    Raises:
        BackendError: `cuda` was asked for and cannot be met; says what to install.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise BackendError(f"device must be auto, cpu or cuda, got {device!r}")
    if device == "cpu":
        return cpu_backend()
    if not torch.cuda.is_available():
        if device == "cuda":
            raise BackendError(
                "device=cuda but torch sees no CUDA device: install a CUDA build of torch "
                "on a machine with an NVIDIA GPU, or use --device cpu")
        return cpu_backend()
    try:
        cupy = importlib.import_module("cupy")
    except ImportError:
        if device == "cuda":
            raise BackendError(
                "device=cuda but cupy is not importable: pip install 'sage-rapids[gpu]' "
                "or use --device cpu") from None
        return cpu_backend("device auto: torch sees a GPU but CuPy is not installed, so this "
                           "run uses the CPU; pip install 'sage-rapids[gpu]' to use the GPU")
    index = torch.cuda.current_device() if local_rank is None else local_rank
    if index >= torch.cuda.device_count():
        raise BackendError(f"local rank {index} has no GPU: this machine has "
                           f"{torch.cuda.device_count()}; ask for fewer --gpus")
    torch.cuda.set_device(index)
    cupy.cuda.Device(index).use()
    cuml = _has_cuml()
    return Backend("cuda", torch.device("cuda", index), cupy,
                   "cuml" if cuml else "umap-learn", "cuml" if cuml else "torch-bruteforce",
                   None, _versions("cupy", "torch", *(("cuml",) if cuml else ("umap-learn",))))
