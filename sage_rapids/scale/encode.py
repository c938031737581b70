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
written last; `run` reads the shards through it (`data.encoded`, `data/shards.py`).

Without `--workers` or `--scheduler` the partitions run in this process. With
`--workers N` a `distributed.LocalCluster` (CPU) or a dask-cuda `LocalCUDACluster`
(one worker per GPU) is started on this machine, listening on 127.0.0.1 only and with
no dashboard; `--scheduler ADDRESS` uses a running cluster (dask's own security
configuration applies, so TLS addresses work when it is set).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from ..artifacts import write_json
from ..config import GLUE_TASKS, Config, ConfigError
from ..data.corpus import Part, expand_inputs, plan_parts
from ..data.glue import GLUE, layout_of
from ..data.rows import DataError
from ..data.shard_format import FORMAT, fingerprints, targets_fingerprint
from .encode_parts import EncodeError, EncodeSpec, encode_part, run_parts

__all__ = ["FORMAT", "EncodeError", "EncodeSpec", "encode_corpus", "encode_part",
           "fingerprints", "verified_record"]

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


def teacher_folder(config: Config, quiet: bool, log) -> str:
    """The teacher's folder, fine-tuned and cached as `run` does when the config asks;
    without a teacher model, the student's (whose tokenizer makes the token ids)."""
    from ..backend import resolve_backend
    from ..data.tasks import load_task
    from ..distillation.models import resolve_model_path
    from ..distillation.teacher import finetune_source, finetune_teacher

    if config.teacher.model is None:  # outputs from a file: the student's tokenizer
        return resolve_model_path(config.student.model)
    if not config.teacher.finetune:
        return resolve_model_path(config.teacher.model)
    task = load_task(config.data, config.seed)
    backend = resolve_backend(config.device)
    return str(finetune_teacher(config.teacher, config.data,
                                finetune_source(config.teacher, task), backend, config.seed,
                                quiet, log))


def read_rows_columns(path: str) -> list[str]:
    """The column names of a table file (its rows are read where they are matched).

    Raises:
        DataError: the file cannot be read.
    """
    from ..data.rows import read_rows

    return read_rows(Path(path)).columns


def teacher_layers(config: Config, teacher: str) -> tuple[int, ...]:
    """The teacher layers whose states the shards keep: those the config's layer
    transfer maps (none without `loss.layers`)."""
    from transformers import AutoConfig

    from ..distillation.models import mapped_teacher_layers

    if config.loss.layers <= 0:
        return ()
    depth = AutoConfig.from_pretrained(
        teacher, trust_remote_code=config.teacher.trust_remote_code).num_hidden_layers
    return mapped_teacher_layers(config.student, config.loss, depth)


def pad_id(teacher: str, trust_remote_code: bool) -> int:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(teacher, trust_remote_code=trust_remote_code)
    return int(tokenizer.pad_token_id or 0)


def label_sets(config: Config) -> tuple[list[str], list[str], str]:
    """(label strings as the files write them, label names, task type), labels in
    index order: the config's, the GLUE task's, or those `run` infers from the data
    section. A regression task has no label strings and one name (the score's)."""
    from ..data.tasks import load_task, task_type_of

    data = config.data
    kind = task_type_of(data)
    if data.label_names and kind != "regression":
        return list(data.label_names), list(data.label_names), "classification"
    if data.name.startswith("glue/") and data.name[5:] in GLUE_TASKS:
        spec = GLUE[data.name[5:]]
        return list(spec.label_values), list(spec.label_names), spec.task_type
    task = load_task(data, config.seed)
    names = task.train.label_names
    if task.regression:
        return [], list(names), "regression"
    return list(names), list(names), "classification"


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
    layout = layout_of(config.data)  # the columns and header rules `run` reads with
    if not layout.text:
        raise ConfigError(["data.text_column: name the corpus's text column"])
    text, pair, label = layout.text, layout.pair, layout.label
    parts = plan_parts(paths, rows_per_part, layout.header,
                       None if layout.header else layout.columns)
    values, names, task_type = label_sets(config)
    if config.teacher.others:
        raise ConfigError(["teacher.others: an encoded corpus keeps one teacher's outputs; "
                           "encode with one teacher (a model, or teacher.targets)"])
    targets = config.teacher.targets
    if targets and "text" not in read_rows_columns(targets):
        raise ConfigError([f"teacher.targets: {targets}: an encoded corpus matches the "
                           "teacher's outputs to its rows by text; give a `text` column"])
    teacher = teacher_folder(config, quiet, log)
    prints = fingerprints(teacher)
    if targets:
        prints["teacher"] = targets_fingerprint(targets)
    plan = {"format": FORMAT, **prints, "max_length": config.data.max_length,
            "pad_id": pad_id(teacher, config.teacher.trust_remote_code),
            "columns": {"text": text, "pair": pair, "label": label}, "label_values": values,
            "label_names": names, "task_type": task_type, "parts": [asdict(p) for p in parts]}
    layers = teacher_layers(config, teacher)
    if layers:  # only then: an encode without layer transfer keeps its plan as it was
        plan.update(layers=list(layers), layer_pool=config.loss.layer_pool)
    _claim(out, plan)
    spec = EncodeSpec(str(out), teacher, config.teacher.trust_remote_code, device,
                      config.data.max_length, config.eval.batch_size, text, pair, label, values,
                      config.data.bad_rows, None, task_type, layers, config.loss.layer_pool,
                      targets, tuple(names))
    records = {p.index: verified_record(out, p) for p in parts}
    todo = [p for p in parts if records[p.index] is None]
    log(f"encode: {len(paths)} file(s), {len(parts)} partitions, {len(todo)} to encode"
        + (f" ({len(parts) - len(todo)} already done)" if len(todo) < len(parts) else ""))
    start = time.perf_counter()
    for record in run_parts(todo, spec, workers, scheduler, device, quiet):
        records[record["index"]] = record
    for part in todo:  # what is on disk now, checksums verified, is what the manifest lists
        records[part.index] = verified_record(out, part) or {
            **encode_part(part, spec), "index": part.index}
    for stale in (out / "shards").glob(".part-*"):  # a killed worker's unfinished write
        stale.unlink(missing_ok=True)
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
        old, new = json.loads(plan_path.read_text()), json.loads(json.dumps(plan))
        if old != new:
            keys = [k for k in new if old.get(k) != new[k]]
            raise DataError(f"{out}: holds the encode of another corpus or teacher (differs "
                            f"in: {', '.join(keys)}); give another --out or delete it")
    elif out.exists() and any(out.iterdir()):
        raise DataError(f"{out}: not empty and not an encode; give another --out")
    write_json(plan_path, plan)


def write_manifest(out: Path, plan: dict, parts: list[Part], records: dict, log) -> dict:
    shards = [{k: v for k, v in records[p.index].items() if k != "index"} for p in parts]
    manifest = {
        "format": FORMAT, "teacher": plan["teacher"], "tokenizer": plan["tokenizer"],
        "max_length": plan["max_length"], "label_values": plan["label_values"],
        "label_names": plan["label_names"], "task_type": plan["task_type"],
        "columns": plan["columns"], "pairs": plan["columns"]["pair"] is not None,
        "pad_id": plan["pad_id"], "layers": plan.get("layers", []),
        "layer_pool": plan.get("layer_pool"),
        "rows": sum(s["rows"] for s in shards),
        "labelled_rows": sum(s["rows"] for s in shards if s["labelled"]),
        "truncated": sum(s["truncated"] for s in shards),
        "skipped": sum(s["skipped"] for s in shards),
        "dtypes": {"ids": "list<int32>", "type_ids": "list<int8>",
                   "label": "float32" if plan["task_type"] == "regression" else "int64",
                   "logits": f"fixed_size_list<float32>[{len(plan['label_names'])}]",
                   **({"layers": "fixed_size_list<float16>[layers x width]"}
                      if plan.get("layers") else {})},
        "shards": shards,
    }
    write_json(out / "manifest.json", manifest)
    log(f"encode: {manifest['rows']:,} examples in {len(shards)} shards "
        f"({manifest['labelled_rows']:,} labelled, {manifest['truncated']:,} truncated to "
        f"{manifest['max_length']} tokens, {manifest['skipped']:,} bad rows skipped) -> {out}")
    return manifest
