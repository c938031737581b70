"""The run directory: resolved config, per-epoch metrics, summary, teacher targets.

Every file is written to a temporary name, flushed to disk and renamed, so a crash
never leaves a half-written file where a complete one stood; the renamed file (or
folder) gets the mode the process umask gives a new one (`tempfile` makes them owner-only,
and a rename would keep that). A full disk (ENOSPC, or
EDQUOT for a quota) ends in `DiskFull`, which names the folder and the bytes the write
needed, with the temporary file removed.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .config import Config, config_to_dict


class RunDirError(RuntimeError):
    """The run directory cannot be used: it already holds a run, or, to resume, holds none."""


FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFull(RuntimeError):
    """A write found no space (or no quota) left; nothing half-written is left behind.

    Attributes:
        folder: where it wrote. needed: bytes it was writing (an estimate for folders).
        kept: what the caller keeps, said after the error (`with_kept`).
    """

    def __init__(self, folder: Path, what: str, needed: int, kept: str = ""):
        self.folder, self.what, self.needed, self.kept = Path(folder), what, int(needed), kept
        free = free_bytes(self.folder)
        super().__init__(
            f"{self.folder}: no space left on the device while writing {what} (it needed "
            f"about {size(needed)}; {size(free)} free)." + (f" {kept}" if kept else ""))

    def with_kept(self, kept: str) -> "DiskFull":
        return DiskFull(self.folder, self.what, self.needed, kept)

    def __reduce__(self):  # rebuilt from its fields when a dask worker sends it back
        return DiskFull, (self.folder, self.what, self.needed, self.kept)


def is_disk_full(err: BaseException) -> bool:
    """ENOSPC / EDQUOT, raised by Python or reported by a Rust writer (safetensors)."""
    if isinstance(err, OSError) and err.errno in FULL:
        return True
    text = str(err)
    return any(f"os error {code})" in text for code in FULL)


def free_bytes(folder: Path) -> int:
    """Free bytes on the filesystem that holds `folder` (or its nearest existing parent)."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def size(n: float) -> str:
    """Bytes for a person: 812 B, 3.4 MB, 1.2 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def remove_temporaries(folder: Path, names: tuple[str, ...]) -> None:
    """Remove what a killed writer left: `.<name>.*` files and folders for each name."""
    for name in names:
        for path in Path(folder).glob(f".{name}.*"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def umask() -> int:
    """The process umask, read without changing it where Linux shows it
    (`/proc/self/status`); elsewhere set and put back at once, as nothing else reads it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def give_umask_mode(path: Path | str) -> None:
    """Give `path`, and everything in it when it is a folder, the mode a new file
    (0o666 & ~umask) or folder (0o777 & ~umask) gets.

    What is written to a `tempfile` name and renamed would otherwise stay 0600 (files) or
    0700 (folders) whatever the umask: a run directory others of the group cannot read.
    Libraries that write atomically themselves (safetensors' `save_file`) do the same.
    """
    mask = umask()
    os.chmod(path, (0o777 if os.path.isdir(path) else 0o666) & ~mask)
    for folder, dirs, files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o777 & ~mask)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o666 & ~mask)


def default_run_dir() -> Path:
    return Path("runs") / time.strftime("%Y%m%d-%H%M%S")


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temp file, fsync and rename; the file gets the mode
    the umask gives a new one.

    Raises:
        DiskFull: no space left; the temp file is removed and `path` is as it was.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as err:
        if is_disk_full(err):
            raise DiskFull(path.parent, path.name, len(data)) from None
        raise
    try:
        give_umask_mode(tmp)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if is_disk_full(err):
            raise DiskFull(path.parent, path.name, len(data)) from None
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
