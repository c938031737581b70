"""End-of-epoch checkpoints: everything needed to continue a run bit for bit.

Tensors go to safetensors, everything else to JSON; nothing is pickled, so loading
a checkpoint never runs code. A checkpoint is written into a temporary folder,
flushed to disk, then swapped in by rename: at every moment `checkpoint/` (or,
during the swap, `checkpoint.old/`) holds a complete, loadable checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save

from ..artifacts import DiskFull, give_umask_mode, is_disk_full, remove_temporaries
from ..backend import Backend
from ..context import Context
from ..distillation.table import SyntheticPool
from ..distillation.train import Training
from ..distributed import Dist

NAME = "checkpoint"


class CheckpointError(RuntimeError):
    """No usable checkpoint; the message says where it looked."""


class CheckpointDamaged(CheckpointError):
    """A checkpoint file is missing, truncated or changed; the message names it and says
    what the user can do. Nothing in the run directory is touched."""

    def __init__(self, path: Path, problem: str, epoch: int | None, run_dir: Path):
        which = f"the checkpoint of epoch {epoch}" if epoch is not None else "the checkpoint"
        super().__init__(
            f"{path} {problem}: {which} cannot be used, and nothing was changed. Put back an "
            f"intact copy of {path.parent}, or start the run again in a new folder: "
            f"sage-rapids run --config {Path(run_dir) / 'config.yaml'} --out NEW_DIR")


@dataclass(frozen=True)
class TrainingState:
    """What a checkpoint restores."""

    epoch: int  # last completed epoch
    metrics: list[dict]
    best: dict | None
    pool: SyntheticPool
    map_coords: np.ndarray | None  # (n, 2) reused map for `augment.space: input`
    # the run's wall seconds up to this checkpoint, over every process that worked on it
    # (0 from a checkpoint written before they were recorded: unknown, not counted)
    seconds: float = 0.0


def _write(path: Path, data: bytes) -> dict:
    """Write one file of a checkpoint and flush it; its record for `meta.json`."""
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def save_checkpoint(run_dir: Path, state: TrainingState, t: Training, ctx: Context) -> Path:
    """Write the checkpoint of a completed epoch atomically (a collective with N ranks).

    Rank 0 writes the shared student, optimizer and scheduler; every rank writes its
    own RNG states and synthetic pool beside them (`rank<r>.*`). Rank 0 then writes
    `meta.json` last, with every file's size and SHA-256, reads the folder back to
    verify it, and only then swaps it in by one rename: the previous checkpoint stays
    until the new one is verified on disk.

    Args:
        t: `t.student` (the unwrapped student, not its DDP wrapper), its optimizer,
            scheduler and fp16 gradient scaler, and the rank's NumPy generators by
            stream name (`t.rngs`).

    Returns:
        The checkpoint folder.

    Raises:
        DiskFull: no space for it; the temporary folder is removed, the last checkpoint kept.
    """
    dist, files, meta = ctx.dist, {}, None
    if dist.is_main:
        remove_temporaries(run_dir, (NAME,))  # what a killed attempt left half-written
    tmp = None
    try:
        tmp = Path(dist.broadcast(tempfile.mkdtemp(prefix=f".{NAME}.", dir=run_dir)
                                  if dist.is_main else None))
        if dist.is_main:
            give_umask_mode(tmp)  # 0700 from mkdtemp otherwise
            meta, files = _save_shared(tmp, state, t.student, t.optimizer, t.scheduler, dist,
                                       t.scaler)
        files.update(_save_rank(tmp, state, t.rngs, ctx.backend, dist.rank))
        every = dist.gather(files)
        final = run_dir / NAME
        if dist.is_main:
            meta["files"] = {name: record for part in every for name, record in part.items()}
            _write(tmp / "meta.json", json.dumps(meta, default=_plain).encode())
            verified_meta(tmp, run_dir)
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
    except BaseException as err:
        if dist.is_main and tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if is_disk_full(err):
            raise DiskFull(run_dir, f"the checkpoint of epoch {state.epoch}",
                           checkpoint_bytes(t.student, t.optimizer)) from None
        raise


def checkpoint_bytes(student: torch.nn.Module, optimizer) -> int:
    """About what a checkpoint takes: the student's tensors and the optimizer's moments."""
    weights = sum(v.numel() * v.element_size() for v in student.state_dict().values())
    moments = sum(2 * p.numel() * p.element_size() for group in optimizer.param_groups
                  for p in group["params"])
    return weights + moments


def _save_shared(folder: Path, state: TrainingState, student: torch.nn.Module, optimizer,
                 scheduler, dist: Dist, scaler=None) -> tuple[dict, dict]:
    tensors = {f"student.{k}": v.detach().cpu().contiguous()
               for k, v in student.state_dict().items()}
    opt = optimizer.state_dict()
    for pid, slots in opt["state"].items():
        for slot, value in slots.items():
            tensors[f"optim.{pid}.{slot}"] = torch.as_tensor(value).cpu().contiguous()
    files = {"state.safetensors": _write(folder / "state.safetensors", save(tensors))}
    meta = {"epoch": state.epoch, "metrics": state.metrics, "best": state.best,
            "seconds": state.seconds,
            "world_size": dist.world_size, "optimizer_groups": opt["param_groups"],
            "scheduler": {k: v for k, v in scheduler.state_dict().items()
                          if k != "lr_lambdas"},
            "grad_scaler": None if scaler is None else scaler.state_dict()}
    return meta, files


def _save_rank(folder: Path, state: TrainingState, rngs: dict[str, np.random.Generator],
               backend: Backend, rank: int) -> dict:
    tensors = {"rng.torch": torch.get_rng_state()}
    device_state = backend.device_rng_state()  # dropout on a GPU draws from its generator
    if device_state is not None:
        tensors["rng.cuda"] = device_state
    for key in ("sources", "weights", "logits", "layers"):
        if getattr(state.pool, key) is not None:
            tensors[f"pool.{key}"] = torch.from_numpy(
                np.ascontiguousarray(backend.to_host(getattr(state.pool, key))))
    if state.map_coords is not None:
        tensors["map.coords"] = torch.from_numpy(np.ascontiguousarray(state.map_coords))
    rng_states = {name: g.bit_generator.state for name, g in rngs.items()}
    return {f"rank{rank}.safetensors": _write(folder / f"rank{rank}.safetensors",
                                              save(tensors)),
            f"rank{rank}.json": _write(folder / f"rank{rank}.json", json.dumps(
                {"rng_numpy": rng_states}, default=_plain).encode())}


def _plain(value: Any):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def latest_checkpoint(run_dir: Path) -> Path:
    """The newest complete checkpoint folder of a run, verified against its `meta.json`.

    Raises:
        CheckpointDamaged: the checkpoint's files do not match their records (and no
            older complete one is there).
        CheckpointError: none found.
    """
    damaged = None
    for name in (NAME, f"{NAME}.old"):
        folder = run_dir / name
        if not (folder / "meta.json").is_file():
            continue
        try:
            verified_meta(folder, run_dir)
            return folder
        except CheckpointDamaged as err:
            damaged = damaged or err
    if damaged is not None:
        raise damaged
    raise CheckpointError(f"{run_dir}: no complete checkpoint to resume from "
                          "(one is written at the end of every epoch)")


def refuse_other_world(folder: Path, meta: dict, world_size: int) -> None:
    """Raises CheckpointError when the checkpoint in `folder` (its `meta`) was written by
    another number of processes than `world_size`: its per-rank states fit no other."""
    saved = meta.get("world_size", 1)
    if saved != world_size:
        raise CheckpointError(
            f"{folder}: written by {saved} process(es), this run has {world_size}; resume "
            f"with the same number (--nproc {saved} or --gpus {saved})")


def check_world_before_launch(run_dir: Path, world_size: int) -> None:
    """`refuse_other_world` for a run about to be resumed by `world_size` processes,
    before any starts: a refusal then costs no process start-up. Reads `meta.json` only
    (the ranks verify the files); a run with no checkpoint yet passes."""
    for name in (NAME, f"{NAME}.old"):
        try:
            meta = json.loads((run_dir / name / "meta.json").read_text())
        except (OSError, ValueError):
            continue
        refuse_other_world(run_dir / name, meta, world_size)
        return


def verified_meta(folder: Path, run_dir: Path) -> dict:
    """`meta.json` of a checkpoint once every file it lists has its size and SHA-256
    (a checkpoint written before checksums were recorded needs its four files).

    Raises:
        CheckpointDamaged: which file, and what is wrong with it.
    """
    path = folder / "meta.json"
    try:
        meta = json.loads(path.read_text())
        epoch = meta["epoch"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointDamaged(path, f"cannot be read ({type(err).__name__})", None,
                                run_dir) from None
    records = meta.get("files") or {name: None for name in (
        "state.safetensors", "rank0.safetensors", "rank0.json")}
    for name, record in records.items():
        file = folder / name
        if not file.is_file():
            raise CheckpointDamaged(file, "is missing", epoch, run_dir)
        if record is None:
            continue
        got = file.stat().st_size
        if got != record["bytes"]:
            raise CheckpointDamaged(file, f"has {got:,} bytes where meta.json records "
                                          f"{record['bytes']:,} (truncated or overwritten)",
                                    epoch, run_dir)
        if _sha256(file) != record["sha256"]:
            raise CheckpointDamaged(file, "does not match its SHA-256 in meta.json (its bytes "
                                          "changed after it was written)", epoch, run_dir)
    return meta


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_checkpoint(folder: Path, t: Training, ctx: Context) -> TrainingState:
    """Restore student, optimizer, scheduler and this rank's RNGs in place; return the rest.

    Raises:
        CheckpointError: the checkpoint was written by another number of processes, or
            by a version with other random streams.
    """
    backend, dist, student, optimizer, rngs = ctx.backend, ctx.dist, t.student, t.optimizer, t.rngs
    meta = json.loads((folder / "meta.json").read_text())
    load = lambda name: _loaded(folder / name, meta["epoch"])  # noqa: E731
    refuse_other_world(folder, meta, dist.world_size)
    tensors = load("state.safetensors")
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
    mine = load(f"rank{dist.rank}.safetensors")
    torch.set_rng_state(mine["rng.torch"])
    backend.set_device_rng_state(mine.get("rng.cuda"))
    saved = load(f"rank{dist.rank}.json")["rng_numpy"]
    if set(saved) != set(rngs):
        raise CheckpointError(f"{folder}: written by another version of sage-rapids (random "
                              f"streams {sorted(saved)}, expected {sorted(rngs)}); start anew")
    for name, g in rngs.items():
        g.bit_generator.state = saved[name]
    pool = SyntheticPool(*(backend.asarray(mine[f"pool.{k}"].numpy())
                           for k in ("sources", "weights", "logits")),
                         layers=backend.asarray(mine["pool.layers"].numpy())
                         if "pool.layers" in mine else None)
    coords = mine["map.coords"].numpy() if "map.coords" in mine else None
    return TrainingState(meta["epoch"], meta["metrics"], meta["best"], pool, coords,
                         float(meta.get("seconds") or 0.0))


def _loaded(path: Path, epoch: int):
    """A checkpoint file's content (tensors or JSON), or `CheckpointDamaged` naming it."""
    try:
        if path.suffix == ".json":
            return json.loads(path.read_text())
        return load_file(str(path))
    except Exception as err:  # safetensors reports a bad header as its own error type
        raise CheckpointDamaged(path, f"cannot be read ({err})", epoch,
                                path.parent.parent) from None
