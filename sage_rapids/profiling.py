"""Stage timing. The same code runs whether profiling is on or off:
`with profiler.stage("umap"):` times the block, or does nothing with `NullProfiler`.
On the GPU the clock is read only after the device has finished the queued work.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Callable, Iterator

# The round's own machinery, as opposed to teacher labelling and training.
AUGMENT_STAGES = ("reduce", "anchors", "neighbours", "synthesize")
# UMAP's JIT compile before the first round, once per process: in no overhead, as it
# is no round's cost (the first profile of a process would otherwise be 10x the next).
WARMUP = "warmup"


class Profiler:
    """Accumulates wall seconds per stage, per epoch.

    Args:
        synchronize: called before each clock read (the backend's, on GPU).
    """

    def __init__(self, synchronize: Callable[[], None] = lambda: None):
        self.synchronize = synchronize
        self.epoch = 0
        self.seconds_: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.synchronize()
        start = time.perf_counter()
        try:
            yield
        finally:
            self.synchronize()
            self.seconds_[self.epoch][name] += time.perf_counter() - start

    def restore(self, rows: list[dict]) -> None:
        """Take back the epochs a resumed run's checkpoint holds, from their metrics rows
        (`stage_seconds`), so the profile covers every epoch of the run and not only this
        process's. Stage 0 (the setup: encoding, targets, warm-up) stays this process's."""
        for row in rows:
            for name, secs in (row.get("stage_seconds") or {}).items():
                self.seconds_[row["epoch"]][name] = secs

    def epoch_seconds(self, epoch: int) -> dict[str, float]:
        return dict(self.seconds_.get(epoch, {}))

    def totals(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for stages in self.seconds_.values():
            for name, secs in stages.items():
                out[name] += secs
        return dict(out)

    def report(self) -> dict:
        """Per-epoch and total seconds per stage, with the two overhead ratios."""
        totals = self.totals()
        return {
            "epochs": {str(e): dict(s) for e, s in sorted(self.seconds_.items())},
            "total": totals,
            **overheads(totals),
        }


class NullProfiler(Profiler):
    """A profiler that records nothing."""

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        yield


def overheads(seconds: dict[str, float]) -> dict[str, float | None]:
    """`augmentation_overhead` and `labelling_overhead` relative to training seconds, and
    `teacher_in_loop_share`: the part of training spent in the teacher's forward passes
    (per-token or attention transfer; None when the teacher stays out of the loop).
    `WARMUP` is in none of them."""
    train = seconds.get("train", 0.0)
    in_loop = seconds.get("teacher_in_loop")
    if train <= 0:
        return {"augmentation_overhead": None, "labelling_overhead": None,
                "teacher_in_loop_share": None}
    machinery = sum(seconds.get(s, 0.0) for s in AUGMENT_STAGES)
    return {"augmentation_overhead": machinery / train,
            "labelling_overhead": seconds.get("label", 0.0) / train,
            "teacher_in_loop_share": None if in_loop is None else in_loop / train}
