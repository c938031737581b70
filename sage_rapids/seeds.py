"""Seeds per consumer of randomness, derived from the run's seed.

Each stage that draws random numbers (teacher fine-tuning, student initialisation,
dropout, batch order, augmentation) gets its own stream, so whether one stage ran
(a teacher fine-tuned now or found in the cache) never shifts another's draws.
Data subsets use `stratified_subset(..., seed)`, which builds its own generator.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def derive_seed(seed: int, stream: str, rank: int = 0) -> int:
    """A 63-bit seed for `stream` (and `rank`), a pure function of its arguments."""
    digest = hashlib.sha256(f"{seed}/{stream}/{rank}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def generator(seed: int, stream: str, rank: int = 0) -> np.random.Generator:
    """A NumPy generator of its own for `stream`."""
    return np.random.default_rng(derive_seed(seed, stream, rank))


def seed_torch(seed: int, stream: str, rank: int = 0) -> None:
    """Reseed torch's global generators (CPU and CUDA) for the stage about to run.

    Model code draws from them (weight initialisation, dropout) and takes no generator,
    so each stage reseeds them at its start instead of inheriting what ran before.
    """
    torch.manual_seed(derive_seed(seed, stream, rank))
