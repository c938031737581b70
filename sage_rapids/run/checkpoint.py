"""End-of-epoch checkpoints: everything needed to continue a run bit for bit.

Tensors go to safetensors, everything else to JSON; nothing is pickled, so loading
a checkpoint never runs code. A checkpoint is written into a temporary folder,
flushed to disk, then swapped in by rename: at every moment `checkpoint/` (or,
during the swap, `checkpoint.old/`) holds a complete, loadable checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..backend import Backend
from ..context import Context
from ..distillation.table import SyntheticPool
from ..distillation.train import Training
from ..distributed import Dist

NAME = "checkpoint"


class CheckpointError(RuntimeError):
    """No usable checkpoint; the message says where it looked."""


@dataclass(frozen=True)
class TrainingState:
    """What a checkpoint restores."""

    epoch: int  # last completed epoch
    metrics: list[dict]
    best: dict | None
    pool: SyntheticPool
    map_coords: np.ndarray | None  # (n, 2) reused map for `augment.space: input`


def _fsync_dir(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())


def save_checkpoint(run_dir: Path, state: TrainingState, t: Training, ctx: Context) -> Path:
    """Write the checkpoint of a completed epoch atomically (a collective with N ranks).

    Rank 0 writes the shared student, optimizer and scheduler; every rank writes its
    own RNG states and synthetic pool beside them (`rank<r>.*`); behind a barrier,
    rank 0 swaps the folder in by one rename.

    Args:
        t: `t.student` (the unwrapped student, not its DDP wrapper), its optimizer,
            scheduler and fp16 gradient scaler, and the rank's NumPy generators by
            stream name (`t.rngs`).

    Returns:
        The checkpoint folder.
    """
    dist = ctx.dist
    tmp = Path(dist.broadcast(tempfile.mkdtemp(prefix=f".{NAME}.", dir=run_dir)
                              if dist.is_main else None))
    try:
        if dist.is_main:
            _save_shared(tmp, state, t.student, t.optimizer, t.scheduler, dist, t.scaler)
        _save_rank(tmp, state, t.rngs, ctx.backend, dist.rank)
        dist.barrier()
        final = run_dir / NAME
        if dist.is_main:
            _fsync_dir(tmp)
            old = run_dir / f"{NAME}.old"
            if final.exists():
                if old.exists():
                    shutil.rmtree(old)
                os.replace(final, old)
            os.replace(tmp, final)
            if old.exists():
                shutil.rmtree(old)
        dist.barrier()
        return final
    except BaseException:
        if dist.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
        raise


def _save_shared(folder: Path, state: TrainingState, student: torch.nn.Module, optimizer,
                 scheduler, dist: Dist, scaler=None) -> None:
    tensors = {f"student.{k}": v.detach().cpu().contiguous()
               for k, v in student.state_dict().items()}
    opt = optimizer.state_dict()
    for pid, slots in opt["state"].items():
        for slot, value in slots.items():
            tensors[f"optim.{pid}.{slot}"] = torch.as_tensor(value).cpu().contiguous()
    save_file(tensors, str(folder / "state.safetensors"))
    meta = {"epoch": state.epoch, "metrics": state.metrics, "best": state.best,
            "world_size": dist.world_size, "optimizer_groups": opt["param_groups"],
            "scheduler": {k: v for k, v in scheduler.state_dict().items()
                          if k != "lr_lambdas"},
            "grad_scaler": None if scaler is None else scaler.state_dict()}
    (folder / "meta.json").write_text(json.dumps(meta, default=_plain))


def _save_rank(folder: Path, state: TrainingState, rngs: dict[str, np.random.Generator],
               backend: Backend, rank: int) -> None:
    tensors = {"rng.torch": torch.get_rng_state()}
    device_state = backend.device_rng_state()  # dropout on a GPU draws from its generator
    if device_state is not None:
        tensors["rng.cuda"] = device_state
    for key in ("sources", "weights", "logits"):
        tensors[f"pool.{key}"] = torch.from_numpy(
            np.ascontiguousarray(backend.to_host(getattr(state.pool, key))))
    if state.map_coords is not None:
        tensors["map.coords"] = torch.from_numpy(np.ascontiguousarray(state.map_coords))
    save_file(tensors, str(folder / f"rank{rank}.safetensors"))
    rng_states = {name: g.bit_generator.state for name, g in rngs.items()}
    (folder / f"rank{rank}.json").write_text(json.dumps({"rng_numpy": rng_states},
                                                        default=_plain))


def _plain(value: Any):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def latest_checkpoint(run_dir: Path) -> Path:
    """The newest complete checkpoint folder of a run.

    Raises:
        CheckpointError: none found.
    """
    for name in (NAME, f"{NAME}.old"):
        folder = run_dir / name
        if all((folder / f).is_file() for f in ("meta.json", "state.safetensors",
                                                  "rank0.safetensors", "rank0.json")):
            return folder
    raise CheckpointError(f"{run_dir}: no complete checkpoint to resume from "
                          "(one is written at the end of every epoch)")


def load_checkpoint(folder: Path, t: Training, ctx: Context) -> TrainingState:
    """Restore student, optimizer, scheduler and this rank's RNGs in place; return the rest.

    Raises:
        CheckpointError: the checkpoint was written by another number of processes, or
            by a version with other random streams.
    """
    backend, dist, student, optimizer, rngs = ctx.backend, ctx.dist, t.student, t.optimizer, t.rngs
    meta = json.loads((folder / "meta.json").read_text())
    saved_world = meta.get("world_size", 1)
    if saved_world != dist.world_size:
        raise CheckpointError(
            f"{folder}: written by {saved_world} process(es), this run has "
            f"{dist.world_size}; resume with the same number (--nproc {saved_world} or "
            f"--gpus {saved_world})")
    tensors = load_file(str(folder / "state.safetensors"))
    student.load_state_dict({k[len("student."):]: v for k, v in tensors.items()
                             if k.startswith("student.")})
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, slot = key.split(".", 2)
            state.setdefault(int(pid), {})[slot] = value.to(backend.device) \
                if slot != "step" else value
    optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer_groups"]})
    if t.scaler is not None and meta.get("grad_scaler"):
        t.scaler.load_state_dict(meta["grad_scaler"])
    t.scheduler.load_state_dict({**meta["scheduler"], "lr_lambdas": [None] * len(
        optimizer.param_groups)})
    mine = load_file(str(folder / f"rank{dist.rank}.safetensors"))
    torch.set_rng_state(mine["rng.torch"])
    backend.set_device_rng_state(mine.get("rng.cuda"))
    saved = json.loads((folder / f"rank{dist.rank}.json").read_text())["rng_numpy"]
    if set(saved) != set(rngs):
        raise CheckpointError(f"{folder}: written by another version of sage-rapids (random "
                              f"streams {sorted(saved)}, expected {sorted(rngs)}); start anew")
    for name, g in rngs.items():
        g.bit_generator.state = saved[name]
    pool = SyntheticPool(*(backend.asarray(mine[f"pool.{k}"].numpy())
                           for k in ("sources", "weights", "logits")))
    coords = mine["map.coords"].numpy() if "map.coords" in mine else None
    return TrainingState(meta["epoch"], meta["metrics"], meta["best"], pool, coords)
