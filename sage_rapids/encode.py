"""Stages 0 and 1 over a corpus, on a dask cluster: tokenize and label once, write shards.

A corpus (files or globs: TSV, CSV, JSONL, Parquet; labelled or not) is cut into
partitions by the driver: stretches of lines of a TSV / JSONL, whole CSV files (quoted
fields may span lines), groups of Parquet row groups. Cutting by byte range keeps every
row's file and line number, so a bad row is reported as `run` reports it. Each
partition is one dask task: read, check, tokenize with the teacher's tokenizer, label
with the teacher (loaded once per worker, batches sorted by length), and write one
Parquet shard (token ids as `list<int32>`, segment ids as `list<int8>` for pairs, the
label, the teacher's logits) plus a small JSON record with the shard's checksum. A
shard is written to a temporary name and renamed, so an interrupted encode resumes:
partitions whose shard verifies against its record are skipped. `manifest.json` is
written last; `run` reads the shards through it (`data.encoded`).

Without `--workers` or `--scheduler` the partitions run in this process. With
`--workers N` a `distributed.LocalCluster` (CPU) or a dask-cuda `LocalCUDACluster`
(one worker per GPU) is started on this machine, listening on 127.0.0.1 only and with
no dashboard; `--scheduler ADDRESS` uses a running cluster (dask's own security
configuration applies, so TLS addresses work when it is set).
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import os
import time
import uuid
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .artifacts import write_atomic, write_json
from .config import GLUE_TASKS, Config, ConfigError
from .data import GLUE, DataError, Rows, _read_delimited, _read_jsonl, dataset_from_rows
from .data import read_rows
from .progress import progress_bar

FORMAT = "sage-rapids encoded corpus 1"
SUFFIXES = (".tsv", ".csv", ".jsonl", ".json", ".parquet")


@dataclass(frozen=True)
class Part:
    """One partition of the corpus: what one dask task reads.

    Attributes:
        index: position in the plan; names the shard (`part-00000.parquet`).
        path: the file.
        start, stop: byte range (TSV / JSONL / CSV) or row-group range (Parquet).
        first_line: line (or row) number of the partition's first row, 1-based.
        columns: column names of a TSV / CSV (from its header or `data.columns`).
    """

    index: int
    path: str
    start: int
    stop: int
    first_line: int
    columns: list[str] | None = None

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}"


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


# ----------------------------------------------------------------------------- plan

def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files named or matched by `inputs`, in the order given (each glob sorted).

    Raises:
        DataError: a name that matches nothing, or an unsupported file type.
    """
    paths: list[Path] = []
    for item in inputs:
        matches = sorted(glob.glob(os.path.expanduser(item), recursive=True))
        if not matches:
            raise DataError(f"{item}: no such file (or no match for the pattern)")
        for match in matches:
            path = Path(match)
            if path.is_dir():
                continue
            if path.suffix.lower() not in SUFFIXES:
                raise DataError(f"{path}: unsupported file type {path.suffix!r}; use "
                                f"{', '.join(SUFFIXES)}")
            paths.append(path)
    if not paths:
        raise DataError(f"{' '.join(inputs)}: no files to encode")
    return list(dict.fromkeys(paths))


def plan_parts(paths: list[Path], rows_per_part: int, header: bool,
               columns: list[str] | None) -> list[Part]:
    """Cut the corpus into partitions of about `rows_per_part` rows."""
    parts: list[Part] = []
    for path in paths:
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            parts += _parquet_parts(path, rows_per_part, len(parts))
        elif suffix == ".csv":
            parts.append(Part(len(parts), str(path), 0, path.stat().st_size, 1))
        else:
            parts += _line_parts(path, rows_per_part, len(parts), suffix == ".tsv" and header,
                                 columns)
    return parts


def _line_parts(path: Path, rows: int, first_index: int, header: bool,
                columns: list[str] | None) -> list[Part]:
    parts, names = [], list(columns) if columns else None
    with path.open("rb") as handle:
        offset, line = 0, 0
        if header:
            first = handle.readline()
            offset, line = len(first), 1
            try:
                names = [h.strip() for h in first.decode("utf-8-sig").rstrip("\r\n").split("\t")]
            except UnicodeDecodeError:
                raise DataError(f"{path}:1: not valid UTF-8; re-save the file as UTF-8") from None
            if not any(names):
                raise DataError(f"{path}: empty file, expected a header line (set "
                                "data.header: false and data.columns for a file without one)")
        start, start_line, count = offset, line + 1, 0
        for raw in handle:
            offset += len(raw)
            line += 1
            count += raw.strip() != b""
            if count == rows:
                parts.append(Part(first_index + len(parts), str(path), start, offset,
                                  start_line, names))
                start, start_line, count = offset, line + 1, 0
        if count:
            parts.append(Part(first_index + len(parts), str(path), start, offset, start_line,
                              names))
    return parts


def _parquet_parts(path: Path, rows: int, first_index: int) -> list[Part]:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as err:  # pyarrow raises several types for corrupt files
        raise DataError(f"{path}: cannot read Parquet: {err}") from None
    parts, start, first_row, count = [], 0, 1, 0
    for group in range(meta.num_row_groups):
        count += meta.row_group(group).num_rows
        if count >= rows or group == meta.num_row_groups - 1:
            parts.append(Part(first_index + len(parts), str(path), start, group + 1, first_row))
            start, first_row, count = group + 1, first_row + count, 0
    return parts


# ------------------------------------------------------------------------ a partition

def read_part(part: Part, spec: EncodeSpec) -> Rows:
    """The rows of one partition, with their real line numbers."""
    path = Path(part.path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_rows(path, part.columns is None, part.columns, spec.bad_rows)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.ParquetFile(path).read_row_groups(range(part.start, part.stop))
        return Rows(table.column_names, [(part.first_line + i, r) for i, r in
                                         enumerate(table.to_pylist())], [])
    with path.open("rb") as handle:
        handle.seek(part.start)
        raw = handle.read(part.stop - part.start)
    try:
        text = raw.decode("utf-8-sig" if part.start == 0 else "utf-8")
    except UnicodeDecodeError as err:
        line = part.first_line + raw[:err.start].count(b"\n")
        raise DataError(f"{path}:{line}: not valid UTF-8 ({err.reason}); re-save the file "
                        "as UTF-8") from None
    handle = io.StringIO(text, newline="")
    if suffix == ".tsv":
        return _read_delimited(path, handle, suffix, False, part.columns, spec.bad_rows,
                               part.first_line - 1)
    return _read_jsonl(path, handle, part.first_line - 1)


_WORKER_MODELS: dict[tuple, tuple] = {}


def _teacher(spec: EncodeSpec):
    """The teacher, its tokenizer, embeddings and backend: loaded once per worker."""
    key = (spec.teacher, spec.device)
    if key not in _WORKER_MODELS:
        from transformers.utils import logging as hf_logging

        from .backend import resolve_backend
        from .models import input_embeddings, load_classifier

        hf_logging.set_verbosity_error()  # a worker's output is the driver's log
        hf_logging.disable_progress_bar()

        backend = resolve_backend(spec.device)
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

    from .table import encode_dataset
    from .targets import teacher_targets

    if spec.threads:
        torch.set_num_threads(spec.threads)
    teacher, tokenizer, embeddings, backend = _teacher(spec)
    rows = read_part(part, spec)
    label = spec.label if spec.label in rows.columns else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # counted below; one summary line, not one per part
        ds = dataset_from_rows(part.path, rows, spec.text, spec.pair, label, spec.label_values,
                               None, spec.bad_rows)
        table, truncated = encode_dataset(ds, tokenizer, spec.max_length, backend)
    logits = backend.to_host(teacher_targets(teacher, table, embeddings, backend,
                                             spec.batch_size).logits)  # (n, C)
    offsets = backend.to_host(table.offsets).astype(np.int32)
    columns = {"ids": pa.ListArray.from_arrays(offsets, backend.to_host(table.ids))}
    if table.type_ids is not None:
        columns["type_ids"] = pa.ListArray.from_arrays(offsets, backend.to_host(table.type_ids))
    columns["label"] = pa.array(ds.labels, pa.int64())
    columns["logits"] = pa.FixedSizeListArray.from_arrays(
        pa.array(logits.reshape(-1), pa.float32()), logits.shape[1])
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


def verified_record(out: Path, part: Part) -> dict | None:
    """The record of a finished partition whose shard still matches its checksum."""
    record_path = out / "shards" / f"{part.name}.json"
    shard = out / "shards" / f"{part.name}.parquet"
    try:
        record = json.loads(record_path.read_text())
        data = shard.read_bytes()
    except (OSError, ValueError):
        return None
    return record if hashlib.sha256(data).hexdigest() == record.get("sha256") else None


# ------------------------------------------------------------------------- the driver

def file_digest(folder: Path, names: tuple[str, ...]) -> str:
    """A hash of the named files of a model folder (those present), by content."""
    h = hashlib.sha256()
    for name in names:
        for path in sorted(folder.glob(name)):
            h.update(path.name.encode() + b"\x00")
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


def fingerprints(teacher: str) -> dict[str, str]:
    """Teacher and tokenizer fingerprints: hashes of their files, so a copied folder
    matches and a re-trained one does not. A fast tokenizer's file also records the
    truncation it was last used with; that state is left out of its fingerprint."""
    folder = Path(teacher)
    if not folder.is_dir():
        return {"teacher": f"name:{teacher}", "tokenizer": f"name:{teacher}"}
    spec = folder / "tokenizer.json"
    if spec.is_file():
        rules = {k: v for k, v in json.loads(spec.read_text()).items()
                 if k not in ("truncation", "padding")}
        tokenizer = hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()
    else:
        tokenizer = file_digest(folder, ("vocab.txt", "vocab.json", "merges.txt", "*.model"))
    return {"teacher": file_digest(folder, ("config.json", "*.safetensors", "*.bin")),
            "tokenizer": tokenizer}


def teacher_folder(config: Config, quiet: bool, log) -> str:
    """The teacher's folder, fine-tuned and cached as `run` does when the config asks."""
    from .backend import resolve_backend
    from .data import load_task
    from .models import resolve_model_path
    from .teacher import finetune_source, finetune_teacher

    if not config.teacher.finetune:
        return resolve_model_path(config.teacher.model)
    task = load_task(config.data, config.seed)
    backend = resolve_backend(config.device)
    return str(finetune_teacher(config.teacher, config.data,
                                finetune_source(config.teacher, task), backend, config.seed,
                                quiet, log))


def pad_id(teacher: str, trust_remote_code: bool) -> int:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(teacher, trust_remote_code=trust_remote_code)
    return int(tokenizer.pad_token_id or 0)


def label_sets(config: Config) -> tuple[list[str], list[str]]:
    """(label strings as the files write them, label names), in index order: the
    config's, the GLUE task's, or those `run` infers from the data section."""
    data = config.data
    if data.label_names:
        return list(data.label_names), list(data.label_names)
    if data.name.startswith("glue/") and data.name[5:] in GLUE_TASKS:
        spec = GLUE[data.name[5:]]
        return list(spec.label_values), list(spec.label_names)
    from .data import load_task

    names = load_task(data, config.seed).train.label_names
    return list(names), list(names)


def columns_of(config: Config) -> tuple[str, str | None, str]:
    data = config.data
    if data.name.startswith("glue/"):
        spec = GLUE[data.name[5:]]
        return (data.text_column or spec.text, data.text_pair_column or spec.pair,
                data.label_column or spec.label)
    if not data.text_column:
        raise ConfigError(["data.text_column: name the corpus's text column"])
    return data.text_column, data.text_pair_column, data.label_column or "label"


def encode_corpus(config: Config, inputs: list[str], out: Path, workers: int | None = None,
                  scheduler: str | None = None, device: str = "cpu",
                  rows_per_part: int = 50_000, quiet: bool = False,
                  log: Callable[[str], None] = print) -> dict:
    """Encode `inputs` into `out` (shards plus `manifest.json`); returns the manifest.

    Raises:
        DataError: missing files, a bad row (file and line named), or `out` holding an
            encode of something else.
        ConfigError: a data section without the text column.
    """
    out = Path(out)
    paths = expand_inputs(inputs)
    text, pair, label = columns_of(config)
    header = True if config.data.header is None else config.data.header
    if config.data.name == "glue/cola" and config.data.header is None:
        header = False
    columns = config.data.columns or (GLUE[config.data.name[5:]].columns
                                      if config.data.name.startswith("glue/") else None)
    parts = plan_parts(paths, rows_per_part, header, None if header else columns)
    values, names = label_sets(config)
    teacher = teacher_folder(config, quiet, log)
    prints = fingerprints(teacher)
    plan = {"format": FORMAT, **prints, "max_length": config.data.max_length,
            "pad_id": pad_id(teacher, config.teacher.trust_remote_code),
            "columns": {"text": text, "pair": pair, "label": label}, "label_values": values,
            "label_names": names, "parts": [asdict(p) for p in parts]}
    _claim(out, plan)
    spec = EncodeSpec(str(out), teacher, config.teacher.trust_remote_code, device,
                      config.data.max_length, config.eval.batch_size, text, pair, label, values,
                      config.data.bad_rows, None)
    records = {p.index: verified_record(out, p) for p in parts}
    todo = [p for p in parts if records[p.index] is None]
    log(f"encode: {len(paths)} file(s), {len(parts)} partitions, {len(todo)} to encode"
        + (f" ({len(parts) - len(todo)} already done)" if len(todo) < len(parts) else ""))
    start = time.perf_counter()
    for record in run_parts(todo, spec, workers, scheduler, device, quiet):
        records[record["index"]] = record
    seconds = time.perf_counter() - start
    done = sum(records[p.index]["rows"] for p in todo)
    if todo:
        log(f"encode: {done:,} examples encoded in {seconds:.1f} s "
            f"({done / max(seconds, 1e-9):,.0f} examples/s, cluster start included)")
    return write_manifest(out, plan, parts, records, log)


def _claim(out: Path, plan: dict) -> None:
    """Write the plan into `out`, or check that `out` already holds this same plan."""
    plan_path = out / "plan.json"
    if plan_path.is_file():
        old = json.loads(plan_path.read_text())
        if old != json.loads(json.dumps(plan)):
            keys = [k for k in plan if old.get(k) != json.loads(json.dumps(plan.get(k)))]
            raise DataError(f"{out}: holds the encode of another corpus or teacher (differs "
                            f"in: {', '.join(keys)}); give another --out or delete it")
    elif out.exists() and any(out.iterdir()):
        raise DataError(f"{out}: not empty and not an encode; give another --out")
    write_json(plan_path, plan)


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
    from distributed import Client, as_completed

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
            try:
                for future in progress_bar(as_completed(futures), "encode", quiet,
                                           total=len(futures), unit="part"):
                    yield {**future.result(), "index": index[future.key]}
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


def write_manifest(out: Path, plan: dict, parts: list[Part], records: dict, log) -> dict:
    shards = [{k: v for k, v in records[p.index].items() if k != "index"} for p in parts]
    manifest = {
        "format": FORMAT, "teacher": plan["teacher"], "tokenizer": plan["tokenizer"],
        "max_length": plan["max_length"], "label_values": plan["label_values"],
        "label_names": plan["label_names"],
        "columns": plan["columns"], "pairs": plan["columns"]["pair"] is not None,
        "pad_id": plan["pad_id"],
        "rows": sum(s["rows"] for s in shards),
        "labelled_rows": sum(s["rows"] for s in shards if s["labelled"]),
        "truncated": sum(s["truncated"] for s in shards),
        "skipped": sum(s["skipped"] for s in shards),
        "dtypes": {"ids": "list<int32>", "type_ids": "list<int8>", "label": "int64",
                   "logits": f"fixed_size_list<float32>[{len(plan['label_names'])}]"},
        "shards": shards,
    }
    write_json(out / "manifest.json", manifest)
    log(f"encode: {manifest['rows']:,} examples in {len(shards)} shards "
        f"({manifest['labelled_rows']:,} labelled, {manifest['truncated']:,} truncated to "
        f"{manifest['max_length']} tokens, {manifest['skipped']:,} bad rows skipped) -> {out}")
    return manifest


# ------------------------------------------------------------------------ reading back

class EncodedMismatch(DataError):
    """An encoded corpus made with another teacher, tokenizer or max length."""


def read_manifest(folder: Path) -> dict:
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise DataError(f"data.encoded: {folder} has no manifest.json (not a finished "
                        "encode; run sage-rapids encode again to complete it)")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise DataError(f"{path}: not a {FORMAT!r} manifest")
    return manifest


def check_manifest(folder: Path, manifest: dict, teacher: str, max_length: int,
                   label_names: list[str]) -> None:
    """Refuse shards made with another teacher, tokenizer, max length or label set."""
    prints = fingerprints(teacher)
    for key in ("teacher", "tokenizer"):
        if manifest[key] != prints[key]:
            raise EncodedMismatch(
                f"data.encoded: {folder} was encoded with another {key} ({manifest[key][:12]}) "
                f"than this config's teacher {teacher} ({prints[key][:12]}); encode the corpus "
                "again with this config")
    if manifest["max_length"] != max_length:
        raise EncodedMismatch(f"data.encoded: {folder} was encoded with max_length "
                              f"{manifest['max_length']}, the config has data.max_length "
                              f"{max_length}; set one to the other")
    if manifest["label_names"] != list(label_names):
        raise EncodedMismatch(f"data.encoded: {folder} has labels {manifest['label_names']}, "
                              f"the dev set {list(label_names)}")


def load_shards(folder: Path, manifest: dict, rank: int = 0, world_size: int = 1):
    """This rank's shards (every `world_size`-th, from `rank`) as flat arrays.

    Returns:
        (ids (T,), lengths (n,), type_ids (T,) or None, labels (n,), logits (n, C),
        rows (n,) int64 position of each row in the whole corpus).

    Raises:
        DataError: a shard missing or not matching its checksum, or fewer shards than
            ranks.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    shards = manifest["shards"][rank::world_size]
    starts = np.concatenate([[0], np.cumsum([s["rows"] for s in manifest["shards"]])])
    rows = np.concatenate([np.arange(starts[i], starts[i + 1])
                           for i in range(rank, len(manifest["shards"]), world_size)]
                          or [np.zeros(0)]).astype(np.int64)
    if not shards:
        raise DataError(f"data.encoded: {folder} has {len(manifest['shards'])} shards for "
                        f"{world_size} ranks; encode with a smaller --rows-per-part")
    tables = []
    for shard in shards:
        path = Path(folder) / shard["shard"]
        try:
            data = path.read_bytes()
        except OSError:
            raise DataError(f"data.encoded: {path} is missing; encode again") from None
        if hashlib.sha256(data).hexdigest() != shard["sha256"]:
            raise DataError(f"data.encoded: {path} does not match its checksum in the "
                            "manifest (changed or damaged); encode again")
        tables.append(pq.read_table(pa.BufferReader(data)))
    table = pa.concat_tables(tables).combine_chunks()
    ids_col = table.column("ids").chunk(0)
    lengths = np.diff(ids_col.offsets.to_numpy()).astype(np.int32)
    ids = ids_col.flatten().to_numpy().astype(np.int32)
    type_ids = None
    if "type_ids" in table.column_names:
        type_ids = table.column("type_ids").chunk(0).flatten().to_numpy().astype(np.int8)
    labels = table.column("label").to_numpy().astype(np.int64)
    logits_col = table.column("logits").chunk(0)
    logits = logits_col.flatten().to_numpy().astype(np.float32).reshape(len(table), -1)
    return ids, lengths, type_ids, labels, logits, rows


def encoded_task(config: Config, manifest: dict):
    """The task of a run on an encoded corpus: dev from the `data` section, read with
    the corpus's labels; the data section's training split only when the teacher is
    fine-tuned on it. The training examples themselves come from the shards.

    Returns:
        `TaskData` whose `train` is the fine-tuning split (or an empty placeholder).
    """
    from .data import TaskData, TextDataset, load_split, task_metrics

    cfg = config.data
    values, names = manifest["label_values"], manifest["label_names"]
    dev = load_split(cfg, "dev", values, names)
    if dev is None or not dev.labelled:
        raise DataError("data.dev_file: a labelled dev set is required to evaluate the "
                        "student (data.encoded replaces only the training split)")
    train = None
    if config.teacher.finetune:
        train = load_split(cfg, "train", values, names)
        if train is None or not train.labelled:
            raise ConfigError(["teacher.finetune: fine-tuning needs the data section's "
                               "labelled training split beside data.encoded; or give a "
                               "fine-tuned teacher.model and set teacher.finetune: false"])
    if train is None:
        train = TextDataset([], None, np.zeros(0, dtype=np.int64), list(names),
                            str(config.data.encoded))
    if cfg.dev_limit is not None and cfg.dev_limit < len(dev):
        from .data import stratified_subset

        dev = dev.subset(stratified_subset(dev.labels, cfg.dev_limit, config.seed),
                         f" [stratified {cfg.dev_limit}]")
    return TaskData(train, dev, task_metrics(cfg), [], train)


def encoded_table(config: Config, manifest: dict, backend, rank: int = 0,
                  world_size: int = 1):
    """This rank's training table from the shards, teacher logits included.

    `data.train_limit` keeps a seeded stratified subset of this rank's rows
    (`train_limit // world_size` of them).

    Returns:
        (ExampleTable with teacher logits, note for the summary, (n,) position of each
        row in the whole corpus).
    """
    from .data import UNLABELLED, stratified_subset
    from .table import ragged_table

    folder = Path(config.data.encoded)
    ids, lengths, type_ids, labels, logits, rows = load_shards(folder, manifest, rank,
                                                               world_size)
    note = (f"trained on the encoded corpus {folder} ({manifest['rows']:,} examples in "
            f"{len(manifest['shards'])} shards)")
    limit = config.data.train_limit
    if limit is not None and limit // world_size < len(lengths):
        keep = stratified_subset(labels, limit // world_size, config.seed)
        offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
        tokens = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in keep])
        ids, lengths, labels, logits = ids[tokens], lengths[keep], labels[keep], logits[keep]
        rows = rows[keep]
        type_ids = None if type_ids is None else type_ids[tokens]
        note += f", a stratified {limit:,} of them"
    if config.loss.alpha != 1.0 and (labels == UNLABELLED).any():
        raise ConfigError([f"loss.alpha: the encoded corpus {folder} has unlabelled rows; "
                           f"they need loss.alpha: 1.0 (pure distillation), got "
                           f"{config.loss.alpha}"])
    table = ragged_table(ids, lengths, type_ids, labels, backend, manifest["pad_id"],
                         teacher_logits=logits)
    return table, note, rows
