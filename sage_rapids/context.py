"""What every stage call of a run shares: the backend it computes on, the profiler it
reports its seconds to, this process's place among the ranks, and whether it shows
progress. One `Context` is made at the start of a run and passed down unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .backend import Backend
from .distributed import Dist
from .profiling import NullProfiler, Profiler


@dataclass(frozen=True)
class Context:
    """The run's context for a stage.

    Attributes:
        backend: arrays, device and the implementations of each role.
        profiler: where stages time themselves (`NullProfiler` records nothing).
        dist: this rank; a world of one by default.
        quiet: no progress bars.
    """

    backend: Backend
    profiler: Profiler = field(default_factory=NullProfiler)
    dist: Dist = Dist()
    quiet: bool = True
