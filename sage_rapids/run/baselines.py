"""What a deployer tries before distilling: the teacher itself exported to ONNX and
quantized to int8, scored and timed like the student.

The copies, their dev scores and their timings belong to the teacher, so they are cached
with it: `<cache>/baselines/<key>`, the key a hash of the teacher's folder and weight
files, the dev set, `max_length`, the batch size, the threads and the measuring code's
version. A second run of the same teacher reads one small JSON file. ONNX runs on the
CPU here, so a run on a GPU records none (its teacher is timed on the GPU).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from ..artifacts import write_json
from ..distillation.teacher import dataset_digest
from . import efficiency

VERSION = 1  # of what is measured and how: a change here measures the teacher again
FORMATS = {"onnx": "teacher_onnx", "onnx-int8": "teacher_int8"}


def baselines_key(teacher, dev, max_length: int, batch_size: int) -> str:
    """A hash of what the baselines depend on (the weights by name, size and time)."""
    folder = Path(teacher.config._name_or_path)
    weights = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                     for pattern in ("*.safetensors", "*.bin") for p in folder.glob(pattern))
    payload = {"teacher": str(folder.resolve()), "weights": weights,
               "dev": dataset_digest(dev), "max_length": max_length,
               "batch_size": batch_size, "threads": torch.get_num_threads(),
               "version": VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def teacher_baselines(teacher, tokenizer, dev, metrics: list[str], max_length: int,
                      batch_size: int, cache: Path, log) -> dict | None:
    """The teacher's ONNX and int8 copies: each one's dev metrics, throughput and
    latency (measured as `efficiency.measure` measures the student), size on disk.

    Returns:
        {"teacher_onnx": {...}, "teacher_int8": {...}, "measured": date, "cached": bool},
        or None where there is nothing to measure with (no export extra), said in `log`.
    """
    from .deploy import ExportError, onnxruntime_module, timed_formats

    try:
        onnxruntime_module()
    except ExportError as err:
        log(f"efficiency: no ONNX or int8 teacher to compare with ({err})")
        return None
    folder = cache / "baselines" / baselines_key(teacher, dev, max_length, batch_size)
    if (folder / "baselines.json").is_file():
        return {**json.loads((folder / "baselines.json").read_text()), "cached": True}
    log("efficiency: exporting the teacher to ONNX and int8 once (cached with it)")
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    try:
        copies = timed_formats(teacher, tokenizer, dev, metrics, max_length, batch_size, work)
        result = {"measured": time.strftime("%Y-%m-%d"), "threads": torch.get_num_threads(),
                  "metrics": metrics,
                  **{FORMATS[f]: {**c, "parameters": efficiency.parameters(teacher)}
                     for f, c in copies.items()}}
        write_json(work / "baselines.json", result)
        if folder.exists():  # another process finished first
            shutil.rmtree(work)
        else:
            work.rename(folder)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return {**result, "cached": False}
