"""The run directory: resolved config, per-epoch metrics, summary, teacher targets.

Every file is written to a temporary name, flushed to disk and renamed, so a crash
never leaves a half-written file where a complete one stood.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .config import Config, config_to_dict


class RunDirError(RuntimeError):
    """The run directory cannot be used (already holds a run)."""


def default_run_dir() -> Path:
    return Path("runs") / time.strftime("%Y%m%d-%H%M%S")


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temp file, fsync and rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, (json.dumps(obj, indent=2, default=_jsonable) + "\n").encode())


def append_jsonl(path: Path, obj: Any) -> None:
    """Append one JSON line; rewrites the file atomically so a crash keeps old lines."""
    old = path.read_bytes() if path.exists() else b""
    write_atomic(path, old + (json.dumps(obj, default=_jsonable) + "\n").encode())


def _jsonable(value: Any):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def refuse_used_run_dir(out: Path) -> None:
    """Raises RunDirError when `out` already holds a run (one is never overwritten)."""
    if (out / "metrics.jsonl").exists() or (out / "summary.json").exists():
        raise RunDirError(f"{out}: already holds a run; choose another --out or remove it")


def prepare_run_dir(out: Path | None, config: Config) -> Path:
    """Create the run directory and write the resolved `config.yaml`.

    Raises:
        RunDirError: `out` already holds a run (never overwritten).
    """
    out = Path(out) if out is not None else default_run_dir()
    refuse_used_run_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config_to_dict(config), sort_keys=False)
    write_atomic(out / "config.yaml", text.encode())
    return out


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Save host arrays as safetensors, atomically."""
    from safetensors.numpy import save

    write_atomic(path, save({k: np.ascontiguousarray(v) for k, v in arrays.items()}))
