"""The round's random draws, where its arrays live.

`HostDraws` makes the NumPy calls the round has always made on the CPU (the same
seed gives the same run as before). `ArrayDraws` builds every draw from uniform
variates of an array module's generator (CuPy's on CUDA), so anchors and recipes
are drawn on the device and never visit the host.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class HostDraws:
    """Draws from the run's NumPy generator."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.xp = np

    def random(self, m: int) -> np.ndarray:
        """(m,) float64 uniform on [0, 1)."""
        return self.rng.uniform(size=m)

    def uniform(self, high: float, m: int) -> np.ndarray:
        return self.rng.uniform(0.0, high, size=m)

    def integers(self, high: int, m: int) -> np.ndarray:
        return self.rng.integers(0, high, size=m)

    def weighted(self, p: np.ndarray, m: int) -> np.ndarray:
        """(m,) indices drawn with replacement with probabilities `p`."""
        return self.rng.choice(len(p), size=m, p=p)

    def subset(self, n: int, count: int) -> np.ndarray:
        """`count` distinct indices of `range(n)`, uniformly, sorted."""
        return np.sort(self.rng.choice(n, count, replace=False))


class ArrayDraws:
    """Draws from an array module's generator (`xp.random.default_rng(seed)`)."""

    def __init__(self, generator: Any, xp):
        self.generator = generator
        self.xp = xp

    def random(self, m: int) -> Any:
        return self.generator.random(m)

    def uniform(self, high: float, m: int) -> Any:
        return high * self.generator.random(m)

    def integers(self, high: int, m: int) -> Any:
        scaled = (self.generator.random(m) * high).astype(self.xp.int64)
        return self.xp.minimum(scaled, high - 1)

    def weighted(self, p: Any, m: int) -> Any:
        cdf = self.xp.cumsum(self.xp.asarray(p, dtype=self.xp.float64))
        picks = self.xp.searchsorted(cdf / cdf[-1], self.generator.random(m), side="right")
        return self.xp.minimum(picks, len(p) - 1).astype(self.xp.int64)

    def subset(self, n: int, count: int) -> Any:
        return self.xp.sort(self.xp.argsort(self.generator.random(n))[:count])
