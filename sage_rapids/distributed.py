"""Data-parallel training on torch.distributed: ranks, shards and the collectives the
method needs. One process is a world of size 1 and every collective is a no-op, so the
single-process path runs the same code.

What a rank does: it holds a seeded, stratified shard of the training split (all shards
the same size), computes teacher targets for its shard, trains the shared student under
DDP, and runs the augmentation round on its own shard with its own random stream. A
round on a random shard is the single-process round on a random subsample: the map of
a uniform shard keeps the density of the whole (anchors are the top `1 - q` of a loss
distribution each shard samples without bias), the synthetic budget `ratio * n` adds up
to `ratio * N`, and the pool each rank trains on is made from the points it trains on.
What differs is that a mix never pairs examples of two shards, which changes only which
neighbours are near; a global round would gather every profile (N x H) on one rank, fit
one map and scatter the recipes: N x H floats across the network and a round's cost
on one device instead of split N ways.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

TORCHRUN_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE")


@dataclass(frozen=True)
class Dist:
    """This process's place in the run.

    Attributes:
        rank: global rank, 0 writes the run directory.
        local_rank: rank on this machine (picks the GPU).
        world_size: number of processes.
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's `obj` on every rank."""
        if not self.active:
            return obj
        box = [obj]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's `obj`, in rank order, on every rank."""
        if not self.active:
            return [obj]
        out: list[Any] = [None] * self.world_size
        torch.distributed.all_gather_object(out, obj)
        return out

    def any(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag OR-ed over the ranks (one small all-reduce)."""
        if not self.active:
            return tuple(bool(f) for f in flags)
        t = torch.tensor([float(bool(f)) for f in flags], dtype=torch.float64)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return tuple(bool(v) for v in t.tolist())

    def max(self, value: int) -> int:
        if not self.active:
            return int(value)
        t = torch.tensor([int(value)], dtype=torch.int64)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        return int(t.item())

    def sum(self, value: float) -> float:
        if not self.active:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64)
        torch.distributed.all_reduce(t)
        return float(t.item())

    def mean(self, value: float) -> float:
        return self.sum(value) / self.world_size


def torchrun_environment() -> bool:
    """True when this process was started by torchrun, srun or our own launcher."""
    return all(name in os.environ for name in TORCHRUN_VARS)


def join(device_kind: str) -> Dist:
    """Join the process group the environment describes (NCCL on GPUs, else gloo).

    A world of size 1 starts no process group.
    """
    dist = Dist(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
                int(os.environ.get("WORLD_SIZE", 1)))
    if dist.active and not torch.distributed.is_initialized():
        backend = "nccl" if device_kind == "cuda" else "gloo"
        timeout = datetime.timedelta(hours=2)  # rank 0 may fine-tune a teacher meanwhile
        store = attempt_store(dist, timeout)
        if store is None:
            torch.distributed.init_process_group(backend, timeout=timeout)
        else:
            torch.distributed.init_process_group(backend, store=store, rank=dist.rank,
                                                 world_size=dist.world_size, timeout=timeout)
    return dist


def attempt_store(dist: Dist, timeout: datetime.timedelta):
    """The launcher's key-value store, seen through a prefix of its own per restart
    attempt; None when the process was not started by torch elastic's agent.

    Torch elastic keeps one TCP store for all the attempts of a run and its workers use
    it without a prefix, so the ranks restarted after a failure meet the keys of the
    attempt before: gloo's mesh addresses of ranks that are dead. A restarted rank that
    reads a peer's old address before the peer has written its new one connects to a
    closed port (`Gloo connectFullMesh failed ... Connection refused`) and the restart
    fails. Keys under `attempt-<n>/` exist only once this attempt's ranks wrote them.
    """
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    store = torch.distributed.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]),
                                       dist.world_size, is_master=False, timeout=timeout)
    return torch.distributed.PrefixStore(f"sage-rapids/attempt-{attempt}/", store)


def leave(dist: Dist) -> None:
    if dist.active and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def shard_index(labels: np.ndarray, world_size: int, rank: int, seed: int) -> np.ndarray:
    """This rank's share of the training split: seeded, stratified, equal sizes.

    Examples are shuffled, grouped by label and dealt round-robin, so each shard keeps
    the label shares; every shard is cut to `n // world_size` (at most
    `world_size - 1` examples are left out).

    Args:
        labels: (n,) labels of the whole split (-1 for an unlabelled corpus).

    Returns:
        (n // world_size,) sorted int64 indices.
    """
    n = len(labels)
    order = np.random.default_rng(seed).permutation(n)
    order = order[np.argsort(labels[order], kind="stable")]  # grouped by label, shuffled within
    mine = order[rank::world_size][: n // world_size]
    return np.sort(mine).astype(np.int64)


def equal_steps(plan: list, dist: Dist) -> list:
    """Lengthen `plan` to the longest plan of any rank by repeating its first batches.

    DDP needs every rank to run the same number of optimizer steps: a rank with fewer
    batches would leave the others waiting in the gradient all-reduce forever.
    """
    target = dist.max(len(plan))
    return plan + [plan[i % len(plan)] for i in range(target - len(plan))] if plan else plan


def aligned_steps(plan: list, cost: list[int], dist: Dist, rng: np.random.Generator) -> list:
    """Every rank's plan, the same length on all ranks, with batches of like cost at the
    same step.

    Under DDP each step waits for the slowest rank. Batches drawn independently per rank
    pair a long batch on one rank with a short one on another, so a step costs the
    longer of the two (on SST-2, 2 ranks ran 1.75x slower per step than one process, with
    a gradient all-reduce measured at 0.12x of a step). Here each rank sorts its plan by
    cost and all ranks apply the same random order (a seed rank 0 draws): step i trains
    the rank-order-equal batch of every shard. Which examples form a batch, and the order
    of lengths over the epoch, stay random. One process gets its plan back unchanged.

    Args:
        plan: this rank's batches.
        cost: padded token count of each batch.
        rng: this rank's batch-order generator (each rank draws one number from it).
    """
    plan = equal_steps(plan, dist)
    if not dist.active or not plan:
        return plan
    cost = cost + [cost[i % len(cost)] for i in range(len(plan) - len(cost))]
    seed = dist.broadcast(int(rng.integers(2**63 - 1)))  # every rank draws, rank 0's wins
    by_cost = sorted(range(len(plan)), key=lambda i: cost[i])
    return [plan[by_cost[j]] for j in np.random.default_rng(seed).permutation(len(plan))]


def parameter_digest(module: torch.nn.Module) -> str:
    """A hash of every parameter's bytes: equal on all ranks when DDP kept them in step."""
    h = hashlib.sha256()
    for name, p in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
