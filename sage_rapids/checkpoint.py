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

from .backend import Backend
from .table import SyntheticPool

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


def save_checkpoint(run_dir: Path, state: TrainingState, student: torch.nn.Module, optimizer,
                    scheduler, rngs: dict[str, np.random.Generator], backend: Backend) -> Path:
    """Write the checkpoint of a completed epoch atomically.

    Args:
        rngs: the run's NumPy generators by stream name (batch order, augmentation).

    Returns:
        The checkpoint folder.
    """
    tmp = Path(tempfile.mkdtemp(prefix=f".{NAME}.", dir=run_dir))
    try:
        tensors = {f"student.{k}": v.detach().cpu().contiguous()
                   for k, v in student.state_dict().items()}
        opt = optimizer.state_dict()
        for pid, slots in opt["state"].items():
            for slot, value in slots.items():
                tensors[f"optim.{pid}.{slot}"] = torch.as_tensor(value).cpu().contiguous()
        tensors["rng.torch"] = torch.get_rng_state()
        if backend.is_cuda:  # dropout on the GPU draws from the device's generator
            tensors["rng.cuda"] = torch.cuda.get_rng_state(backend.device)
        for key in ("sources", "weights", "logits"):
            tensors[f"pool.{key}"] = torch.from_numpy(
                np.ascontiguousarray(backend.to_host(getattr(state.pool, key))))
        if state.map_coords is not None:
            tensors["map.coords"] = torch.from_numpy(np.ascontiguousarray(state.map_coords))
        save_file(tensors, str(tmp / "state.safetensors"))
        meta = {"epoch": state.epoch, "metrics": state.metrics, "best": state.best,
                "optimizer_groups": opt["param_groups"],
                "scheduler": {k: v for k, v in scheduler.state_dict().items()
                              if k != "lr_lambdas"},
                "rng_numpy": {name: g.bit_generator.state for name, g in rngs.items()}}
        (tmp / "meta.json").write_text(json.dumps(meta, default=_plain))
        _fsync_dir(tmp)
        final, old = run_dir / NAME, run_dir / f"{NAME}.old"
        if final.exists():
            if old.exists():
                shutil.rmtree(old)
            os.replace(final, old)
        os.replace(tmp, final)
        if old.exists():
            shutil.rmtree(old)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
        if (folder / "meta.json").is_file() and (folder / "state.safetensors").is_file():
            return folder
    raise CheckpointError(f"{run_dir}: no complete checkpoint to resume from "
                          "(one is written at the end of every epoch)")


def load_checkpoint(folder: Path, student: torch.nn.Module, optimizer, scheduler,
                    rngs: dict[str, np.random.Generator], backend: Backend) -> TrainingState:
    """Restore student, optimizer, scheduler and RNGs in place; return the rest."""
    meta = json.loads((folder / "meta.json").read_text())
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
    scheduler.load_state_dict({**meta["scheduler"], "lr_lambdas": [None] * len(
        optimizer.param_groups)})
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and backend.is_cuda:
        torch.cuda.set_rng_state(tensors["rng.cuda"], backend.device)
    saved = meta["rng_numpy"]
    if set(saved) != set(rngs):
        raise CheckpointError(f"{folder}: written by another version of sage-rapids (random "
                              f"streams {sorted(saved)}, expected {sorted(rngs)}); start anew")
    for name, g in rngs.items():
        g.bit_generator.state = saved[name]
    pool = SyntheticPool(*(backend.asarray(tensors[f"pool.{k}"].numpy())
                           for k in ("sources", "weights", "logits")))
    coords = tensors["map.coords"].numpy() if "map.coords" in tensors else None
    return TrainingState(meta["epoch"], meta["metrics"], meta["best"], pool, coords)
