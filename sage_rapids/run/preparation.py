"""Stages 0 and 1 of a run: the task's data tokenized once, the teacher loaded (or
fine-tuned and cached), its logits on the training split and its metrics on every dev
set, gathered in one `Setup` that the training loop (`pipeline`) reads.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..artifacts import size
from ..backend import Backend
from ..config import Config, ConfigError, LossConfig, TeacherConfig
from ..context import Context
from ..data.tasks import TaskData, load_task
from ..distillation.evaluate import predict, scores, teacher_learnt_nothing
from ..distillation.models import (
    ModelError,
    input_embeddings,
    load_classifier,
    mapped_teacher_layers,
    other_vocabulary,
    reorder_outputs,
    resolve_model_path,
    untrained_head,
    vector_forward,
)
from ..distillation.labels import model_label_order
from ..distillation.table import ExampleTable, encode_dataset, ragged_table
from ..distillation.targets import layer_state_bytes, saved_targets, teacher_targets
from ..distillation.teacher import finetune_source, finetune_teacher
from ..distillation.teachers import Outputs, combine, every_teacher, file_outputs, model_outputs
from ..distributed import shard_index
from ..seeds import seed_torch


@dataclass(frozen=True)
class DevSet:
    """One dev set, tokenized, with the teacher's predictions and metrics on it."""

    name: str  # prefix of its metric keys: `dev`, or `dev_matched` among several
    table: ExampleTable
    labels: np.ndarray  # (n,) gold labels or scores, on the host
    teacher_preds: np.ndarray | None  # (n,) the teacher's classes or scores (None: unknown)
    teacher_metrics: dict  # {metric: value}, empty when unknown


@dataclass(frozen=True)
class Setup:
    """Everything stages 0 and 1 produce."""

    task: TaskData
    teacher: torch.nn.Module | None  # None: the teacher's outputs come from a file
    tokenizer: object
    embeddings: torch.Tensor  # (V, H_T) frozen teacher word table (the student's own
    # table when there is no teacher model)
    train: ExampleTable  # with teacher logits
    devs: list[DevSet]  # the one that selects the epoch first
    metrics: list[str]  # dev metrics reported, the one that picks the best epoch first
    select_key: str  # the metrics.jsonl key that picks the best epoch: `dev_accuracy`
    shard: np.ndarray  # (n,) this rank's rows of the training split

    @property
    def dev(self) -> ExampleTable:
        return self.devs[0].table


def silent(message: str) -> None:
    pass


def fine_tuned(cfg: TeacherConfig, config: Config, task: TaskData, ctx: Context, log) -> str:
    """The model to load for a teacher section: its model, or the fine-tuned copy (made
    and cached when the section asks; with several ranks rank 0 fine-tunes while the
    others wait, then read the cache)."""
    if not cfg.finetune:
        return cfg.model
    dist, backend, source = ctx.dist, ctx.backend, finetune_source(cfg, task)
    name = None
    if dist.is_main:
        name = str(finetune_teacher(cfg, config.data, source, backend, config.seed, ctx.quiet,
                                    log))
    dist.barrier()
    if not dist.is_main:
        name = str(finetune_teacher(cfg, config.data, source, backend, config.seed, True,
                                    silent))
    return name


def load_teacher(config: Config, task: TaskData, ctx: Context, log):
    """The teacher: fine-tuned (and cached) when the config asks, else loaded as is;
    (None, None, None) when there is no teacher model (its outputs come from a file).

    Returns:
        (model, tokenizer, the name it was loaded from).

    Raises:
        ModelError: the teacher's head does not match the task's labels.
    """
    cfg, n_labels = config.teacher, len(task.train.label_names)
    if cfg.model is None:
        return None, None, None
    name = fine_tuned(cfg, config, task, ctx, log)
    seed_torch(config.seed, "teacher_head")  # a checkpoint without a head gets a seeded one
    teacher, tokenizer = load_classifier(name, None, cfg.trust_remote_code)
    if teacher.config.num_labels != n_labels:
        raise ModelError(f"teacher.model: {cfg.model} has {teacher.config.num_labels} labels, "
                         f"the task has {n_labels}; set teacher.finetune: true to fine-tune it")
    fresh = untrained_head(teacher)
    if fresh:
        warning = (f"the teacher learnt nothing: {cfg.model} has no trained classification "
                   f"head ({', '.join(fresh)} initialised at load) and teacher.finetune is "
                   "false, so its outputs are noise and so is what the student learns; set "
                   "teacher.finetune: true, or give a fine-tuned teacher.model")
        log(f"warning: {warning}")
        task.notes.append(warning)
    elif not task.regression:
        in_task_order(teacher, task, cfg.model, log)
    teacher.to(ctx.backend.device).requires_grad_(False)
    return teacher, tokenizer, name


def in_task_order(teacher, task: TaskData, name: str, log) -> None:
    """A teacher that names its classes answers the task's labels by name: its output
    layer is permuted once here when its order differs (every stage then reads output i
    as the task's label i).

    Raises:
        DataError: the teacher's classes are not the task's labels.
    """
    order = model_label_order(task.train.label_names, teacher.config.id2label,
                              teacher.config.num_labels, task.train.source,
                              f"teacher.model {name}")
    if order.note:
        log(f"note: {order.note}")
    if order.how == "names" and (order.index != np.arange(len(order.index))).any():
        reorder_outputs(teacher, order.index, task.train.label_names)
        log(f"teacher: outputs put in the task's label order ({', '.join(task.train.label_names)})")


def input_layer(config: Config, task: TaskData, teacher):
    """The word table the examples are looked up in, and the tokenizer that makes their
    token ids: the teacher's, or without a teacher model the student's own (`student.model`).
    """
    if teacher is not None:
        return input_embeddings(teacher).detach(), None
    model, tokenizer = load_classifier(config.student.model, len(task.train.label_names),
                                       config.teacher.trust_remote_code)
    return input_embeddings(model).detach().clone(), tokenizer


def own_input_layer(config: Config, teacher, task: TaskData, log) -> bool:
    """Whether the student reads its own input layer: a named student (`student.model`)
    whose tokenizer is not the teacher's keeps its tokenizer and word vectors, and
    learns from the teacher's outputs computed once through the teacher's tokenizer
    (cached). Said once, in the log and the run's notes."""
    if teacher is None:
        return False
    sizes = other_vocabulary(config.teacher.model, config.student.model,
                             config.teacher.trust_remote_code)
    if sizes is None:
        return False
    note = (f"input layer: the student's own ({config.student.model}, {sizes[1]:,} tokens): "
            f"its tokenizer is not the teacher's ({sizes[0]:,} tokens), so it keeps its "
            "tokenizer and word vectors and trains on its own token ids, against the "
            "teacher's outputs computed once through the teacher's tokenizer")
    log(note)
    task.notes.append(note)
    return True


def mixed(config: Config) -> bool:
    """Whether the targets come from a file or several teachers, not one model's forward."""
    return bool(config.teacher.targets or config.teacher.others)


def teacher_mix(config: Config, task: TaskData, main_name: str | None, ctx: Context,
                log) -> Outputs:
    """Every teacher's outputs (a file's, or a model's through its own tokenizer, cached),
    combined by `teacher.combine` with the teachers' weights.

    Raises:
        DataError: a file of outputs that does not fit the task (named by file and line).
    """
    parts, weights = [], []
    for i, cfg in enumerate(every_teacher(config.teacher)):
        if cfg.targets:
            parts.append(file_outputs(cfg, task))
        else:
            name = main_name if i == 0 else fine_tuned(cfg, config, task, ctx, log)
            parts.append(model_outputs(name, cfg, task, config, ctx.backend, log))
        weights.append(cfg.weight)
    if len(parts) == 1:
        log(f"teacher outputs: {parts[0].name}")
        return parts[0]
    out = combine(parts, weights, config.teacher.combine)
    log(f"teachers: {out.name}, mixed by the weighted mean of their "
        f"{config.teacher.combine}")
    return out


def prepare(config: Config, ctx: Context, log,
            teacher_layers: tuple[int, ...] | None = None,
            saved: Path | None = None) -> Setup:
    """Stages 0 and 1: load and tokenize the data once, teacher logits once (for this
    rank's shard of the training split). An encoded corpus (`data.encoded`) has both
    done already: its shards are read instead. `teacher_layers`: the layers whose
    pooled states to cache, in place of the config's student's map (several students
    of one teacher share one pass: `ladder`). `saved`: the logits a run being resumed
    kept (`teacher_targets.safetensors`), read back instead of running the teacher again
    where they are all it needs and they hold these very examples."""
    if config.data.encoded:
        return prepare_encoded(config, ctx, log, teacher_layers)
    backend, profiler, dist = ctx.backend, ctx.profiler, ctx.dist
    task = load_task(config.data, config.seed, config.loss)
    teacher, tokenizer, name = load_teacher(config, task, ctx, log)
    own = own_input_layer(config, teacher, task, log)
    if own:  # the teacher gives its outputs through its own tokenizer, and no vectors
        teacher, tokenizer = None, None
    embeddings, own_tokenizer = input_layer(config, task, teacher)  # (V, H)
    tokenizer = tokenizer or own_tokenizer
    shard = np.arange(len(task.train))
    if dist.active:
        shard = shard_index(task.train.labels, dist.world_size, dist.rank, config.seed)
        left = len(task.train) - len(shard) * dist.world_size
        task = replace(task, train=task.train.subset(shard, f" [shard {dist.rank}]"), notes=[
            *task.notes, f"{dist.world_size} ranks train on equal shards of "
            f"{len(shard)} examples" + (f"; {left} left out" if left else "")])
    with profiler.stage("encode"):
        train, _ = encode_dataset(task.train, tokenizer, config.data.max_length, backend)
        devs = encode_devs(task, tokenizer, config, backend)
    layers = () if teacher is None else mapped_teacher_layers(
        config.student, config.loss, teacher.config.num_hidden_layers) \
        if teacher_layers is None else teacher_layers
    check_layer_cache(config.loss, len(train), layers, embeddings.shape[1], log)
    dev_logits = None
    with profiler.stage("teacher_targets"):
        if mixed(config) or own:
            outputs = teacher_mix(config, task, name, ctx, log)
            dev_logits, logits = outputs.devs, backend.asarray(outputs.train)
        logits_only = teacher is not None and not mixed(config) and not layers and \
            config.loss.cosine == 0  # all a resume can read back
        kept = saved_targets(saved, train, shard, backend) if saved and logits_only else None
        if kept is not None:
            log(f"teacher targets: read back from {saved.name} (the run's own, {len(kept):,} "
                "examples)")
            train = train.with_targets(backend.asarray(kept))
        elif teacher is not None and (not mixed(config) or layers or config.loss.cosine > 0):
            targets = teacher_targets(teacher, train, embeddings, backend,
                                      config.eval.batch_size, pooled=config.loss.cosine > 0,
                                      quiet=ctx.quiet, precision=config.train.precision,
                                      layers=layers, layer_pool=config.loss.layer_pool)
            logits = logits if mixed(config) else targets.logits
            train = train.with_targets(logits, targets.pooled, targets.layers)
        else:
            train = train.with_targets(logits)
    return finish_setup(config, task, teacher, tokenizer, embeddings, train, devs, ctx, log,
                        shard, dev_logits)


def check_layer_cache(cfg: LossConfig, n: int, layers: tuple[int, ...], width: int,
                      log) -> None:
    """Say what caching the teacher's layer states costs, and refuse it above
    `loss.layer_cache_gb`.

    Raises:
        ConfigError: the cache would be larger than `loss.layer_cache_gb`.
    """
    if cfg.attention > 0 or (cfg.layers > 0 and cfg.layer_pool == "tokens"):
        what = " and ".join(w for w, on in (("per-token states", cfg.layers > 0 and
                                             cfg.layer_pool == "tokens"),
                                            ("attention maps", cfg.attention > 0)) if on)
        log(f"layer transfer: the teacher's {what} come from one teacher forward per "
            "training batch (too large to cache; profile.json: teacher_in_loop)")
    if not layers:
        return
    total, each = layer_state_bytes(n, layers, width), layer_state_bytes(1, layers, width)
    if total > cfg.layer_cache_gb * 1e9:
        raise ConfigError([f"loss.layer_cache_gb: caching teacher layers {list(layers)} of "
                           f"{n:,} examples takes {total / 1e9:.2f} GB ({each:,} bytes each), "
                           f"above the limit of {cfg.layer_cache_gb} GB; raise "
                           "loss.layer_cache_gb, map fewer layers (loss.layer_map) or train "
                           "on fewer examples"])
    log(f"layer transfer: teacher layers {list(layers)} pooled ({cfg.layer_pool}), "
        f"{each:,} bytes per example (fp16), {size(total)} for {n:,}")


def encode_devs(task: TaskData, tokenizer, config: Config, backend: Backend) -> dict:
    """{name: ExampleTable} of every dev set of the task."""
    return {name: encode_dataset(ds, tokenizer, config.data.max_length, backend)[0]
            for name, ds in task.devs.items()}


def prepare_encoded(config: Config, ctx: Context, log,
                    teacher_layers: tuple[int, ...] | None = None) -> Setup:
    """Stages 0 and 1 of a run on an encoded corpus: this rank's shards (token ids and
    teacher logits) after checking they were made by this config's teacher."""
    from ..data.shards import check_manifest, encoded_rows, encoded_task, read_manifest

    backend, profiler, dist = ctx.backend, ctx.profiler, ctx.dist
    folder = Path(config.data.encoded)
    manifest = read_manifest(folder)
    task = encoded_task(config, manifest)
    teacher, tokenizer, _ = load_teacher(config, task, ctx, log)
    embeddings, own_tokenizer = input_layer(config, task, teacher)  # (V, H)
    tokenizer = tokenizer or own_tokenizer
    layers = () if teacher is None else mapped_teacher_layers(
        config.student, config.loss, teacher.config.num_hidden_layers) \
        if teacher_layers is None else teacher_layers
    made_by = encoded_by(config, teacher)
    check_manifest(folder, manifest, made_by, config.data.max_length,
                   task.dev.label_names, layers, config.loss.layer_pool)
    with profiler.stage("encode"):
        part = encoded_rows(config, manifest, dist.rank, dist.world_size)
        train = ragged_table(part.ids, part.lengths, part.type_ids, part.labels, backend,
                             manifest["pad_id"], teacher_logits=part.logits)
        if layers:
            train = replace(train, teacher_layers=backend.asarray(part.layers))
        devs = encode_devs(task, tokenizer, config, backend)
    task.notes.append(part.note + (f"; rank r of {dist.world_size} reads shards r, "
                                   f"r + {dist.world_size}, ..." if dist.active else ""))
    dev_logits = None
    if teacher is None or config.teacher.targets:  # the shards hold a file's outputs
        dev_logits = {k: None for k in task.devs}
        if config.teacher.targets:
            dev_logits = file_outputs(config.teacher, task, train=False).devs
    return finish_setup(config, task, teacher, tokenizer, embeddings, train, devs, ctx, log,
                        part.rows, dev_logits)


def encoded_by(config: Config, teacher) -> dict:
    """What made an encoded corpus's token ids and targets: the tokenizer's model (the
    teacher, or the student's own without one) and the teacher (its model, or its file of
    outputs)."""
    from ..data.shard_format import fingerprints, targets_fingerprint

    model = teacher.config._name_or_path if teacher is not None else \
        resolve_model_path(config.student.model)
    prints = fingerprints(model)
    if config.teacher.targets:
        prints["teacher"] = targets_fingerprint(config.teacher.targets)
    return prints


def finish_setup(config: Config, task: TaskData, teacher, tokenizer, embeddings, train,
                 devs: dict, ctx: Context, log, shard: np.ndarray,
                 dev_logits: dict | None = None) -> Setup:
    """The teacher's own metrics on every dev set (for the reports), and the `Setup`.
    `dev_logits`: the teacher's outputs per dev set where they come from a file or a
    mix (None for a set the file has no rows for: its metrics are unknown); None runs
    the teacher model on every set."""
    backend, profiler, dist = ctx.backend, ctx.profiler, ctx.dist
    metrics, key = report_metrics(config, task)
    sets = []
    for name, table in devs.items():
        if dev_logits is None:
            with profiler.stage("evaluate"):
                preds = predict(lambda v, m, t: vector_forward(teacher, v, m, t).logits,
                                table, embeddings, backend, config.eval.batch_size, dist)
        else:
            given = dev_logits.get(name)
            preds = None if given is None else (given[:, 0] if given.shape[1] == 1
                                                else given.argmax(1))
        labels = task.devs[name].labels
        sets.append(DevSet(name, table, labels, preds,
                           {} if preds is None else scores(preds, labels, metrics)))
    if sets[0].teacher_preds is None:
        note = ("the teacher's dev metrics are unknown: its outputs file has no dev rows "
                "(rows with split: dev give them, and the check that it learnt something)")
        log(f"note: {note}")
        task.notes.append(note)
    else:
        warning = teacher_learnt_nothing(sets[0].teacher_preds, sets[0].labels)
        if warning:
            log(f"warning: {warning}")
            task.notes.append(warning)
    return Setup(task, teacher, tokenizer, embeddings, train, sets, metrics, key, shard)


def report_metrics(config: Config, task: TaskData) -> tuple[list[str], str]:
    """The dev metrics to report, the one that picks the best epoch first, and the
    key that picks it: `eval.select_by` is a metric (on the first dev set), or
    `<set>_<metric>` / `dev_<set>_<metric>` among several dev sets."""
    metrics = list(config.eval.metrics or task.metrics)
    select, prefix = config.eval.select_by or metrics[0], task.dev_name
    for name in task.devs:
        short = name.removeprefix("dev_")
        for spelling in (f"{name}_", f"{short}_"):
            if name != "dev" and select.startswith(spelling):
                select, prefix = select[len(spelling):], name
    extra = [] if task.regression else ["accuracy"]
    return list(dict.fromkeys([select, *metrics, *extra])), f"{prefix}_{select}"
