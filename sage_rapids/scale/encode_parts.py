"""The encode's partitions as work: what one dask task runs (`encode_part`: read,
tokenize, label with the teacher, write a shard and its record), and running the
partitions here or on a cluster (`run_parts`). `encode.py` plans, resumes and writes the
manifest around them.
"""

from __future__ import annotations

import hashlib
import os
import uuid
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..artifacts import write_atomic, write_json
from ..config import ConfigError, LossConfig
from ..data.corpus import Part, read_part
from ..data.text_dataset import dataset_from_rows
from ..progress import progress_bar


@dataclass(frozen=True)
class EncodeSpec:
    """Everything a worker needs to encode a partition (sent with every task)."""

    out: str
    teacher: str  # local folder of the teacher (fine-tuned and cached when asked)
    trust_remote_code: bool
    device: str
    max_length: int
    batch_size: int
    text: str
    pair: str | None
    label: str | None
    label_values: list[str]
    bad_rows: str
    threads: int | None  # torch threads per worker; None leaves the worker's setting
    task_type: str = "classification"  # regression: float scores in the label column
    layers: tuple[int, ...] = ()  # teacher layers whose pooled states the shards keep
    layer_pool: str = LossConfig.layer_pool
    targets: str | None = None  # the teacher's outputs from a file (keyed by text)
    label_names: tuple[str, ...] = ()  # the task's labels, in index order (for `targets`)


_WORKER_MODELS: dict[tuple, tuple] = {}


def _teacher(spec: EncodeSpec):
    """The teacher, its tokenizer, embeddings and backend: loaded once per worker."""
    key = (spec.teacher, spec.device)
    if key not in _WORKER_MODELS:
        import multiprocessing

        from ..backend import resolve_backend
        from ..distillation.models import input_embeddings, load_classifier
        from ..progress import library_bars_off, quiet_libraries

        if multiprocessing.parent_process() is not None:
            quiet_libraries()  # a worker process's output is the driver's log
        backend = resolve_backend(spec.device)
        with library_bars_off(True):  # a thread of the caller's process: put back after
            teacher, tokenizer = load_classifier(spec.teacher, None, spec.trust_remote_code)
        teacher.to(backend.device).requires_grad_(False)
        _WORKER_MODELS[key] = (teacher, tokenizer, input_embeddings(teacher).detach(), backend)
    return _WORKER_MODELS[key]


def encode_part(part: Part, spec: EncodeSpec) -> dict:
    """Read, tokenize and label one partition; write its shard and record.

    Returns:
        The shard's record: file, rows, checksum, source file and first line, counts
        of truncated and skipped rows.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from ..distillation.table import encode_dataset
    from ..distillation.targets import teacher_targets

    if spec.threads:
        torch.set_num_threads(spec.threads)
    teacher, tokenizer, embeddings, backend = _teacher(spec)
    rows = read_part(part, spec.bad_rows)
    label = spec.label if spec.label in rows.columns else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # counted below; one summary line, not one per part
        ds = dataset_from_rows(part.path, rows, spec.text, spec.pair, label, spec.label_values,
                               None, spec.bad_rows, spec.task_type)
        table, truncated = encode_dataset(ds, tokenizer, spec.max_length, backend)
    targets = None
    if spec.layers or not spec.targets:
        targets = teacher_targets(teacher, table, embeddings, backend, spec.batch_size,
                                  layers=spec.layers, layer_pool=spec.layer_pool)
    if spec.targets:  # labelled elsewhere: the file's rows for this partition's texts
        from ..data.teacher_file import read_teacher_outputs

        named = replace(ds, label_names=list(spec.label_names) or ds.label_names)
        logits = read_teacher_outputs(spec.targets, named, {}).splits["train"]
    else:
        logits = backend.to_host(targets.logits)  # (n, C)
    offsets = backend.to_host(table.offsets).astype(np.int32)
    columns = {"ids": pa.ListArray.from_arrays(offsets, backend.to_host(table.ids))}
    if table.type_ids is not None:
        columns["type_ids"] = pa.ListArray.from_arrays(offsets, backend.to_host(table.type_ids))
    columns["label"] = pa.array(ds.labels, pa.float32() if ds.regression else pa.int64())
    columns["logits"] = pa.FixedSizeListArray.from_arrays(
        pa.array(logits.reshape(-1), pa.float32()), logits.shape[1])
    if spec.layers:  # (n, J, H) fp16, one fixed-size list per row
        states = backend.to_host(targets.layers)
        columns["layers"] = pa.FixedSizeListArray.from_arrays(
            pa.array(states.reshape(-1), pa.float16()), states.shape[1] * states.shape[2])
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(columns), sink)
    data = sink.getvalue().to_pybytes()
    shards = Path(spec.out) / "shards"
    write_atomic(shards / f"{part.name}.parquet", data)
    record = {"shard": f"shards/{part.name}.parquet", "rows": len(ds),
              "sha256": hashlib.sha256(data).hexdigest(), "source": part.path,
              "first_line": part.first_line, "truncated": int(truncated),
              "skipped": int(ds.skipped), "labelled": bool(label is not None)}
    write_json(shards / f"{part.name}.json", record)
    return record


class EncodeError(RuntimeError):
    """The cluster could not finish the encode; finished shards are kept."""


def run_parts(todo: list[Part], spec: EncodeSpec, workers: int | None,
              scheduler: str | None, device: str, quiet: bool):
    """Encode the partitions, here or on a dask cluster; yields each record as it lands
    (with its `index`), under a progress bar of partitions done."""
    if not todo:
        return
    if workers is None and scheduler is None:
        for part in progress_bar(todo, "encode", quiet, unit="part"):
            yield {**encode_part(part, spec), "index": part.index}
        return
    from distributed import Client, KilledWorker, as_completed

    cluster = None if scheduler else start_cluster(workers, device)
    threads = None
    if cluster is not None and device == "cpu":  # the workers share this machine's cores
        threads = int(os.environ.get("OMP_NUM_THREADS") or 0) or \
            max(1, (os.cpu_count() or 1) // workers)
    spec = EncodeSpec(**{**asdict(spec), "threads": threads})
    token = uuid.uuid4().hex[:12]  # task keys unique on a shared scheduler
    try:
        with Client(scheduler if scheduler else cluster) as client:
            futures = [client.submit(encode_part, p, spec, key=f"encode-{token}-{p.name}")
                       for p in todo]
            index = {f.key: p.index for f, p in zip(futures, todo)}
            where = {f.key: f"{p.name} ({p.path}, from line {p.first_line})"
                     for f, p in zip(futures, todo)}
            try:
                for future in progress_bar(as_completed(futures), "encode", quiet,
                                           total=len(futures), unit="part"):
                    try:
                        record = future.result()
                    except KilledWorker:
                        raise EncodeError(
                            f"partition {where[future.key]} lost every dask worker that ran "
                            "it (killed, or out of memory); the partitions finished so far are "
                            "kept and the same command resumes from them") from None
                    future.release()  # done: a worker lost later must not recompute it
                    yield {**record, "index": index[future.key]}
            finally:
                for future in futures:
                    future.cancel()
    finally:
        if cluster is not None:
            cluster.close()


def start_cluster(workers: int, device: str):
    """A cluster on this machine: one process per worker (one per GPU with CUDA),
    listening on 127.0.0.1 only, without the dashboard's web server."""
    if device == "cuda":
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError:
            raise ConfigError(["--device cuda with --workers needs dask-cuda: "
                               "pip install 'sage-rapids[gpu]'"]) from None
        # the first `workers` GPUs of CUDA_VISIBLE_DEVICES, one worker process each
        return LocalCUDACluster(n_workers=workers, threads_per_worker=1,
                                dashboard_address=None, host="127.0.0.1")
    try:
        from distributed import LocalCluster
    except ImportError:
        raise ConfigError(["--workers needs dask's distributed scheduler: "
                           "pip install 'sage-rapids[dask]'"]) from None
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                        dashboard_address=None, host="127.0.0.1")
